"""The offloading experiments' report: ``offloading.md`` and its plots from the part files.

:func:`write_report` reads the part files that :mod:`edgecloud_bench.offloading_suite` wrote
(``DIR/convergence.json``, ``DIR/adaptation.json``, ``DIR/meta.json``) and writes
``DIR/offloading.md`` with ``adaptation.png`` and ``dmro_adaptation.png``. The ``meta`` part's
statistics are those of every report of the harness: its runs become records of one
:class:`~edgecloud_bench.scores.Scores` object (strata: the held-out test tasks), and the figures
go through :mod:`edgecloud_bench.render`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgecloud_bench._io import atomic_write_text, save_png
from edgecloud_bench.render import pyplot
from edgecloud_bench.scores import Scores
from edgecloud_bench.stats import rolling_mean

__all__ = ["PARTS", "meta_records", "meta_summary", "write_report"]

#: The parts of the offloading experiments, in report order.
PARTS: tuple[str, ...] = ("convergence", "adaptation", "meta")

#: Frames F of the meta part's early-adaptation comparison (``early_ratio_F``).
EARLY_FRAMES: tuple[int, ...] = (100, 300, 600)


def _load_parts(out: Path) -> dict[str, dict[str, Any]]:
    parts = {}
    for part in PARTS:
        p = out / f"{part}.json"
        if p.exists():
            parts[part] = json.loads(p.read_text())
    return parts


def write_report(out: str | Path) -> Path:
    """Rebuild ``out/offloading.md`` (and plots) from the part files present."""
    out = Path(out)
    parts = _load_parts(out)
    lines = [
        "# Offloading suite",
        "",
        "Written by `edgecloud bench offloading --out DIR --part PART` "
        "(see `edgecloud_bench.offloading_suite`).",
        "",
    ]
    if "convergence" in parts:
        lines += _report_convergence(parts["convergence"])
    if "adaptation" in parts:
        lines += _report_adaptation(parts["adaptation"], out)
    if "meta" in parts:
        lines += _report_meta(parts["meta"], out)
    path = out / "offloading.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def _report_convergence(res: dict[str, Any]) -> list[str]:
    lines = [
        f"## Convergence ({res['frames']} frames, mean score over the last 20 %)",
        "",
        "| Agent | Env | Seed | Mean ratio, last 20 % | Final K | Seconds |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in res["runs"]:
        lines.append(
            f"| {r['agent']} | {r['env']} | {r['seed']} | {r['tail_mean_ratio']:.4f} | "
            f"{r.get('final_k', '')} | {r['seconds']:.0f} |"
        )
    lines.append("")
    return lines


def _fmt(x: float) -> str:
    return "not reached" if not math.isfinite(x) else f"{x:.0f}"


def _report_adaptation(res: dict[str, Any], out: Path) -> list[str]:
    lines = [
        f"## Adaptation to changes (WPMEC, N = {res['n_devices']}, DROO's experiments)",
        "",
        "Frames after a change until the trailing "
        f"{res['window']}-frame mean ratio is back at {res['threshold']} "
        "(weights alternate: 1 <-> 1.5; devices off/on: devices 1 and 3 off, then on).",
        "",
        "100 frames is the shortest possible (the first full window). The lowest 50-frame mean "
        "after each change shows how deep the dip was.",
        "",
        "| Scenario | Agent | Seed | Ratio before change | Frames after change | "
        "Lowest 50-frame mean | Frames after change back | Lowest 50-frame mean |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    plt = pyplot()
    scenarios = sorted({r["scenario"] for r in res["runs"]})
    fig, axes = plt.subplots(1, len(scenarios), figsize=(6 * len(scenarios), 4), squeeze=False)
    for ax, scenario in zip(axes[0], scenarios, strict=True):
        for r in res["runs"]:
            if r["scenario"] != scenario:
                continue
            every, (c1, c2) = r["curve_every"], r["changes"]
            curve = np.asarray(r["curve"])
            # curve[i] is the 50-frame mean ending at frame (i + 1) * every
            low1 = curve[(c1 + 50) // every - 1 : c2 // every].min()
            low2 = curve[(c2 + 50) // every - 1 :].min()
            lines.append(
                f"| {scenario} | {r['agent']} | {r['seed']} | {r['before_change']:.4f} | "
                f"{_fmt(r['recovery_after_change'])} | {low1:.4f} | "
                f"{_fmt(r['recovery_after_revert'])} | {low2:.4f} |"
            )
            x = (np.arange(len(r["curve"])) + 1) * r["curve_every"]
            ax.plot(x, r["curve"], label=f"{r['agent']} (seed {r['seed']})", lw=1)
            for c in r["changes"]:
                ax.axvline(c, color="grey", ls="--", lw=0.8)
        ax.set(title=scenario, xlabel="frame", ylabel="ratio (50-frame mean)", ylim=(0.8, 1.005))
        ax.legend()
    fig.tight_layout()
    save_png(fig, out / "adaptation.png")
    plt.close(fig)
    lines += ["", "![adaptation](adaptation.png)", ""]
    return lines


def meta_records(res: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``meta`` part's runs as records of :class:`~edgecloud_bench.scores.Scores`: env
    ``task J`` (the stratum), metrics ``ratio`` and ``cost`` of the evaluation and, for the
    learners with an adaptation curve, ``early_ratio_F`` (the mean ratio over its first F
    frames, F in :data:`EARLY_FRAMES`)."""
    records = []
    for r in sorted(res["runs"], key=lambda r: r["seed"]):
        metrics = {"ratio": r["eval"]["ratio"], "cost": r["eval"]["cost"]}
        if "curve" in r:
            metrics.update(
                {f"early_ratio_{f}": float(np.mean(r["curve"][:f])) for f in EARLY_FRAMES}
            )
        records.append(
            {"spec": {"agent": r["agent"], "env": f"task {r['task']}", "seed": r["seed"]},
             "metrics": metrics}
        )  # fmt: skip
    return records


