"""``edgecloud forecast train`` and ``edgecloud forecast eval``: the LSTM forecaster's pipeline.

``train`` fits the paper's LSTM on workloads of the train task distribution and writes weights
plus metadata (see :func:`edgecloud_gym.forecasting.training.train_lstm`). ``eval`` scores every
forecaster on held-out test tasks of each profile (see
:func:`edgecloud_gym.forecasting.scoring.profile_test_tasks`) and writes the scores as JSON,
a Markdown table and a PNG plot.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from edgecloud_bench import trace_forecast
from edgecloud_bench._io import atomic_write_json, atomic_write_text, check_writable
from edgecloud_gym.config import EdgeCloudConfig
from edgecloud_gym.core.workload import EpisodeWorkload
from edgecloud_gym.forecasting import FORECASTERS, LSTMForecaster, make_forecaster
from edgecloud_gym.forecasting.lstm import DEFAULT_CONTEXT, PRECISIONS
from edgecloud_gym.forecasting.scoring import (
    edge_service_rates,
    forecast_truth,
    mae_by_regime,
    profile_test_tasks,
    sample_episodes,
    score_forecasters,
)
from edgecloud_gym.forecasting.training import TrainConfig, train_lstm

__all__ = ["add_parser", "run_eval"]

#: Baselines the LSTM is compared with (the accuracy target's "best of").
BASELINES = ("naive", "seasonal", "ewma")


# ---------------------------------------------------------------------------- train


def _add_train(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "train",
        help="train the LSTM forecaster on the train task distribution",
        description="Train the paper's LSTM forecaster (2 x 64) on workloads of train_tasks "
        "(and, with --joint-fraction, of the joint presets), with early stopping on held-out "
        "episodes; writes weights (.npz) and metadata (.json). The shipped weights came from "
        "`edgecloud forecast train --out edgecloud_gym/forecasting/weights/lstm-h5.npz`, the "
        "lstm-joint weights from the same with `--joint-fraction 1.0 --out "
        "edgecloud_gym/forecasting/weights/lstm-joint-h5.npz`.",
    )
    p.add_argument(
        "--out",
        default="runs/forecast/lstm-h5.npz",
        help="weights file (.npz); the metadata goes beside it (default runs/forecast/lstm-h5.npz)",
    )
    p.add_argument(
        "--log-dir",
        default="runs/forecast/tensorboard",
        help="TensorBoard folder (default runs/forecast/tensorboard); 'none' disables it",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    defaults = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        value = getattr(defaults, f.name)
        kind = float if isinstance(value, float) else int
        if isinstance(value, tuple):
            p.add_argument(
                f"--{f.name.replace('_', '-')}",
                type=lambda s: tuple(float(v) for v in s.split(",")),
                default=value,
                help=f"low,high (default {','.join(str(v) for v in value)})",
            )
        else:
            p.add_argument(
                f"--{f.name.replace('_', '-')}",
                type=kind,
                default=value,
                help=f"default {value}",
            )
    p.set_defaults(func=_train_main)


def _train_main(args: argparse.Namespace) -> int:
    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    out = check_writable(args.out)
    log_dir = None if args.log_dir.lower() == "none" else args.log_dir
    result = train_lstm(cfg, out=out, log_dir=log_dir, progress=not args.no_progress)
    m = result.metadata["metrics"]
    print(
        f"best epoch {m['best_epoch']} of {m['epochs_run']}: validation MAE {m['val_mae']:.4f} "
        f"(naive {m['val_mae_naive']:.4f}) x node capacity, {m['train_seconds']:.0f} s"
    )
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return 0


# ---------------------------------------------------------------------------- eval


def run_eval(
    forecasters: tuple[str, ...] = ("naive", "seasonal", "ewma", "lstm", "oracle"),
    n_tasks: int = 8,
    episodes_per_task: int = 4,
    seed: int = 0,
    weights: str | None = None,
    config: EdgeCloudConfig | None = None,
    episode_steps: int = 200,
    context: int | None = DEFAULT_CONTEXT,
    precision: str = "auto",
) -> tuple[dict[str, Any], dict[str, EpisodeWorkload], dict[str, dict[str, np.ndarray]]]:
    """Score ``forecasters`` on each profile's held-out tasks.

    Args:
        forecasters: Registered forecaster names ("none" has nothing to score).
        n_tasks: Test tasks per profile (plus the profile's preset).
        episodes_per_task: Episodes drawn per task.
        seed: Seed of :func:`~edgecloud_gym.tasks.test_tasks` and of the workloads.
        weights: LSTM weights (.npz) instead of the shipped ones.
        config: Simulator configuration (topology, horizon, warmup, diurnal period).
        episode_steps: Episode length (steps).
        context: The LSTM's steps of history before the first forecast (None: the whole
            warm-up); see :class:`~edgecloud_gym.forecasting.lstm.LSTMForecaster`.
        precision: The LSTM's arithmetic (``"auto"``, ``"float32"`` or ``"bfloat16"``).

    Returns:
        The results (plain data), and the workloads and forecasts by profile (for plots).
    """
    if "none" in forecasters:
        raise ValueError(
            "forecaster 'none' has no forecast to score; leave it out of --forecasters."
        )
    config = EdgeCloudConfig() if config is None else config
    models = {
        name: (
            LSTMForecaster(weights, context=context, precision=precision)
            if name == "lstm"
            else make_forecaster(name)
        )
        for name in forecasters
    }
    results: dict[str, Any] = {
        "n_tasks": n_tasks,
        "episodes_per_task": episodes_per_task,
        "seed": seed,
        "episode_steps": episode_steps,
        "horizon": config.horizon,
        "lstm_context": context,
        "profiles": {},
    }
    if "lstm" in models:
        results["lstm_precision"] = models["lstm"].precision
    workloads: dict[str, EpisodeWorkload] = {}
    forecasts: dict[str, dict[str, np.ndarray]] = {}
    for p_index, (profile, tasks) in enumerate(profile_test_tasks(n_tasks, seed).items()):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7, p_index)))
        mu = np.repeat(edge_service_rates(tasks, config), episodes_per_task, axis=0)
        wl = sample_episodes(
            tasks,
            mu,
            episodes_per_task=episodes_per_task,
            steps=episode_steps,
            warmup=config.warmup_steps,
            horizon=config.horizon,
            day_steps=config.day_steps,
            rng=rng,
        )
        scores = score_forecasters(models, wl, mu, config.horizon)
        workloads[profile] = wl
        forecasts[profile] = {n: m.forecast(wl, config.horizon, mu) for n, m in models.items()}
        results["profiles"][profile] = {
            "tasks": [t.name for t in tasks],
            "scores": {n: s.to_dict() for n, s in scores.items()},
            "by_regime": {n: mae_by_regime(f, wl) for n, f in forecasts[profile].items()},
        }
    results["summary"] = _summary(results)
    return results, workloads, forecasts


def _summary(results: dict[str, Any]) -> dict[str, Any]:
    """Mean-over-horizon MAE per profile and the two target ratios."""
    out: dict[str, Any] = {}
    for profile, block in results["profiles"].items():
        mae = {n: float(np.mean(s["mae"])) for n, s in block["scores"].items()}
        row: dict[str, Any] = {"mae": mae}
        baselines = {n: v for n, v in mae.items() if n in BASELINES}
        if "lstm" in mae and baselines:
            best = min(baselines, key=baselines.get)
            row["best_baseline"] = best
            row["lstm_vs_best_baseline_pct"] = 100.0 * (mae["lstm"] / baselines[best] - 1.0)
        if "lstm" in mae and "oracle" in mae:
            row["lstm_over_oracle"] = mae["lstm"] / mae["oracle"]
        out[profile] = row
    return out


def _table(results: dict[str, Any]) -> str:
    """Markdown table: one row per profile and forecaster."""
    h = results["horizon"]
    head = (
        "| profile | forecaster | "
        + " | ".join(f"MAE h={i + 1}" for i in range(h))
        + " | MAE mean | RMSE mean | MASE mean |"
    )
    rule = "|" + "---|" * (h + 5)
    lines = [head, rule]
    for profile, block in results["profiles"].items():
        for name, s in block["scores"].items():
            cells = " | ".join(f"{v:.2f}" for v in s["mae"])
            lines.append(
                f"| {profile} | {name} | {cells} | {np.mean(s['mae']):.2f} | "
                f"{np.mean(s['rmse']):.2f} | {np.mean(s['mase']):.3f} |"
            )
    lines.append("")
    lines.append("| profile | best baseline | LSTM vs best baseline (MAE) | LSTM / oracle (MAE) |")
    lines.append("|---|---|---|---|")
    for profile, row in results["summary"].items():
        if "best_baseline" in row and "lstm_over_oracle" in row:
            lines.append(
                f"| {profile} | {row['best_baseline']} | "
                f"{row['lstm_vs_best_baseline_pct']:+.1f} % | {row['lstm_over_oracle']:.2f} |"
            )
    lines.append("")
    lines.append(
        "MAE split by regime (change: the true rate at the target differs by > 15 % from the "
        "rate at the forecast origin, i.e. a burst, flash crowd or shift started or ended):"
    )
    lines.append("")
    lines.append("| profile | forecaster | MAE steady | MAE change | change share |")
    lines.append("|---|---|---|---|---|")
    for profile, block in results["profiles"].items():
        for name, r in block["by_regime"].items():
            lines.append(
                f"| {profile} | {name} | {r['mae_steady']:.2f} | {r['mae_change']:.2f} | "
                f"{100 * r['change_share']:.1f} % |"
            )
    return "\n".join(lines) + "\n"


_COLORS = {"naive": "C2", "seasonal": "C4", "ewma": "C0", "lstm": "C3", "oracle": "k"}


def _color(name: str) -> str:
    """One colour per forecaster in every panel."""
    return _COLORS.get(name, "C5")


def _plot(
    path: Path,
    results: dict[str, Any],
    workloads: dict[str, EpisodeWorkload],
    forecasts: dict[str, dict[str, np.ndarray]],
    node: int = 0,
) -> None:
    """Forecast vs truth for one node of the high profile's first episode, and MAE by horizon
    for every profile."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    profiles = list(results["profiles"])
    fig = plt.figure(figsize=(13, 7.5), constrained_layout=True)
    grid = fig.add_gridspec(2, len(profiles))
    ax = fig.add_subplot(grid[0, :])
    sample = profiles[-1]
    wl = workloads[sample]
    truth = forecast_truth(wl, results["horizon"])[0, :, node, 0]
    steps = np.arange(truth.shape[0])
    ax.plot(steps, truth, color="0.55", lw=1.0, label="arrivals (truth)")
    for name, fc in forecasts[sample].items():
        if name == "seasonal":  # a lagged copy of the truth: only clutters the panel
            continue
        ls = ":" if name == "oracle" else "-"
        ax.plot(steps, fc[0, :, node, 0], color=_color(name), ls=ls, lw=1.2, label=f"{name}, h=1")
    if "lstm" in forecasts[sample]:
        h = results["horizon"]
        ax.plot(
            steps,
            forecasts[sample]["lstm"][0, :, node, h - 1],
            color=_color("lstm"),
            lw=1.0,
            ls="--",
            alpha=0.8,
            label=f"lstm, h={h}",
        )
    ax.set_title(
        f"{results['profiles'][sample]['tasks'][0]} (held-out), node {node}: forecast vs truth"
    )
    ax.set_xlabel("episode step k (target step k + h - 1)")
    ax.set_ylabel("arrivals (requests/step)")
    ax.legend(ncol=3, fontsize=8)
    for j, profile in enumerate(profiles):
        ax = fig.add_subplot(grid[1, j])
        for name, s in results["profiles"][profile]["scores"].items():
            ax.plot(
                np.arange(1, len(s["mae"]) + 1),
                s["mae"],
                marker="o",
                color=_color(name),
                label=name,
            )
        ax.set_title(f"{profile}: MAE by horizon")
        ax.set_xlabel("horizon h (steps)")
        ax.set_ylabel("MAE (requests/step)")
        ax.grid(alpha=0.3)
        if j == 0:
            ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _add_eval(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "eval",
        help="score every forecaster on held-out test tasks of each profile",
        description="MAE, RMSE and MASE per horizon step of each forecaster on held-out test "
        "tasks of the low, medium and high profiles (each profile: its preset plus "
        "test_tasks(N, seed) at the profile's load); writes results.json, table.md and "
        "forecast.png to --out-dir.",
    )
    p.add_argument("--n-tasks", type=int, default=8, help="test tasks per profile (default 8)")
    p.add_argument("--episodes", type=int, default=4, help="episodes per task (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of test_tasks and workloads")
    p.add_argument(
        "--forecasters",
        default="naive,seasonal,ewma,lstm,oracle",
        help="comma-separated forecasters (default naive,seasonal,ewma,lstm,oracle)",
    )
    p.add_argument("--weights", help="LSTM weights (.npz) instead of the shipped ones")
    p.add_argument(
        "--context",
        type=_context,
        default=DEFAULT_CONTEXT,
        help=f"steps of history the LSTM reads before the first forecast, or 'all' for the "
        f"whole warm-up (default {DEFAULT_CONTEXT})",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="arithmetic of the LSTM's recurrent layers (default auto: bfloat16 where the CPU "
        "has AMX-BF16, else float32)",
    )
    p.add_argument(
        "--out-dir", default="runs/forecast/eval", help="output folder (default runs/forecast/eval)"
    )
    p.add_argument(
        "--joint",
        action="store_true",
        help="score on held-out episodes of the joint presets instead, overall and in the "
        "steps after the ramp and event onsets (writes joint.json)",
    )
    trace_forecast.add_arguments(p)  # --trace: real traces (benchmarks/trace_forecast.py)
    p.set_defaults(func=_eval_main)


