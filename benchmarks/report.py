"""Summary table, Markdown report and plots of a suite's run files.

From ``DIR/runs/*.json`` (:mod:`edgecloud_bench.suite`) :func:`write_report` writes:

- ``DIR/summary.csv``: one row per (agent, env, metric), env ``all`` pooling the envs as strata.
  Columns: ``n_runs``; ``iqm``, ``ci_low``, ``ci_high`` (interquartile mean over runs and its 95 %
  stratified bootstrap interval); ``vs_static_pct``/``_low``/``_high`` and ``vs_dqn_pct``/...
  (improvement over the static baseline and over reactive RL, the DQN without forecasts, in percent
  of the baseline's IQM: positive is better whatever the metric's direction, paired by seed);
  ``gap_oracle_pct``/... (how much worse than the ``oracle`` agent, the LP plan, in percent of
  its IQM: positive is worse); ``causal_baseline`` (the env's strongest causal baseline,
  :mod:`edgecloud_bench.references`) and ``vs_causal_pct``/... (improvement over it, paired by
  seed, as ``vs_static``); ``gap_closed`` (return only: the fraction of the static-to-clairvoyant
  gap the agent closes). The last four are per env, blank for env ``all`` (each env has its own
  strongest baseline). The metric ``oracle_gap_pct`` is a run's return gap to the LP of
  the same episodes (:mod:`edgecloud_bench.evaluation`). The LP relaxes model v0: on model v1 it
  is neither a bound nor an upper reference (docs/lp_bound.md).
- ``DIR/report.md``: the tables, the references of each env (the strongest causal baseline and
  clairvoyant MPC, :mod:`edgecloud_bench.references`), and the plots ``bars_<metric>.png`` (IQM
  per agent and profile with the 95 % interval) and ``learning_curves.png``.

Everything is recomputed from the run files, so ``edgecloud report DIR`` after a partial or
resumed suite gives the same files as the suite itself.
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import edgecloud_gym
from edgecloud_bench._io import atomic_write_text, check_writable, save_png
from edgecloud_bench.evaluation import EPISODE_METRICS
from edgecloud_bench.references import env_references, reference_markdown, reference_summary
from edgecloud_bench.render import csv_text, md_table, plot_curves, pyplot
from edgecloud_bench.scores import Scores
from edgecloud_bench.stats import Interval, late_gain

__all__ = [
    "SUMMARY_COLUMNS",
    "SUMMARY_METRICS",
    "add_parser",
    "load_runs",
    "summary_rows",
    "write_report",
]

#: Metrics of the summary, in order (a metric absent from every run is left out).
SUMMARY_METRICS: tuple[str, ...] = (
    *(m for m in EPISODE_METRICS if m not in ("arrived", "processed")),
    "oracle_gap_pct",
    "convergence_steps",
    "late_gain_pct",
)

#: Columns of ``summary.csv``.
SUMMARY_COLUMNS: tuple[str, ...] = (
    "agent",
    "env",
    "metric",
    "n_runs",
    "iqm",
    "ci_low",
    "ci_high",
    "vs_static_pct",
    "vs_static_low",
    "vs_static_high",
    "vs_dqn_pct",
    "vs_dqn_low",
    "vs_dqn_high",
    "gap_oracle_pct",
    "gap_oracle_low",
    "gap_oracle_high",
    "causal_baseline",
    "vs_causal_pct",
    "vs_causal_low",
    "vs_causal_high",
    "gap_closed",
)

#: The agent order of tables and plots (others follow in order of appearance).
_AGENT_ORDER = (
    "static",
    "reactive",
    "least-loaded",
    "random",
    "dqn",
    "dqn-forecast",
    "mpc-clairvoyant",
    "oracle",
)

#: Table columns (metric, header, format) of the printed results and the report's per-env tables.
_TABLE = (
    ("return", "return", ".1f"),
    ("latency_mean_ms", "latency ms", ".1f"),
    ("latency_p95_ms", "p95 ms", ".0f"),
    ("sla_violation_rate", "SLA viol.", ".3f"),
    ("drop_rate", "drops", ".4f"),
    ("utilisation", "util.", ".3f"),
    ("energy_per_request_j", "J/request", ".3f"),
    ("oracle_gap_pct", "gap to LP %", ".1f"),
)

_PLOTS = (
    "return",
    "latency_mean_ms",
    "latency_p95_ms",
    "sla_violation_rate",
    "utilisation",
    "energy_per_request_j",
)


def load_runs(out: str | Path) -> list[dict[str, Any]]:
    """Every run file of ``out/runs`` (sorted by name); a corrupt one raises naming it."""
    from edgecloud_bench.run import read_run

    runs_dir = Path(out) / "runs"
    if not runs_dir.is_dir():
        raise FileNotFoundError(
            f"{runs_dir} does not exist: give the --out folder of 'edgecloud bench run'."
        )
    paths = sorted(runs_dir.glob("*.json"))
    if not paths:
        raise FileNotFoundError(f"no run files in {runs_dir}; run a suite into {out} first.")
    return [with_late_gain(read_run(p)) for p in paths]


def with_late_gain(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with ``metrics["late_gain_pct"]`` (:func:`edgecloud_bench.stats.late_gain`)
    filled from its learning curve when a run file from before that metric lacks it."""
    curve = record.get("learning_curve") or []
    metrics = record.get("metrics") or {}
    if curve and "late_gain_pct" not in metrics:
        record = {
            **record,
            "metrics": {**metrics, "late_gain_pct": late_gain([r for _, r in curve])},
        }
    return record


