"""Training the LSTM forecaster on workloads of the *train* task distribution (or the joint
presets).

:func:`train_lstm` is the whole pipeline as one pure function of a :class:`TrainConfig`
(``edgecloud forecast train`` is a thin wrapper). By default tasks come from
:func:`~edgecloud_gym.tasks.train_tasks` only: the last ``val_fraction`` of them are held out
for validation and early stopping, so neither split ever sees a test task.

``joint_fraction`` > 0 draws that share of every batch (and of the validation set) from the
three joint presets (:data:`~edgecloud_gym.tasks.JOINT_PRESETS`: the profiles plus a daily ramp
and a daily scheduled event). The presets themselves are then the distribution: there are only
three of them, so the split is by episode, not by task: training and validation episodes come
from two independent streams of ``seed`` (``SeedSequence(seed).spawn(2)``), and the joint
evaluation (:mod:`~edgecloud_gym.forecasting.joint`) and the environments draw theirs from
other streams again (their own seeds). ``joint_fraction = 0`` (the default) draws nothing for
the presets, so it is the same run, bit for bit, as before the option existed. Every episode gets
fresh node service rates drawn log-uniformly from ``scale_range`` (requests/step), so the
scale-free features learn to ignore the topology. Randomness: one ``numpy`` generator and the
torch seed, both from ``seed``; with one thread the run is reproducible bit for bit.

The loss is the mean absolute error of the forecasts in units of node capacity
(``arrivals / scale``); ``forecast/val_mae`` is in the same unit.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgecloud_gym._validation import check_fraction, check_int, check_positive
from edgecloud_gym.core.workload import EpisodeWorkload, stack_workloads
from edgecloud_gym.forecasting.lstm import (
    PAPER_ARCHITECTURE,
    build_network,
    lstm_features,
    save_weights,
)
from edgecloud_gym.forecasting.scoring import sample_episodes
from edgecloud_gym.tasks import JOINT_PRESETS, Task, train_tasks

__all__ = ["TrainConfig", "TrainResult", "train_lstm"]

#: Edge nodes of the training workloads (the default topology's; the network is per node).
_N_EDGE = 6


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (recorded in the weights' metadata).

    Attributes:
        n_tasks: Training tasks drawn with :func:`train_tasks` ``(n_tasks, tasks_seed)``.
        tasks_seed: Seed of the train task distribution.
        val_fraction: Fraction of those tasks held out for validation (the last ones).
        seed: Seed of the workloads, the initialisation and the batch order.
        hidden_size: LSTM units per layer (the paper: 64).
        num_layers: LSTM layers (the paper: 2).
        horizon: Forecast steps H.
        episode_steps: Episode length of the training workloads (steps).
        warmup_steps: History before each episode (steps); forecasts are scored from step 0.
        day_steps: Diurnal period (steps).
        scale_range: Range of the node service rates, drawn log-uniformly (requests/step).
        batch_episodes: Episodes per gradient step (each brings N node sequences).
        batches_per_epoch: Gradient steps between two validations.
        max_epochs: Upper bound on epochs.
        patience: Epochs without a validation improvement before stopping early.
        val_episodes: Episodes in the fixed validation set.
        lr: Adam learning rate (halved after two epochs without improvement).
        grad_clip: Gradient norm clip.
        threads: torch intra-op threads.
        joint_fraction: Share of each batch's episodes, and of the validation episodes, drawn
            from the joint presets (:data:`~edgecloud_gym.tasks.JOINT_PRESETS`), the rest from
            the train tasks: 0 (default) the train tasks only, 1 the joint presets only.
            Validation episodes of the presets come from their own stream (held-out episode
            seeds, not held-out tasks).
    """

    n_tasks: int = 200
    tasks_seed: int = 0
    val_fraction: float = 0.1
    seed: int = 0
    hidden_size: int = 64
    num_layers: int = 2
    horizon: int = 5
    episode_steps: int = 200
    warmup_steps: int = 64
    day_steps: int = 200
    scale_range: tuple[float, float] = (100.0, 2000.0)
    batch_episodes: int = 16
    batches_per_epoch: int = 25
    max_epochs: int = 30
    patience: int = 4
    val_episodes: int = 40
    lr: float = 3e-3
    grad_clip: float = 1.0
    threads: int = 1
    joint_fraction: float = 0.0

    def __post_init__(self) -> None:
        for name in (
            "n_tasks",
            "hidden_size",
            "num_layers",
            "horizon",
            "episode_steps",
            "warmup_steps",
            "day_steps",
            "batch_episodes",
            "batches_per_epoch",
            "max_epochs",
            "patience",
            "val_episodes",
            "threads",
        ):
            check_int(f"TrainConfig.{name}", getattr(self, name), minimum=1)
        check_int("TrainConfig.n_tasks", self.n_tasks, minimum=2)
        check_int("TrainConfig.seed", self.seed, minimum=0)
        check_int("TrainConfig.tasks_seed", self.tasks_seed, minimum=0)
        check_fraction("TrainConfig.val_fraction", self.val_fraction)
        check_fraction("TrainConfig.joint_fraction", self.joint_fraction)
        object.__setattr__(self, "joint_fraction", float(self.joint_fraction))
        check_positive("TrainConfig.lr", self.lr)
        check_positive("TrainConfig.grad_clip", self.grad_clip)
        lo, hi = (
            check_positive(f"TrainConfig.scale_range[{i}]", v)
            for i, v in enumerate(self.scale_range)
        )
        if lo > hi:
            raise ValueError(
                f"TrainConfig.scale_range must be (low, high), got {self.scale_range}."
            )
        object.__setattr__(self, "scale_range", (lo, hi))
        n_val = self.n_val_tasks
        if not 1 <= n_val < self.n_tasks:
            raise ValueError(
                f"TrainConfig.val_fraction={self.val_fraction} of n_tasks={self.n_tasks} leaves "
                f"{n_val} validation tasks; both splits need at least one task."
            )

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> TrainConfig:
        """The configuration a weights file records (``metadata["training"]``); keys that are
        no field (``task_source``, ``command``) are ignored, missing ones take the default
        (weights written before ``joint_fraction`` existed read as 0)."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in record.items() if k in names}
        if "scale_range" in values:
            values["scale_range"] = tuple(values["scale_range"])
        return cls(**values)

    def joint_count(self, episodes: int) -> int:
        """How many of ``episodes`` are drawn from the joint presets."""
        return round(episodes * self.joint_fraction)

    @property
    def n_val_tasks(self) -> int:
        """Number of training tasks held out for validation."""
        return round(self.n_tasks * self.val_fraction)

    @property
    def architecture(self) -> dict[str, Any]:
        """The network's architecture record."""
        return {
            **PAPER_ARCHITECTURE,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "horizon": self.horizon,
        }


