"""Reading and validating request-count traces.

A trace file is a CSV (optionally gzip-compressed, ``.csv.gz``) with a header row, one time
column and one or more count columns::

    timestamp,requests
    1995-07-01 00:00,42
    1995-07-01 00:01,61

Each row gives the number of requests that arrived in the interval starting at its timestamp.
Timestamps are ISO 8601 (``YYYY-MM-DD HH:MM[:SS]``, a ``T`` separator and a UTC offset are
accepted; offsets are converted to UTC) or plain numbers of seconds since the epoch.

:func:`load_trace` checks everything a trace-driven workload relies on and raises
:class:`TraceFormatError`, which names the file, the line and the column, on:

- an empty file, or a header without data rows;
- a missing or unparsable timestamp;
- time that goes backwards or repeats;
- an irregular step (a time difference that is not a whole multiple of the trace's interval),
  unless ``resample=True``, which sums the rows into bins of the interval;
- a missing, non-numeric, NaN, infinite or negative count;
- a row with a different number of fields than the header.

A jump in time by a whole number of intervals (a hole in the recording, e.g. NASA-HTTP's
1995-07-28 13:32 -> 08-01 00:00) is a *gap*: by default the trace is split into segments there
and no episode is ever drawn across it (``on_gap="split"``); ``on_gap="zero"`` fills the missing
intervals with zero counts and ``on_gap="error"`` rejects the file.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import itertools
import math
import os
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from edgecloud_gym._validation import did_you_mean

__all__ = ["GAP_POLICIES", "TraceData", "TraceFormatError", "load_trace", "parse_time"]

#: What :func:`load_trace` does at a jump in time by a whole number of intervals.
GAP_POLICIES = ("split", "zero", "error")

_EPOCH = datetime(1970, 1, 1)
#: Relative tolerance when comparing time differences with the interval.
_STEP_TOL = 1e-6


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


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def load_trace(
    path: str | os.PathLike[str],
    *,
    time_column: str | None = None,
    columns: Sequence[str] | None = None,
    step_s: float | None = None,
    resample: bool = False,
    on_gap: str = "split",
) -> TraceData:
    """Read and validate a trace CSV (``.csv`` or ``.csv.gz``).

    Args:
        path: The file.
        time_column: Header of the time column (default: the first column).
        columns: Count columns to read (default: every column but the time column). Other
            columns are ignored and not validated.
        step_s: Length of one interval (s); default: the most common time difference.
        resample: Sum rows into bins of ``step_s`` on a regular grid from the first to the last
            timestamp instead of rejecting an irregular step. Empty bins hold zero counts, so a
            hole in the recording becomes zeros (``on_gap`` does not apply).
        on_gap: At a jump in time by a whole number of intervals: ``"split"`` the trace into
            segments (episodes never cross a gap), fill the missing intervals with ``"zero"``
            counts, or raise (``"error"``).

    Raises:
        FileNotFoundError: No such file.
        TraceFormatError: The content is invalid; the message names file, line and column.
    """
    if on_gap not in GAP_POLICIES:
        raise ValueError(
            f"on_gap must be one of {GAP_POLICIES}, got {on_gap!r}.{did_you_mean(str(on_gap), GAP_POLICIES)}"
        )
    if step_s is not None and not (
        isinstance(step_s, (int, float))
        and not isinstance(step_s, bool)
        and math.isfinite(step_s)
        and step_s > 0
    ):
        raise ValueError(f"step_s must be a number > 0 (s) or None, got {step_s!r}.")
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"trace file {str(file)!r} does not exist (or is not a file).")
    name = str(file)
    with _open_text(file) as handle:
        try:
            rows = list(csv.reader(handle))
        except (csv.Error, UnicodeDecodeError, OSError, EOFError) as exc:
            raise TraceFormatError(name, f"cannot be read as CSV text ({exc}).") from exc
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise TraceFormatError(
            name,
            "the file is empty; expected a header row (time column, count columns) and data rows.",
        )
    header = [cell.strip() for cell in rows[0]]
    t_col = header[0] if time_column is None else time_column
    if t_col not in header:
        raise TraceFormatError(
            name,
            f"no time column {t_col!r} in the header.{did_you_mean(t_col, header)} "
            f"Columns: {', '.join(header)}.",
            line=1,
        )
    t_idx = header.index(t_col)
    wanted = [h for h in header if h != t_col] if columns is None else list(columns)
    if not wanted:
        raise TraceFormatError(
            name, f"no count column: the header has only the time column {t_col!r}.", line=1
        )
    for c in wanted:
        if c not in header or c == t_col:
            choices = [h for h in header if h != t_col]
            raise TraceFormatError(
                name,
                f"no count column {c!r} in the header.{did_you_mean(c, choices)} "
                f"Count columns: {', '.join(choices)}.",
                line=1,
            )
    c_idx = [header.index(c) for c in wanted]

    n_fields = len(header)
    times: list[float] = []
    values: list[list[float]] = []
    lines: list[int] = []
    for number, row in enumerate(rows[1:], start=2):
        if not row or not any(cell.strip() for cell in row):
            continue  # blank line
        if len(row) != n_fields:
            raise TraceFormatError(
                name, f"row has {len(row)} fields but the header has {n_fields}.", line=number
            )
        cell = row[t_idx].strip()
        if not cell:
            raise TraceFormatError(name, "missing timestamp.", line=number, column=t_col)
        try:
            times.append(parse_time(cell))
        except ValueError:
            raise TraceFormatError(
                name,
                f"cannot parse timestamp {cell!r}; expected ISO 8601 like "
                "'1995-07-01 00:00' or a number of seconds since the epoch.",
                line=number,
                column=t_col,
            ) from None
        out = []
        for j, k in zip(c_idx, wanted, strict=True):
            text = row[j].strip()
            if not text:
                raise TraceFormatError(
                    name, "missing count; write 0 if no request arrived.", line=number, column=k
                )
            try:
                out.append(float(text))
            except ValueError:
                raise TraceFormatError(
                    name, f"count {text!r} is not a number.", line=number, column=k
                ) from None
        values.append(out)
        lines.append(number)
    if not times:
        raise TraceFormatError(name, "the file has a header but no data rows.")

    t = np.asarray(times)
    counts = np.asarray(values, dtype=np.float64)
    line_no = np.asarray(lines, dtype=np.int64)
    for j, k in enumerate(wanted):
        _check_counts(name, k, counts[:, j], line_no)

    diff = np.diff(t)
    if np.any(diff <= 0):
        i = int(np.argmax(diff <= 0))
        if diff[i] == 0:
            raise TraceFormatError(
                name,
                f"duplicated time {_format_time(t[i + 1])} (also on line {line_no[i]}); merge the "
                "two rows into one by adding their counts.",
                line=int(line_no[i + 1]),
                column=t_col,
            )
        raise TraceFormatError(
            name,
            f"time goes backwards: {_format_time(t[i + 1])} comes after {_format_time(t[i])} "
            f"(line {line_no[i]}); sort the rows by time.",
            line=int(line_no[i + 1]),
            column=t_col,
        )
    if step_s is None:
        if diff.size == 0:
            raise TraceFormatError(
                name, "a single data row: cannot infer the interval; pass step_s= or add rows."
            )
        uniq, freq = np.unique(np.round(diff, 6), return_counts=True)
        step = float(uniq[np.argmax(freq)])
    else:
        step = float(step_s)

    if resample:
        bins = np.floor((t - t[0]) / step + _STEP_TOL).astype(np.int64)
        grid = np.zeros((int(bins[-1]) + 1, counts.shape[1]))
        np.add.at(grid, bins, counts)
        first_line = np.full(grid.shape[0], -1, dtype=np.int64)
        first_line[bins[::-1]] = line_no[::-1]
        first_line[first_line < 0] = 0
        grid_t = t[0] + step * np.arange(grid.shape[0])
        return TraceData(name, wanted, grid_t, grid, step, [(0, grid.shape[0])], first_line)

    ratio = diff / step
    whole = np.round(ratio)
    irregular = (np.abs(ratio - whole) > _STEP_TOL * np.maximum(1.0, whole)) | (whole < 1)
    if irregular.any():
        i = int(np.argmax(irregular))
        raise TraceFormatError(
            name,
            f"irregular step: {diff[i]:g} s after the previous row (line {line_no[i]}), not a "
            f"multiple of the trace's interval {step:g} s. Pass resample=True to sum the rows "
            "into regular bins, or step_s= to set the interval.",
            line=int(line_no[i + 1]),
            column=t_col,
        )
    jumps = np.flatnonzero(whole > 1)
    if jumps.size and on_gap == "error":
        i = int(jumps[0])
        raise TraceFormatError(
            name,
            f"gap in time: {_format_time(t[i])} -> {_format_time(t[i + 1])} skips "
            f"{int(whole[i]) - 1} interval(s) of {step:g} s. Pass on_gap='split' to never draw an "
            "episode across it or on_gap='zero' to fill it with zero counts.",
            line=int(line_no[i + 1]),
            column=t_col,
        )
    if jumps.size and on_gap == "zero":
        pos = np.concatenate(([0], np.cumsum(whole).astype(np.int64)))
        grid = np.zeros((int(pos[-1]) + 1, counts.shape[1]))
        grid[pos] = counts
        grid_lines = np.zeros(grid.shape[0], dtype=np.int64)
        grid_lines[pos] = line_no
        grid_t = t[0] + step * np.arange(grid.shape[0])
        return TraceData(name, wanted, grid_t, grid, step, [(0, grid.shape[0])], grid_lines)
    bounds = np.concatenate(([0], jumps + 1, [t.shape[0]]))
    segments = [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]
    return TraceData(name, wanted, t, counts, step, segments, line_no)
