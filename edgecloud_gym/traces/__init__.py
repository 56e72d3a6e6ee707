"""Trace-driven workloads: real request traces as the arrivals of the edge nodes.

- :mod:`~edgecloud_gym.traces.loading`: reading and validating trace CSVs (:func:`load_trace`),
  in chunks.
- :mod:`~edgecloud_gym.traces.data`: :class:`TraceData`, a validated trace in memory, and
  :class:`TraceFormatError`.
- :mod:`~edgecloud_gym.traces.spec`: :class:`TraceSpec`, the workload source held in
  ``Task.trace``: which trace, and the model that turns it into arrivals.
- :mod:`~edgecloud_gym.traces.files`: reading a spec's trace (bundled names, paths, a cache).
- :mod:`~edgecloud_gym.traces.preparation`: chronological splits, usable runs, rescaling.
- :mod:`~edgecloud_gym.traces.sampling`: one episode's slice, mapped onto the nodes.
- :mod:`~edgecloud_gym.traces.bundled`: the bundled NASA-HTTP and Alibaba GenAI traces.
- :mod:`~edgecloud_gym.traces.envs`: ``make_trace_env``, the entry point of the
  ``EdgeCloud-Trace-*`` ids.

See ``docs/traces.md``.
"""

from edgecloud_gym.traces.bundled import (
    ALIBABA_GENAI,
    BUNDLED_TRACES,
    NASA_HTTP,
    as_trace_spec,
    get_trace,
)
from edgecloud_gym.traces.data import TraceData, TraceFormatError
from edgecloud_gym.traces.loading import load_trace
from edgecloud_gym.traces.spec import TraceSlice, TraceSpec

__all__ = [
    "ALIBABA_GENAI",
    "BUNDLED_TRACES",
    "NASA_HTTP",
    "TraceData",
    "TraceFormatError",
    "TraceSlice",
    "TraceSpec",
    "as_trace_spec",
    "get_trace",
    "load_trace",
]