@dataclass
class TrainResult:
    """Outcome of :func:`train_lstm`.

    Attributes:
        arrays: Best weights (by validation MAE) as float32 arrays by parameter name.
        metadata: The metadata written beside the weights (without format and checksum).
        history: Per epoch: ``epoch``, ``train_loss``, ``val_mae`` (x node capacity), ``lr``;
            epoch 0 is the untrained network (no train loss).
        weights_path: Where the weights were written, if anywhere.
    """

    arrays: dict[str, np.ndarray]
    metadata: dict[str, Any]
    history: list[dict[str, float | None]] = field(default_factory=list)
    weights_path: Path | None = None


def _batch(
    tasks: list[Task], n: int, cfg: TrainConfig, rng: np.random.Generator
) -> tuple[EpisodeWorkload, np.ndarray]:
    """``n`` episodes of tasks drawn uniformly, each with fresh log-uniform node rates (the
    workload and its (n, N) scale, requests/step)."""
    chosen = [tasks[i] for i in rng.integers(len(tasks), size=n)]
    lo, hi = np.log(cfg.scale_range[0]), np.log(cfg.scale_range[1])
    n_edge = len(chosen[0].node_weights or ()) or _N_EDGE
    mu = np.exp(rng.uniform(lo, hi, size=(n, n_edge)))
    workload = sample_episodes(
        chosen,
        mu,
        episodes_per_task=1,
        steps=cfg.episode_steps,
        warmup=cfg.warmup_steps,
        horizon=cfg.horizon,
        day_steps=cfg.day_steps,
        rng=rng,
    )
    return workload, mu


