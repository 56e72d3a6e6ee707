"""Exogenous workload: arrival rates and Poisson arrivals for a whole episode.

Arrivals never depend on actions, so an episode's realisation is drawn at reset, in one
vectorised pass, from the environment's own ``numpy.random.Generator``. The rate of edge node
``i`` at step ``t`` (requests per step) is

    lambda_i(t) = mu_i * load * w_i * s(t) * (1 + A_d sin(2 pi (t0 + t) / T_day))
                  * (1 + A_r g((t0 + t) mod T_day)) * (1 + A_b * burst_i(t))
                  + flash_i(t) + A_e * load * mu_i * [i in E] * e(t0 + t)

with ``mu_i`` the node's nominal service rate, ``w_i`` its popularity weight, ``s(t)`` the
mid-episode shift, ``burst_i(t)`` 1 while a periodic burst hits node ``i`` (each burst hits each
node with probability ``burst_fraction``), and ``flash_i(t)`` the sum of exponentially decaying
flash crowds started by a Poisson process. Arrivals are ``Poisson(lambda_i(t))``.

Forecastable structure (both off by default, and then not drawn at all, so a task without them
draws the same arrivals as before they existed):

- Daily ramp (``ramp_*`` fields of :class:`~edgecloud_gym.tasks.Task`): a trapezoid at a fixed
  phase of every day, on every node. With ``u = (d - T_day * ramp_phase) mod T_day`` the position
  (steps) of day step ``d`` after the start of the rise, ``R = ramp_rise`` and ``H = ramp_hold``,

      g(u) = u / R             for 0 <= u < R             (rise)
             1                 for R <= u < R + H         (hold)
             (2R + H - u) / R  for R + H <= u < 2R + H    (fall)
             0                 otherwise,

  and ``A_r = ramp_amplitude``; ``2R + H`` must not exceed ``T_day``. No random draw.
- Scheduled events (``event_*`` fields): day ``m`` (absolute steps ``[m T_day, (m + 1) T_day)``
  of the diurnal clock, ``m = -1`` to the last day of the window) has one event starting at
  ``s_m = m T_day + T_day * event_phase + J_m``, ``J_m ~ U(-J, J)`` with ``J = event_jitter``
  steps, drawn per day from the episode's generator (no draw when ``J = 0``). With ``O =
  event_onset`` and ``D = event_duration``, ``e(a) = sum_m h(a - s_m)`` and

      h(v) = min(1, v / O) for 0 <= v < D (1 when O = 0), 0 otherwise;

  ``A_e = event_amplitude`` and ``E = event_nodes`` (None: node 0). ``D + 2J`` must not exceed
  ``T_day``, so that the events of two days never overlap. Like a flash crowd, an event's extra
  rate is relative to the node's base rate ``load * mu_i`` and does not follow ``s(t)`` or ``w_i``.

A task with a ``trace`` replaces the synthetic shape by a slice of a real request trace, drawn
from the same generator: ``lambda_i(t) = mu_i * load * w_i * s(t) * x_i(t)`` with ``x_i`` the
trace's relative load of node ``i`` (model in :mod:`edgecloud_gym.traces.spec`); the ramp and
event fields are not used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from edgecloud_gym.core._jit import HAVE_NUMBA, jit
from edgecloud_gym.core._poisson import (
    LOG_FACTORIAL,
    STIRLING,
    bad_rate_message,
    poisson_into,
    poisson_kernel,
)
from edgecloud_gym.core._rng import bounded, is_pcg64, read_states, uniform, write_states
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
        level = task.load * _weights(task, edge_mu.shape[0]) * edge_mu
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
    map_rows: Callable[[Callable[[int, int], None], int], object] | None = None,
) -> EpisodeWorkload:
    """Draw one episode for each of B systems with synthetic (trace-free) tasks.

    System ``j`` draws from ``rngs[j]`` only, in a fixed order (diurnal start, burst offset and
    hits, flash-crowd starts, event jitters, then the Poisson arrivals), so its episode is
    bit-identical to the one :func:`sample_workload` draws alone with the same generator,
    whatever the batch. The draws, rates and arrivals of many systems are one compiled loop, on
    copies of their PCG64 states (:mod:`~edgecloud_gym.core._rng`; other bit generators are
    drawn from one system at a time), with :mod:`~edgecloud_gym.core._poisson`'s sampler,
    numpy's draw for draw.

    Args:
        tasks: One synthetic task per system (B = len(tasks)).
        edge_mu: (B, N) nominal service rate of each edge node (requests/step).
        steps, warmup, horizon, day_steps: As in :func:`sample_workload`.
        rngs: One generator per system.
        map_rows: ``map_rows(draw, B)`` calls ``draw(lo, hi)`` on contiguous chunks that cover
            ``range(B)``, for example on a thread pool (the compiled sampler releases the GIL);
            default one call. Systems draw into their own rows from their own generators, so
            any split gives the same episodes. Not used when systems share a generator (their
            draws are then made one system after the other, in order).
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
    if day_steps > 2**32 or any(task.burst_period > 2**32 for task in tasks):
        raise ValueError("day_steps and Task.burst_period must be at most 2**32 steps.")
    length = warmup + steps + horizon
    # The task constants, once per distinct task, and each system's row of them.
    rows: dict[int, int] = {}
    kinds = [rows.setdefault(id(task), len(rows)) for task in tasks]
    distinct = list({id(task): task for task in tasks}.values())
    for task in distinct:
        _check_structure_fits(task, n, day_steps)
    floats = np.array([_float_params(task, n, day_steps) for task in distinct])[kinds]
    ints = np.array([_int_params(task, warmup, length) for task in distinct])[kinds]
    weights = np.stack([_weights(task, n) for task in distinct])[kinds]
    level = floats[:, :1] * weights * edge_mu  # load * weight * mu, (B, N)
    flash_scale = floats[:, 1:2] * edge_mu  # flash amplitude * load * mu
    event_scale = np.stack([_event_scale(task, n) for task in distinct])[kinds] * edge_mu
    # sin of the diurnal phase, numpy's, at each of the day's steps: phase (t0 + t) % T / T.
    sin_day = np.sin(2 * np.pi * (np.arange(day_steps) / day_steps))
    rates = np.empty((n_sys, length, n))
    arrivals = np.empty((n_sys, length, n))
    phase = np.empty((n_sys, length))
    arrays = (floats, ints, level, flash_scale, event_scale, sin_day, rates, arrivals, phase)
    shared = len({id(r) for r in rngs}) < n_sys
    batched = HAVE_NUMBA and not shared and is_pcg64(rngs)
    if batched:  # every draw in compiled loops over many systems
        states = read_states(rngs)

        def draw(lo: int, hi: int) -> None:
            _raise_bad_rate(_sample_rows(states, *arrays, lo, hi), tasks, rates)

    else:  # another bit generator or a shared one: one compiled call per system, in order

        def draw(lo: int, hi: int) -> None:
            for j in range(lo, hi):
                _raise_bad_rate(_sample_rows(rngs[j], *arrays, j, j + 1), tasks, rates)

    try:
        if map_rows is None or shared:
            draw(0, n_sys)
        else:
            map_rows(draw, n_sys)
    finally:  # the generators advance as far as the draws went, even after an error
        if batched:
            write_states(rngs, states)
    return EpisodeWorkload(rates=rates, arrivals=arrivals, phase=phase, warmup=warmup, steps=steps)


