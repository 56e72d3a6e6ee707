"""Vector-env figures of ``edgecloud bench throughput``, measured side by side in one run.

- env-steps per second of the native vector env (:class:`EdgeCloudVectorEnv`) at several numbers
  of envs, next to Gymnasium's ``SyncVectorEnv`` over the single env at 16 envs;
- the native env in joint control (``EdgeCloud-Joint-High-v0``, discrete actions) at 1024 envs,
  timed in the same rounds as the rows above;
- the native env at 1024 envs with the LSTM forecaster (its once-per-reset pass included), and
  that forecaster's reset-time work alone over the same 1024 episodes, timed next to it: the
  share of the row's time that the forecaster takes, and the rate the row could reach if all
  else were free;
- step cost as the number of edge nodes grows (one env and a batch);
- SB3 DQN training steps per second with 1 and 8 envs through the SB3 adapter, next to 8 single
  envs in SB3's ``DummyVecEnv``;
- the memory of the simulator state for 4096 envs.

Every vector env here autoresets in the same step, so each ``step`` call is ``num_envs``
transitions and the resets (workload sampling and forecasts, once per 200-step episode) are inside
the timed loop. Rates are the best of ``repeats`` timed runs after a warm-up; the envs of one
table are timed in turn, one run each per round, so that a change of load on a shared machine
hits every row alike and the ratios between rows stay meaningful.

The module stays whole above the harness's usual size for that reason: its tables are measured
in one interleaved run, and their printing and plot read that run's result.
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import edgecloud_gym
from edgecloud_bench._io import check_writable
from edgecloud_gym.config import EdgeCloudConfig, Topology
from edgecloud_gym.core.simulator import BatchSimulator
from edgecloud_gym.envs.vector import AutoresetMode, EdgeCloudVectorEnv
from edgecloud_gym.forecasting import FORECASTERS
from edgecloud_gym.registration import EPISODE_STEPS
from edgecloud_gym.tasks import HIGH

__all__ = [
    "add_arguments",
    "interleaved_rates",
    "plot_vector",
    "print_vector",
    "run_from_args",
    "run_vector_throughput",
    "state_nbytes",
]

ENV_ID = "EdgeCloud-High-v0"
#: The joint-control id timed next to ``ENV_ID`` (routing, capacity, DVFS and class levers).
JOINT_ENV_ID = "EdgeCloud-Joint-High-v0"
SAME_STEP = AutoresetMode.SAME_STEP
# The reference SyncVectorEnv resets on the same step too, except on Gymnasium 1.0, whose vector
# envs have no autoreset modes (they reset on the next step, which costs the same).
_SYNC_KWARGS: dict[str, Any] = (
    {"autoreset_mode": SAME_STEP} if hasattr(gym.vector, "AutoresetMode") else {}
)


class _Timed:
    """A SAME_STEP vector env with fixed random actions, warmed up, timed run by run."""

    def __init__(self, venv: gym.vector.VectorEnv, steps: int) -> None:
        self.venv, self.steps = venv, steps
        self.rates: list[float] = []
        n, space = venv.num_envs, venv.single_action_space
        rng = np.random.default_rng(0)
        if isinstance(space, gym.spaces.Discrete):
            self.actions = rng.integers(space.n, size=(16, n))
        else:
            self.actions = rng.random((16, n, *space.shape)).astype(np.float32)
        venv.reset(seed=0)
        for i in range(min(steps, 50)):  # warm-up, compiles numba kernels
            venv.step(self.actions[i % 16])

    def run(self) -> float:
        """Time one run (autoresets inside); its rate in env-steps per second is kept."""
        venv, actions = self.venv, self.actions
        venv.reset(seed=1)
        start = time.perf_counter()
        for i in range(self.steps):
            venv.step(actions[i % 16])
        rate = venv.num_envs * self.steps / (time.perf_counter() - start)
        self.rates.append(rate)
        return rate


class _TimedForecast:
    """The forecaster's reset-time work alone (its pass over every episode of a batch reset), on
    the episodes a reset of ``venv`` drew; its rate is in env-steps per second, one episode of
    ``episode_steps`` steps per env per pass, so it reads as the rate the vector env would reach
    if everything but its forecaster were free."""

    def __init__(self, venv: gym.vector.VectorEnv, episode_steps: int) -> None:
        self.venv = venv
        self.rates: list[float] = []
        venv.reset(seed=1)
        sim = venv.unwrapped.sim
        self._call = lambda: sim.forecaster.forecast(
            sim.workload, sim.config.horizon, sim.params.obs_mu[:, : sim.n_edge]
        )
        self._transitions = venv.num_envs * episode_steps
        self._call()  # warm-up

    def run(self) -> float:
        """Time one pass; its rate is kept."""
        start = time.perf_counter()
        self._call()
        rate = self._transitions / (time.perf_counter() - start)
        self.rates.append(rate)
        return rate


def interleaved_rates(
    makers: dict[Any, Callable[[], gym.vector.VectorEnv]],
    steps: dict[Any, int],
    repeats: int,
    medians: dict[Any, float] | None = None,
) -> dict[Any, float]:
    """Best-of-``repeats`` env-steps per second of each vector env, timed in turn (one run of
    each per round), so that a load change on a shared machine hits all of them alike. The
    median over the runs goes into ``medians`` when it is given: how far the other load on
    the machine held the runs below the best."""
    return _interleave(
        {key: _Timed(make(), steps[key]) for key, make in makers.items()}, repeats, medians
    )


def _interleave(
    timed: dict[Any, _Timed | _TimedForecast],
    repeats: int,
    medians: dict[Any, float] | None = None,
) -> dict[Any, float]:
    """Run every timer once per round, ``repeats`` rounds; the best and median rates (see
    :func:`interleaved_rates`)."""
    for _ in range(repeats):
        for t in timed.values():
            t.run()
    for t in timed.values():
        t.venv.close()
    if medians is not None:
        medians.update({key: float(np.median(t.rates)) for key, t in timed.items()})
    return {key: max(t.rates) for key, t in timed.items()}


def _steps_for(num_envs: int, episode_steps: int) -> int:
    """Timed vector steps: two episodes (two batched resets) at least, ~400k transitions."""
    return max(2 * episode_steps, min(20 * episode_steps, 400_000 // num_envs))


def _load_average() -> float | None:
    """The 1-minute load average (None where the OS has none): how shared the machine was."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def state_nbytes(sim: BatchSimulator) -> int:
    """Bytes of every array the simulator holds (its state, workload, parameters and buffers)."""
    seen: set[int] = set()
    total = 0

    def add(obj: Any) -> None:
        nonlocal total
        if isinstance(obj, np.ndarray):
            base = obj
            while isinstance(base.base, np.ndarray):
                base = base.base
            if id(base) not in seen:
                seen.add(id(base))
                total += base.nbytes
        elif hasattr(obj, "__dataclass_fields__"):
            for name in obj.__dataclass_fields__:
                add(getattr(obj, name))

    for value in vars(sim).values():
        add(value)
    return total


