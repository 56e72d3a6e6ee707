"""Forecasting on real traces: workloads cut from a split, and fine-tuning the LSTM on the
train period.

The series a forecaster sees here is the trace itself, rescaled as the environment rescales it
(``x`` = the series over its train-period mean, times ``load`` times a node's service rate
``scale``), with no spatial split and no added noise, so the scores measure how well each
forecaster predicts the *real* counts:

- :func:`split_workload` tiles the usable runs of a split with consecutive windows (warm-up
  history, ``steps`` scored steps, forecast horizon) into one :class:`EpisodeWorkload`, so every
  step of the split after the first warm-up is scored exactly once;
- :func:`finetune_lstm` starts from the shipped LSTM weights and trains on windows of the *train*
  split only (its last ``val_fraction`` held out for early stopping); the test split is never
  read. torch is imported only here.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgecloud_gym._validation import check_int, check_positive
from edgecloud_gym.core.workload import EpisodeWorkload
from edgecloud_gym.traces.spec import TraceSpec

__all__ = ["FinetuneConfig", "finetune_lstm", "rows_per_day", "split_workload"]

_SECONDS_PER_DAY = 86400.0


def rows_per_day(spec: TraceSpec) -> int:
    """Trace rows in one day (the season of the seasonal-naive forecaster)."""
    return max(1, round(_SECONDS_PER_DAY / spec.load().step_s))


def _windows(
    spec: TraceSpec, split: str, warmup: int, steps: int, horizon: int, stride: int
) -> list[int]:
    length = warmup + steps + horizon
    starts: list[int] = []
    for a, b in spec.runs(split):
        starts += list(range(a, b - length + 1, stride))
    if not starts:
        spec.check_length(length, split)  # raises with the file and the longest run
    return starts


def split_workload(
    spec: TraceSpec,
    split: str,
    *,
    scale: np.ndarray,
    load: float = 0.6,
    steps: int = 200,
    warmup: int = 64,
    horizon: int = 5,
    stride: int | None = None,
    max_windows: int | None = None,
    rng: np.random.Generator | None = None,
) -> EpisodeWorkload:
    """Windows of a split's rescaled series as a batch of episodes (one row per trace step).

    Args:
        spec: The trace; its ``mapping`` picks the series (``"per-node"``: each column;
            ``"split"``: the sum of the columns as one series). ``steps_per_sample`` is ignored.
        split: ``"train"`` or ``"test"``.
        scale: (M,) service rate (requests/step) each of the M series is scaled to.
        load: Mean of ``arrivals / scale`` over the train period.
        steps: Scored steps per window.
        warmup: History rows before each window's first scored step.
        horizon: Rows after the last scored step (forecast targets).
        stride: Rows between window starts (default ``steps``: each row scored once).
        max_windows: Draw at most this many windows (without replacement, with ``rng``).
        rng: Generator for ``max_windows`` (default: seed 0).

    Returns:
        ``rates`` = ``arrivals`` (B, L, M) in requests/step, ``phase`` the trace's time of day.
    """
    check_int("steps", steps, minimum=1)
    check_int("warmup", warmup, minimum=1)
    check_int("horizon", horizon, minimum=1)
    stride = steps if stride is None else check_int("stride", stride, minimum=1)
    series = spec.prepared()
    scale = np.asarray(scale, dtype=np.float64)
    if scale.shape != (series.values.shape[1],):
        raise ValueError(
            f"scale must have shape ({series.values.shape[1]},), one service rate per series of "
            f"trace {spec.name!r}, got {scale.shape}."
        )
    starts = np.array(_windows(spec, split, warmup, steps, horizon, stride))
    if max_windows is not None and len(starts) > max_windows:
        rng = np.random.default_rng(0) if rng is None else rng
        starts = np.sort(rng.choice(starts, size=max_windows, replace=False))
    idx = starts[:, None] + np.arange(warmup + steps + horizon)
    arrivals = series.values[idx] * (load * scale)  # (B, L, M)
    phase = np.mod(series.times[idx], _SECONDS_PER_DAY) / _SECONDS_PER_DAY
    return EpisodeWorkload(
        rates=arrivals, arrivals=arrivals.copy(), phase=phase, warmup=warmup, steps=steps
    )


@dataclass(frozen=True)
class FinetuneConfig:
    """Settings of :func:`finetune_lstm` (recorded in the weights' metadata).

    Attributes:
        load: Mean utilisation the series are scaled to (as in the trace envs).
        scale: Service rate of each series (requests/step).
        steps: Scored steps per training window.
        warmup: History rows per window.
        val_fraction: Last fraction of the train split's windows held out for early stopping.
        batch_windows: Windows per gradient step.
        batches_per_epoch: Gradient steps between two validations.
        max_epochs: Upper bound on epochs.
        patience: Epochs without validation improvement before stopping.
        lr: Adam learning rate.
        grad_clip: Gradient-norm clip.
        seed: Seed of the window order and torch.
        threads: torch intra-op threads.
    """

    load: float = 0.6
    scale: float = 240.0
    steps: int = 200
    warmup: int = 64
    val_fraction: float = 0.2
    batch_windows: int = 16
    batches_per_epoch: int = 20
    max_epochs: int = 15
    patience: int = 3
    lr: float = 1e-3
    grad_clip: float = 1.0
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        check_positive("FinetuneConfig.load", self.load)
        check_positive("FinetuneConfig.scale", self.scale)
        check_positive("FinetuneConfig.lr", self.lr)
        check_positive("FinetuneConfig.grad_clip", self.grad_clip)
        for name in (
            "steps",
            "warmup",
            "batch_windows",
            "batches_per_epoch",
            "max_epochs",
            "patience",
            "threads",
        ):
            check_int(f"FinetuneConfig.{name}", getattr(self, name), minimum=1)
        check_int("FinetuneConfig.seed", self.seed, minimum=0)
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(
                f"FinetuneConfig.val_fraction must lie in (0, 1), got {self.val_fraction!r}."
            )


def finetune_lstm(
    spec: TraceSpec,
    config: FinetuneConfig | None = None,
    *,
    weights: str | Path | None = None,
    out: str | Path | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Fine-tune the LSTM forecaster on the train split of a trace.

    Training windows start at every row of the train split's runs (stride 1 for the windows'
    sampling, drawn at random), validation windows tile the last ``val_fraction`` of those
    starts; the loss is the training pipeline's (MAE in units of node capacity of the
    multiplicative forecast). The best weights by validation MAE are kept.

    Args:
        spec: The trace (``split`` is ignored: only the train split is read).
        config: Settings (default :class:`FinetuneConfig`).
        weights: Starting weights (default: the shipped ones).
        out: ``.npz`` path to write the fine-tuned weights and metadata to.

    Returns:
        The weights (float32 arrays by name) and their metadata.
    """
    import torch

    from edgecloud_gym.forecasting.lstm import (
        DEFAULT_WEIGHTS,
        build_network,
        load_weights,
        save_weights,
    )
    from edgecloud_gym.forecasting.training import TrainConfig, _forecast, _tensors

    cfg = FinetuneConfig() if config is None else config
    start_path = Path(DEFAULT_WEIGHTS if weights is None else weights)
    arrays, meta = load_weights(start_path)
    arch = meta["architecture"]
    horizon = int(arch["horizon"])
    loss_cfg = TrainConfig(horizon=horizon)  # only its horizon is read by the loss helpers
    prep = spec.prepared()
    m = prep.values.shape[1]
    scale = np.full(m, cfg.scale)
    length = cfg.warmup + cfg.steps + horizon
    starts = np.array(_windows(spec, "train", cfg.warmup, cfg.steps, horizon, stride=1))
    n_val = max(1, round(cfg.val_fraction * len(starts)))
    if len(starts) - n_val < 1:
        raise ValueError(
            f"trace {spec.name!r}: the train split has {len(starts)} window start(s) of "
            f"{length} rows; too few to fine-tune with a validation part."
        )
    # validation: the chronologically last starts, never overlapping a training window
    val_first = starts[len(starts) - n_val]
    fit = starts[starts + length <= val_first]
    val = starts[len(starts) - n_val :: cfg.steps]
    if fit.size == 0:
        raise ValueError(
            f"trace {spec.name!r}: no training window ends before the validation part; use a "
            "smaller val_fraction or shorter windows."
        )

    def batch(first: np.ndarray) -> tuple:
        idx = first[:, None] + np.arange(length)
        arr = prep.values[idx] * (cfg.load * scale)
        phase = np.mod(prep.times[idx], _SECONDS_PER_DAY) / _SECONDS_PER_DAY
        wl = EpisodeWorkload(arr, arr, phase, cfg.warmup, cfg.steps)
        return _tensors(wl, np.broadcast_to(scale, (len(first), m)).copy(), loss_cfg, torch)

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    previous = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    net = build_network(arrays, arch)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    val_t = batch(val)
    w = cfg.warmup
    began = time.perf_counter()

    def val_mae() -> float:
        net.eval()
        with torch.inference_mode():
            return float((_forecast(net, val_t[0], val_t[1], w, torch) - val_t[2]).abs().mean())

    best = val_mae()
    history = [{"epoch": 0, "val_mae": best}]
    best_state, best_epoch, stale = copy.deepcopy(net.state_dict()), 0, 0
    try:
        for epoch in range(1, cfg.max_epochs + 1):
            net.train()
            losses = []
            for _ in range(cfg.batches_per_epoch):
                feats, base, target = batch(rng.choice(fit, size=cfg.batch_windows))
                loss = (_forecast(net, feats, base, w, torch) - target).abs().mean()
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
                opt.step()
                losses.append(float(loss.detach()))
            mae = val_mae()
            history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "val_mae": mae})
            if mae < best * (1 - 1e-3):
                best, best_epoch, stale = mae, epoch, 0
                best_state = copy.deepcopy(net.state_dict())
            else:
                stale += 1
                if stale >= cfg.patience:
                    break
    finally:
        torch.set_num_threads(previous)
    tuned = {k: v.detach().numpy().astype(np.float32) for k, v in best_state.items()}
    metadata = {
        "architecture": arch,
        "finetune": {
            **asdict(cfg),
            "trace": spec.name,
            "trace_file": Path(spec.path).name,
            "trace_digest": spec.load().digest,
            "train_rows": [list(r) for r in spec.runs("train")],
            "fit_windows": int(fit.size),
            "val_windows": int(val.size),
            "start_weights": start_path.name,
            "start_sha256": meta.get("sha256"),
        },
        "metrics": {
            "best_epoch": best_epoch,
            "val_mae": best,
            "val_mae_start": history[0]["val_mae"],
            "val_mae_unit": "x node capacity (arrivals / scale)",
            "seconds": round(time.perf_counter() - began, 1),
            "history": history,
        },
    }
    if out is not None:
        save_weights(out, tuned, metadata)
    return tuned, metadata