def _mixed_batch(
    tasks: list[Task], n: int, cfg: TrainConfig, rng: np.random.Generator
) -> tuple[EpisodeWorkload, np.ndarray]:
    """:func:`_batch` with ``cfg.joint_count(n)`` of the ``n`` episodes from the joint presets
    (drawn after the others, from the same generator); exactly :func:`_batch` when none is."""
    n_joint = cfg.joint_count(n)
    if n_joint == 0:
        return _batch(tasks, n, cfg, rng)
    joint = _batch(list(JOINT_PRESETS.values()), n_joint, cfg, rng)
    if n_joint == n:
        return joint
    rest = _batch(tasks, n - n_joint, cfg, rng)
    return stack_workloads([rest[0], joint[0]]), np.concatenate([rest[1], joint[1]])


def _tensors(workload: EpisodeWorkload, scale: np.ndarray, cfg: TrainConfig, torch: Any) -> tuple:
    """Features over the forecast-relevant span, the level at each forecast origin and the
    targets, all in units of node capacity: (S, L', F), (S, K), (S, K, H)."""
    w, steps, h = workload.warmup, workload.steps, cfg.horizon
    end = w + steps
    feats, level = lstm_features(workload.arrivals[:, :end], workload.phase[:, :end], scale)
    b, _, n = workload.arrivals.shape
    x = workload.arrivals / scale[:, None, :]
    origin = w - 1 + np.arange(steps + 1)  # forecast origins t
    target = x[:, origin[:, None] + 1 + np.arange(h)]  # (B, K, H, N)
    target = target.transpose(0, 3, 1, 2).reshape(b * n, steps + 1, h)
    base = level[:, origin].transpose(0, 2, 1).reshape(b * n, steps + 1)
    return (
        torch.from_numpy(feats),
        torch.from_numpy(base.astype(np.float32)),
        torch.from_numpy(target.astype(np.float32)),
    )


def _forecast(net: Any, feats: Any, base: Any, w: int, torch: Any) -> Any:
    out = net(feats)[:, w - 1 :]
    return base[..., None] * torch.exp(torch.clamp(out, -5.0, 5.0))


