"""``edgecloud forecast eval --trace NAME``: forecasters on the test period of real traces.

For each trace, the LSTM is fine-tuned on the train split (starting from the shipped weights,
:func:`edgecloud_gym.traces.forecasting.finetune_lstm`), then every forecaster is scored on the
test split (:func:`edgecloud_gym.traces.forecasting.split_workload`): naive (last value),
seasonal naive with a one-day season, EWMA, the shipped LSTM (trained on synthetic workloads
only) and the fine-tuned LSTM. Scores are MAE in units of the train-period mean rate
(``MAE / (load * scale)``) and MASE (MAE over the one-step naive MAE of the same targets).
Writes ``results.json``, ``table.md``, ``forecast.png`` and the fine-tuned weights
(``lstm-<trace>.npz`` + ``.json``) to ``--out-dir``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgecloud_bench._io import atomic_write_json, atomic_write_text, check_writable
from edgecloud_gym.core.workload import EpisodeWorkload
from edgecloud_gym.forecasting import (
    EWMAForecaster,
    Forecaster,
    LSTMForecaster,
    NaiveForecaster,
    SeasonalNaiveForecaster,
)
from edgecloud_gym.forecasting.scoring import forecast_truth, score_forecasters
from edgecloud_gym.traces import as_trace_spec
from edgecloud_gym.traces.forecasting import (
    FinetuneConfig,
    finetune_lstm,
    rows_per_day,
    split_workload,
)

__all__ = ["add_arguments", "main", "run_trace_eval"]

#: Forecasters the fine-tuned LSTM is compared with.
BASELINES = ("naive", "seasonal", "ewma")


def run_trace_eval(
    traces: tuple[str, ...] = ("nasa", "alibaba"),
    *,
    out_dir: Path,
    config: FinetuneConfig | None = None,
    horizon: int = 5,
) -> tuple[dict[str, Any], dict[str, EpisodeWorkload], dict[str, dict[str, np.ndarray]]]:
    """Fine-tune on each trace's train split and score every forecaster on its test split.

    Args:
        traces: Bundled names, CSV paths or TraceSpecs (as ``trace=`` of the trace envs).
        out_dir: Where the fine-tuned weights go.
        config: Fine-tuning settings (also the series' ``load`` and ``scale``).
        horizon: Forecast steps H.

    Returns:
        The results (plain data), the test workloads and the forecasts by trace (for plots).
    """
    cfg = FinetuneConfig() if config is None else config
    results: dict[str, Any] = {
        "finetune": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
        "horizon": horizon,
        "unit": "MAE / (load * scale): fraction of the train-period mean rate",
        "traces": {},
    }
    workloads: dict[str, EpisodeWorkload] = {}
    forecasts: dict[str, dict[str, np.ndarray]] = {}
    for item in traces:
        spec = as_trace_spec(item)
        weights = out_dir / f"lstm-{spec.name}.npz"
        start = time.perf_counter()
        _, meta = finetune_lstm(spec, cfg, out=weights)
        seconds = time.perf_counter() - start
        day = rows_per_day(spec)
        m = spec.series("test")[0].shape[1]
        scale = np.full(m, cfg.scale)
        wl = split_workload(
            spec,
            "test",
            scale=scale,
            load=cfg.load,
            steps=cfg.steps,
            warmup=max(cfg.warmup, day),
            horizon=horizon,
        )
        models: dict[str, Forecaster] = {
            "naive": NaiveForecaster(),
            "seasonal": SeasonalNaiveForecaster(day),
            "ewma": EWMAForecaster(),
            "lstm": LSTMForecaster(),
            "lstm-ft": LSTMForecaster(weights),
        }
        batch_scale = np.broadcast_to(scale, (wl.arrivals.shape[0], m)).copy()
        scores = score_forecasters(models, wl, batch_scale, horizon)
        unit = cfg.load * cfg.scale
        mae = {n: (s.mae / unit).tolist() for n, s in scores.items()}
        mean = {n: float(np.mean(v)) for n, v in mae.items()}
        best = min(BASELINES, key=mean.get)
        results["traces"][spec.name] = {
            "file": Path(spec.path).name,
            "series": m,
            "test_rows_scored": int(wl.arrivals.shape[0] * wl.steps),
            "test_windows": int(wl.arrivals.shape[0]),
            "season_rows": day,
            "finetune_seconds": round(seconds, 1),
            "finetune_val_mae": meta["metrics"]["val_mae"],
            "finetune_val_mae_start": meta["metrics"]["val_mae_start"],
            "finetune_best_epoch": meta["metrics"]["best_epoch"],
            "mae": mae,
            "mase": {n: s.mase.tolist() for n, s in scores.items()},
            "best_baseline": best,
            "lstm_ft_vs_best_baseline_pct": 100.0 * (mean["lstm-ft"] / mean[best] - 1.0),
            "lstm_ft_vs_lstm_pct": 100.0 * (mean["lstm-ft"] / mean["lstm"] - 1.0),
        }
        workloads[spec.name] = wl
        forecasts[spec.name] = {n: f.forecast(wl, horizon, batch_scale) for n, f in models.items()}
    return results, workloads, forecasts


def table(results: dict[str, Any]) -> str:
    """Markdown tables: MAE per horizon step and MASE, one row per trace and forecaster."""
    h = results["horizon"]
    lines = [
        "| trace | forecaster | "
        + " | ".join(f"MAE h={i + 1}" for i in range(h))
        + " | MAE mean | MASE mean |",
        "|" + "---|" * (h + 4),
    ]
    for name, block in results["traces"].items():
        for f, values in block["mae"].items():
            cells = " | ".join(f"{v:.3f}" for v in values)
            lines.append(
                f"| {name} | {f} | {cells} | {np.mean(values):.3f} | "
                f"{np.mean(block['mase'][f]):.3f} |"
            )
    lines += [
        "",
        "| trace | test windows x steps | best baseline | fine-tuned LSTM vs best baseline | "
        "fine-tuned vs shipped LSTM | fine-tuning (s) |",
        "|---|---|---|---|---|---|",
    ]
    for name, b in results["traces"].items():
        lines.append(
            f"| {name} | {b['test_windows']} x {b['test_rows_scored'] // b['test_windows']} | "
            f"{b['best_baseline']} | {b['lstm_ft_vs_best_baseline_pct']:+.1f} % | "
            f"{b['lstm_ft_vs_lstm_pct']:+.1f} % | {b['finetune_seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"


_COLORS = {"naive": "C2", "seasonal": "C4", "ewma": "C0", "lstm": "C1", "lstm-ft": "C3"}


def plot(
    path: Path,
    results: dict[str, Any],
    workloads: dict[str, EpisodeWorkload],
    forecasts: dict[str, dict[str, np.ndarray]],
) -> None:
    """Per trace: one test window's truth and h = 1 forecasts, and MAE by horizon."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["traces"])
    fig, axes = plt.subplots(
        len(names),
        2,
        figsize=(13, 3.6 * len(names)),
        squeeze=False,
        constrained_layout=True,
        gridspec_kw={"width_ratios": [3, 1]},
    )
    unit = results["finetune"]["load"] * results["finetune"]["scale"]
    for row, name in enumerate(names):
        wl = workloads[name]
        ax = axes[row, 0]
        truth = forecast_truth(wl, results["horizon"])[0, :, 0, 0] / unit
        ax.plot(truth, color="0.55", lw=1.0, label="trace (truth)")
        for f in ("ewma", "lstm", "lstm-ft"):
            ax.plot(
                forecasts[name][f][0, :, 0, 0] / unit, color=_COLORS[f], lw=1.1, label=f"{f}, h=1"
            )
        ax.set_title(f"{name}: first test window, series 0")
        ax.set_xlabel("step (one trace interval)")
        ax.set_ylabel("rate / train mean")
        ax.legend(ncol=4, fontsize=8)
        ax = axes[row, 1]
        for f, values in results["traces"][name]["mae"].items():
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", color=_COLORS[f], label=f)
        ax.set_title(f"{name}: test MAE by horizon")
        ax.set_xlabel("horizon h (steps)")
        ax.set_ylabel("MAE / train mean")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--trace`` (and its options) to ``edgecloud forecast eval``."""
    parser.add_argument(
        "--trace",
        action="append",
        metavar="NAME|CSV",
        help="evaluate on a real trace instead of the synthetic profiles: fine-tune the LSTM "
        "on its train split and score all forecasters on its test split; a bundled name "
        "(nasa, alibaba) or a CSV path; repeat for several traces",
    )
    parser.add_argument(
        "--finetune-epochs", type=int, default=15, help="with --trace: max fine-tuning epochs"
    )


def main(args: argparse.Namespace) -> int:
    """Run the trace evaluation for parsed ``edgecloud forecast eval --trace`` arguments."""
    out_dir = check_writable(Path(args.out_dir) / "results.json").parent
    cfg = FinetuneConfig(seed=args.seed, max_epochs=args.finetune_epochs)
    results, workloads, forecasts = run_trace_eval(tuple(args.trace), out_dir=out_dir, config=cfg)
    text = table(results)
    print(text)
    atomic_write_json(out_dir / "results.json", results)
    atomic_write_text(out_dir / "table.md", text)
    plot(out_dir / "forecast.png", results, workloads, forecasts)
    print(f"wrote {out_dir / 'results.json'}, {out_dir / 'table.md'}, {out_dir / 'forecast.png'}")
    return 0