def _raise_bad_rate(flag: tuple[int, int], tasks: Sequence[Task], rates: np.ndarray) -> None:
    system, index = flag
    if system >= 0:
        raise ValueError(
            f"system {system} ({tasks[system].name!r}): {bad_rate_message(rates[system], index)}"
        )


def _weights(task: Task, n: int) -> np.ndarray:
    return np.ones(n) if task.node_weights is None else np.asarray(task.node_weights, float)


def _event_scale(task: Task, n: int) -> np.ndarray:
    """(N,) event amplitude x load on the event's nodes, 0 elsewhere (times mu: the extra rate)."""
    scale = np.zeros(n)
    if task.has_event:
        scale[list(task.event_nodes or (0,))] = task.event_amplitude * task.load
    return scale


def _check_structure_fits(task: Task, n: int, day_steps: int) -> None:
    """Raise if a task's ramp or events don't fit a day of ``day_steps`` or the ``n`` nodes."""
    if task.has_ramp and 2 * task.ramp_rise + task.ramp_hold > day_steps:
        raise ValueError(
            f"Task {task.name!r}: the daily ramp lasts 2 * ramp_rise + ramp_hold = "
            f"{2 * task.ramp_rise + task.ramp_hold} steps, more than a day ({day_steps} steps); "
            "shorten ramp_rise or ramp_hold."
        )
    if task.has_event and task.event_duration + 2 * task.event_jitter > day_steps:
        raise ValueError(
            f"Task {task.name!r}: event_duration + 2 * event_jitter = "
            f"{task.event_duration + 2 * task.event_jitter:g} steps exceeds a day ({day_steps} "
            "steps), so the events of two days could overlap; shorten event_duration or "
            "event_jitter."
        )
    if task.has_event and max(task.event_nodes or (0,)) >= n:
        raise ValueError(
            f"Task {task.name!r}: event_nodes {task.event_nodes} names a node beyond the {n} "
            "edge nodes; name existing nodes (0 to n - 1)."
        )


