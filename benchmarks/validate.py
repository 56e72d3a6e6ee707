"""``edgecloud validate``: the simulator's model against reference simulators.

- ``edgecloud validate model --out DIR`` runs the model and the request-level simulator
  (:mod:`edgecloud_gym.validation`) with the same configuration and arrivals, per server and
  application class, and writes ``DIR/model.md`` (the table), ``DIR/model.csv``,
  ``DIR/model.json`` and ``DIR/model_latency.png`` (mean and 95th-percentile latency against
  utilisation).
- ``edgecloud validate feasibility [--out DIR]``: which class can meet its deadline at which
  placement at all (zero-load latency, :mod:`edgecloud_gym.validation.feasibility`).
- ``edgecloud validate network --out DIR``: the link model against ns-3
  (:mod:`edgecloud_bench.validate_network`; needs the ``ns3`` extra).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgecloud_bench import validate_network
from edgecloud_bench._io import atomic_write_text, check_writable, save_png

__all__ = ["add_parser", "model_markdown", "plot_model", "run_feasibility", "run_model"]


def add_parser(commands: Any) -> None:
    """Add ``validate`` and its subcommands to the top-level subparsers."""
    validate = commands.add_parser(
        "validate", help="check the model against a request-level simulator and ns-3"
    )
    sub = validate.add_subparsers(dest="validate_command", metavar="VALIDATE", required=True)
    p = sub.add_parser(
        "model",
        help="model vs request-level simulator, per server and class",
        description="Run the model and the request-level discrete-event simulator with "
        "the same configuration and arrivals at steady loads and in transient overloads; write "
        "a table (Markdown, CSV, JSON) and a plot into DIR.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--steps", type=int, default=200, help="steps of each steady-load episode")
    p.add_argument(
        "--replications", type=int, default=400, help="episodes of each one-step transient point"
    )
    p.add_argument(
        "--steady-replications",
        type=int,
        default=10,
        help="episodes of each steady-load point",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of arrivals and the simulator")
    p.set_defaults(func=run_model)
    f = sub.add_parser(
        "feasibility",
        help="zero-load latency of every class at every placement against its deadline",
        description="Which application class can meet its deadline at which placement at all: "
        "the latency of a request that no queue holds up, for the default configuration.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    f.add_argument("--out", type=Path, default=None, help="also write DIR/feasibility.md")
    f.set_defaults(func=run_feasibility)
    validate_network.add_parser(sub)
    for parser in sub.choices.values():
        parser.set_defaults(func=_needs_optional(parser.get_default("func")))


def _needs_optional(func: Any) -> Any:
    """Turn an ImportError of an optional dependency into a one-line message and status 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args) or 0)
        except ImportError as exc:
            print(f"edgecloud: error: {exc}", file=sys.stderr)
            return 2

    return run


def run_model(args: argparse.Namespace) -> int:
    """The ``validate model`` command."""
    from edgecloud_gym.validation.model_check import compare_model

    if args.steps < 1 or args.replications < 1 or args.steady_replications < 1:
        raise ValueError("--steps, --replications and --steady-replications must be at least 1.")
    out = check_writable(args.out)
    start = time.perf_counter()
    rows = compare_model(
        steps=args.steps,
        replications=args.replications,
        steady_replications=args.steady_replications,
        seed=args.seed,
        progress=lambda label: print(f"  {label}", file=sys.stderr, flush=True),
    )
    data = [r.as_dict() for r in rows]
    meta = {
        "command": f"edgecloud validate model --steps {args.steps} --replications "
        f"{args.replications} --steady-replications {args.steady_replications} --seed {args.seed}",
        "seconds": round(time.perf_counter() - start, 1),
    }
    text = model_markdown(data, meta)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(data[0]))
    writer.writeheader()
    writer.writerows(data)
    atomic_write_text(out / "model.csv", buf.getvalue())
    atomic_write_text(out / "model.json", json.dumps({**meta, "rows": data}, indent=1) + "\n")
    atomic_write_text(out / "model.md", text)
    plot_model(data, out / "model_latency.png")
    print(text)
    return 0