def _context(text: str) -> int | None:
    """``--context``: a positive number of steps, or ``all``."""
    if text == "all":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a positive number of steps or 'all', got {text!r}"
        )
    return value


def _eval_main(args: argparse.Namespace) -> int:
    if args.trace:
        return trace_forecast.main(args)
    if args.n_tasks < 0 or args.episodes < 1 or args.seed < 0:
        raise ValueError(
            f"--n-tasks must be >= 0, --episodes >= 1 and --seed >= 0, got {args.n_tasks}, "
            f"{args.episodes}, {args.seed}."
        )
    names = tuple(n.strip() for n in args.forecasters.split(",") if n.strip())
    for name in names:
        if name not in FORECASTERS:
            make_forecaster(name)  # raises with the closest name
    if args.joint:
        from edgecloud_gym.forecasting.joint import score_joint, table

        out_dir = check_writable(Path(args.out_dir) / "joint.json").parent
        joint = score_joint(names, episodes=args.episodes, seed=args.seed)
        print(table(joint), end="")
        atomic_write_json(out_dir / "joint.json", joint)
        return 0
    out_dir = check_writable(Path(args.out_dir) / "results.json").parent
    results, workloads, forecasts = run_eval(
        names,
        args.n_tasks,
        args.episodes,
        args.seed,
        args.weights,
        context=args.context,
        precision=args.precision,
    )
    table = _table(results)
    print(table)
    atomic_write_json(out_dir / "results.json", results)
    atomic_write_text(out_dir / "table.md", table)
    _plot(out_dir / "forecast.png", results, workloads, forecasts)
    print(f"wrote {out_dir / 'results.json'}, {out_dir / 'table.md'}, {out_dir / 'forecast.png'}")
    return 0


def add_parser(subparsers: Any) -> None:
    """Add ``train`` and ``eval`` to the ``edgecloud forecast`` subcommands."""
    _add_train(subparsers)
    _add_eval(subparsers)
