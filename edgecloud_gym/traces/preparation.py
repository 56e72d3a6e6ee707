"""Preparing a trace for sampling: the chronological train/test splits, the usable runs between
gaps and excluded intervals, and the series rescaled to a unit train-period mean."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edgecloud_gym.traces.files import read_trace, remember
from edgecloud_gym.traces.loading import TraceFormatError, parse_time

if TYPE_CHECKING:
    from edgecloud_gym.traces.spec import TraceSpec

__all__ = ["PreparedTrace", "prepare"]

_PREP_CACHE: dict[tuple[Any, ...], PreparedTrace] = {}


@dataclass(frozen=True)
class PreparedTrace:
    """A trace ready for sampling.

    Attributes:
        values: (T, M) the series used (one per node in ``"per-node"`` mapping, their sum in
            ``"split"`` mapping), divided by their train-split mean; read-only.
        runs: Usable row ranges ``(start, stop)`` per split.
        times: (T,) start of each row (s).
        step_s: The trace's interval (s).
    """

    values: np.ndarray
    runs: dict[str, tuple[tuple[int, int], ...]]
    times: np.ndarray
    step_s: float


def prepare(spec: TraceSpec) -> PreparedTrace:
    """The prepared trace of ``spec`` (computed once per spec and trace content, then cached).

    Raises:
        TraceFormatError: The train split has no usable row, or a used series has no request
            in it (it can't be rescaled).
    """
    data = read_trace(spec)
    key = (spec, data.digest)
    prep = _PREP_CACHE.get(key)
    if prep is not None:
        return prep
    t = data.times
    usable = np.ones(len(data), dtype=bool)
    for start, end in spec.exclude:
        usable &= ~((t >= parse_time(start)) & (t < parse_time(end)))
    cut = math.floor(spec.train_fraction * len(data))
    bounds = {"train": (0, cut), "test": (cut, len(data))}
    runs: dict[str, tuple[tuple[int, int], ...]] = {}
    for split, (lo, hi) in bounds.items():
        found = []
        for a, b in data.segments:
            a, b = max(a, lo), min(b, hi)
            if a >= b:
                continue
            ok = np.concatenate(([False], usable[a:b], [False]))
            edges = np.flatnonzero(np.diff(ok.astype(np.int8)))
            found += [
                (a + int(s), a + int(e)) for s, e in zip(edges[::2], edges[1::2], strict=True)
            ]
        runs[split] = tuple(found)
    raw = data.counts if spec.mapping == "per-node" else data.counts.sum(axis=1, keepdims=True)
    train_rows = np.concatenate([np.arange(a, b) for a, b in runs["train"]] or [np.arange(0)])
    if train_rows.size == 0:
        raise TraceFormatError(
            data.source,
            f"the train split (first {spec.train_fraction:g} of {len(data)} rows) has no "
            "usable row (all excluded); raise train_fraction or narrow exclude.",
        )
    mean = raw[train_rows].mean(axis=0)
    names = data.columns if spec.mapping == "per-node" else ("+".join(data.columns),)
    for j, m in enumerate(mean):
        if m <= 0:
            raise TraceFormatError(
                data.source,
                "no request in the train split, so the series can't be rescaled to a target "
                "utilisation; choose another column or a larger train_fraction.",
                column=names[j],
            )
    values = raw / mean
    values.setflags(write=False)
    return remember(_PREP_CACHE, key, PreparedTrace(values, runs, data.times, data.step_s))
