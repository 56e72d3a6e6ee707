"""``edgecloud bench profiles``: the rule-based policies on every workload profile.

A quick look at the default setup with no training: static (capacity-proportional),
reactive threshold and least-loaded allocation on EdgeCloud-Low, -Medium and -High, averaged
over seeds. Prints a table and writes ``DIR/profiles.md`` and ``DIR/profiles.csv``.
"""

from __future__ import annotations

import argparse
import csv
import io
from typing import Any

import gymnasium as gym
import numpy as np

import edgecloud_gym
from edgecloud_agents.heuristics import HeuristicAgent, LeastLoaded, ReactiveThreshold, Static
from edgecloud_bench._io import atomic_write_text, check_writable
from edgecloud_bench.evaluation import evaluate

__all__ = ["add_parser", "run_profiles"]

PROFILE_IDS = ("EdgeCloud-Low-v0", "EdgeCloud-Medium-v0", "EdgeCloud-High-v0")
AGENTS: dict[str, type[HeuristicAgent]] = {
    "static": Static,
    "reactive": ReactiveThreshold,
    "least-loaded": LeastLoaded,
}
COLUMNS = (
    "return",
    "latency_mean_ms",
    "latency_p95_ms",
    "sla_violation_rate",
    "drop_rate",
    "utilisation_edge",
    "utilisation_cloud",
    "energy_per_request_j",
)


def run_profiles(seeds: int = 5) -> list[dict[str, Any]]:
    """Mean and standard deviation over ``seeds`` episodes per (profile, agent)."""
    edgecloud_gym.register_envs()
    rows = []
    for env_id in PROFILE_IDS:
        for name, cls in AGENTS.items():
            env = gym.make(env_id)
            eps = evaluate(cls(env), env, episodes=None, seeds=list(range(seeds)))
            row: dict[str, Any] = {"env_id": env_id, "agent": name, "episodes": seeds}
            for col in COLUMNS:
                vals = np.array([e[col] for e in eps])
                row[col] = float(vals.mean())
                row[f"{col}_std"] = float(vals.std(ddof=1)) if seeds > 1 else 0.0
            rows.append(row)
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    head = [
        "env",
        "agent",
        "return",
        "latency ms",
        "p95 ms",
        "SLA viol.",
        "drops",
        "edge util",
        "cloud util",
        "J/request",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append(
            f"| {r['env_id']} | {r['agent']} | {r['return']:.1f} ± {r['return_std']:.1f} | "
            f"{r['latency_mean_ms']:.1f} | {r['latency_p95_ms']:.1f} | {r['sla_violation_rate']:.3f} | {r['drop_rate']:.4f} | "
            f"{r['utilisation_edge']:.3f} | {r['utilisation_cloud']:.3f} | "
            f"{r['energy_per_request_j']:.3f} |"
        )
    return "\n".join(lines)


def add_parser(subparsers: Any) -> None:
    """Add ``profiles`` to the ``edgecloud bench`` subcommands."""
    p = subparsers.add_parser(
        "profiles", help="rule-based policies on Low/Medium/High (no training)", description=__doc__
    )
    p.add_argument("--seeds", type=int, default=5, help="episodes (seeds 0..N-1) per cell")
    p.add_argument("--out", default="out/profiles", help="folder for profiles.md and .csv")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}.")
    out = check_writable(f"{args.out}/profiles.md").parent
    rows = run_profiles(args.seeds)
    table = _table(rows)
    print(table)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "profiles.csv", buf.getvalue())
    atomic_write_text(
        out / "profiles.md",
        "# Rule-based allocation on the three workload profiles\n\n"
        f"Command: `edgecloud bench profiles --seeds {args.seeds} --out {args.out}`. "
        f"Mean over {args.seeds} episodes of 200 steps (± standard deviation of the return), "
        "per-episode metrics from `edgecloud_bench.evaluation.evaluate`.\n\n" + table + "\n",
    )
    print(f"wrote {out / 'profiles.md'} and {out / 'profiles.csv'}")
    return 0
