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
curve never settles has none and drops out of that comparison (the table gives the count), and a
scope in which an env keeps no pair has no estimate ("n/a"), as in every report
(:class:`edgecloud_bench.scores.Scores`).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgecloud_bench._io import atomic_write_text, check_writable, save_png
from edgecloud_bench.render import md_table, plot_curves, pyplot
from edgecloud_bench.scores import Scores
from edgecloud_bench.stats import Interval

__all__ = ["CLAIMS", "COMPONENTS", "Claim", "add_parser", "paper_tables", "write_paper_report"]


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


def _scopes(envs: Sequence[str]) -> dict[str, list[str]]:
    profiles = [
        e for e in envs if e in ("EdgeCloud-Low-v0", "EdgeCloud-Medium-v0", "EdgeCloud-High-v0")
    ]
    heldout = [e for e in envs if e.startswith("EdgeCloud-Heldout")]
    out = {}
    if profiles:  # named by the profiles the run has (a suite may hold only some of them)
        names = ", ".join(e.removeprefix("EdgeCloud-").removesuffix("-v0") for e in profiles)
        out[f"profiles ({names})" if len(profiles) > 1 else f"profile {names}"] = profiles
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


def _variant_suffixes(agents: Sequence[str]) -> list[str]:
    """ "" and every suffix ``-X`` that a suite's labels add to all four DQN variants (an
    ablation such as ``dqn-eps0.2``, ``dynamic-allocator-eps0.2``, ...), in order of
    appearance."""
    out = [""]
    for agent in agents:
        if agent.startswith("dqn-") and not agent.startswith("dqn-forecast"):
            suffix = agent[len("dqn") :]
            if all(name + suffix in agents for name in _LEARNERS) and suffix not in out:
                out.append(suffix)
    return out


def paper_tables(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The claims and component comparisons as plain data (what :func:`write_paper_report`
    renders): ``{"claims": [...], "components": [...], "levels": [...]}``."""
    scores = Scores(records)
    scopes = _scopes(scores.envs)
    claims, components, levels = [], [], []
    for scope, envs in scopes.items():
        for claim in CLAIMS:
            ci, n = scores.compare("dynamic-allocator", claim.baseline, envs, claim.metric)
            claims.append({"scope": scope, "claim": claim, "measured": ci, "n": n})
        for suffix in _variant_suffixes(scores.agents):
            for question, agent, base in COMPONENTS:
                agent, base = agent + suffix, base + suffix
                if agent not in scores.agents or base not in scores.agents:
                    continue
                for metric, label in _COMPONENT_METRICS:
                    ci, n = scores.compare(agent, base, envs, metric)
                    components.append(
                        {"scope": scope, "question": question + (f" ({suffix[1:]})" if suffix
                         else ""), "agent": agent, "baseline": base, "metric": label,
                         "measured": ci, "n": n}
                    )  # fmt: skip
        for agent in scores.agents:
            for metric in (
                "latency_mean_ms",
                "utilisation",
                "energy_per_request_j",
                "return",
                "convergence_steps",
            ):
                levels.append(
                    {"scope": scope, "agent": agent, "metric": metric,
                     "value": scores.level(agent, envs, metric)[0]}
                )  # fmt: skip
    return {"claims": claims, "components": components, "levels": levels, "scores": scores}


def _plot_claims(claims: Sequence[Mapping[str, Any]], path: Path) -> bool:
    plt = pyplot()
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


def write_paper_report(out: str | Path, records: Sequence[Mapping[str, Any]] | None = None) -> str:
    """Write ``paper.md`` and the two plots into ``out``; return the Markdown."""
    from edgecloud_bench.report import load_runs

    if records is None:
        records = load_runs(out)
    out = check_writable(Path(out))
    tables = paper_tables(records)
    scores: Scores = tables["scores"]
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
    md += [md_table(["scope", "claim", "claimed", "measured", "n", "reading"], body), ""]
    md += ["## What each component contributes", ""]
    body = [
        [c["scope"], c["question"], f"{c['agent']} vs {c['baseline']}", c["metric"],
         _pct(c["measured"]), str(c["n"])]
        for c in tables["components"]
    ]  # fmt: skip
    md += [md_table(["scope", "component", "comparison", "metric", "improvement", "n"], body), ""]
    md += ["## Levels (IQM over runs, 95 % interval)", ""]
    body = [
        [lv["scope"], lv["agent"], lv["metric"], lv["value"].format(4)] for lv in tables["levels"]
    ]
    md += [md_table(["scope", "agent", "metric", "IQM [95 % CI]"], body), ""]
    if _plot_claims(tables["claims"], out / "paper_claims.png"):
        md += ["![claims](paper_claims.png)", ""]
    if plot_curves(
        scores,
        out / "adaptation_curves.png",
        agents=_LEARNERS,
        envs=scores.envs,
        band="iqr",
        xlabel="env steps of adaptation",
        title="Adaptation curves: IQM over seeds, band = interquartile range",
        panel=(3.6, 3.2),
    ):
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