class _Suite:
    """A suite's scores with its agents and envs in report order."""

    def __init__(self, records: Sequence[Mapping[str, Any]]) -> None:
        self.scores = Scores(records)
        seen = self.scores.agents
        rank = {a: i for i, a in enumerate(_AGENT_ORDER)}
        self.agents = sorted(seen, key=lambda a: (rank.get(a, len(rank)), seen.index(a)))
        registered = list(edgecloud_gym.ALLOCATION_IDS)
        self.envs = sorted(
            self.scores.envs,
            key=lambda e: (registered.index(e) if e in registered else len(registered), e),
        )


def _compare(
    suite: _Suite, agent: str, base: str, envs: Sequence[str], metric: str
) -> Interval | None:
    if agent == base or base not in suite.agents:
        return None
    ci, n = suite.scores.compare(agent, base, envs, metric)
    return ci if n else None


def summary_rows(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows of ``summary.csv`` (see the module docstring) from run records."""
    suite = _Suite(records)
    scopes = [(env, [env]) for env in suite.envs]
    if len(suite.envs) > 1:
        scopes.append(("all", suite.envs))
    refs = {r.env: r for r in env_references(records, suite.agents, suite.envs, suite.scores)}
    rows = []
    for agent in suite.agents:
        for env, envs in scopes:
            for metric in SUMMARY_METRICS:
                ci, n_runs = suite.scores.level(agent, envs, metric)
                if not n_runs:
                    continue
                row: dict[str, Any] = {
                    "agent": agent,
                    "env": env,
                    "metric": metric,
                    "n_runs": n_runs,
                    "iqm": ci.estimate,
                    "ci_low": ci.low,
                    "ci_high": ci.high,
                }
                for prefix, base in (("vs_static", "static"), ("vs_dqn", "dqn")):
                    cmp = _compare(suite, agent, base, envs, metric)
                    if cmp is not None:
                        row.update(
                            zip(
                                (f"{prefix}_pct", f"{prefix}_low", f"{prefix}_high"),
                                cmp.as_tuple(),
                                strict=True,
                            )
                        )
                cmp = _compare(suite, agent, "oracle", envs, metric)
                if cmp is not None:
                    # the gap is the negated improvement: positive = worse than the oracle
                    row.update(
                        gap_oracle_pct=-cmp.estimate,
                        gap_oracle_low=-cmp.high,
                        gap_oracle_high=-cmp.low,
                    )
                ref = refs.get(env)
                if ref is not None and ref.causal is not None:
                    row["causal_baseline"] = ref.causal
                    cmp = _compare(suite, agent, ref.causal, envs, metric)
                    if cmp is not None:
                        row.update(
                            zip(
                                ("vs_causal_pct", "vs_causal_low", "vs_causal_high"),
                                cmp.as_tuple(),
                                strict=True,
                            )
                        )
                    standing = ref.row(agent)
                    if metric == "return" and standing is not None:
                        row["gap_closed"] = standing.gap_closed
                rows.append(row)
    return rows


def _lookup(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, str], Mapping[str, Any]]:
    return {(r["agent"], r["env"], r["metric"]): r for r in rows}


def _fmt(row: Mapping[str, Any] | None, key: str, spec: str, ci: bool = True) -> str:
    if row is None or row.get(key) is None or not math.isfinite(row[key]):
        return "–"
    stem = key.removesuffix("_pct")
    low, high = (stem + "_low", stem + "_high") if key != "iqm" else ("ci_low", "ci_high")
    text = format(row[key], spec)
    if ci and row.get(low) is not None and math.isfinite(row[low]):
        text += f" [{format(row[low], spec)}, {format(row[high], spec)}]"
    return text


def results_table(
    rows: Sequence[Mapping[str, Any]], envs: Sequence[str], agents: Sequence[str]
) -> str:
    """Plain-text table of IQMs per env and agent (the output of ``edgecloud bench run``)."""
    look = _lookup(rows)
    cols = [c for c in _TABLE if any(k[2] == c[0] for k in look)]
    lines = []
    for env in envs:
        header = ["agent", *[h for _, h, _ in cols]]
        body = [
            [agent, *[_fmt(look.get((agent, env, m)), "iqm", f, ci=False) for m, _, f in cols]]
            for agent in agents
            if any((agent, env, m) in look for m, _, _ in cols)
        ]
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
        lines.append(f"{env} (IQM over runs)")
        for r in [header, *body]:
            lines.append(
                "  ".join(
                    c.ljust(w) if i == 0 else c.rjust(w)
                    for i, (c, w) in enumerate(zip(r, widths, strict=True))
                )
            )
        lines.append("")
    return "\n".join(lines).rstrip()


def _plot_bars(rows: Sequence[Mapping[str, Any]], table: _Suite, metric: str, path: Path) -> bool:
    plt = pyplot()
    look = _lookup(rows)
    agents = [a for a in table.agents if any((a, e, metric) in look for e in table.envs)]
    if not agents:
        return False
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(table.envs) + 2), 3.6))
    width = 0.8 / len(agents)
    x = np.arange(len(table.envs))
    for i, agent in enumerate(agents):
        cells = [look.get((agent, e, metric)) for e in table.envs]
        mid = np.array([c["iqm"] if c else np.nan for c in cells])
        err = np.array(
            [[c["iqm"] - c["ci_low"], c["ci_high"] - c["iqm"]] if c else [0, 0] for c in cells]
        ).T
        ax.bar(
            x + (i - (len(agents) - 1) / 2) * width, mid, width, yerr=err, capsize=2, label=agent
        )
    ax.set_xticks(x, [e.replace("EdgeCloud-", "").replace("-v0", "") for e in table.envs])
    ax.set_ylabel(metric)
    ax.set_title(f"{metric}: IQM over runs, 95 % stratified bootstrap interval", fontsize=9)
    ax.legend(fontsize=7, ncol=min(4, len(agents)))
    fig.tight_layout()
    save_png(fig, path)
    plt.close(fig)
    return True


def _settings(records: Sequence[Mapping[str, Any]], table: _Suite) -> str:
    seeds: dict[str, set[int]] = defaultdict(set)
    specs: dict[str, Mapping[str, Any]] = {}
    for rec in records:
        spec = rec["spec"]
        seeds[spec["agent"]].add(int(spec["seed"]))
        specs[spec["agent"]] = spec
    body = []
    for agent in table.agents:
        s = specs[agent]
        budget = f"{s['budget']:,}" if s["budget"] else "–"
        freq = f"every {s['eval_freq']:,} steps, {s['eval_episodes']} ep." if s["budget"] else "–"
        body.append([agent, budget, freq, str(len(seeds[agent])), str(s["episodes"])])
    return md_table(
        [
            "agent",
            "training budget (env steps)",
            "learning-curve evaluations",
            "seeds",
            "eval episodes per run",
        ],
        body,
    )


def _cost(records: Sequence[Mapping[str, Any]]) -> str:
    cpu = [r.get("cpu_seconds") for r in records]
    known = [c for c in cpu if c is not None]
    if not known:
        return "CPU time of the runs: not recorded."
    by_agent: dict[str, float] = defaultdict(float)
    for rec, c in zip(records, cpu, strict=True):
        by_agent[rec["spec"]["agent"]] += c or 0.0
    parts = ", ".join(f"{a} {v / 60:.1f}" for a, v in sorted(by_agent.items(), key=lambda x: -x[1]))
    return (
        f"CPU time of the runs: {sum(known) / 60:.1f} min in total ({parts}), i.e. about "
        f"{sum(known) / 120:.1f} min of wall-clock time on two idle cores, plus process start-up."
    )


def write_report(out: str | Path, records: Sequence[Mapping[str, Any]] | None = None) -> str:
    """Write ``summary.csv``, ``report.md`` and the plots into ``out``; return the results table.

    Args:
        out: The suite's output folder.
        records: The run records (default: read ``out/runs``).
    """
    records = load_runs(out) if records is None else [with_late_gain(dict(r)) for r in records]
    out = check_writable(Path(out))
    if not records:
        raise ValueError(f"no runs to report in {out}.")
    table = _Suite(records)
    rows = summary_rows(records)
    look = _lookup(rows)
    atomic_write_text(out / "summary.csv", csv_text(rows, SUMMARY_COLUMNS))

    first = records[0]["spec"]
    md = [
        f"# Benchmark report: suite `{first['suite']}` (version {first['version']})",
        "",
        f"{len(records)} runs ({len(table.agents)} agents x {len(table.envs)} envs x seeds). "
        "Regenerate with `edgecloud report DIR`; the numbers are in `summary.csv`.",
        "",
        "Each run's score is the mean over its evaluation episodes; cells give the interquartile "
        "mean (IQM) over runs and its 95 % stratified bootstrap interval (2000 resamples). "
        "Improvements are in percent of the baseline's IQM, positive = better, paired by seed "
        "(every agent's run with seed s is evaluated on the same workloads). `dqn` is reactive RL "
        "(DQN without forecasts). `oracle` is the LP plan (model v0 relaxation): it plans on a "
        "relaxation of model v0 and is neither a bound nor an upper reference on model v1 "
        "(docs/lp_bound.md); `gap to LP` is the return's gap to that LP of the same episodes. "
        "The upper reference is clairvoyant MPC (`mpc-clairvoyant`: MPC on the env's own model "
        "with the realised arrivals), see the section on the strongest causal baseline.",
        "",
        "## Settings",
        "",
        _settings(records, table),
        "",
        _cost(records),
        "",
        "## Results per profile",
    ]
    cols = [c for c in _TABLE if any(k[2] == c[0] for k in look)]
    for env in table.envs:
        body = [
            [agent, *[_fmt(look.get((agent, env, m)), "iqm", f) for m, _, f in cols]]
            for agent in table.agents
        ]
        md += ["", f"### {env}", "", md_table(["agent", *[h for _, h, _ in cols]], body)]

    scopes = [*table.envs, "all"] if len(table.envs) > 1 else table.envs
    compared = (
        "latency_mean_ms",
        "latency_p95_ms",
        "utilisation",
        "utilisation_edge",
        "energy_per_request_j",
        "return",
    )
    for prefix, base, title in (
        ("vs_static", "static", "static allocation"),
        ("vs_dqn", "dqn", "reactive RL (`dqn`)"),
    ):
        if base not in table.agents:
            continue
        md += ["", f"## Improvement over {title}, % (positive = better)", ""]
        for metric in compared:
            body = [
                [
                    agent,
                    *[
                        _fmt(look.get((agent, env, metric)), f"{prefix}_pct", ".1f")
                        for env in scopes
                    ],
                ]
                for agent in table.agents
                if agent != base
            ]
            md += [f"**{metric}**", "", md_table(["agent", *scopes], body), ""]

    refs = env_references(records, table.agents, table.envs, table.scores)
    if "return" in {k[2] for k in look}:
        md += reference_markdown(refs)

    if "oracle" in table.agents:
        md += [
            "## Gap to the LP plan (`oracle`, model v0 relaxation), % of its IQM "
            "(positive = worse; not a bound on model v1)",
            "",
        ]
        for metric in ("return", "latency_mean_ms"):
            body = [
                [
                    agent,
                    *[
                        _fmt(look.get((agent, env, metric)), "gap_oracle_pct", ".1f")
                        for env in scopes
                    ],
                ]
                for agent in table.agents
                if agent != "oracle"
            ]
            md += [f"**{metric}**", "", md_table(["agent", *scopes], body), ""]

    learners = [
        a for a in table.agents if any((a, e, "convergence_steps") in look for e in table.envs)
    ]
    if learners:
        md += [
            "## Learning curves and convergence speed",
            "",
            "Convergence speed: env steps until the evaluation return first reaches and then stays "
            "within 5 % of its plateau (the mean of the last 20 % of the evaluations, at least two); "
            "runs whose last evaluation is outside that band count as not converged and are left out "
            "(n = converged runs).",
            "",
        ]
        body = []
        for agent in learners:
            cells = []
            for env in scopes:
                r = look.get((agent, env, "convergence_steps"))
                cells.append(f"{_fmt(r, 'iqm', ',.0f')} (n={r['n_runs']})" if r else "–")
            body.append([agent, *cells])
        md += [md_table(["agent", *scopes], body), ""]
        md += [
            "Late-training gain: the change of the evaluation return over the last fifth of the "
            "evaluations against the fifth before, in percent (IQM over runs, 95 % interval; "
            "positive: still rising). An interval that contains 0 (or lies below it) finds no "
            "gain late in training: a plateau, however noisy single evaluations are.",
            "",
        ]
        body = []
        for agent in learners:
            cells = []
            for env in scopes:
                r = look.get((agent, env, "late_gain_pct"))
                if not r:
                    cells.append("–")
                    continue
                verdict = "rising" if r["ci_low"] > 0 else "plateau"
                cells.append(f"{_fmt(r, 'iqm', '+.1f')} % ({verdict})")
            body.append([agent, *cells])
        md += [md_table(["agent", *scopes], body), ""]
        if plot_curves(
            table.scores,
            out / "learning_curves.png",
            agents=table.agents,
            envs=table.envs,
            references=(
                ("static", ":"),
                ("reactive", "-."),
                ("mpc-clairvoyant", "-"),
                ("oracle", "--"),
            ),
            title="Learning curves: IQM over seeds, band = min..max; grey lines: final IQM "
            "return of rule-based agents, clairvoyant MPC and the LP plan (y-range cut to the "
            "later evaluations)",
        ):
            md += ["![learning curves](learning_curves.png)", ""]

    md += ["## Plots", ""]
    for metric in _PLOTS:
        if _plot_bars(rows, table, metric, out / f"bars_{metric}.png"):
            md += [f"![{metric}](bars_{metric}.png)", ""]
    atomic_write_text(out / "report.md", "\n".join(md).rstrip() + "\n")
    text = results_table(rows, table.envs, table.agents)
    if "return" in {k[2] for k in look}:
        text += "\n\n" + reference_summary(refs)
    return text


def add_parser(subparsers: Any) -> None:
    """Add ``edgecloud report`` to the command's subparsers."""
    p = subparsers.add_parser(
        "report",
        help="rebuild summary.csv, report.md and plots from a suite's run files",
        description="Read DIR/runs/*.json (from 'edgecloud bench run') and write DIR/summary.csv, "
        "DIR/report.md and the PNG plots; print the results table.",
    )
    p.add_argument("dir", help="the --out folder of 'edgecloud bench run'")
    p.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:
    print(write_report(args.dir))
    return 0