def run_feasibility(args: argparse.Namespace) -> int:
    """The ``validate feasibility`` command."""
    from edgecloud_gym.validation.feasibility import feasibility_markdown, feasibility_table

    text = feasibility_markdown(feasibility_table())
    if args.out is not None:
        atomic_write_text(check_writable(args.out) / "feasibility.md", text)
    print(text)
    return 0


def model_markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The comparison as a Markdown page: one row per (point, server, class)."""
    within = sum(abs(r["mean_gap"]) <= 0.1 and abs(r["p95_gap"]) <= 0.1 for r in rows)
    lines = [
        "# Model vs request-level simulator",
        "",
        f"`{meta['command']}` ({meta['seconds']} s). Latency in ms: request path + wait + "
        "service (+ response path); gap = model / simulator - 1; failed = dropped or abandoned "
        "per request received.",
        "",
        f"Rows with both mean and p95 within 10 %: {within} of {len(rows)}.",
        "",
        *summary_markdown(rows),
        "",
        "| point | rho | server | class | sim. mean | model mean | gap | sim. p95 | model p95 "
        "| gap | sim. failed | model failed |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['rho']:g} | {r['server']} | {r['app']} | "
            f"{r['reference_mean_ms']:.1f} | {r['model_mean_ms']:.1f} | {r['mean_gap']:+.0%} | "
            f"{r['reference_p95_ms']:.1f} | {r['model_p95_ms']:.1f} | {r['p95_gap']:+.0%} | "
            f"{r['reference_failed']:.3f} | {r['model_failed']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def summary_markdown(rows: list[dict[str, Any]]) -> list[str]:
    """Per group of operating points: rows within 10 % and the median and worst absolute gap of
    the mean and the p95 (the lines of a Markdown table)."""
    groups = {
        "steady load, rho = 0.5 to 0.9": lambda r: r["scenario"] == "steady" and r["rho"] <= 0.9,
        "steady load, rho = 0.95 and 0.99": lambda r: r["scenario"] == "steady" and r["rho"] > 0.9,
        **{
            scenario: (lambda r, s=scenario: r["scenario"] == s)
            for scenario in dict.fromkeys(r["scenario"] for r in rows)
            if scenario != "steady"
        },
    }
    lines = [
        "| operating points | rows | within 10 % | mean: median gap, worst | p95: median gap, worst |",
        "|---|---:|---:|---|---|",
    ]
    for label, keep in groups.items():
        sel = [r for r in rows if keep(r)]
        if not sel:
            continue
        mean = np.abs([r["mean_gap"] for r in sel])
        p95 = np.abs([r["p95_gap"] for r in sel])
        ok = int(np.sum((mean <= 0.1) & (p95 <= 0.1)))
        lines.append(
            f"| {label} | {len(sel)} | {ok} | {np.median(mean):.0%}, {mean.max():.0%} | "
            f"{np.median(p95):.0%}, {p95.max():.0%} |"
        )
    return lines


def plot_model(rows: list[dict[str, Any]], path: Path) -> None:
    """Mean and p95 latency against steady utilisation, simulator (solid) vs model (dashed),
    one panel per server size, one colour per class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steady = [r for r in rows if r["scenario"] == "steady"]
    servers = list(dict.fromkeys(r["server"] for r in steady))
    apps = list(dict.fromkeys(r["app"] for r in steady))
    fig, axes = plt.subplots(2, len(servers), figsize=(3.2 * len(servers), 6), squeeze=False)
    for col, server in enumerate(servers):
        for row, (stat, label) in enumerate((("mean", "mean"), ("p95", "p95"))):
            ax = axes[row, col]
            for j, app in enumerate(apps):
                pts = sorted(
                    (r["rho"], r[f"reference_{stat}_ms"], r[f"model_{stat}_ms"])
                    for r in steady
                    if r["server"] == server and r["app"] == app
                )
                rho = [p[0] for p in pts]
                ax.plot(rho, [p[1] for p in pts], "-o", color=f"C{j}", ms=3, label=f"{app} sim.")
                ax.plot(rho, [p[2] for p in pts], "--", color=f"C{j}", label=f"{app} model")
            ax.set_title(f"{server}: {label}", fontsize=9)
            ax.set_xlabel("offered utilisation")
            ax.set_ylabel("latency (ms)")
            ax.set_yscale("log")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    save_png(fig, path)
    plt.close(fig)
