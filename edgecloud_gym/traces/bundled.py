"""The bundled traces as ready-made :class:`~edgecloud_gym.traces.TraceSpec` objects.

- :data:`NASA_HTTP`: NASA Kennedy Space Center WWW server, July and August 1995, HTTP requests per
  minute, one series, split across the edge nodes by the spatial model. The server outage of
  1995-08-01 14:52 .. 08-03 04:36 (hurricane Erin; the log holds no request, so the demand is
  unknown, not zero) is excluded from episodes and from the train mean; the missing July 28 13:32
  .. August 1 00:00 (rows absent in the source) is a gap, so no episode spans it.
- :data:`ALIBABA_GENAI`: Alibaba GenAI (Stable-Diffusion) serving, 23 days, requests per 10
  minutes of the eight busiest base models; one model's series per edge node (the busiest first).

Provenance, terms and attribution: ``edgecloud_gym/traces/data/README.md`` and
``docs/traces.md``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from edgecloud_gym._validation import did_you_mean
from edgecloud_gym.traces.spec import BUNDLED_FILES, TraceSpec

__all__ = ["ALIBABA_GENAI", "BUNDLED_TRACES", "NASA_HTTP", "as_trace_spec", "get_trace"]

#: NASA-HTTP requests per minute; the outage is excluded, the July gap splits the trace.
NASA_HTTP = TraceSpec(
    source="nasa",
    name="nasa-http",
    columns=("requests",),
    mapping="split",
    exclude=(("1995-08-01 14:52", "1995-08-03 04:37"),),
)

#: The eight busiest base models of the Alibaba GenAI trace, one per edge node.
ALIBABA_GENAI = TraceSpec(
    source="alibaba",
    name="alibaba-genai",
    columns=(
        "model_M0002",
        "model_M0001",
        "model_M0004",
        "model_M0010",
        "model_M0003",
        "model_M0000",
        "model_M0026",
        "model_M0011",
    ),
    mapping="per-node",
    node_noise=0.0,
)

#: Bundled traces by short name.
BUNDLED_TRACES: dict[str, TraceSpec] = {"nasa": NASA_HTTP, "alibaba": ALIBABA_GENAI}
assert set(BUNDLED_TRACES) == set(BUNDLED_FILES)


def get_trace(name: str) -> TraceSpec:
    """A bundled trace by short name (``"nasa"``, ``"alibaba"``; case-insensitive)."""
    key = name.lower()
    if key not in BUNDLED_TRACES:
        raise ValueError(
            f"unknown bundled trace {name!r}.{did_you_mean(key, BUNDLED_TRACES)} "
            f"Bundled traces: {', '.join(BUNDLED_TRACES)}; or pass a CSV path."
        )
    return BUNDLED_TRACES[key]


def as_trace_spec(trace: Any) -> TraceSpec:
    """Accept a :class:`TraceSpec`, a bundled name, a CSV path, or a mapping of TraceSpec fields.

    A bundled name gives that trace's spec (with its column choice and documented exclusions);
    a mapping whose ``source`` is a bundled name starts from it too, so
    ``{"source": "nasa", "split": "test"}`` keeps NASA-HTTP's outage exclusion.
    """
    if isinstance(trace, TraceSpec):
        return trace
    if isinstance(trace, os.PathLike):
        trace = os.fspath(trace)
    if isinstance(trace, str):
        return (
            BUNDLED_TRACES[trace.lower()] if trace.lower() in BUNDLED_TRACES else TraceSpec(trace)
        )
    if isinstance(trace, Mapping):
        source = trace.get("source")
        if isinstance(source, str) and source.lower() in BUNDLED_TRACES:
            base = BUNDLED_TRACES[source.lower()]
            changes = {k: v for k, v in trace.items() if k != "source"}
            if "exclude" in changes:
                changes["exclude"] = tuple(tuple(p) for p in changes["exclude"])
            return base.replace(**changes)
        return TraceSpec.from_dict(trace)
    raise TypeError(
        "trace must be a TraceSpec, a bundled trace name "
        f"({', '.join(BUNDLED_TRACES)}), a CSV path or a mapping of TraceSpec fields; got {trace!r}."
    )
