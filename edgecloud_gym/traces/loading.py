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
import io
import itertools
import math
import os
import stat
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgecloud_gym._validation import did_you_mean
from edgecloud_gym.traces.data import (
    TraceData,
    TraceFormatError,
    _check_counts,
    _format_time,
    parse_time,
)

__all__ = [
    "GAP_POLICIES",
    "OUTLIER_POLICIES",
    "TraceData",
    "TraceFormatError",
    "check_trace_path",
    "load_trace",
    "parse_time",
]

#: What :func:`load_trace` does at a jump in time by a whole number of intervals.
GAP_POLICIES = ("split", "zero", "error")

#: Relative tolerance when comparing time differences with the interval.
_STEP_TOL = 1e-6


def _layout(
    name: str, header: list[str], time_column: str | None, columns: Sequence[str] | None
) -> tuple[int, int, list[int], list[str], str]:
    """(fields, time index, count indices, count names, time name) of a header, checked."""
    t_col = header[0] if time_column is None else time_column
    if t_col not in header:
        raise TraceFormatError(
            name,
            f"no time column {t_col!r} in the header.{did_you_mean(t_col, header)} "
            f"Columns: {', '.join(header)}.",
            line=1,
        )
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
    return len(header), header.index(t_col), [header.index(c) for c in wanted], wanted, t_col


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def check_trace_path(path: str | os.PathLike[str], what: str = "trace file") -> Path:
    """``path`` as a Path if it is a regular file; a missing file, a folder and a special file
    (a FIFO, a device, a socket) each get their own message."""
    file = Path(path)
    if file.is_dir():
        inside = sorted(p.name for p in file.glob("*.csv*"))[:5]
        hint = f" It holds {', '.join(inside)}." if inside else ""
        raise IsADirectoryError(
            f"{what} {str(file)!r} is a folder, not a file; pass the CSV file itself.{hint}"
        )
    if not file.exists():
        raise FileNotFoundError(f"{what} {str(file)!r} does not exist.")
    if not file.is_file():
        mode = file.stat().st_mode
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "not a regular file"
        )
        raise TraceFormatError(
            str(file), f"is {kind}, not a regular file; copy the trace into a .csv file first."
        )
    return file


#: What :func:`load_trace` does with an outlier count.
OUTLIER_POLICIES = ("error", "clip")
#: Lines parsed at once: bounds the memory of the parse to a few tens of MB whatever the file.
_CHUNK_ROWS = 1 << 18


class _Irregular(Exception):
    """A chunk the vectorised parse can't take: parse it row by row for the exact message."""


def _parse_times_fast(cells: np.ndarray) -> np.ndarray:
    """Seconds of a column of timestamp cells, vectorised (numbers or naive ISO 8601)."""
    if cells.dtype.kind == "f":
        if not np.all(np.isfinite(cells)):
            raise _Irregular
        return cells.astype(np.float64)
    iso = (np.char.str_len(cells) >= 10) & (np.char.find(cells, "-") == 4)
    if not iso.all():  # numpy would read a plain number as a year
        raise _Irregular
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns on UTC offsets: parse_time converts them
        try:
            stamps = cells.astype("datetime64[us]")
        except (ValueError, Warning):
            raise _Irregular from None
    if np.isnat(stamps).any():
        raise _Irregular
    return stamps.astype(np.int64) / 1e6


