"""The forecaster interface and the simplest forecasters.

A forecaster turns an episode's pre-sampled arrivals into the per-node forecasts that the
observation carries. It is called once per episode, at reset, on the whole (batched) episode,
and must be *causal*: the forecast available before episode step ``k`` may use arrivals at
indices ``< warmup + k`` only (the oracle, an upper bound for ablations, reads the true rates).

Output shape: ``(B, steps + 1, N, H)``; entry ``[b, k, i, h]`` forecasts the arrivals of edge node
``i`` at episode step ``k + h`` (requests/step), as known before step ``k``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from edgecloud_gym._validation import did_you_mean
from edgecloud_gym.core.workload import EpisodeWorkload

__all__ = [
    "FORECASTERS",
    "Forecaster",
    "NaiveForecaster",
    "NoForecaster",
    "OracleForecaster",
    "make_forecaster",
    "register_forecaster",
]


@runtime_checkable
class Forecaster(Protocol):
    """Anything with a ``name`` and a causal, batched ``forecast``."""

    name: str

    def forecast(self, workload: EpisodeWorkload, horizon: int, scale: np.ndarray) -> np.ndarray:
        """Forecasts (B, steps + 1, N, H) in requests/step.

        Args:
            workload: The episode's arrivals, rates and diurnal phase.
            horizon: Number of future steps H to forecast.
            scale: (B, N) nominal service rate of each node (requests/step), for normalisation.
        """
        ...


def _history_index(workload: EpisodeWorkload) -> np.ndarray:
    """Index of the last known step before each episode step k = 0..steps."""
    return workload.warmup - 1 + np.arange(workload.steps + 1)


class NoForecaster:
    """No forecast: the observation carries no forecast block (H' = 0)."""

    name = "none"

    def forecast(self, workload: EpisodeWorkload, horizon: int, scale: np.ndarray) -> np.ndarray:
        b, _, n = workload.arrivals.shape
        return np.zeros((b, workload.steps + 1, n, 0))


class NaiveForecaster:
    """Last value: every future step is forecast as the last observed arrivals."""

    name = "naive"

    def forecast(self, workload: EpisodeWorkload, horizon: int, scale: np.ndarray) -> np.ndarray:
        last = workload.arrivals[:, _history_index(workload)]  # (B, steps + 1, N)
        return np.repeat(last[..., None], horizon, axis=-1)


class OracleForecaster:
    """The true arrival rates of the next H steps: the best any forecaster can do in
    expectation (its error is the Poisson noise floor). Not causal by design; for ablations."""

    name = "oracle"

    def forecast(self, workload: EpisodeWorkload, horizon: int, scale: np.ndarray) -> np.ndarray:
        idx = workload.warmup + np.arange(workload.steps + 1)[:, None] + np.arange(horizon)
        return np.moveaxis(workload.rates[:, idx], 2, 3)  # (B, steps+1, H, N) -> (..., N, H)


#: Forecaster factories by name; other modules add theirs with :func:`register_forecaster`.
FORECASTERS: dict[str, Callable[[], Forecaster]] = {
    "none": NoForecaster,
    "naive": NaiveForecaster,
    "oracle": OracleForecaster,
}


def register_forecaster(name: str, factory: Callable[[], Forecaster]) -> None:
    """Make ``forecaster=name`` available to the environments."""
    FORECASTERS[name] = factory


def make_forecaster(spec: str | Forecaster) -> Forecaster:
    """Return a forecaster from its name or pass an instance through."""
    if isinstance(spec, str):
        if spec not in FORECASTERS:
            raise ValueError(
                f"unknown forecaster {spec!r}.{did_you_mean(spec, FORECASTERS)} "
                f"Known forecasters: {', '.join(sorted(FORECASTERS))}."
            )
        return FORECASTERS[spec]()
    if isinstance(spec, Forecaster):
        return spec
    raise TypeError(
        f"forecaster must be a name ({', '.join(sorted(FORECASTERS))}) or an object with "
        f"`name` and `forecast(workload, horizon, scale)`, got {spec!r}."
    )