def _memory(num_envs: int, forecaster: str) -> dict[str, Any]:
    tracemalloc.start()
    venv = gym.make_vec(ENV_ID, num_envs=num_envs, forecaster=forecaster)
    venv.reset(seed=0)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "num_envs": num_envs,
        "forecaster": forecaster,
        "state_mb": state_nbytes(venv.unwrapped.sim) / 2**20,
        "traced_after_reset_mb": current / 2**20,
        "traced_peak_mb": peak / 2**20,
    }


def _dqn_rate(make_env: Callable[[], Any], timesteps: int) -> dict[str, Any]:
    import torch
    from stable_baselines3 import DQN

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a small MLP: one thread is fastest on the 2-core machine
    try:
        env = make_env()
        model = DQN(
            "MlpPolicy",
            env,
            learning_starts=timesteps // 5,
            buffer_size=max(10_000, timesteps),
            train_freq=4,
            seed=0,
            device="cpu",
        )
        start = time.perf_counter()
        model.learn(total_timesteps=timesteps)
        elapsed = time.perf_counter() - start
        env.close()
    finally:
        torch.set_num_threads(threads)
    return {
        "timesteps": model.num_timesteps,
        "gradient_steps": model._n_updates,
        "steps_per_s": model.num_timesteps / elapsed,
    }