def train_lstm(
    config: TrainConfig | None = None,
    *,
    out: str | Path | None = None,
    log_dir: str | Path | None = None,
    progress: bool = True,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train the LSTM forecaster; optionally write the weights and metadata.

    Args:
        config: The run's settings (default :class:`TrainConfig`).
        out: ``.npz`` path for the best weights; the metadata goes beside it as ``.json``.
        log_dir: TensorBoard folder for ``forecast/train_loss`` and ``forecast/val_mae``.
        progress: Show a tqdm progress bar (when tqdm is installed).
        on_epoch: Called with each epoch's record (see :attr:`TrainResult.history`).
    """
    import torch

    cfg = TrainConfig() if config is None else config
    torch.manual_seed(cfg.seed)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(np.random.SeedSequence(cfg.seed))
    train_rng, val_rng = (np.random.default_rng(s) for s in rng.bit_generator.seed_seq.spawn(2))

    pool = train_tasks(cfg.n_tasks, cfg.tasks_seed)
    n_val = cfg.n_val_tasks
    fit_tasks, val_tasks = pool[:-n_val], pool[-n_val:]
    val_wl, val_mu = _mixed_batch(val_tasks, cfg.val_episodes, cfg, val_rng)
    val = _tensors(val_wl, val_mu, cfg, torch)
    w = cfg.warmup_steps
    naive = torch.from_numpy(_last_value(val_wl, val_mu, cfg))
    naive_val_mae = float((naive - val[2]).abs().mean())

    net = build_network(None, cfg.architecture)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    writer = None
    if log_dir is not None:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(log_dir))
        writer.add_text("forecast/config", str(dataclasses.asdict(cfg)))
    bar = None
    if progress:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg.max_epochs * cfg.batches_per_epoch, desc="forecast train")
        except ImportError:
            bar = None

    best_mae, best_state, best_epoch, stale, since_lr = float("inf"), None, 0, 0, 0
    with torch.inference_mode():
        initial = float((_forecast(net, val[0], val[1], w, torch) - val[2]).abs().mean())
    history: list[dict[str, float | None]] = [
        {"epoch": 0, "train_loss": None, "val_mae": initial, "lr": cfg.lr}
    ]
    start = time.perf_counter()
    step = 0
    try:
        for epoch in range(1, cfg.max_epochs + 1):
            net.train()
            losses = []
            for _ in range(cfg.batches_per_epoch):
                wl, mu = _mixed_batch(fit_tasks, cfg.batch_episodes, cfg, train_rng)
                feats, base, target = _tensors(wl, mu, cfg, torch)
                loss = (_forecast(net, feats, base, w, torch) - target).abs().mean()
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
                opt.step()
                losses.append(float(loss.detach()))
                step += 1
                if writer is not None:
                    writer.add_scalar("forecast/train_loss", losses[-1], step)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{losses[-1]:.4f}", best_val=f"{best_mae:.4f}")
            net.eval()
            with torch.inference_mode():
                val_mae = float((_forecast(net, val[0], val[1], w, torch) - val[2]).abs().mean())
            record = {
                "epoch": epoch,
                "train_loss": float(np.mean(losses)),
                "val_mae": val_mae,
                "lr": opt.param_groups[0]["lr"],
            }
            history.append(record)
            if writer is not None:
                writer.add_scalar("forecast/val_mae", val_mae, step)
            if on_epoch is not None:
                on_epoch(record)
            if val_mae < best_mae * (1 - 1e-3):
                best_mae, best_epoch, stale, since_lr = val_mae, epoch, 0, 0
                best_state = copy.deepcopy(net.state_dict())
            else:
                stale += 1
                since_lr += 1
                if since_lr >= 2:  # plateau: halve the learning rate
                    for group in opt.param_groups:
                        group["lr"] *= 0.5
                    since_lr = 0
                if stale >= cfg.patience:
                    break
    finally:
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
        torch.set_num_threads(previous_threads)

    assert best_state is not None  # at least one epoch ran
    arrays = {k: v.detach().numpy().astype(np.float32) for k, v in best_state.items()}
    metadata = _metadata(
        cfg, history, best_mae, best_epoch, naive_val_mae, time.perf_counter() - start
    )
    result = TrainResult(arrays=arrays, metadata=metadata, history=history)
    if out is not None:
        save_weights(out, arrays, metadata)
        result.weights_path = Path(out)
    return result


def _last_value(workload: EpisodeWorkload, scale: np.ndarray, cfg: TrainConfig) -> np.ndarray:
    """The naive forecast of the validation targets, (S, K, H) in units of node capacity."""
    w, steps = workload.warmup, workload.steps
    b, _, n = workload.arrivals.shape
    last = workload.arrivals[:, w - 1 + np.arange(steps + 1)] / scale[:, None, :]  # (B, K, N)
    last = last.transpose(0, 2, 1).reshape(b * n, steps + 1, 1)
    return np.repeat(last, cfg.horizon, axis=2).astype(np.float32)


def _metadata(
    cfg: TrainConfig,
    history: list[dict[str, float]],
    best_mae: float,
    best_epoch: int,
    naive_val_mae: float,
    seconds: float,
) -> dict[str, Any]:
    import torch

    from edgecloud_gym import __version__

    return {
        "architecture": cfg.architecture,
        "training": {
            **{k: v for k, v in dataclasses.asdict(cfg).items()},
            "scale_range": list(cfg.scale_range),
            "task_source": _task_source(cfg),
            "command": _command(cfg),
        },
        "metrics": {
            "best_epoch": best_epoch,
            "epochs_run": len(history) - 1,
            "val_mae": best_mae,
            "val_mae_naive": naive_val_mae,
            "val_mae_unit": "x node capacity (arrivals / nominal service rate)",
            "train_seconds": round(seconds, 1),
            "history": history,
        },
        "package_version": __version__,
        "torch_version": torch.__version__.split("+")[0],
    }


def _task_source(cfg: TrainConfig) -> str:
    """Where the run's episodes came from, in words (recorded in the metadata)."""
    train = (
        f"train_tasks({cfg.n_tasks}, seed={cfg.tasks_seed}); the last {cfg.n_val_tasks} held "
        "out for validation"
    )
    if cfg.joint_fraction == 0:
        return train
    joint = (
        f"joint presets ({', '.join(JOINT_PRESETS)}), drawn uniformly; validation on held-out "
        f"episode seeds of the same presets"
    )
    if cfg.joint_fraction == 1:
        return joint
    return f"{cfg.joint_fraction:g} of the episodes from the {joint}; the others from {train}"


def _command(cfg: TrainConfig) -> str:
    """The ``edgecloud forecast train`` command line that reproduces ``cfg``."""
    default = TrainConfig()
    flags = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if value != getattr(default, f.name):
            flag = f.name.replace("_", "-")
            shown = ",".join(str(v) for v in value) if isinstance(value, tuple) else value
            flags.append(f"--{flag} {shown}")
    return " ".join(["edgecloud forecast train", *flags])
