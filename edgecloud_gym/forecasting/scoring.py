"""Scoring forecasters on held-out workloads: MAE, RMSE and MASE per horizon step.

Pure numpy. The truth of forecast ``[b, k, i, h]`` is the *sampled* arrivals of node ``i`` at
episode step ``k + h``, so even the oracle (true rates) keeps the Poisson noise as its error:
its MAE is the noise floor.

MASE here divides each horizon step's MAE by the MAE of the one-step naive forecast over the
same target steps (the mean of ``|a[t] - a[t - 1]|``), pooled over episodes and nodes: the naive
forecaster's MASE at h = 1 is exactly 1, and below 1 is better than "last value, one step ahead".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from edgecloud_gym.config import EdgeCloudConfig
from edgecloud_gym.core.params import build_params
from edgecloud_gym.core.workload import EpisodeWorkload, sample_workload, stack_workloads
from edgecloud_gym.forecasting.base import Forecaster
from edgecloud_gym.tasks import PRESETS, Task, test_tasks

__all__ = [
    "ForecastScores",
    "edge_service_rates",
    "forecast_truth",
    "mae_by_regime",
    "profile_test_tasks",
    "regime_change_mask",
    "sample_episodes",
    "score_forecast",
    "score_forecasters",
]


@dataclass(frozen=True)
class ForecastScores:
    """Errors of one forecaster per horizon step h = 1..H.

    Attributes:
        mae: (H,) mean absolute error (requests/step).
        rmse: (H,) root mean squared error (requests/step).
        mase: (H,) MAE over the one-step naive MAE of the same targets (dimensionless).
    """

    mae: np.ndarray
    rmse: np.ndarray
    mase: np.ndarray

    def to_dict(self) -> dict[str, list[float]]:
        """Plain-data form (JSON-serialisable)."""
        return {k: [float(v) for v in getattr(self, k)] for k in ("mae", "rmse", "mase")}


def forecast_truth(workload: EpisodeWorkload, horizon: int) -> np.ndarray:
    """Sampled arrivals (B, steps + 1, N, H) that forecast ``[b, k, i, h]`` aims at."""
    idx = workload.warmup + np.arange(workload.steps + 1)[:, None] + np.arange(horizon)
    if idx.max() >= workload.length:
        raise ValueError(
            f"workload has {workload.length} steps; scoring a horizon of {horizon} needs "
            f"{idx.max() + 1} (sample it with horizon >= {horizon})."
        )
    return np.moveaxis(workload.arrivals[:, idx], 3, 2)


def _naive_one_step_mae(workload: EpisodeWorkload) -> float:
    t = workload.warmup + np.arange(workload.steps + 1)
    return float(np.mean(np.abs(workload.arrivals[:, t] - workload.arrivals[:, t - 1])))


def score_forecast(forecast: np.ndarray, workload: EpisodeWorkload) -> ForecastScores:
    """Score (B, steps + 1, N, H) forecasts of ``workload``; see the module doc for MASE."""
    horizon = forecast.shape[-1]
    truth = forecast_truth(workload, horizon)
    if forecast.shape != truth.shape:
        raise ValueError(f"forecast must have shape {truth.shape}, got {forecast.shape}.")
    err = forecast - truth
    mae = np.abs(err).mean(axis=(0, 1, 2))
    rmse = np.sqrt((err**2).mean(axis=(0, 1, 2)))
    return ForecastScores(mae=mae, rmse=rmse, mase=mae / _naive_one_step_mae(workload))


def score_forecasters(
    forecasters: Mapping[str, Forecaster],
    workload: EpisodeWorkload,
    scale: np.ndarray,
    horizon: int,
) -> dict[str, ForecastScores]:
    """Score every forecaster on the same workload; ``scale`` is (B, N) requests/step."""
    return {
        name: score_forecast(f.forecast(workload, horizon, scale), workload)
        for name, f in forecasters.items()
    }


def regime_change_mask(
    workload: EpisodeWorkload, horizon: int, threshold: float = 0.15
) -> np.ndarray:
    """Targets (B, steps + 1, N, H) whose true rate differs from the rate at the forecast origin
    (the last known step) by more than ``threshold`` (relative): a burst, flash crowd or shift
    began or ended in between. Diurnal drift over H <= 5 steps stays well below 15 %."""
    k = np.arange(workload.steps + 1)
    origin = workload.rates[:, workload.warmup - 1 + k]  # (B, K, N)
    idx = workload.warmup + k[:, None] + np.arange(horizon)
    target = np.moveaxis(workload.rates[:, idx], 3, 2)  # (B, K, N, H)
    return np.abs(target - origin[..., None]) > threshold * np.maximum(origin[..., None], 1e-9)


def mae_by_regime(
    forecast: np.ndarray, workload: EpisodeWorkload, threshold: float = 0.15
) -> dict[str, float]:
    """MAE (requests/step) on steady targets and on regime-change targets (see
    :func:`regime_change_mask`), and the share of change targets."""
    truth = forecast_truth(workload, forecast.shape[-1])
    change = regime_change_mask(workload, forecast.shape[-1], threshold)
    err = np.abs(forecast - truth)
    return {
        "mae_steady": float(err[~change].mean()),
        "mae_change": float(err[change].mean()) if change.any() else float("nan"),
        "change_share": float(change.mean()),
    }


def sample_episodes(
    tasks: Sequence[Task],
    edge_mu: np.ndarray,
    *,
    episodes_per_task: int,
    steps: int,
    warmup: int,
    horizon: int,
    day_steps: int,
    rng: np.random.Generator,
) -> EpisodeWorkload:
    """Stack ``episodes_per_task`` episodes of each task (task-major) into one batch.

    Args:
        tasks: Workload scenarios.
        edge_mu: (N,) or (len(tasks) * episodes_per_task, N) nominal service rates
            (requests/step).
        episodes_per_task: Episodes drawn per task.
        steps, warmup, horizon, day_steps: As in :func:`~edgecloud_gym.core.sample_workload`.
        rng: Source of all randomness.
    """
    count = len(tasks) * episodes_per_task
    mu = np.broadcast_to(np.asarray(edge_mu, dtype=np.float64), (count, np.shape(edge_mu)[-1]))
    parts = [
        sample_workload(
            task,
            mu[j * episodes_per_task + e],
            steps=steps,
            warmup=warmup,
            horizon=horizon,
            day_steps=day_steps,
            rng=rng,
        )
        for j, task in enumerate(tasks)
        for e in range(episodes_per_task)
    ]
    return stack_workloads(parts)


def profile_test_tasks(n_tasks: int, seed: int = 0) -> dict[str, list[Task]]:
    """Held-out evaluation tasks of each profile (low, medium, high).

    Each profile's set is its preset plus the ``n_tasks`` tasks of :func:`test_tasks` ``(n_tasks,
    seed)`` with their load set to the preset's: the test tasks' bursts, flash crowds, node
    popularity, capacity scenarios and shifts at the profile's load level. Neither the presets
    nor the test tasks are ever in :func:`~edgecloud_gym.tasks.train_tasks`.
    """
    held_out = test_tasks(n_tasks, seed)
    return {
        name: [preset] + [t.replace(name=f"{t.name}-{name}", load=preset.load) for t in held_out]
        for name, preset in PRESETS.items()
    }


def edge_service_rates(tasks: Sequence[Task], config: EdgeCloudConfig | None = None) -> np.ndarray:
    """Nominal service rate (len(tasks), N) of each edge node under each task (requests/step),
    as the environment computes it (it depends on the task's application mix): the ``scale``
    the environment hands to forecasters."""
    config = EdgeCloudConfig() if config is None else config
    params = build_params(config, list(tasks))
    return params.obs_mu[:, : config.topology.n_edge].copy()