def _float_params(task: Task, n: int, day_steps: int) -> list[float]:
    """``_sample_one``'s float constants of a task (see :func:`_sample_rows` for the order)."""
    decay = np.exp(-1.0 / task.flash_duration) if task.flash_duration > 0 else 0.0
    return [
        task.load,
        task.flash_amplitude * task.load,
        task.diurnal_amplitude,
        task.shift_load,
        task.burst_amplitude,
        task.burst_fraction,
        task.flash_rate / n,
        float(decay),
        task.ramp_amplitude,
        task.ramp_phase * day_steps,
        float(task.ramp_rise),
        float(task.ramp_hold),
        task.event_phase * day_steps,
        task.event_jitter,
        float(task.event_onset),
        float(task.event_duration),
    ]


def _int_params(task: Task, warmup: int, length: int) -> list[int]:
    """``_sample_one``'s integer constants of a task (see :func:`_sample_rows` for the order)."""
    bursts = bool(task.burst_period and task.burst_duration and task.burst_amplitude)
    return [
        length if task.shift_at is None else warmup + task.shift_at,
        int(bursts),
        task.burst_period if bursts else 1,
        task.burst_duration if bursts else 0,
        int(bool(task.flash_rate and task.flash_amplitude)),
        int(task.has_ramp),
        int(task.has_event),
    ]


@jit
def _sample_rows(
    src, floats, ints, level, flash_scale, event_scale, sin_day, rates, arrivals, phase, lo, hi
):  # pragma: no cover - compiled
    """Draw the episodes of systems ``lo..hi-1`` into their rows of ``rates``, ``arrivals``
    (B, L, N) and ``phase`` (B, L), from ``src``: a :mod:`~edgecloud_gym.core._rng` state array
    (row j for system j) or, for a single system, its ``Generator``. Per system:

    ``floats``: load, flash amplitude x load, diurnal amplitude, shift load, burst amplitude,
    burst fraction, flash-crowd starts per node and step, flash decay per step, ramp amplitude,
    ramp start (day steps), ramp rise, ramp hold, event start (day steps), event jitter, event
    onset, event duration (steps). ``ints``: index of the shift (L: none), bursts (0/1), burst
    period, burst duration, flash crowds (0/1), ramp (0/1), events (0/1). ``event_scale``: the
    extra rate of a full event at each node (0 off the event's nodes).

    The draws, in order: the diurnal start, then with bursts the burst offset and which nodes
    each burst hits, then with flash crowds the start indicator of every step and node, then
    with jittered events one jitter per day, then the Poisson arrivals. The rate is
    ``shape[t] * level[i]`` (``shape`` the diurnal factor, times the ramp factor, times the
    shift), times ``1 + A_b`` while a burst hits the node, plus the node's flash-crowd level
    (``crowd[t] = crowd[t - 1] * decay + start[t]``) times ``flash_scale[i]``, plus the event
    level times ``event_scale[i]``, each operation in the module formula's order; a compiled
    loop, because in Python the recursion alone would cost ~1 us x episode length per system.
    Returns ``(-1, -1)``, or the system and flat index of a rate that
    :func:`~edgecloud_gym.core._poisson.poisson_kernel` refused (it stops there).
    """
    for j in range(lo, hi):
        bad = _sample_one(
            src, j, floats[j], ints[j], level[j], flash_scale[j], event_scale[j], sin_day,
            rates[j], arrivals[j], phase[j],
        )  # fmt: skip
        if bad >= 0:
            return j, bad
    return -1, -1


