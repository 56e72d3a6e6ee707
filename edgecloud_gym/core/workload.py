"""Exogenous workload: arrival rates and Poisson arrivals for a whole episode.

Arrivals never depend on actions, so an episode's realisation is drawn at reset, in one
vectorised pass, from the environment's own ``numpy.random.Generator``. The rate of edge node
``i`` at step ``t`` (requests per step) is

    lambda_i(t) = mu_i * load * w_i * s(t) * (1 + A_d sin(2 pi (t0 + t) / T_day))
                  * (1 + A_b * burst_i(t)) + flash_i(t)

with ``mu_i`` the node's nominal service rate, ``w_i`` its popularity weight, ``s(t)`` the
mid-episode shift, ``burst_i(t)`` 1 while a periodic burst hits node ``i`` (each burst hits each
node with probability ``burst_fraction``), and ``flash_i(t)`` the sum of exponentially decaying
flash crowds started by a Poisson process. Arrivals are ``Poisson(lambda_i(t))``.

A task with a ``trace`` replaces the synthetic shape by a slice of a real request trace, drawn
from the same generator: ``lambda_i(t) = mu_i * load * w_i * s(t) * x_i(t)`` with ``x_i`` the
trace's relative load of node ``i`` (model in :mod:`edgecloud_gym.traces.spec`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgecloud_gym.core._jit import jit
from edgecloud_gym.tasks import Task

__all__ = ["EpisodeWorkload", "sample_workload", "stack_workloads"]


@dataclass(frozen=True)
class EpisodeWorkload:
    """One or more episodes' arrivals, with ``warmup`` steps of history before step 0.

    Index ``warmup + k`` holds episode step ``k``; the arrays extend ``horizon`` steps past the
    episode's end so that forecasts of the last steps have a truth to compare with.

    Attributes:
        rates: (B, L, N) true arrival rates (requests/step).
        arrivals: (B, L, N) sampled arrivals (requests/step).
        phase: (B, L) position in the diurnal cycle, in [0, 1).
        warmup: Steps of history before the episode's first step.
        steps: Episode length (steps).
    """

    rates: np.ndarray
    arrivals: np.ndarray
    phase: np.ndarray
    warmup: int
    steps: int

    @property
    def length(self) -> int:
        """Total number of sampled steps L."""
        return self.arrivals.shape[1]


def sample_workload(
    task: Task,
    edge_mu: np.ndarray,
    *,
    steps: int,
    warmup: int,
    horizon: int,
    day_steps: int,
    rng: np.random.Generator,
) -> EpisodeWorkload:
    """Draw one episode (batch of one) of a task's workload.

    Args:
        task: The workload scenario.
        edge_mu: (N,) nominal service rate of each edge node (requests/step).
        steps: Episode length (steps).
        warmup: History steps sampled before the episode.
        horizon: Extra steps sampled after the episode (forecast horizon).
        day_steps: Period of the diurnal component (steps).
        rng: Source of all randomness.
    """
    n = edge_mu.shape[0]
    length = warmup + steps + horizon
    t = np.arange(length)
    start = rng.integers(day_steps)
    phase = ((start + t) % day_steps) / day_steps
    weights = np.ones(n) if task.node_weights is None else np.asarray(task.node_weights)
    level = task.load * weights * edge_mu  # (N,)
    if task.trace is not None:
        return _trace_workload(task, level, steps=steps, warmup=warmup, rng=rng, length=length)

    shape = 1.0 + task.diurnal_amplitude * np.sin(2 * np.pi * phase)
    if task.shift_at is not None:
        shape = shape * np.where(t >= warmup + task.shift_at, task.shift_load, 1.0)
    rates = shape[:, None] * level[None, :]

    if task.burst_period and task.burst_duration and task.burst_amplitude:
        offset = rng.integers(task.burst_period)
        pos = t + offset
        n_bursts = pos[-1] // task.burst_period + 1
        hits = rng.random((n_bursts, n)) < task.burst_fraction
        on = (pos % task.burst_period) < task.burst_duration
        burst = hits[pos // task.burst_period] & on[:, None]
        rates = rates * (1.0 + task.burst_amplitude * burst)

    if task.flash_rate and task.flash_amplitude:
        starts = rng.random((length, n)) < task.flash_rate / n  # per node and step
        decay = np.exp(-1.0 / task.flash_duration) if task.flash_duration > 0 else 0.0
        crowd = _decaying_sum(starts.astype(np.float64), decay)
        rates = rates + task.flash_amplitude * task.load * edge_mu * crowd

    arrivals = rng.poisson(rates).astype(np.float64)
    return EpisodeWorkload(
        rates=rates[None], arrivals=arrivals[None], phase=phase[None], warmup=warmup, steps=steps
    )


def _trace_workload(
    task: Task, level: np.ndarray, *, steps: int, warmup: int, length: int, rng: np.random.Generator
) -> EpisodeWorkload:
    """One episode whose rates follow a slice of ``task.trace`` (reset-time work only)."""
    piece = task.trace.sample(level.shape[0], length, rng)
    rates = piece.shape * level[None, :]
    if task.shift_at is not None:
        rates = (
            rates
            * np.where(np.arange(length) >= warmup + task.shift_at, task.shift_load, 1.0)[:, None]
        )
    if task.trace.arrivals == "poisson":
        arrivals = rng.poisson(rates).astype(np.float64)
    else:
        arrivals = rates.copy()
    return EpisodeWorkload(
        rates=rates[None],
        arrivals=arrivals[None],
        phase=piece.phase[None],
        warmup=warmup,
        steps=steps,
    )


@jit
def _decaying_sum(starts, decay):  # pragma: no cover - compiled
    """``crowd[i] = crowd[i - 1] * decay + starts[i]`` along axis 0 (a flash crowd's level).

    A compiled loop: per step in Python it would cost ~1 us x episode length per reset."""
    length, n = starts.shape
    crowd = np.empty((length, n))
    for j in range(n):
        level = 0.0
        for i in range(length):
            level = level * decay + starts[i, j]
            crowd[i, j] = level
    return crowd


def stack_workloads(parts: list[EpisodeWorkload]) -> EpisodeWorkload:
    """Concatenate single-episode workloads of equal length along the batch axis."""
    first = parts[0]
    return EpisodeWorkload(
        rates=np.concatenate([p.rates for p in parts]),
        arrivals=np.concatenate([p.arrivals for p in parts]),
        phase=np.concatenate([p.phase for p in parts]),
        warmup=first.warmup,
        steps=first.steps,
    )