def meta_summary(res: dict[str, Any]) -> dict[str, Any]:
    """IQM and 95 % stratified bootstrap intervals (strata: test tasks) of the meta part, as
    ``(estimate, low, high)`` tuples: ``ratio`` and ``cost`` per agent, DMRO's ``improvement``
    over each baseline, and the ``early`` adaptation ratios."""
    scores = Scores(meta_records(res))
    tasks = [f"task {t}" for t in sorted({r["task"] for r in res["runs"]})]

    def level(agent: str, metric: str) -> tuple[float, float, float]:
        return scores.level(agent, tasks, metric)[0].as_tuple()

    def gain(base: str, metric: str) -> tuple[float, float, float]:
        return scores.compare("dmro", base, tasks, metric)[0].as_tuple()

    summary: dict[str, Any] = {"ratio": {}, "cost": {}, "improvement": {}, "early": {}}
    for frames in EARLY_FRAMES:
        metric = f"early_ratio_{frames}"
        summary["early"][frames] = {a: level(a, metric) for a in ("dmro", "ddlo-scratch")}
        summary["early"][frames]["gain"] = gain("ddlo-scratch", metric)
    for a in ("dmro", "ddlo-scratch", "dqn-offload"):
        summary["ratio"][a] = level(a, "ratio")
        summary["cost"][a] = level(a, "cost")
    for base in ("dqn-offload", "ddlo-scratch"):
        summary["improvement"][base] = {"cost": gain(base, "cost"), "ratio": gain(base, "ratio")}
    return summary


def _ci(t: Sequence[float], digits: int = 4) -> str:
    return f"{t[0]:.{digits}g} [{t[1]:.{digits}g}, {t[2]:.{digits}g}]"


def _report_meta(res: dict[str, Any], out: Path) -> list[str]:
    cfg = res["settings"]
    s = meta_summary(res)
    lines = [
        "## DMRO on held-out edge-cloud tasks",
        "",
        f"{cfg['train_tasks']} training tasks, {cfg['test_tasks']} held-out test tasks, seeds "
        f"{sorted({r['seed'] for r in res['runs']})}. DMRO: {cfg['meta_iterations']} "
        f"meta-iterations, then {cfg['adapt_frames']} frames of online adaptation; DDLO from "
        f"scratch: {cfg['adapt_frames']} frames; DQN: {cfg['dqn_frames']} frames. Evaluation: "
        f"{cfg['eval_frames']} fresh frames per run, the same frames for every agent. IQM over "
        "runs with 95 % stratified bootstrap intervals (strata: test tasks).",
        "",
        "| Agent | Gain ratio (optimum / cost) | Cost per frame [J + s] |",
        "|---|---:|---:|",
    ]
    for a in s["ratio"]:
        lines.append(f"| {a} | {_ci(s['ratio'][a])} | {_ci(s['cost'][a])} |")
    lines += [
        "",
        "| DMRO over | Cost reduction [%] | Gain-ratio increase [%] |",
        "|---|---:|---:|",
    ]
    for base, imp in s["improvement"].items():
        lines.append(f"| {base} | {_ci(imp['cost'], 3)} | {_ci(imp['ratio'], 3)} |")
    lines += [
        "",
        "Online gain ratio while adapting (mean over the first F frames on the new task):",
        "",
        "| F | DMRO | DDLO from scratch | DMRO over scratch [%] |",
        "|---:|---:|---:|---:|",
    ]
    for frames, e in s["early"].items():
        lines.append(
            f"| {frames} | {_ci(e['dmro'])} | {_ci(e['ddlo-scratch'])} | {_ci(e['gain'], 3)} |"
        )
    rec = {}
    for a in ("dmro", "ddlo-scratch"):
        for key in ("recovery_0.98", "recovery_0.99"):
            vals = [r[key] for r in res["runs"] if r["agent"] == a]
            rec[(a, key)] = (
                np.mean(np.isfinite(vals)),
                np.nanmedian(vals) if np.any(np.isfinite(vals)) else math.nan,
            )
    lines += [
        "",
        "| Agent | Runs reaching 0.98 (50-frame mean) | Median frames | Runs reaching 0.99 | Median frames |",
        "|---|---:|---:|---:|---:|",
    ]
    for a in ("dmro", "ddlo-scratch"):
        f98, m98 = rec[(a, "recovery_0.98")]
        f99, m99 = rec[(a, "recovery_0.99")]
        lines.append(f"| {a} | {100 * f98:.0f} % | {_fmt(m98)} | {100 * f99:.0f} % | {_fmt(m99)} |")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for a, color in (("dmro", "C0"), ("ddlo-scratch", "C1")):
        curves = np.array([rolling_mean(r["curve"], 50) for r in res["runs"] if r["agent"] == a])
        x = np.arange(1, curves.shape[1] + 1)
        ax.plot(x, curves.mean(0), color=color, label=f"{a} (mean of {len(curves)} runs)")
        lo, hi = np.percentile(curves, [25, 75], axis=0)
        ax.fill_between(x, lo, hi, color=color, alpha=0.2)
    ax.set(xlabel="frames on the new task", ylabel="gain ratio (50-frame mean)", ylim=(0.9, 1.0))
    ax.set_title("Held-out edge-cloud tasks: meta-initialisation vs from scratch")
    ax.legend()
    fig.tight_layout()
    save_png(fig, out / "dmro_adaptation.png")
    plt.close(fig)
    lines += ["", "![DMRO adaptation](dmro_adaptation.png)", ""]
    return lines
