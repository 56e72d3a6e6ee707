"""``edgecloud bench lp-bound``: the episode LP's bound next to the ``oracle`` agent and the
static baseline, per (env, seed); the figures of ``docs/agents.md`` (the oracle)."""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

__all__ = ["add_parser", "bound_report"]


def bound_report(env_ids: list[str], seeds: list[int]) -> list[dict[str, Any]]:
    """Per (env id, seed): the bound, the Oracle agent's and the static baseline's returns, and
    the LP's solve time; the figures of ``docs/agents.md``.

    Args:
        env_ids: Registered allocation ids.
        seeds: Reset seeds (one episode each).
    """
    import gymnasium as gym

    import edgecloud_gym
    from edgecloud_agents.lp_bound import oracle_bound
    from edgecloud_agents.oracle import Oracle

    gym.register_envs(edgecloud_gym)
    rows = []
    for env_id in env_ids:
        env = gym.make(env_id, action_mode="weights", forecaster="none")
        agent = Oracle(env)
        for seed in seeds:
            returns = {}
            for policy in ("oracle", "static"):
                obs, _ = env.reset(seed=seed)
                static = env.unwrapped.sim.params.static_shares[0].astype(np.float32)
                total, done = 0.0, False
                while not done:
                    action = agent.predict(obs) if policy == "oracle" else static
                    obs, reward, _, done, _ = env.step(action)
                    total += float(reward)
                returns[policy] = total
            start = time.perf_counter()
            bound = oracle_bound(env)
            rows.append(
                {
                    "env": env_id,
                    "seed": seed,
                    "bound": bound,
                    "oracle": returns["oracle"],
                    "static": returns["static"],
                    "oracle_gap_pct": 100.0 * (bound - returns["oracle"]) / abs(bound),
                    "static_gap_pct": 100.0 * (bound - returns["static"]) / abs(bound),
                    "bound_solve_s": time.perf_counter() - start,
                }
            )
        env.close()
    return rows


def add_parser(subparsers: Any) -> None:
    """Add ``lp-bound`` to the ``edgecloud bench`` subcommands."""
    p = subparsers.add_parser(
        "lp-bound",
        help="the episode LP's bound, the oracle agent and the static baseline per episode",
        description="Solve the episode LP (an upper bound on any policy's return on model v0 "
        "only) for each env and seed, play the oracle agent and the static baseline on the same episode, and print "
        "a Markdown table.",
    )
    p.add_argument(
        "--envs",
        nargs="+",
        default=["EdgeCloud-Low-v0", "EdgeCloud-Medium-v0", "EdgeCloud-High-v0"],
        help="registered allocation ids",
    )
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4], help="reset seeds")
    p.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:
    rows = bound_report(args.envs, args.seeds)
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()]
        print("| " + " | ".join(cells) + " |")
    return 0
