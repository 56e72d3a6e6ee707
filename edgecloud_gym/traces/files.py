"""Reading the trace a :class:`~edgecloud_gym.traces.TraceSpec` names: bundled names, file
paths, in-memory data, and a small cache keyed by the file's version and the reading options."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecloud_gym._validation import did_you_mean
from edgecloud_gym.traces.loading import TraceData, check_trace_path, load_trace

if TYPE_CHECKING:
    from edgecloud_gym.traces.spec import TraceSpec

__all__ = ["BUNDLED_FILES", "DATA_DIR", "read_trace", "trace_path"]

#: Folder of the bundled trace files.
DATA_DIR = Path(__file__).resolve().parent / "data"
#: Short names of the bundled trace files (``TraceSpec(source="nasa")``).
BUNDLED_FILES: dict[str, str] = {
    "nasa": "nasa_http_requests_per_min.csv.gz",
    "alibaba": "alibaba_genai_requests_per_10min.csv.gz",
}

_CACHE_SIZE = 32
_DATA_CACHE: dict[tuple[Any, ...], TraceData] = {}


def remember(cache: dict[Any, Any], key: Any, value: Any) -> Any:
    """Store ``value`` under ``key`` in a cache of at most 32 entries (oldest dropped first)."""
    if len(cache) >= _CACHE_SIZE:
        cache.pop(next(iter(cache)))
    cache[key] = value
    return value


def trace_path(source: str | TraceData) -> str:
    """The file a trace source is read from (``"<array>"`` for in-memory data)."""
    if isinstance(source, TraceData):
        return source.source
    key = source.lower()
    if key in BUNDLED_FILES:
        return str(DATA_DIR / BUNDLED_FILES[key])
    return source


def read_trace(spec: TraceSpec) -> TraceData:
    """The validated trace of ``spec`` (read once per file version and options, then cached)."""
    src = spec.source
    if isinstance(src, TraceData):
        if spec.columns is None:
            return src
        key = (src.digest, spec.columns)
        data = _DATA_CACHE.get(key)
        return data if data is not None else remember(_DATA_CACHE, key, _select(src, spec.columns))
    path = trace_path(src)
    if not os.path.lexists(path):
        hint = ""
        if os.sep not in src and "." not in src:
            hint = (
                f"{did_you_mean(src.lower(), BUNDLED_FILES)} Bundled traces: "
                f"{', '.join(BUNDLED_FILES)}."
            )
        raise FileNotFoundError(f"trace file {path!r} does not exist.{hint}")
    check_trace_path(path)
    st = os.stat(path)
    key = (
        os.path.abspath(path),
        st.st_mtime_ns,
        st.st_size,
        spec.time_column,
        spec.columns,
        spec.step_s,
        spec.resample,
        spec.on_gap,
        spec.outliers,
        spec.outlier_factor,
    )
    data = _DATA_CACHE.get(key)
    if data is None:
        data = load_trace(
            path,
            time_column=spec.time_column,
            columns=spec.columns,
            step_s=spec.step_s,
            resample=spec.resample,
            on_gap=spec.on_gap,
            outliers=spec.outliers,
            outlier_factor=spec.outlier_factor,
        )
        remember(_DATA_CACHE, key, data)
    return data


def _select(data: TraceData, columns: Sequence[str]) -> TraceData:
    idx = [data.column_index(c) for c in columns]
    return TraceData(
        data.source,
        tuple(columns),
        data.times,
        data.counts[:, idx],
        data.step_s,
        data.segments,
        data.lines,
    )