def _parse_chunk(
    name: str,
    lines: list[str],
    first_line: int,
    layout: tuple[int, int, list[int], list[str], str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, counts, lines) of a chunk of CSV lines starting at line ``first_line``: parsed
    by numpy's C reader, or row by row (for the exact message) when that fails."""
    n_fields, t_idx, c_idx = layout[:3]
    for time_kind in ("f8", "U64"):
        kinds = ["U64"] * n_fields
        kinds[t_idx] = time_kind
        for k in c_idx:
            kinds[k] = "f8"
        dtype = np.dtype([(f"f{i}", kind) for i, kind in enumerate(kinds)])
        try:
            table = np.loadtxt(
                lines, delimiter=",", dtype=dtype, comments=None, quotechar='"', ndmin=1
            )
        except ValueError:
            continue
        if len(table) != len(lines):
            break  # blank lines were skipped: parse row by row to keep the line numbers
        try:
            times = _parse_times_fast(table[f"f{t_idx}"])
        except _Irregular:
            break
        counts = np.empty((len(table), len(c_idx)))
        for j, k in enumerate(c_idx):
            counts[:, j] = table[f"f{k}"]
        return times, counts, np.arange(first_line, first_line + len(lines), dtype=np.int64)
    return _parse_rows(name, list(csv.reader(lines)), first_line, layout)


def _parse_rows(
    name: str,
    rows: list[list[str]],
    first_line: int,
    layout: tuple[int, int, list[int], list[str], str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row by row: skips blank lines and raises at the first bad cell, naming line and column."""
    n_fields, t_idx, c_idx, wanted, t_col = layout
    times: list[float] = []
    values: list[list[float]] = []
    lines: list[int] = []
    for number, row in enumerate(rows, start=first_line):
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
    return (
        np.asarray(times, dtype=np.float64),
        np.asarray(values, dtype=np.float64).reshape(len(values), len(c_idx)),
        np.asarray(lines, dtype=np.int64),
    )


def _check_order(
    name: str, t: np.ndarray, lines: np.ndarray, before: tuple[float, int] | None, t_col: str
) -> None:
    """Raise at the first time that repeats or goes backwards (``before``: the previous chunk's
    last time and line)."""
    if before is not None:
        t = np.concatenate(([before[0]], t))
        lines = np.concatenate(([before[1]], lines))
    diff = np.diff(t)
    if not np.any(diff <= 0):
        return
    i = int(np.argmax(diff <= 0))
    if diff[i] == 0:
        raise TraceFormatError(
            name,
            f"duplicated time {_format_time(t[i + 1])} (also on line {lines[i]}); merge the "
            "two rows into one by adding their counts.",
            line=int(lines[i + 1]),
            column=t_col,
        )
    raise TraceFormatError(
        name,
        f"time goes backwards: {_format_time(t[i + 1])} comes after {_format_time(t[i])} "
        f"(line {lines[i]}); sort the rows by time.",
        line=int(lines[i + 1]),
        column=t_col,
    )


def _mode_step(name: str, diff: np.ndarray) -> float:
    """The most common time difference (the trace's interval when none is given)."""
    if diff.size == 0:
        raise TraceFormatError(
            name, "a single data row: cannot infer the interval; pass step_s= or add rows."
        )
    uniq, freq = np.unique(np.round(diff, 6), return_counts=True)
    return float(uniq[np.argmax(freq)])


class _Collector:
    """Takes the parsed chunks of a file, checks counts and time order chunk by chunk, and
    either keeps them (to be joined) or, when resampling, sums them into bins at once, so that
    memory stays a small multiple of the resampled series."""

    def __init__(
        self, name: str, wanted: list[str], t_col: str, resample: bool, step_s: float | None
    ) -> None:
        self.name, self.wanted, self.t_col = name, wanted, t_col
        self.resample, self.step = resample, step_s
        self.times: list[np.ndarray] = []
        self.counts: list[np.ndarray] = []
        self.lines: list[np.ndarray] = []
        self.last: tuple[float, int] | None = None
        self.t0 = 0.0
        self.grid = np.zeros((0, len(wanted)))
        self.first_line = np.zeros(0, dtype=np.int64)
        self.n_bins = 0

    def add(self, t: np.ndarray, counts: np.ndarray, lines: np.ndarray) -> None:
        if not len(t):
            return
        for j, k in enumerate(self.wanted):
            _check_counts(self.name, k, counts[:, j], lines)
        _check_order(self.name, t, lines, self.last, self.t_col)
        first_chunk = self.last is None
        self.last = (float(t[-1]), int(lines[-1]))
        if not self.resample:
            self.times.append(t)
            self.counts.append(counts)
            self.lines.append(lines)
            return
        if first_chunk:
            self.t0 = float(t[0])
            if self.step is None:  # inferred from the first chunk of rows
                self.step = _mode_step(self.name, np.diff(t))
        bins = np.floor((t - self.t0) / self.step + _STEP_TOL).astype(np.int64)
        top = int(bins[-1]) + 1
        if top > len(self.grid):
            size = max(top, 2 * len(self.grid))
            self.grid = np.concatenate(
                (self.grid, np.zeros((size - len(self.grid), len(self.wanted))))
            )
            self.first_line = np.concatenate(
                (self.first_line, np.zeros(size - len(self.first_line), dtype=np.int64))
            )
        low = int(bins[0])
        for j in range(len(self.wanted)):
            self.grid[low:top, j] += np.bincount(
                bins - low, weights=counts[:, j], minlength=top - low
            )
        uniq, first = np.unique(bins, return_index=True)
        unset = self.first_line[uniq] == 0
        self.first_line[uniq[unset]] = lines[first[unset]]
        self.n_bins = top

    def rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(times, counts, lines) as read, joined (one array at a time, to bound the peak)."""
        if self.resample:
            n = self.n_bins
            grid_t = self.t0 + self.step * np.arange(n)
            return grid_t, self.grid[:n], self.first_line[:n]
        t = np.concatenate(self.times)
        self.times.clear()
        lines = np.concatenate(self.lines)
        self.lines.clear()
        counts = np.concatenate(self.counts)
        self.counts.clear()
        return t, counts, lines


def _check_outliers(
    file: str,
    name: str,
    values: np.ndarray,
    lines: np.ndarray,
    factor: float,
    policy: str,
) -> None:
    """Refuse (or clip in place, with a warning) counts above ``factor`` times the column's
    robust scale: its 99th percentile, or the median of its positive counts if that is 0."""
    scale = float(np.quantile(values, 0.99))
    if scale <= 0:
        positive = values[values > 0]
        scale = float(np.median(positive)) if positive.size else 0.0
    if scale <= 0:
        return
    limit = factor * scale
    bad = np.flatnonzero(values > limit)
    if not bad.size:
        return
    shown = ", ".join(f"{values[i]:g} on line {lines[i]}" for i in bad[:5])
    more = f" and {bad.size - 5} more" if bad.size > 5 else ""
    what = (
        f"{bad.size} outlier count(s) more than {factor:g} times the column's typical peak "
        f"(99th percentile {scale:g}): {shown}{more}"
    )
    if policy == "error":
        raise TraceFormatError(
            file,
            f"{what}. A spike like this makes every other interval look idle once the trace is "
            f"rescaled. Fix or remove those rows, pass outliers='clip' to cut them to "
            f"{limit:g} (with a warning), or outlier_factor=None to keep them.",
            line=int(lines[bad[0]]),
            column=name,
        )
    warnings.warn(
        f"{file}, column {name!r}: {what}; clipped to {limit:g} (outliers='clip').",
        stacklevel=3,
    )
    values[bad] = limit


def load_trace(
    path: str | os.PathLike[str],
    *,
    time_column: str | None = None,
    columns: Sequence[str] | None = None,
    step_s: float | None = None,
    resample: bool = False,
    on_gap: str = "split",
    outliers: str = "error",
    outlier_factor: float | None = 100.0,
) -> TraceData:
    """Read and validate a trace CSV (``.csv`` or ``.csv.gz``).

    The file is read in chunks of rows, parsed column-wise (a chunk with an odd row is parsed
    row by row to name it), so memory stays a small multiple of the trace's arrays.

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
        outliers: What to do with a count above ``outlier_factor`` times its column's 99th
            percentile (a spike such as 10^12 among tens): ``"error"`` (raise, naming the rows)
            or ``"clip"`` (cut it to that limit and warn, naming the rows).
        outlier_factor: The factor of that test (None: no test).

    Raises:
        FileNotFoundError: No such file.
        IsADirectoryError: The path is a folder.
        TraceFormatError: The content is invalid or the path is a special file; the message
            names file, line and column.
    """
    if on_gap not in GAP_POLICIES:
        raise ValueError(
            f"on_gap must be one of {GAP_POLICIES}, got {on_gap!r}.{did_you_mean(str(on_gap), GAP_POLICIES)}"
        )
    if outliers not in OUTLIER_POLICIES:
        raise ValueError(
            f"outliers must be one of {OUTLIER_POLICIES}, got {outliers!r}."
            f"{did_you_mean(str(outliers), OUTLIER_POLICIES)}"
        )
    if outlier_factor is not None and not (
        isinstance(outlier_factor, (int, float))
        and not isinstance(outlier_factor, bool)
        and math.isfinite(outlier_factor)
        and outlier_factor > 1
    ):
        raise ValueError(f"outlier_factor must be a number > 1 or None, got {outlier_factor!r}.")
    if step_s is not None and not (
        isinstance(step_s, (int, float))
        and not isinstance(step_s, bool)
        and math.isfinite(step_s)
        and step_s > 0
    ):
        raise ValueError(f"step_s must be a number > 0 (s) or None, got {step_s!r}.")
    file = check_trace_path(path)
    name = str(file)
    with _open_text(file) as handle:
        try:
            header = [cell.strip() for cell in next(csv.reader([handle.readline()]), [])]
            if not header or not any(header):
                raise TraceFormatError(
                    name,
                    "the file is empty; expected a header row (time column, count columns) "
                    "and data rows.",
                )
            layout = _layout(name, header, time_column, columns)
            wanted, t_col = layout[3], layout[4]
            collector = _Collector(name, wanted, t_col, resample, step_s)
            line = 2
            while lines := list(itertools.islice(handle, _CHUNK_ROWS)):
                collector.add(*_parse_chunk(name, lines, line, layout))
                line += len(lines)
                del lines
        except (csv.Error, UnicodeDecodeError, OSError, EOFError) as exc:
            raise TraceFormatError(name, f"cannot be read as CSV text ({exc}).") from None
    if collector.last is None:
        raise TraceFormatError(name, "the file has a header but no data rows.")
    t, counts, line_no = collector.rows()
    if outlier_factor is not None:
        for j, k in enumerate(wanted):
            _check_outliers(name, k, counts[:, j], line_no, float(outlier_factor), outliers)
    if resample:
        step = float(collector.step)
        return TraceData(name, wanted, t, counts, step, [(0, len(t))], line_no)

    ratio = np.diff(t)  # in s here, in intervals below (one array: the file may be large)
    step = _mode_step(name, ratio) if step_s is None else float(step_s)
    ratio /= step
    whole = np.round(ratio)
    irregular = (np.abs(ratio - whole) > _STEP_TOL * np.maximum(1.0, whole)) | (whole < 1)
    del ratio
    if irregular.any():
        i = int(np.argmax(irregular))
        raise TraceFormatError(
            name,
            f"irregular step: {t[i + 1] - t[i]:g} s after the previous row (line {line_no[i]}), not a "
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
    del whole, irregular
    bounds = np.concatenate(([0], jumps + 1, [t.shape[0]]))
    segments = [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]
    return TraceData(name, wanted, t, counts, step, segments, line_no)