@jit
def _ramp_factor(floats, day, day_steps):  # pragma: no cover - compiled
    """``1 + A_r g(u)`` of the module docstring at day step ``day``."""
    u = day - floats[9]
    if u < 0.0:
        u += day_steps
    rise, hold = floats[10], floats[11]
    if u < rise:
        g = u / rise
    elif u < rise + hold:
        g = 1.0
    elif u < 2.0 * rise + hold:
        g = (2.0 * rise + hold - u) / rise
    else:
        g = 0.0
    return 1.0 + floats[8] * g


@jit
def _event_level(src, j, floats, start, day_steps, length):  # pragma: no cover - compiled
    """``e(start + t)`` of the module docstring for ``t`` in ``[0, length)``; draws one jitter
    per day (days -1 to the window's last) when the jitter is positive."""
    jitter, onset, duration = floats[13], floats[14], floats[15]
    last = (start + length - 1) // day_steps
    level = np.zeros(length)
    for m in range(-1, last + 1):
        begin = m * day_steps + floats[12]
        if jitter > 0.0:
            begin += jitter * (2.0 * uniform(src, j) - 1.0)
        first = max(0, int(np.ceil(begin - start)))
        stop = min(length, int(np.ceil(begin + duration - start)))
        for t in range(first, stop):
            v = max(0.0, (start + t) - begin)
            level[t] += min(1.0, v / onset) if onset > 0.0 else 1.0
    return level


@jit
def _sample_one(
    src, j, floats, ints, level, flash_scale, event_scale, sin_day, rates, arrivals, phase
):  # pragma: no cover - compiled
    """System ``j`` of :func:`_sample_rows` (its rows of the arrays)."""
    length, n = rates.shape
    day_steps = sin_day.shape[0]
    start = bounded(src, j, day_steps)
    has_burst, period, duration = ints[1] == 1, ints[2], ints[3]
    offset = 0
    hits = np.zeros((1, n), dtype=np.bool_)
    if has_burst:
        offset = bounded(src, j, period)
        hits = np.empty(((length - 1 + offset) // period + 1, n), dtype=np.bool_)
        for k in range(hits.shape[0]):
            for i in range(n):
                hits[k, i] = uniform(src, j) < floats[5]
    has_flash = ints[4] == 1
    starts = np.zeros((length if has_flash else 0, n), dtype=np.bool_)
    if has_flash:
        for t in range(length):
            for i in range(n):
                starts[t, i] = uniform(src, j) < floats[6]
    has_ramp, has_event = ints[5] == 1, ints[6] == 1
    event = np.zeros(0)
    if has_event:
        event = _event_level(src, j, floats, start, day_steps, length)
    shape = np.empty(length)
    for t in range(length):
        day = (start + t) % day_steps
        phase[t] = day / day_steps
        shape[t] = 1.0 + floats[2] * sin_day[day]
        if has_ramp:
            shape[t] = shape[t] * _ramp_factor(floats, day, day_steps)
        if t >= ints[0]:
            shape[t] = shape[t] * floats[3]
    for i in range(n):
        crowd = 0.0
        burst = offset // period  # index of the burst window of step t, and the
        within = offset % period  # position in it, advanced without divisions
        for t in range(length):
            r = shape[t] * level[i]
            if has_burst:
                hit = within < duration and hits[burst, i]
                r = r * (1.0 + floats[4] * (1.0 if hit else 0.0))
                within += 1
                if within == period:
                    within = 0
                    burst += 1
            if has_flash:
                crowd = crowd * floats[7] + (1.0 if starts[t, i] else 0.0)
                r = r + flash_scale[i] * crowd
            if has_event:
                r = r + event_scale[i] * event[t]
            rates[t, i] = r
    return poisson_kernel(src, j, rates, arrivals, STIRLING, LOG_FACTORIAL)


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
        arrivals = np.empty_like(rates)
        poisson_into(rng, rates, arrivals)
    else:
        arrivals = rates.copy()
    return EpisodeWorkload(
        rates=rates[None],
        arrivals=arrivals[None],
        phase=piece.phase[None],
        warmup=warmup,
        steps=steps,
    )


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
