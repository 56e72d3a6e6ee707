"""Episode metrics of the allocation environments, from the step ``info`` dicts.

:class:`EpisodeAccumulator` turns one episode's step rewards and ``info`` dicts into the metrics
below. The evaluation harness, the SB3 callback
(:class:`edgecloud_agents.callbacks.EnvMetricsCallback`) and the Gymnasium wrapper
(:class:`edgecloud_gym.wrappers.EpisodeMetrics`) all use it, so a metric means the same thing in
result files, in TensorBoard and in ``info``.

Metrics of one episode (all keys of :data:`EPISODE_METRICS`):

=========================  ======================================================================
key                        meaning
=========================  ======================================================================
``return``                 sum of the step rewards
``latency_mean_ms``        mean latency of the served requests (ms), weighted by requests
``latency_p95_ms``         95th percentile of request latency (ms), see below
``latency_p99_ms``         99th percentile of request latency (ms)
``sla_violation_rate``     requests late or dropped, over requests arrived
``drop_rate``              requests dropped, over requests arrived
``utilisation``            processed work over active capacity, all servers, mean over steps
``utilisation_edge``       the same over the edge nodes
``utilisation_cloud``      the same for the cloud
``utilisation_installed``  processed work over the capacity of all installed cores
``energy_per_request_j``   energy of all servers (J) over requests processed
``arrived``                requests arrived in the episode
``processed``              requests processed in the episode
=========================  ======================================================================

Percentiles: each step reports the mean latency of the requests of class k served at server s and
how many they were (``info["latency_ms_by_server_class"]``, ``info["served_by_server_class"]``).
The episode's latency distribution is these (server, class, step) values weighted by their request
counts; the p-th percentile is the smallest value whose cumulative weight reaches p % of the total
(the inverse of the weighted empirical CDF, :func:`weighted_percentile`). In the fluid model the
requests of one cell share one latency, so this is the exact percentile of the model's requests.

"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["EPISODE_METRICS", "HIGHER_IS_BETTER", "EpisodeAccumulator", "weighted_percentile"]

#: Metric keys of one evaluated episode, in report order.
EPISODE_METRICS: tuple[str, ...] = (
    "return",
    "latency_mean_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "sla_violation_rate",
    "drop_rate",
    "utilisation",
    "utilisation_edge",
    "utilisation_cloud",
    "utilisation_installed",
    "energy_per_request_j",
    "arrived",
    "processed",
)

#: Metrics where larger is better; every other metric is better when smaller.
HIGHER_IS_BETTER: frozenset[str] = frozenset(
    {
        "return",
        "utilisation",
        "utilisation_edge",
        "utilisation_cloud",
        "utilisation_installed",
        "processed",
    }
)


def weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values`` weighted by non-negative ``weights``.

    The smallest value whose cumulative weight is at least ``q`` % of the total weight (inverse
    of the weighted empirical CDF). With integer weights this equals
    ``np.percentile(np.repeat(values, weights), q, method="inverted_cdf")``. Returns NaN when the
    total weight is zero.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    weights = np.asarray(weights, dtype=np.float64).ravel()
    if values.shape != weights.shape:
        raise ValueError(
            f"values and weights must have the same size, got {values.size} and {weights.size}."
        )
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must lie in [0, 100], got {q!r}.")
    if np.any(weights < 0) or not np.all(np.isfinite(weights)):
        raise ValueError("weights must be finite and >= 0.")
    keep = weights > 0
    values, weights = values[keep], weights[keep]
    if values.size == 0:
        return math.nan
    order = np.argsort(values, kind="stable")
    values, cum = values[order], np.cumsum(weights[order])
    target = q / 100.0 * cum[-1]
    # tolerate rounding in the cumulative sum so that q = 100 * k / n picks the k-th value
    idx = int(np.searchsorted(cum, target - 1e-9 * cum[-1], side="left"))
    return float(values[min(idx, values.size - 1)])


class EpisodeAccumulator:
    """Accumulates the step rewards and ``info`` dicts of one episode into its metrics.

    Call :meth:`add` after every step and :meth:`result` at the end of the episode; :meth:`reset`
    starts the next one.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the current episode."""
        self.steps = 0
        self.total_return = 0.0
        self._sums = dict.fromkeys(
            ("arrived", "processed", "dropped", "violations", "energy_j"), 0.0
        )
        self._util: dict[str, list[float]] = {
            "utilisation": [],
            "utilisation_edge": [],
            "utilisation_cloud": [],
            "utilisation_installed": [],
        }
        self._lat: list[np.ndarray] = []
        self._served: list[np.ndarray] = []

    def add(self, reward: float, info: Mapping[str, Any]) -> None:
        """Add one step's reward and ``info`` (an EdgeCloud allocation env's step info)."""
        self.steps += 1
        self.total_return += float(reward)
        arrived = float(info["arrived"])
        self._sums["arrived"] += arrived
        self._sums["processed"] += float(info["processed"])
        self._sums["dropped"] += float(info["dropped"])
        self._sums["violations"] += float(info["sla_violation_rate"]) * arrived
        self._sums["energy_j"] += float(info["energy_j"])
        for key, series in self._util.items():
            series.append(float(info[key]))
        self._lat.append(np.asarray(info["latency_ms_by_server_class"], dtype=np.float64))
        self._served.append(np.asarray(info["served_by_server_class"], dtype=np.float64))

    def result(self) -> dict[str, float]:
        """The metrics of the episode so far (keys of :data:`EPISODE_METRICS`)."""
        if self.steps == 0:
            raise ValueError("no steps recorded: call add() after each env.step() first.")
        s = self._sums
        lat = np.concatenate([a.ravel() for a in self._lat])
        served = np.concatenate([a.ravel() for a in self._served])
        total_served = float(served.sum())
        finite = np.isfinite(lat) & (served > 0)
        mean_lat = (
            float(np.sum(lat[finite] * served[finite]) / total_served)
            if total_served > 0
            else math.nan
        )
        out = {
            "return": self.total_return,
            "latency_mean_ms": mean_lat,
            "latency_p95_ms": weighted_percentile(lat[finite], served[finite], 95.0),
            "latency_p99_ms": weighted_percentile(lat[finite], served[finite], 99.0),
            "sla_violation_rate": _ratio(s["violations"], s["arrived"]),
            "drop_rate": _ratio(s["dropped"], s["arrived"]),
            **{key: float(np.mean(v)) for key, v in self._util.items()},
            "energy_per_request_j": _ratio(s["energy_j"], s["processed"]),
            "arrived": s["arrived"],
            "processed": s["processed"],
        }
        return out


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan
