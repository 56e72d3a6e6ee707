"""The source paper's claims next to what a ``paper`` suite run measured.

``edgecloud bench paper-report --out DIR`` reads the run files of ``edgecloud bench run --suite
paper --out DIR`` and writes:

- ``DIR/paper.md``: the claims table (each claim of the DYNAMIC-ALLOCATOR paper, the measured
  improvement as the IQM over runs with its 95 % paired stratified bootstrap interval, and
  whether the interval overlaps the claimed range), the contribution of each component
  (forecasts, meta-learning) and the adaptation-speed figures;
- ``DIR/paper_claims.png`` and ``DIR/adaptation_curves.png``.

Improvements are in percent of the baseline's IQM, positive = better in the metric's direction
(lower latency, energy and convergence steps; higher utilisation and return), paired by seed, with
envs as strata (:func:`edgecloud_bench.stats.improvement_ci`). Two scopes: the paper's three
profiles (Low, Medium, High) and the held-out test tasks (``EdgeCloud-Heldout*-v0``).
Convergence speed is the harness's :func:`~edgecloud_bench.stats.convergence_step`; a run whose
curve never settles has none and drops out of that comparison (the table gives the count).
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgecloud_bench._io import atomic_write_text, check_writable, save_png
from edgecloud_bench.stats import Interval, improvement_ci, iqm, stratified_ci

__all__ = ["CLAIMS", "COMPONENTS", "Claim", "add_parser", "paper_tables", "write_paper_report"]

#: Metrics where higher is better (others: lower is better).
_HIGHER = frozenset({"return", "utilisation", "utilisation_edge", "initial_return", "curve_return"})


@dataclass(frozen=True)
class Claim:
    """One claim of the paper: DYNAMIC-ALLOCATOR improves ``metric`` over ``baseline`` by
    ``low``..``high`` percent."""

    label: str
    metric: str
    baseline: str
    low: float
    high: float


#: The paper's claims (its section 5).
CLAIMS: tuple[Claim, ...] = (
    Claim("average latency vs static", "latency_mean_ms", "static", 10.0, 12.0),
    Claim("average latency vs reactive RL", "latency_mean_ms", "dqn", 8.0, 10.0),
    Claim("resource utilisation vs static", "utilisation", "static", 15.0, 20.0),
    Claim("resource utilisation vs reactive RL", "utilisation", "dqn", 15.0, 20.0),
    Claim("energy per request vs static", "energy_per_request_j", "static", 2.0, 4.0),
    Claim("energy per request vs reactive RL", "energy_per_request_j", "dqn", 2.0, 4.0),
    Claim("convergence steps vs reactive RL", "convergence_steps", "dqn", 50.0, 50.0),
)

#: (question, agent, baseline) pairs that isolate one component.
COMPONENTS: tuple[tuple[str, str, str], ...] = (
    ("forecasts, without meta-learning", "dqn-forecast", "dqn"),
    ("forecasts, with meta-learning", "dynamic-allocator", "maml-dqn"),
    ("meta-learning, without forecasts", "maml-dqn", "dqn"),
    ("meta-learning, with forecasts", "dynamic-allocator", "dqn-forecast"),
    ("both (DYNAMIC-ALLOCATOR vs reactive RL)", "dynamic-allocator", "dqn"),
)

#: Metrics of the component table.
_COMPONENT_METRICS = (
    ("return", "final return"),
    ("latency_mean_ms", "latency"),
    ("initial_return", "return before adapting"),
    ("curve_return", "mean return over adaptation"),
    ("convergence_steps", "convergence steps"),
)

_LEARNERS = ("dqn", "dqn-forecast", "maml-dqn", "dynamic-allocator")


class _Scores:
    """Run scores {agent: {env: {metric: {seed: value}}}}, with curve-derived metrics added."""

    def __init__(self, records: Sequence[Mapping[str, Any]]) -> None:
        self.data: dict[str, dict[str, dict[str, dict[int, float]]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(dict))
        )
        self.curves: dict[tuple[str, str], list[np.ndarray]] = defaultdict(list)
        self.envs: list[str] = []
        for rec in records:
            spec = rec["spec"]
            agent, env, seed = spec["agent"], spec["env"], int(spec["seed"])
            if env not in self.envs:
                self.envs.append(env)
            cell = self.data[agent][env]
            for metric, value in rec["metrics"].items():
                cell[metric][seed] = math.nan if value is None else float(value)
            curve = rec.get("learning_curve") or []
            if curve:
                arr = np.asarray(curve, dtype=float)
                self.curves[(agent, env)].append(arr)
                cell["initial_return"][seed] = float(arr[0, 1])
                cell["curve_return"][seed] = float(arr[:, 1].mean())

    def paired(
        self, agent: str, base: str, envs: Sequence[str], metric: str
    ) -> tuple[list[list[float]], list[list[float]]]:
        a_out, b_out = [], []
        for env in envs:
            a, b = self.data[agent][env][metric], self.data[base][env][metric]
            seeds = sorted(s for s in set(a) & set(b) if math.isfinite(a[s] + b[s]))
            if seeds:
                a_out.append([a[s] for s in seeds])
                b_out.append([b[s] for s in seeds])
        return a_out, b_out

    def compare(
        self, agent: str, base: str, envs: Sequence[str], metric: str
    ) -> tuple[Interval, int]:
        a, b = self.paired(agent, base, envs, metric)
        if not a:
            return Interval(math.nan, math.nan, math.nan), 0
        ci = improvement_ci(a, b, higher_is_better=metric in _HIGHER, paired=True)
        return ci, sum(len(x) for x in a)

    def level(self, agent: str, envs: Sequence[str], metric: str) -> Interval:
        strata = [
            [v for v in self.data[agent][env][metric].values() if math.isfinite(v)] for env in envs
        ]
        strata = [s for s in strata if s]
        return stratified_ci(strata) if strata else Interval(math.nan, math.nan, math.nan)


def _scopes(envs: Sequence[str]) -> dict[str, list[str]]:
    profiles = [
        e for e in envs if e in ("EdgeCloud-Low-v0", "EdgeCloud-Medium-v0", "EdgeCloud-High-v0")
    ]
    heldout = [e for e in envs if e.startswith("EdgeCloud-Heldout")]
    out = {}
    if profiles:
        out["profiles (Low, Medium, High)"] = profiles
    if heldout:
        out["held-out test tasks"] = heldout
    return out


def _pct(ci: Interval) -> str:
    if not math.isfinite(ci.estimate):
        return "n/a"
    return f"{ci.estimate:+.1f} % [{ci.low:+.1f}, {ci.high:+.1f}]"


def _verdict(ci: Interval, claim: Claim) -> str:
    if not math.isfinite(ci.estimate):
        return "not measurable"
    if ci.low > claim.high:
        return "larger than claimed"
    if ci.high < claim.low:
        if ci.high < 0:
            return "not reproduced: worse than the baseline"
        if ci.low <= 0:
            return "not reproduced: no clear difference"
        return "smaller than claimed"
    if ci.low <= 0:
        return "inconclusive: the interval holds 0 and the claim"
    return "consistent"


def paper_tables(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The claims and component comparisons as plain data (what :func:`write_paper_report`
    renders): ``{"claims": [...], "components": [...], "levels": [...]}``."""
    scores = _Scores(records)
    scopes = _scopes(scores.envs)
    claims, components, levels = [], [], []
    for scope, envs in scopes.items():
        for claim in CLAIMS:
            ci, n = scores.compare("dynamic-allocator", claim.baseline, envs, claim.metric)
            claims.append({"scope": scope, "claim": claim, "measured": ci, "n": n})
        for question, agent, base in COMPONENTS:
            for metric, label in _COMPONENT_METRICS:
                ci, n = scores.compare(agent, base, envs, metric)
                components.append(
                    {"scope": scope, "question": question, "agent": agent, "baseline": base,
                     "metric": label, "measured": ci, "n": n}
                )  # fmt: skip
        for agent in scores.data:
            for metric in (
                "latency_mean_ms",
                "utilisation",
                "energy_per_request_j",
                "return",
                "convergence_steps",
            ):
                levels.append(
                    {"scope": scope, "agent": agent, "metric": metric,
                     "value": scores.level(agent, envs, metric)}
                )  # fmt: skip
    return {"claims": claims, "components": components, "levels": levels, "scores": scores}


