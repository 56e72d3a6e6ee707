"""``edgecloud bench throughput``: environment step rates, side by side in one run.

Every figure is a ratio to a reference measured in the same process, so that a noisy, shared
machine affects both sides alike. Each rate is the best of ``--repeats`` timed runs after a
warm-up (which also triggers numba's compilation). Resets are inside the timed loop, so a
forecaster's once-per-episode pass is amortised into the step cost; each forecaster's cost is
also given as a ratio to ``forecaster="none"`` on the same id (the forecast-off step): the
median over the rounds of the paired ratio, the forecasters of one id being timed in turn.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

import edgecloud_gym
from edgecloud_bench import vector_throughput
from edgecloud_bench._io import atomic_write_json, check_writable

__all__ = ["add_parser", "env_step_rate", "env_step_times", "run_throughput"]


def env_step_times(
    makers: dict[str, Callable[[], gym.Env]],
    steps: int,
    repeats: int,
    action: Callable[[int], Any],
) -> dict[str, list[float]]:
    """Seconds that ``steps`` steps take, resets included, per round and environment.

    The environments are built and warmed up first; then each of the ``repeats`` rounds times
    every environment once, in turn, so that a slow spell of a shared machine falls on all of
    them alike rather than on whichever happened to be timed during it.
    """
    envs = {name: make() for name, make in makers.items()}
    for env in envs.values():
        env.reset(seed=0)
        for i in range(min(steps, 200)):  # warm-up (and numba's compilation)
            _, _, term, trunc, _ = env.step(action(i))
            if term or trunc:
                env.reset()
    times: dict[str, list[float]] = {name: [] for name in envs}
    for _ in range(repeats):
        for name, env in envs.items():
            env.reset(seed=1)
            start = time.perf_counter()
            for i in range(steps):
                _, _, term, trunc, _ = env.step(action(i))
                if term or trunc:
                    env.reset()
            times[name].append(time.perf_counter() - start)
    for env in envs.values():
        env.close()
    return times


def env_step_rate(
    make: Callable[[], gym.Env], steps: int, repeats: int, action: Callable[[int], Any]
) -> float:
    """Best-of-``repeats`` steps per second of one environment, resets included."""
    return steps / min(env_step_times({"env": make}, steps, repeats, action)["env"])


def run_throughput(
    steps: int = 5000, repeats: int = 3, forecasters: tuple[str, ...] = ("none", "naive", "lstm")
) -> dict[str, Any]:
    """Measure single-env steps per second of every allocation id next to CartPole-v1.

    The forecasters of one id are timed in turn, round by round (:func:`env_step_times`).
    ``steps_per_s`` is each one's best round; ``cost_vs_forecast_off`` is the median over the
    rounds of its time over forecaster ``"none"``'s time in the same round (a paired ratio, which
    a shared machine's drifting speed disturbs far less than a ratio of two best rounds).
    """
    edgecloud_gym.register_envs()
    cartpole = env_step_rate(lambda: gym.make("CartPole-v1"), steps, repeats, lambda i: i % 2)
    rows = []
    for env_id in edgecloud_gym.ALLOCATION_IDS:
        times = env_step_times(
            {
                fc: lambda env_id=env_id, fc=fc: gym.make(env_id, forecaster=fc)
                for fc in forecasters
            },
            steps,
            repeats,
            lambda i: 0,
        )
        for fc, seconds in times.items():
            rate = steps / min(seconds)
            row = {
                "env_id": env_id,
                "forecaster": fc,
                "steps_per_s": rate,
                "us_per_step": 1e6 / rate,
                "ratio_to_cartpole": rate / cartpole,
                "round_seconds": seconds,
            }
            if "none" in times:
                row["cost_vs_forecast_off"] = float(
                    np.median(np.asarray(seconds) / np.asarray(times["none"]))
                )
            rows.append(row)
    return {
        "cartpole_steps_per_s": cartpole,
        "steps": steps,
        "repeats": repeats,
        "single_env": rows,
        "numpy": np.__version__,
        "gymnasium": gym.__version__,
    }


def _print(result: dict[str, Any]) -> None:
    print(f"CartPole-v1: {result['cartpole_steps_per_s']:,.0f} steps/s")
    print(
        f"{'env id':<27}{'forecaster':<12}{'steps/s':>12}{'us/step':>10}{'x CartPole':>12}"
        f"{'cost/none':>11}"
    )
    for r in result["single_env"]:
        cost = r.get("cost_vs_forecast_off")
        print(
            f"{r['env_id']:<27}{r['forecaster']:<12}{r['steps_per_s']:>12,.0f}"
            f"{r['us_per_step']:>10.1f}{r['ratio_to_cartpole']:>12.3f}"
            + (f"{cost:>11.2f}" if cost is not None else f"{'-':>11}")
        )


def add_parser(subparsers: Any) -> None:
    """Add ``throughput`` to the ``edgecloud bench`` subcommands."""
    p = subparsers.add_parser(
        "throughput",
        help="single-env step rates of every registered id next to CartPole-v1",
        description=__doc__,
    )
    p.add_argument("--steps", type=int, default=5000, help="timed steps per run (default 5000)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per env, best kept")
    p.add_argument(
        "--forecasters",
        default="none,naive,lstm",
        help="comma-separated forecasters to time (default none,naive,lstm); cost/none is the "
        "step cost over forecaster none's on the same id",
    )
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    vector_throughput.add_arguments(p)
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    if args.steps < 1 or args.repeats < 1:
        raise ValueError(f"--steps and --repeats must be >= 1, got {args.steps}, {args.repeats}.")
    if args.json:
        check_writable(args.json)
    result = run_throughput(args.steps, args.repeats, tuple(args.forecasters.split(",")))
    _print(result)
    vector = vector_throughput.run_from_args(args)  # native vector env, SyncVectorEnv, DQN
    if vector is not None:
        result["vector"] = vector
    if args.json:
        atomic_write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0
