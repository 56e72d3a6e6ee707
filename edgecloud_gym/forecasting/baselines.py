"""Classical forecasting baselines: seasonal naive and EWMA.

Both are pure numpy, causal and computed for the whole episode at once: the forecast available
before episode step ``k`` uses arrivals at indices ``< warmup + k`` only (see
:mod:`edgecloud_gym.forecasting.base` for the shape convention).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from edgecloud_gym._validation import check_int, check_positive
from edgecloud_gym.core.workload import EpisodeWorkload

__all__ = ["EWMAForecaster", "SeasonalNaiveForecaster", "ewma"]


def ewma(x: np.ndarray, alpha: float, axis: int = 1) -> np.ndarray:
    """Exponentially weighted moving average along ``axis``, started at the first value.

    ``y[0] = x[0]`` and ``y[t] = (1 - alpha) y[t - 1] + alpha x[t]``; ``y[t]`` uses ``x[:t + 1]``
    only. One vectorised linear filter, no Python loop.

    Args:
        x: Input series (any shape).
        alpha: Smoothing weight of the newest value, in (0, 1].
        axis: Time axis.
    """
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, 0)
    zi = (1.0 - alpha) * x[:1]  # makes y[0] = x[0]
    y, _ = lfilter([alpha], [1.0, alpha - 1.0], x, axis=0, zi=zi)
    return np.moveaxis(y, 0, axis)


class SeasonalNaiveForecaster:
    """Seasonal naive: step ``t`` is forecast as the arrivals one season earlier.

    The forecast of step ``t`` made before step ``k`` is the arrivals at
    ``t - m * ceil((t - k + 1) / m)``, the latest step of the same season position that is
    already known. The season is a fixed number of steps (default 40, the burst period of the
    LOW/MEDIUM/HIGH presets); it must not exceed the workload's warmup.

    Args:
        period: Season length m (steps), >= 1.
    """

    name = "seasonal"

    def __init__(self, period: int = 40) -> None:
        self.period = check_int("period", period, minimum=1)

    def forecast(self, workload: EpisodeWorkload, horizon: int, scale: np.ndarray) -> np.ndarray:
        """Forecasts (B, steps + 1, N, H) in requests/step."""
        m = self.period
        if m > workload.warmup:
            raise ValueError(
                f"SeasonalNaiveForecaster period ({m} steps) exceeds the warmup history "
                f"({workload.warmup} steps); use a period <= warmup_steps or raise "
                "EdgeCloudConfig.warmup_steps."
            )
        k = np.arange(workload.steps + 1)[:, None]
        h = np.arange(horizon)[None, :]
        lag = m * ((h + m) // m)  # m * ceil((h + 1) / m): h + 1 <= lag, so the source is known
        idx = workload.warmup + k + h - lag  # (steps + 1, H)
        return np.moveaxis(workload.arrivals[:, idx], 3, 2)  # (B, K, H, N) -> (B, K, N, H)


class EWMAForecaster:
    """Exponentially weighted moving average: every future step is forecast as the smoothed
    level of the arrivals seen so far (a flat forecast, like naive but less noisy).

    Args:
        alpha: Weight of the newest observation, in (0, 1]; 1 is the naive forecaster.
    """

    name = "ewma"

    def __init__(self, alpha: float = 0.3) -> None:
        alpha = check_positive("alpha", alpha)
        if alpha > 1:
            raise ValueError(f"alpha must lie in (0, 1], got {alpha}.")
        self.alpha = alpha

    def forecast(self, workload: EpisodeWorkload, horizon: int, scale: np.ndarray) -> np.ndarray:
        """Forecasts (B, steps + 1, N, H) in requests/step."""
        level = ewma(workload.arrivals, self.alpha, axis=1)  # (B, L, N), level[t] uses <= t
        last = level[:, workload.warmup - 1 + np.arange(workload.steps + 1)]
        return np.repeat(last[..., None], horizon, axis=-1)