def run_vector_throughput(
    num_envs: Sequence[int] = (1, 16, 256, 1024, 4096),
    sync_envs: int = 16,
    node_counts: Sequence[int] = (6, 24, 96),
    node_batch: int = 256,
    dqn_timesteps: int = 4000,
    memory_envs: int = 4096,
    repeats: int = 3,
    lstm_envs: int = 1024,
) -> dict[str, Any]:
    """Measure every vector-env figure (see the module docstring) in one process; the LSTM
    row is measured at ``lstm_envs`` envs when that is one of ``num_envs``."""
    edgecloud_gym.register_envs()
    steps_ep = EPISODE_STEPS
    out: dict[str, Any] = {"env_id": ENV_ID, "repeats": repeats, "autoreset_mode": "SameStep"}
    out["load_average_before"] = _load_average()

    def native(n: int, forecaster: str = "none", **kw: Any) -> Callable[[], gym.vector.VectorEnv]:
        return lambda: gym.make_vec(
            ENV_ID, num_envs=n, forecaster=forecaster, autoreset_mode=SAME_STEP, **kw
        )

    makers: dict[Any, Callable[[], gym.vector.VectorEnv]] = {
        "sync": lambda: gym.make_vec(
            ENV_ID,
            num_envs=sync_envs,
            vectorization_mode="sync",
            vector_kwargs=_SYNC_KWARGS,
            forecaster="none",
        )
    }
    steps = {"sync": _steps_for(1, steps_ep) // 4}
    for n in num_envs:
        makers[n], steps[n] = native(n), _steps_for(n, steps_ep)
    joint_envs = lstm_envs if lstm_envs in num_envs else max(num_envs)
    makers["joint"] = lambda: gym.make_vec(
        JOINT_ENV_ID, num_envs=joint_envs, forecaster="none", autoreset_mode=SAME_STEP
    )
    steps["joint"] = _steps_for(joint_envs, steps_ep)
    medians: dict[Any, float] = {}
    rates = interleaved_rates(makers, steps, repeats, medians)
    out["joint"] = {
        "env_id": JOINT_ENV_ID,
        "num_envs": joint_envs,
        "forecaster": "none",
        "steps_per_s": rates["joint"],
        "median_steps_per_s": medians["joint"],
        "x_routing": rates["joint"] / rates[joint_envs],
    }
    sync = rates["sync"]
    out["sync"] = {
        "num_envs": sync_envs,
        "forecaster": "none",
        "steps_per_s": sync,
        "median_steps_per_s": medians["sync"],
    }
    rows = [
        {
            "num_envs": n,
            "forecaster": "none",
            "steps_per_s": rates[n],
            "median_steps_per_s": medians[n],
            "us_per_env_step": 1e6 / rates[n],
            "x_sync": rates[n] / sync,
        }
        for n in num_envs
    ]
    if "lstm" in FORECASTERS and lstm_envs in num_envs:
        # One timed episode (its autoreset included) per round next to forecaster none and the
        # forecaster's pass alone, as many rounds as the other rows: each pass over 1024
        # episodes is long.
        pair_medians: dict[Any, float] = {}
        pair = _interleave(
            {
                "lstm": _Timed(native(lstm_envs, "lstm")(), steps_ep),
                "none": _Timed(native(lstm_envs)(), steps_ep),
                "pass": _TimedForecast(native(lstm_envs, "lstm")(), steps_ep),
            },
            repeats,
            pair_medians,
        )
        rows.append(
            {
                "num_envs": lstm_envs,
                "forecaster": "lstm",
                "steps_per_s": pair["lstm"],
                "median_steps_per_s": pair_medians["lstm"],
                "us_per_env_step": 1e6 / pair["lstm"],
                "x_sync": pair["lstm"] / sync,
                "cost_vs_forecast_off": pair["none"] / pair["lstm"],
                "forecaster_us_per_env_step": 1e6 / pair["pass"],
                "forecaster_median_us_per_env_step": 1e6 / pair_medians["pass"],
                "forecaster_share": pair["lstm"] / pair["pass"],
            }
        )
    out["native"] = rows
    out["lstm_registered"] = "lstm" in FORECASTERS

    node_makers: dict[Any, Callable[[], gym.vector.VectorEnv]] = {}
    node_steps: dict[Any, int] = {}
    for n_edge in node_counts:
        config = EdgeCloudConfig(topology=Topology(edge_cores=(8,) * n_edge))
        for batch in (1, node_batch):
            node_makers[n_edge, batch] = lambda config=config, batch=batch: EdgeCloudVectorEnv(
                num_envs=batch,
                task=HIGH,  # no per-node fields: fits every topology
                config=config,
                forecaster="none",
                autoreset_mode=SAME_STEP,
            )
            node_steps[n_edge, batch] = _steps_for(batch, steps_ep) // (4 if batch == 1 else 1)
    node_rates = interleaved_rates(node_makers, node_steps, repeats)
    nodes = [
        {"n_edge": n_edge, "num_envs": batch, "us_per_env_step": 1e6 / rate}
        for (n_edge, batch), rate in node_rates.items()
    ]
    for r in nodes:
        ref = next(x for x in nodes if x["num_envs"] == r["num_envs"])
        r["x_6_nodes"] = r["us_per_env_step"] / ref["us_per_env_step"]
    out["nodes"] = nodes

    out["memory"] = [_memory(memory_envs, fc) for fc in ("none", "naive")]
    out["load_average_after_steps"] = _load_average()

    if dqn_timesteps == 0:
        out["dqn"] = []
        return out
    try:
        from stable_baselines3.common.env_util import make_vec_env

        from edgecloud_agents.sb3_vec import make_sb3_vec_env
    except ImportError:  # the zoo extra is not installed
        out["dqn"] = []
    else:
        out["dqn"] = [
            {
                "setup": f"native x{n} (SB3 adapter)",
                "n_envs": n,
                **_dqn_rate(
                    lambda n=n: make_sb3_vec_env(ENV_ID, n_envs=n, seed=0, forecaster="none"),
                    dqn_timesteps,
                ),
            }
            for n in (1, 8)
        ]
        out["dqn"].append(
            {
                "setup": "single x8 (SB3 DummyVecEnv)",
                "n_envs": 8,
                **_dqn_rate(
                    lambda: make_vec_env(
                        ENV_ID, n_envs=8, seed=0, env_kwargs={"forecaster": "none"}
                    ),
                    dqn_timesteps,
                ),
            }
        )
    return out


def print_vector(result: dict[str, Any]) -> None:
    """Print the vector-env figures as tables."""
    sync = result["sync"]
    print(f"\nVector envs ({result['env_id']}, autoreset SameStep, resets in the timed loop)")
    load = (result.get("load_average_before"), result.get("load_average_after_steps"))
    if None not in load:
        print(f"1-min load average {load[0]:.1f} before, {load[1]:.1f} after (2 cores)")
    print(
        f"SyncVectorEnv x{sync['num_envs']} (forecaster none): {sync['steps_per_s']:,.0f} "
        f"env-steps/s (median of the runs {sync['median_steps_per_s']:,.0f})"
    )
    print(
        f"{'num_envs':>9}{'forecaster':>12}{'env-steps/s':>14}{'median':>12}"
        f"{'us/env-step':>13}{'x sync':>9}"
    )
    for r in result["native"]:
        print(
            f"{r['num_envs']:>9}{r['forecaster']:>12}{r['steps_per_s']:>14,.0f}"
            f"{r['median_steps_per_s']:>12,.0f}{r['us_per_env_step']:>13.3f}{r['x_sync']:>9.1f}"
        )
    print("(env-steps/s: the best run; median: the median run)")
    joint = result.get("joint")
    if joint:
        print(
            f"joint control ({joint['env_id']}, discrete) x{joint['num_envs']}: "
            f"{joint['steps_per_s']:,.0f} env-steps/s (median {joint['median_steps_per_s']:,.0f}),"
            f" {joint['x_routing']:.2f} x the routing row at the same number of envs"
        )
    for r in result["native"]:
        if "forecaster_share" in r:
            print(
                f"LSTM forecaster alone at reset, {r['num_envs']} episodes: "
                f"{r['forecaster_us_per_env_step']:.2f} us per env-step (median run "
                f"{r['forecaster_median_us_per_env_step']:.2f}), {r['forecaster_share']:.0%} of "
                f"the lstm row's best run; with all else free the row would reach "
                f"{1e6 / r['forecaster_us_per_env_step']:,.0f} env-steps/s"
            )
    if not result["lstm_registered"]:
        print("(forecaster 'lstm' is not registered: no LSTM row)")
    print(f"\n{'edge nodes':>10}{'num_envs':>10}{'us/env-step':>13}{'x 6 nodes':>11}")
    for r in result["nodes"]:
        print(
            f"{r['n_edge']:>10}{r['num_envs']:>10}{r['us_per_env_step']:>13.3f}"
            f"{r['x_6_nodes']:>11.2f}"
        )
    print(f"\n{'memory':<8}{'num_envs':>9}{'forecaster':>12}{'state MB':>10}{'peak MB':>9}")
    for r in result["memory"]:
        print(
            f"{'':<8}{r['num_envs']:>9}{r['forecaster']:>12}{r['state_mb']:>10.1f}"
            f"{r['traced_peak_mb']:>9.1f}"
        )
    if result["dqn"]:
        print(f"\n{'SB3 DQN training':<32}{'timesteps':>10}{'grad steps':>11}{'steps/s':>10}")
        for r in result["dqn"]:
            print(
                f"{r['setup']:<32}{r['timesteps']:>10}{r['gradient_steps']:>11}"
                f"{r['steps_per_s']:>10,.0f}"
            )


def plot_vector(result: dict[str, Any], path: str | Path) -> None:
    """Write the figures as one PNG: step rate vs envs, cost vs nodes, DQN throughput."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    ax = axes[0]
    none = [r for r in result["native"] if r["forecaster"] == "none"]
    ax.loglog(
        [r["num_envs"] for r in none], [r["steps_per_s"] for r in none], "o-", label="native, none"
    )
    for r in result["native"]:
        if r["forecaster"] != "none":
            ax.loglog(r["num_envs"], r["steps_per_s"], "s", label=f"native, {r['forecaster']}")
    sync = result["sync"]
    ax.loglog(sync["num_envs"], sync["steps_per_s"], "x", ms=10, label="SyncVectorEnv, none")
    ax.axhline(1e6, ls=":", c="grey", lw=1)  # the targets: forecaster none, and the LSTM
    ax.axhline(2.5e5, ls=":", c="C1", lw=1)
    ax.set(xlabel="num_envs", ylabel="env-steps / s", title="Vector env step rate")
    ax.legend(fontsize=8)
    ax = axes[1]
    for batch in sorted({r["num_envs"] for r in result["nodes"]}):
        rows = [r for r in result["nodes"] if r["num_envs"] == batch]
        ax.plot(
            [r["n_edge"] for r in rows],
            [r["us_per_env_step"] for r in rows],
            "o-",
            label=f"{batch} env(s)",
        )
    ax.set(xlabel="edge nodes", ylabel="us per env-step", title="Step cost vs nodes")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax = axes[2]
    if result["dqn"]:
        ax.bar(
            [r["setup"].replace(" (", "\n(") for r in result["dqn"]],
            [r["steps_per_s"] for r in result["dqn"]],
        )
    ax.set(ylabel="env-steps / s", title="SB3 DQN training")
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the vector-env options to ``edgecloud bench throughput``."""
    g = parser.add_argument_group("vector envs")
    g.add_argument(
        "--no-vector", action="store_true", help="skip the vector-env figures (single env only)"
    )
    g.add_argument(
        "--vector-envs",
        default="1,16,256,1024,4096",
        help="comma-separated numbers of envs for the native vector env (default "
        "1,16,256,1024,4096)",
    )
    g.add_argument(
        "--dqn-timesteps",
        type=int,
        default=4000,
        help="SB3 DQN timesteps per training-throughput run (default 4000; 0 skips DQN)",
    )
    g.add_argument("--plot", metavar="PNG", help="also plot the vector-env figures to PNG")


def run_from_args(args: argparse.Namespace) -> dict[str, Any] | None:
    """Run, print and plot the vector-env figures as ``args`` ask; None with ``--no-vector``."""
    if args.no_vector:
        return None
    try:
        envs = tuple(int(x) for x in args.vector_envs.split(","))
    except ValueError as exc:
        raise ValueError(
            f"--vector-envs must be comma-separated integers, got {args.vector_envs!r}."
        ) from exc
    if min(envs) < 1 or args.dqn_timesteps < 0:
        raise ValueError("--vector-envs must be >= 1 and --dqn-timesteps >= 0.")
    if args.plot:
        check_writable(args.plot)
    result = run_vector_throughput(
        num_envs=envs, dqn_timesteps=args.dqn_timesteps, repeats=args.repeats
    )
    print_vector(result)
    if args.plot:
        plot_vector(result, args.plot)
        print(f"wrote {args.plot}")
    return result
