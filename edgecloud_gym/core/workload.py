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

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from edgecloud_gym.core._jit import jit
from edgecloud_gym.tasks import Task

__all__ = ["EpisodeWorkload", "sample_workload", "sample_workloads", "stack_workloads"]


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
    if task.trace is not None:
        rng.integers(day_steps)  # the diurnal start: unused by traces, drawn to keep the order
        weights = np.ones(edge_mu.shape[0]) if task.node_weights is None else task.node_weights
        level = task.load * np.asarray(weights) * edge_mu
        length = warmup + steps + horizon
        return _trace_workload(task, level, steps=steps, warmup=warmup, rng=rng, length=length)
    return sample_workloads(
        [task],
        np.asarray(edge_mu)[None],
        steps=steps,
        warmup=warmup,
        horizon=horizon,
        day_steps=day_steps,
        rngs=[rng],
    )


def sample_workloads(
    tasks: Sequence[Task],
    edge_mu: np.ndarray,
    *,
    steps: int,
    warmup: int,
    horizon: int,
    day_steps: int,
    rngs: Sequence[np.random.Generator],
    map_systems: Callable[[Callable[[int], np.ndarray], int], list[np.ndarray]] | None = None,
) -> EpisodeWorkload:
    """Draw one episode for each of B systems with synthetic (trace-free) tasks.

    System ``j`` draws from ``rngs[j]`` only, in a fixed order (diurnal start, burst offset and
    hits, flash-crowd starts, then the Poisson arrivals), so its episode is bit-identical to the
    one :func:`sample_workload` draws alone with the same generator, whatever the batch. The
    random draws are a few calls per system; the rates of all systems are computed together.

    Args:
        tasks: One synthetic task per system (B = len(tasks)).
        edge_mu: (B, N) nominal service rate of each edge node (requests/step).
        steps, warmup, horizon, day_steps: As in :func:`sample_workload`.
        rngs: One generator per system.
        map_systems: ``map_systems(draw, B)`` returns ``[draw(j) for j in range(B)]``, for
            example on a thread pool (numpy's Poisson sampler releases the GIL); default serial.
    """
    edge_mu = np.asarray(edge_mu, dtype=np.float64)
    n_sys, n = edge_mu.shape
    if len(tasks) != n_sys or len(rngs) != n_sys:
        raise ValueError(
            f"need one task and one generator per system: {n_sys} rows of edge_mu, "
            f"{len(tasks)} tasks, {len(rngs)} generators."
        )
    if any(task.trace is not None for task in tasks):
        raise ValueError("sample_workloads draws synthetic tasks only; use sample_workload.")
    length = warmup + steps + horizon
    t = np.arange(length)
    start = np.empty(n_sys, dtype=np.int64)
    offset = np.zeros(n_sys, dtype=np.int64)
    period = np.ones(n_sys, dtype=np.int64)
    duration = np.zeros(n_sys, dtype=np.int64)
    burst_draws: list[np.ndarray | None] = [None] * n_sys
    flash_starts = np.zeros((n_sys, length, n), dtype=np.bool_)
    decay = np.zeros(n_sys)
    has_flash = np.zeros(n_sys, dtype=np.bool_)
    # Per system and in a fixed order, every draw except the arrivals.
    for j, (task, rng) in enumerate(zip(tasks, rngs, strict=True)):
        start[j] = rng.integers(day_steps)
        if task.burst_period and task.burst_duration and task.burst_amplitude:
            offset[j] = rng.integers(task.burst_period)
            period[j], duration[j] = task.burst_period, task.burst_duration
            n_bursts = (length - 1 + offset[j]) // period[j] + 1
            burst_draws[j] = rng.random((n_bursts, n)) < task.burst_fraction
        if task.flash_rate and task.flash_amplitude:
            np.less(rng.random((length, n)), task.flash_rate / n, out=flash_starts[j])  # per step
            decay[j] = np.exp(-1.0 / task.flash_duration) if task.flash_duration > 0 else 0.0
            has_flash[j] = True
    has_burst = np.array([d is not None for d in burst_draws])
    hits = np.zeros(
        (n_sys, max((len(d) for d in burst_draws if d is not None), default=1), n), dtype=np.bool_
    )
    for j in np.flatnonzero(has_burst):
        hits[j, : len(burst_draws[j])] = burst_draws[j]

    # The smooth shape in numpy (its sin is numpy's), the rest per element in one compiled pass
    # that applies each factor and term as a system drawn alone gets them (no reordering).
    phase = ((start[:, None] + t) % day_steps) / day_steps  # (B, L)
    attr = lambda name: np.array([getattr(task, name) for task in tasks])  # noqa: E731
    shape = 1.0 + attr("diurnal_amplitude")[:, None] * np.sin(2 * np.pi * phase)
    if any(task.shift_at is not None for task in tasks):
        at = np.array([length if k.shift_at is None else warmup + k.shift_at for k in tasks])
        shape = shape * np.where(t >= at[:, None], attr("shift_load")[:, None], 1.0)
    weights = np.stack([np.ones(n) if k.node_weights is None else k.node_weights for k in tasks])
    level = attr("load")[:, None] * weights * edge_mu  # (B, N)
    flash_scale = (attr("flash_amplitude") * attr("load"))[:, None] * edge_mu
    rates = np.empty((n_sys, length, n))
    _rates_kernel(
        shape,
        level,
        has_burst,
        hits,
        offset,
        period,
        duration,
        attr("burst_amplitude").astype(np.float64),
        has_flash,
        flash_starts,
        decay,
        flash_scale,
        rates,
    )

    def arrivals_of(j: int) -> np.ndarray:
        return rngs[j].poisson(rates[j]).astype(np.float64)

    draws = (
        map_systems(arrivals_of, n_sys) if map_systems else [arrivals_of(j) for j in range(n_sys)]
    )
    return EpisodeWorkload(
        rates=rates, arrivals=np.stack(draws), phase=phase, warmup=warmup, steps=steps
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
def _rates_kernel(
    shape,
    level,
    has_burst,
    hits,
    offset,
    period,
    duration,
    burst_amplitude,
    has_flash,
    flash_starts,
    decay,
    flash_scale,
    out,
):  # pragma: no cover - compiled
    """``out[b, t, i]``: the rate of node ``i`` at step ``t`` of system ``b`` (requests/step).

    ``shape[b, t] * level[b, i]``, times ``1 + A_b`` while a burst hits the node, plus the
    node's flash-crowd level (``crowd[t] = crowd[t - 1] * decay + starts[t]``) times
    ``flash_scale[b, i]``: the operations and their order of the module's formula, so the
    result doesn't depend on the batch. A compiled loop: in Python the recursion alone would
    cost ~1 us x episode length per reset."""
    n_sys, length, n = out.shape
    for b in range(n_sys):
        for i in range(n):
            crowd = 0.0
            burst = offset[b] // period[b]  # index of the burst window of step t, and the
            within = offset[b] % period[b]  # position in it, advanced without divisions
            for t in range(length):
                r = shape[b, t] * level[b, i]
                if has_burst[b]:
                    hit = within < duration[b] and hits[b, burst, i]
                    r = r * (1.0 + burst_amplitude[b] * (1.0 if hit else 0.0))
                    within += 1
                    if within == period[b]:
                        within = 0
                        burst += 1
                if has_flash[b]:
                    crowd = crowd * decay[b] + (1.0 if flash_starts[b, t, i] else 0.0)
                    r = r + flash_scale[b, i] * crowd
                out[b, t, i] = r


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
