"""Renderers of every experiment's results: Markdown tables, CSV and plots.

They read a :class:`~edgecloud_bench.scores.Scores` object or plain rows and write text or PNG
files; none computes a statistic of its own beyond the IQM line of a curve plot.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgecloud_bench._io import save_png
from edgecloud_bench.scores import Scores
from edgecloud_bench.stats import iqm

__all__ = ["csv_text", "md_table", "plot_curves", "pyplot"]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def md_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    """A Markdown table (left-aligned columns) of ``header`` and the rows of ``body``."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body])


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:.6g}"
    return "" if value is None else value


def csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """CSV of ``rows`` with ``columns``: floats to 6 significant digits, NaN and None empty."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in columns})
    return buf.getvalue()


def plot_curves(
    scores: Scores,
    path: str | Path,
    *,
    agents: Sequence[str],
    envs: Sequence[str],
    band: str = "range",
    references: Sequence[tuple[str, str]] = (),
    xlabel: str = "env steps",
    title: str,
    panel: tuple[float, float] = (4.2, 3.4),
) -> bool:
    """Learning curves of ``agents``, one panel per env of ``envs``: the IQM over seeds and a
    band; False (and no file) when no agent has a curve there.

    Args:
        scores: The runs; their ``learning_curve`` are drawn.
        path: The PNG file.
        agents: Agents to draw, in legend order.
        envs: One panel per env (envs where no agent of ``agents`` has a curve are left out).
        band: ``"range"`` (min..max over seeds) or ``"iqr"`` (25th..75th percentile).
        references: ``(agent, line style)`` pairs drawn as grey horizontal lines at the agent's
            final IQM return; with references the y-range is cut to the later half of the
            curves and the references (early exploration is far lower).
        xlabel: Label of the x axes.
        title: The figure's title.
        panel: Width and height of one panel, inches.
    """
    if band not in ("range", "iqr"):
        raise ValueError(f"band must be 'range' or 'iqr', got {band!r}.")
    envs = [e for e in envs if any((a, e) in scores.curves for a in agents)]
    if not envs:
        return False
    plt = pyplot()
    fig, axes = plt.subplots(1, len(envs), figsize=(panel[0] * len(envs), panel[1]), squeeze=False)
    for ax, env in zip(axes[0], envs, strict=True):
        shown: list[float] = []  # the values the y-range must show: late curves and references
        for agent in agents:
            runs = scores.curves.get((agent, env))
            if not runs:
                continue
            n = min(len(r) for r in runs)
            steps = runs[0][:n, 0]
            values = np.stack([r[:n, 1] for r in runs])
            mid = iqm(values, axis=0)
            ax.plot(steps, mid, label=agent)
            if band == "range":
                low, high = values.min(axis=0), values.max(axis=0)
            else:
                low, high = np.percentile(values, [25, 75], axis=0)
            ax.fill_between(steps, low, high, alpha=0.2)
            shown += list(mid[n // 2 :])
        for agent, style in references:
            strata = scores.strata(agent, [env], "return")
            if strata:
                level = float(iqm(strata[0]))
                ax.axhline(level, color="grey", linestyle=style, label=agent)
                shown.append(level)
        if references and shown:
            low, high = min(shown), max(shown)
            pad = 0.15 * max(high - low, 1e-6 * abs(high), 1e-9)
            ax.set_ylim(low - 2 * pad, high + pad)
        ax.set_title(env)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("evaluation return")
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_png(fig, path)
    plt.close(fig)
    return True
