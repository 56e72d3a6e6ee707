"""A trace as a workload source: :class:`TraceSpec`, held in ``Task.trace``.

When a :class:`~edgecloud_gym.tasks.Task` carries a ``trace``, the episode's arrival rates come
from a slice of the real trace instead of the synthetic generator; everything else (capacity
scenario, application mix, per-node weights, mid-episode shift, the queue dynamics) is the same
code. The model, for edge node ``i`` at env step ``t`` of a slice starting at trace row ``o``::

    lambda_i(t) = load * w_i * mu_i * x_i(o + t / k) * eps_i(t)

- ``x_i`` is the trace series of node ``i`` divided by its mean over the *train* split (so its
  mean over the train period is 1 and ``load`` is the target mean utilisation of each node; the
  test split is scaled by the same train-period factor, so a busier test period stays busier);
- ``mapping="per-node"``: node ``i`` replays count column ``i`` (the first N columns of
  ``columns``, one series per node); ``mapping="split"``: the sum of the selected columns is an
  aggregate split across nodes by a *spatial model*, ``x_i = N p_i x`` with ``p ~
  Dirichlet(concentration * 1_N)`` drawn once per episode (``concentration=None``: ``p_i =
  1/N``);
- ``eps_i(t)`` is per-node, per-step multiplicative noise, log-normal with mean 1 and log-sd
  ``node_noise`` (0 disables it);
- ``k = steps_per_sample`` env steps per trace interval. ``k = 1`` (default) is *time
  compression*: one trace interval (a NASA minute, an Alibaba 10-minute bin) becomes one
  decision step (1 s by default), so a 200-step episode replays 200 trace intervals. ``k > 1``
  interpolates the rate linearly between intervals (``k = 60`` replays NASA-HTTP in real time at
  1 s steps);
- arrivals are ``Poisson(lambda)`` (``arrivals="poisson"``, default) or the rate itself as a
  fluid count (``arrivals="deterministic"``).

Splits are chronological: the first ``train_fraction`` of the rows is the train split, the rest
the test split. An episode (with its warm-up history and forecast horizon) is a window at a seeded
random offset that lies entirely inside one split and one *run*: a stretch of rows without a gap
(see :func:`~edgecloud_gym.traces.load_trace`) or an ``exclude``-d interval. So no test-period
sample ever reaches a training episode, and no episode spans a hole in the recording.

The diurnal phase in the observation is the trace's own time of day.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgecloud_gym._validation import check_int, check_keys, check_range, did_you_mean
from edgecloud_gym.traces.files import BUNDLED_FILES, DATA_DIR, read_trace, trace_path
from edgecloud_gym.traces.loading import (
    GAP_POLICIES,
    OUTLIER_POLICIES,
    TraceData,
    parse_time,
)
from edgecloud_gym.traces.preparation import PreparedTrace, prepare
from edgecloud_gym.traces.sampling import TraceSlice, rows_needed, sample_slice, window_starts

__all__ = [
    "ARRIVAL_MODES",
    "BUNDLED_FILES",
    "DATA_DIR",
    "MAPPINGS",
    "SPLITS",
    "TraceSlice",
    "TraceSpec",
]

#: Ways to map trace series onto edge nodes.
MAPPINGS = ("split", "per-node")
#: Chronological splits of a trace.
SPLITS = ("train", "test")
#: How arrivals are drawn from the rescaled trace rate.
ARRIVAL_MODES = ("poisson", "deterministic")


@dataclass(frozen=True)
class TraceSpec:
    """Which trace drives the arrivals, and how (see the module docstring for the model).

    Attributes:
        source: A CSV file (``.csv`` or ``.csv.gz``; see :func:`~edgecloud_gym.traces.load_trace`
            for the format), the name of a bundled trace (``"nasa"``, ``"alibaba"``), or a
            :class:`~edgecloud_gym.traces.TraceData`.
        name: Label for logs (default: the file's stem or the bundled name).
        columns: Count columns to use (default: all but the time column).
        time_column: Header of the time column (default: the first column).
        mapping: ``"split"``: the sum of ``columns`` is split across nodes by the spatial model;
            ``"per-node"``: node ``i`` replays ``columns[i]`` (needs at least N columns).
        split: ``"train"`` or ``"test"``: the chronological part episodes are drawn from.
        train_fraction: Fraction of the rows (from the start) in the train split, in (0, 1).
        steps_per_sample: Env steps per trace interval (1: time compression; > 1: linear
            interpolation between intervals).
        concentration: Dirichlet concentration of the per-episode node shares in ``"split"``
            mapping (larger: more even); None gives every node the same share.
        node_noise: Log-sd of per-node, per-step multiplicative noise of mean 1 (0: none).
        arrivals: ``"poisson"`` (arrivals ~ Poisson(rate)) or ``"deterministic"`` (arrivals =
            rate).
        exclude: Time intervals ``(start, end)`` (as in the file, start inclusive, end
            exclusive) never used in episodes nor in the train mean, e.g. an outage of the
            recording server.
        step_s: Interval of the trace (s); default: inferred from the file.
        resample: Sum irregularly timed rows into regular bins (see ``load_trace``).
        on_gap: ``"split"``, ``"zero"`` or ``"error"`` at holes in time (see ``load_trace``).
        outliers: ``"error"`` or ``"clip"`` (with a warning) for a count above
            ``outlier_factor`` times its column's 99th percentile (see ``load_trace``).
        outlier_factor: The factor of that test (None: no test).
    """

    source: str | TraceData
    name: str = ""
    columns: tuple[str, ...] | None = None
    time_column: str | None = None
    mapping: str = "split"
    split: str = "train"
    train_fraction: float = 0.7
    steps_per_sample: int = 1
    concentration: float | None = 20.0
    node_noise: float = 0.1
    arrivals: str = "poisson"
    exclude: tuple[tuple[str, str], ...] = ()
    step_s: float | None = None
    resample: bool = False
    on_gap: str = "split"
    outliers: str = "error"
    outlier_factor: float | None = 100.0

    def __post_init__(self) -> None:
        src = self.source
        if isinstance(src, os.PathLike):
            src = os.fspath(src)
        if not isinstance(src, (str, TraceData)):
            raise TypeError(
                f"TraceSpec.source must be a file path, a bundled trace name "
                f"({', '.join(BUNDLED_FILES)}) or a TraceData, got {src!r}."
            )
        if isinstance(src, str) and not src:
            raise ValueError("TraceSpec.source is empty; give a CSV path or a bundled trace name.")
        object.__setattr__(self, "source", src)
        if not isinstance(self.name, str):
            raise TypeError(f"TraceSpec.name must be a string, got {self.name!r}.")
        if not self.name:
            label = src.source if isinstance(src, TraceData) else src
            stem = Path(label).name.split(".")[0] if label != "<array>" else "array"
            object.__setattr__(self, "name", stem)
        if self.columns is not None:
            if isinstance(self.columns, str):
                raise TypeError(
                    f"TraceSpec.columns must be a sequence of column names, got the string "
                    f"{self.columns!r}; write columns=({self.columns!r},)."
                )
            cols = tuple(self.columns)
            if not cols or not all(isinstance(c, str) for c in cols):
                raise ValueError(
                    f"TraceSpec.columns must be a non-empty sequence of names, got {self.columns!r}."
                )
            object.__setattr__(self, "columns", cols)
        for field, allowed in (
            ("mapping", MAPPINGS),
            ("split", SPLITS),
            ("arrivals", ARRIVAL_MODES),
            ("on_gap", GAP_POLICIES),
            ("outliers", OUTLIER_POLICIES),
        ):
            value = getattr(self, field)
            if value not in allowed:
                raise ValueError(
                    f"TraceSpec.{field} must be one of {allowed}, got {value!r}."
                    f"{did_you_mean(str(value), allowed)}"
                )
        if not _is_real(self.train_fraction) or not 0.0 < self.train_fraction < 1.0:
            raise ValueError(
                f"TraceSpec.train_fraction must lie in (0, 1), got {self.train_fraction!r}."
            )
        k = self.steps_per_sample
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"TraceSpec.steps_per_sample must be an integer >= 1, got {k!r}.")
        object.__setattr__(
            self,
            "steps_per_sample",
            check_int("TraceSpec.steps_per_sample", int(k), minimum=1, maximum=10**6),
        )
        if self.concentration is not None:
            check_range("TraceSpec.concentration", self.concentration, 0, 1e6, open_low=True)
        check_range("TraceSpec.node_noise", self.node_noise, 0, 5, "log-sd")
        if self.step_s is not None and (not _is_real(self.step_s) or self.step_s <= 0):
            raise ValueError(f"TraceSpec.step_s must be > 0 (s) or None, got {self.step_s!r}.")
        if self.outlier_factor is not None and (
            not _is_real(self.outlier_factor) or self.outlier_factor <= 1
        ):
            raise ValueError(
                f"TraceSpec.outlier_factor must be a number > 1 or None, got "
                f"{self.outlier_factor!r}."
            )
        if not isinstance(self.resample, bool):
            raise TypeError(f"TraceSpec.resample must be a bool, got {self.resample!r}.")
        if self.time_column is not None and not isinstance(self.time_column, str):
            raise TypeError(f"TraceSpec.time_column must be a string, got {self.time_column!r}.")
        intervals = []
        for item in self.exclude:
            if isinstance(item, str) or len(item) != 2:
                raise ValueError(
                    f"TraceSpec.exclude entries must be (start, end) pairs of timestamps, got "
                    f"{item!r}."
                )
            start, end = (str(v) for v in item)
            try:
                lo, hi = parse_time(start), parse_time(end)
            except ValueError as exc:
                raise ValueError(f"TraceSpec.exclude: cannot parse {item!r} ({exc}).") from None
            if hi <= lo:
                raise ValueError(f"TraceSpec.exclude: interval {item!r} ends before it starts.")
            intervals.append((start, end))
        object.__setattr__(self, "exclude", tuple(intervals))

    # ------------------------------------------------------------------ plain data

    def replace(self, **changes: Any) -> TraceSpec:
        """A copy with ``changes`` applied (validated; unknown fields rejected)."""
        check_keys(changes, [f.name for f in dataclasses.fields(self)], "TraceSpec")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TraceSpec:
        """Build a spec from plain data; unknown keys raise with the closest valid one."""
        check_keys(values, [f.name for f in dataclasses.fields(cls)], "TraceSpec")
        kwargs = dict(values)
        if "exclude" in kwargs:
            kwargs["exclude"] = tuple(tuple(pair) for pair in kwargs["exclude"])
        return cls(**kwargs)

    # ------------------------------------------------------------------ data

    @property
    def path(self) -> str:
        """The file the trace is read from (``"<array>"`` for in-memory data)."""
        return trace_path(self.source)

    def load(self) -> TraceData:
        """The validated trace (read once per file version and cached; see
        :func:`~edgecloud_gym.traces.files.read_trace`)."""
        return read_trace(self)

    def prepared(self) -> PreparedTrace:
        """The trace ready for sampling: splits, runs and rescaled series (see
        :func:`~edgecloud_gym.traces.preparation.prepare`)."""
        return prepare(self)

    def runs(self, split: str | None = None) -> tuple[tuple[int, int], ...]:
        """Usable row ranges ``(start, stop)`` of a split (default: this spec's ``split``):
        inside the split, between gaps, outside excluded intervals."""
        return prepare(self).runs[self._split(split)]

    def series(self, split: str | None = None) -> list[np.ndarray]:
        """The rescaled series (unit train mean) of each usable run of a split, each (T_r, M)
        with M = 1 in ``"split"`` mapping and M = len(columns) in ``"per-node"`` mapping."""
        prep = prepare(self)
        return [prep.values[a:b] for a, b in prep.runs[self._split(split)]]

    def rows_needed(self, length: int) -> int:
        """Trace rows covered by ``length`` env steps."""
        return rows_needed(self, length)

    def offsets(self, length: int, split: str | None = None) -> np.ndarray:
        """Every trace row at which a window of ``length`` env steps may start in a split."""
        need = rows_needed(self, length)
        parts = [np.arange(a, b - need + 1) for a, b in self.runs(split) if b - a >= need]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def check_length(self, length: int, split: str | None = None) -> None:
        """Raise :class:`TraceFormatError` if no window of ``length`` env steps fits the split."""
        window_starts(self, length, self._split(split))

    def check_compatible(self, n_edge: int) -> None:
        """Raise ``ValueError`` if the trace can't feed ``n_edge`` edge nodes."""
        data = read_trace(self)
        if self.mapping == "per-node" and len(data.columns) < n_edge:
            raise ValueError(
                f"trace {self.name!r} ({data.source}): mapping='per-node' needs one count column "
                f"per edge node, but {len(data.columns)} column(s) ({', '.join(data.columns)}) "
                f"feed {n_edge} nodes; use mapping='split' or a file with more columns."
            )
        prepare(self)

    def sample(self, n_edge: int, length: int, rng: np.random.Generator) -> TraceSlice:
        """Draw one episode's slice (see :func:`~edgecloud_gym.traces.sampling.sample_slice`)."""
        return sample_slice(self, n_edge, length, rng)

    def _split(self, split: str | None) -> str:
        split = self.split if split is None else split
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
        return split


def _is_real(value: Any) -> bool:
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )
