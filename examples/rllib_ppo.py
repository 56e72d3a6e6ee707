"""Train RLlib's PPO on an allocation id and print the environment metrics of each iteration.

Needs Ray RLlib: ``bash scripts/build_rllib_env.sh`` builds ``.venv-rllib`` with it, then::

    .venv-rllib/bin/python examples/rllib_ppo.py --env EdgeCloud-Low-v0 --iterations 5

Each iteration collects ``--batch`` env steps (200-step episodes) with ``--env-runners`` remote
env runners (0: in the driver), trains on them, and prints the mean episode return, the
environment metrics of the episodes that ended (``env/latency_mean_ms`` and others, logged by
:class:`edgecloud_bench.rllib.EnvMetricsCallback`) and the iteration's wall time. ``--json``
writes every iteration's figures to a file.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

#: Environment metrics printed per iteration (all of them are in the result and the JSON file).
SHOWN = ("latency_mean_ms", "latency_p95_ms", "sla_violation_rate", "utilisation")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--env", default="EdgeCloud-Low-v0", help="allocation env id")
    parser.add_argument("--forecaster", default="none", help="the env's forecaster (env_config)")
    parser.add_argument("--iterations", type=int, default=2, help="training iterations")
    parser.add_argument("--batch", type=int, default=1000, help="env steps per iteration")
    parser.add_argument("--env-runners", type=int, default=1, help="remote env runners")
    parser.add_argument("--seed", type=int, default=0, help="seed of the run")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    for name in ("iterations", "batch"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}.")
    if args.env_runners < 0:
        parser.error(f"--env-runners must be >= 0, got {args.env_runners}.")
    if args.json is not None and not args.json.parent.is_dir():
        parser.error(f"--json: folder {args.json.parent} does not exist; create it first.")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import ray
    from ray.rllib.algorithms.ppo import PPOConfig

    from edgecloud_bench.rllib import EnvMetricsCallback, register_rllib_envs

    try:
        register_rllib_envs([args.env])
    except ValueError as exc:
        print(f"rllib_ppo: error: --env: {exc}", file=sys.stderr)
        return 2
    ray.init(num_cpus=max(2, args.env_runners + 1), include_dashboard=False, log_to_driver=False)
    config = (
        PPOConfig()
        .environment(args.env, env_config={"forecaster": args.forecaster})
        .env_runners(num_env_runners=args.env_runners, num_envs_per_env_runner=1)
        .training(train_batch_size_per_learner=args.batch, minibatch_size=200, num_epochs=4)
        .callbacks(EnvMetricsCallback)
        .debugging(seed=args.seed)
    )
    algo = config.build_algo()
    rows: list[dict[str, Any]] = []
    try:
        for i in range(1, args.iterations + 1):
            started = time.perf_counter()
            result = algo.train()
            seconds = time.perf_counter() - started
            runners = result.get("env_runners")
            if not runners:  # the env runners sent nothing back within RLlib's sample timeout
                print(
                    f"iteration {i}: {seconds:.1f} s, no samples came back from the env runners "
                    "(RLlib's sample_timeout_s ran out: a loaded machine?)",
                    flush=True,
                )
                continue
            env_metrics = {k: float(v) for k, v in runners.items() if k.startswith("env/")}
            row = {
                "iteration": i,
                "seconds": seconds,
                "env_steps": int(runners.get("num_env_steps_sampled", 0)),
                "episode_return_mean": float(runners.get("episode_return_mean", math.nan)),
                **env_metrics,
            }
            rows.append(row)
            shown = ", ".join(
                f"{k} {env_metrics[f'env/{k}']:.4g}" for k in SHOWN if f"env/{k}" in env_metrics
            )
            print(
                f"iteration {i}: {seconds:.1f} s, {row['env_steps']} env steps, "
                f"return {row['episode_return_mean']:.2f}, {shown}",
                flush=True,
            )
    finally:
        algo.stop()
        ray.shutdown()
    if args.json is not None:
        args.json.write_text(json.dumps({"env": args.env, "iterations": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
