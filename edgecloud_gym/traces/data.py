"""A validated request-count trace in memory, and the errors and timestamps of trace files.

:class:`TraceData` holds request counts on a regular time grid in one or more segments (built by
:func:`~edgecloud_gym.traces.loading.load_trace` from a file, or by :meth:`TraceData.from_array`);
:class:`TraceFormatError` names the file, line and column of what is wrong; :func:`parse_time`
reads a timestamp cell.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from edgecloud_gym._validation import did_you_mean

__all__ = ["TraceData", "TraceFormatError", "parse_time"]

_EPOCH = datetime(1970, 1, 1)


class TraceFormatError(ValueError):
    """A trace file (or array) that can't drive a workload, with where and why.

    Attributes:
        file: Path of the file (``"<array>"`` for in-memory data).
        line: 1-based line of the file (the header is line 1), or None.
        column: Name of the offending column, or None.
    """

    def __init__(
        self, file: str, message: str, *, line: int | None = None, column: str | None = None
    ) -> None:
        self.file, self.line, self.column = file, line, column
        where = file
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")


def parse_time(text: str) -> float:
    """Seconds since 1970-01-01 00:00 of a timestamp cell.

    Naive timestamps count wall-clock time as written (no time zone applied); timestamps with a
    UTC offset are converted to UTC. A plain number is taken as seconds since the epoch.

    Raises:
        ValueError: ``text`` is neither a number nor an ISO 8601 date-time.
    """
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise ValueError(f"timestamp {text!r} is not finite")
        return value
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(timezone.utc).replace(tzinfo=None)
    return (stamp - _EPOCH).total_seconds()


def _format_time(seconds: float) -> str:
    """Human-readable form of a time from :func:`parse_time` (for error messages)."""
    try:
        return (_EPOCH + timedelta(seconds=float(seconds))).isoformat(sep=" ")
    except (OverflowError, ValueError):
        return f"{seconds:g} s"


class TraceData:
    """A validated trace: request counts on a regular time grid, in one or more segments.

    Instances are immutable (read-only arrays) and compare and hash by the digest of their
    content, so a :class:`~edgecloud_gym.traces.TraceSpec` holding one stays hashable.

    Attributes:
        source: File the trace came from (``"<array>"`` for in-memory data).
        columns: Names of the count columns.
        times: (T,) start of each interval, seconds since 1970-01-01 (wall-clock time as written
            in the file).
        counts: (T, C) requests per interval, float64, non-negative and finite.
        step_s: Length of one interval (s).
        segments: Half-open row ranges ``(start, stop)`` that are regular inside; consecutive
            segments are separated by a gap in time (see ``on_gap`` of :func:`load_trace`).
        lines: (T,) line of the file each row came from (header = line 1), for error messages.
        digest: SHA-256 of the columns, times and counts.
    """

    __slots__ = ("columns", "counts", "digest", "lines", "segments", "source", "step_s", "times")

    def __init__(
        self,
        source: str,
        columns: Sequence[str],
        times: np.ndarray,
        counts: np.ndarray,
        step_s: float,
        segments: Sequence[tuple[int, int]],
        lines: np.ndarray | None = None,
    ) -> None:
        times = np.array(times, dtype=np.float64)
        counts = np.array(counts, dtype=np.float64)
        if counts.ndim == 1:
            counts = counts[:, None]
        if lines is None:
            lines = np.arange(2, times.shape[0] + 2)
        lines = np.array(lines, dtype=np.int64)
        for arr in (times, counts, lines):
            arr.setflags(write=False)
        h = hashlib.sha256()
        h.update("\x1f".join(columns).encode())
        h.update(np.float64(step_s).tobytes())
        h.update(times.tobytes())
        h.update(np.ascontiguousarray(counts).tobytes())
        h.update(np.asarray(segments, dtype=np.int64).tobytes())
        for name, value in (
            ("source", str(source)),
            ("columns", tuple(columns)),
            ("times", times),
            ("counts", counts),
            ("step_s", float(step_s)),
            ("segments", tuple((int(a), int(b)) for a, b in segments)),
            ("lines", lines),
            ("digest", h.hexdigest()),
        ):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"TraceData is immutable; cannot set {name!r}.")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TraceData) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)

    def __repr__(self) -> str:
        return (
            f"TraceData(source={self.source!r}, rows={len(self)}, columns={list(self.columns)}, "
            f"step_s={self.step_s:g}, segments={len(self.segments)})"
        )

    def __len__(self) -> int:
        return int(self.times.shape[0])

    def __deepcopy__(self, memo: dict[int, Any]) -> TraceData:
        return self  # immutable

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            TraceData,
            (
                self.source,
                self.columns,
                self.times,
                self.counts,
                self.step_s,
                self.segments,
                self.lines,
            ),
        )

    def column(self, name: str) -> np.ndarray:
        """Counts (T,) of one column; unknown names raise with the closest one."""
        return self.counts[:, self.column_index(name)]

    def column_index(self, name: str) -> int:
        """Position of column ``name`` in :attr:`columns`."""
        if name not in self.columns:
            raise TraceFormatError(
                self.source,
                f"no column {name!r}.{did_you_mean(name, self.columns)} "
                f"Count columns: {', '.join(self.columns)}.",
            )
        return self.columns.index(name)

    @classmethod
    def from_array(
        cls,
        counts: Any,
        *,
        step_s: float = 60.0,
        start: float | str = 0.0,
        columns: Sequence[str] | None = None,
    ) -> TraceData:
        """A trace from an in-memory array of counts on a regular grid (validated).

        Args:
            counts: (T,) or (T, C) requests per interval.
            step_s: Length of one interval (s).
            start: Time of the first interval: seconds since the epoch or an ISO 8601 string.
            columns: Names of the C columns (default ``series0``, ``series1``, ...).
        """
        arr = np.asarray(counts)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise TraceFormatError(
                "<array>", f"counts must be (T,) or (T, C), got shape {arr.shape}."
            )
        if arr.shape[0] == 0:
            raise TraceFormatError("<array>", "counts is empty: a trace needs at least one row.")
        names = (
            tuple(columns)
            if columns is not None
            else tuple(f"series{j}" for j in range(arr.shape[1]))
        )
        if len(names) != arr.shape[1]:
            raise TraceFormatError(
                "<array>", f"{len(names)} column names for {arr.shape[1]} columns of counts."
            )
        if not (isinstance(step_s, (int, float)) and math.isfinite(step_s) and step_s > 0):
            raise TraceFormatError("<array>", f"step_s must be a number > 0 (s), got {step_s!r}.")
        try:
            values = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TraceFormatError("<array>", f"counts must be numeric ({exc}).") from exc
        for j, name in enumerate(names):
            _check_counts("<array>", name, values[:, j], np.arange(2, len(values) + 2))
        t0 = parse_time(start) if isinstance(start, str) else float(start)
        times = t0 + step_s * np.arange(values.shape[0])
        return cls("<array>", names, times, values, float(step_s), [(0, values.shape[0])])


def _check_counts(file: str, name: str, values: np.ndarray, lines: np.ndarray) -> None:
    """Raise at the first NaN, infinite or negative count of one column."""
    bad = ~np.isfinite(values) | (values < 0)
    if not bad.any():
        return
    i = int(np.argmax(bad))
    v = values[i]
    if np.isnan(v):
        what = "count is NaN; give a number of requests (0 if none arrived)"
    elif not np.isfinite(v):
        what = f"count is {v}; counts must be finite"
    else:
        what = f"count {v:g} is negative; counts are numbers of requests, >= 0"
    raise TraceFormatError(file, what + ".", line=int(lines[i]), column=name)