def _plot_curves(scores: _Scores, path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = [e for e in scores.envs if any((a, e) in scores.curves for a in _LEARNERS)]
    if not envs:
        return False
    fig, axes = plt.subplots(1, len(envs), figsize=(3.6 * len(envs), 3.2), squeeze=False)
    for ax, env in zip(axes[0], envs, strict=True):
        for agent in _LEARNERS:
            runs = scores.curves.get((agent, env))
            if not runs:
                continue
            n = min(len(r) for r in runs)
            steps = runs[0][:n, 0]
            values = np.stack([r[:n, 1] for r in runs])
            ax.plot(steps, iqm(values, axis=0), label=agent)
            low, high = np.percentile(values, [25, 75], axis=0)
            ax.fill_between(steps, low, high, alpha=0.2)
        ax.set_title(env.removeprefix("EdgeCloud-"), fontsize=9)
        ax.set_xlabel("env steps of adaptation")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("evaluation return")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle("Adaptation curves: IQM over seeds, band = interquartile range", fontsize=9)
    fig.tight_layout()
    save_png(fig, path)
    plt.close(fig)
    return True


def _plot_claims(claims: Sequence[Mapping[str, Any]], path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [c for c in claims if math.isfinite(c["measured"].estimate)]
    if not rows:
        return False
    scopes = list(dict.fromkeys(c["scope"] for c in rows))
    labels = list(dict.fromkeys(c["claim"].label for c in rows))
    fig, ax = plt.subplots(figsize=(7.5, 0.5 * len(labels) + 1.2))
    y = np.arange(len(labels))
    for i, label in enumerate(labels):
        claim = next(c["claim"] for c in rows if c["claim"].label == label)
        ax.plot(
            [claim.low, claim.high], [i, i], color="black", lw=6, alpha=0.25, solid_capstyle="butt"
        )
    for k, scope in enumerate(scopes):
        for c in rows:
            if c["scope"] != scope:
                continue
            i = labels.index(c["claim"].label) + (k - (len(scopes) - 1) / 2) * 0.25
            m = c["measured"]
            err = [[m.estimate - m.low], [m.high - m.estimate]]
            ax.errorbar(m.estimate, i, xerr=err, fmt="o", color=f"C{k}")
    handles = [plt.Line2D([], [], color="black", lw=6, alpha=0.25, label="claimed range")]
    handles += [
        plt.Line2D([], [], color=f"C{k}", marker="o", label=s) for k, s in enumerate(scopes)
    ]
    ax.legend(handles=handles, fontsize=7, loc="best")
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("improvement of DYNAMIC-ALLOCATOR, % (positive = better)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    save_png(fig, path)
    plt.close(fig)
    return True


def _md(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body])


def write_paper_report(out: str | Path, records: Sequence[Mapping[str, Any]] | None = None) -> str:
    """Write ``paper.md`` and the two plots into ``out``; return the Markdown."""
    from edgecloud_bench.report import load_runs

    if records is None:
        records = load_runs(out)
    out = check_writable(Path(out))
    tables = paper_tables(records)
    scores: _Scores = tables["scores"]
    md = ["# DYNAMIC-ALLOCATOR: the paper's claims and the measurements", ""]
    md.append(
        "Improvement of DYNAMIC-ALLOCATOR over each baseline in percent of the baseline's IQM "
        "(positive = better), 95 % paired stratified bootstrap interval, n = paired runs."
    )
    md.append("")
    body = [
        [c["scope"], c["claim"].label,
         f"{c['claim'].low:g}..{c['claim'].high:g} %" if c["claim"].low != c["claim"].high
         else f"{c['claim'].low:g} %",
         _pct(c["measured"]), str(c["n"]), _verdict(c["measured"], c["claim"])]
        for c in tables["claims"]
    ]  # fmt: skip
    md += [_md(["scope", "claim", "claimed", "measured", "n", "reading"], body), ""]
    md += ["## What each component contributes", ""]
    body = [
        [c["scope"], c["question"], f"{c['agent']} vs {c['baseline']}", c["metric"],
         _pct(c["measured"]), str(c["n"])]
        for c in tables["components"]
    ]  # fmt: skip
    md += [_md(["scope", "component", "comparison", "metric", "improvement", "n"], body), ""]
    md += ["## Levels (IQM over runs, 95 % interval)", ""]
    body = [
        [lv["scope"], lv["agent"], lv["metric"], lv["value"].format(4)] for lv in tables["levels"]
    ]
    md += [_md(["scope", "agent", "metric", "IQM [95 % CI]"], body), ""]
    if _plot_claims(tables["claims"], out / "paper_claims.png"):
        md += ["![claims](paper_claims.png)", ""]
    if _plot_curves(scores, out / "adaptation_curves.png"):
        md += ["![adaptation curves](adaptation_curves.png)", ""]
    text = "\n".join(md)
    atomic_write_text(out / "paper.md", text + "\n")
    return text


def add_parser(subparsers: Any) -> None:
    """Add ``edgecloud bench paper-report``."""
    p = subparsers.add_parser(
        "paper-report",
        help="the DYNAMIC-ALLOCATOR paper's claims next to a paper-suite run",
        description="Read DIR/runs of 'edgecloud bench run --suite paper --out DIR' and write "
        "DIR/paper.md with the claims table, the components' contributions and the plots.",
    )
    p.add_argument("--out", required=True, help="the paper suite's output folder")
    p.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:
    print(write_paper_report(args.out))
    return 0
