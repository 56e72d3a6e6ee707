"""Drawing one episode's slice of a prepared trace: a window at a seeded random offset inside one
split and one run, interpolated to env steps, mapped onto the edge nodes with the spatial model
and per-node noise (the model is described in :mod:`edgecloud_gym.traces.spec`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edgecloud_gym.traces.files import read_trace
from edgecloud_gym.traces.loading import TraceFormatError
from edgecloud_gym.traces.preparation import prepare

if TYPE_CHECKING:
    from edgecloud_gym.traces.spec import TraceSpec

__all__ = ["TraceSlice", "rows_needed", "sample_slice", "window_starts"]

_SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True)
class TraceSlice:
    """One episode's share of a trace.

    Attributes:
        shape: (L, N) relative load of each node per env step (the trace over its train-period
            mean, mapped to nodes, with the spatial model and noise applied).
        phase: (L,) time of day of each env step as a fraction of a day, in [0, 1).
        offset: Row of the trace where the slice starts.
        rows: Number of trace rows the slice covers.
    """

    shape: np.ndarray
    phase: np.ndarray
    offset: int
    rows: int


def rows_needed(spec: TraceSpec, length: int) -> int:
    """Trace rows covered by ``length`` env steps."""
    return -(-(length - 1) // spec.steps_per_sample) + 1


def window_starts(spec: TraceSpec, length: int, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(first row, number of window starts) of every run of ``split`` that fits a window of
    ``length`` env steps; :class:`TraceFormatError` with the longest run if none does."""
    need = rows_needed(spec, length)
    runs = prepare(spec).runs[split]
    sizes = np.array([b - a for a, b in runs], dtype=np.int64)
    fits = sizes >= need
    if not fits.any():
        longest = int(sizes.max()) if sizes.size else 0
        raise TraceFormatError(
            read_trace(spec).source,
            f"too short for one episode: an episode needs {need} consecutive rows "
            f"({length} env steps incl. warm-up and forecast horizon, "
            f"{spec.steps_per_sample} step(s) per row) in the {split} split, but its longest "
            f"stretch without a gap or excluded interval has {longest}. Use a longer trace, "
            "fewer episode_steps, a larger steps_per_sample or another train_fraction.",
        )
    starts = np.array([a for a, _ in runs], dtype=np.int64)[fits]
    return starts, sizes[fits] - need + 1


def sample_slice(spec: TraceSpec, n_edge: int, length: int, rng: np.random.Generator) -> TraceSlice:
    """Draw one episode's slice: a window of ``length`` env steps at a random offset in
    ``spec``'s split, mapped onto ``n_edge`` nodes.

    Args:
        spec: The trace and its model.
        n_edge: Number of edge nodes N.
        length: Env steps of the window (warm-up + episode + forecast horizon).
        rng: Source of all randomness (offset, spatial shares, noise).
    """
    prep = prepare(spec)
    starts, counts = window_starts(spec, length, spec.split)
    need = rows_needed(spec, length)
    cum = np.cumsum(counts)
    r = int(rng.integers(cum[-1]))
    run = int(np.searchsorted(cum, r, side="right"))
    offset = int(starts[run] + r - (cum[run] - counts[run]))
    window = prep.values[offset : offset + need]  # (need, M)
    k = spec.steps_per_sample
    pos = np.arange(length) / k
    if k == 1:
        x = window
    else:
        grid = np.arange(need)
        x = np.stack([np.interp(pos, grid, window[:, j]) for j in range(window.shape[1])], 1)
    t = prep.times[offset] + pos * prep.step_s
    phase = np.mod(t, _SECONDS_PER_DAY) / _SECONDS_PER_DAY
    if spec.mapping == "per-node":
        if x.shape[1] < n_edge:
            spec.check_compatible(n_edge)
        shape = x[:, :n_edge].copy()
    else:
        if spec.concentration is None:
            share = np.ones(n_edge)
        else:
            share = n_edge * rng.dirichlet(np.full(n_edge, float(spec.concentration)))
        shape = x * share[None, :]
    if spec.node_noise > 0:
        s = float(spec.node_noise)
        shape = shape * np.exp(s * rng.standard_normal(shape.shape) - 0.5 * s * s)
    return TraceSlice(shape=shape, phase=phase, offset=offset, rows=need)
