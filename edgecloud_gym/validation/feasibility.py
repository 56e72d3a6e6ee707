"""Which application class can meet its deadline where: the model's latency at zero load.

For every class and placement (its own edge node, the nearest and the farthest other edge node,
the cloud) :func:`feasibility_table` gives the latency a request sees when no queue holds it up:
the request path of :func:`~edgecloud_gym.validation.des.path_latency_ms` (access, backhaul hops
and transfer, or WAN latency and transfer), the response path, and the mean service time on one
core. A placement whose zero-load latency already exceeds the class's deadline can never serve
that class on time, whatever a policy does: such a (class, placement) pair makes lateness an
artefact of the model rather than of the decisions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgecloud_gym.config import EdgeCloudConfig
from edgecloud_gym.validation.des import path_latency_ms

__all__ = ["Feasibility", "feasibility_markdown", "feasibility_table"]


@dataclass(frozen=True)
class Feasibility:
    """One (class, placement): zero-load latency (ms) against the deadline (ms)."""

    app: str
    placement: str
    path_ms: float
    service_ms: float
    latency_ms: float
    deadline_ms: float

    @property
    def feasible(self) -> bool:
        """Whether the deadline can be met at this placement at all."""
        return self.latency_ms <= self.deadline_ms


def feasibility_table(config: EdgeCloudConfig | None = None) -> list[Feasibility]:
    """Zero-load latency of every class at every placement, from edge node 0's point of view
    (its own node, its nearest and farthest ring neighbours, the cloud)."""
    config = EdgeCloudConfig() if config is None else config
    topo = config.topology
    n = topo.n_edge
    request, response = path_latency_ms(config)
    path = request + response  # (N, S, K)
    ghz = np.array([topo.edge_core_ghz] * n + [topo.cloud_core_ghz])
    placements = {"own edge node": 0}
    if n > 1:
        hops = path[0, 1:n, 0]
        placements["nearest other edge"] = 1 + int(np.argmin(hops))
        placements["farthest other edge"] = 1 + int(np.argmax(hops))
    placements["cloud"] = n
    rows = []
    for k, app in enumerate(config.apps):
        for label, s in placements.items():
            service = app.work_mcycles / ghz[s]  # Mcycles / GHz = ms
            rows.append(
                Feasibility(
                    app=app.name,
                    placement=label,
                    path_ms=float(path[0, s, k]),
                    service_ms=float(service),
                    latency_ms=float(path[0, s, k] + service),
                    deadline_ms=app.deadline_ms,
                )
            )
    return rows


def feasibility_markdown(rows: list[Feasibility]) -> str:
    """The table as Markdown."""
    lines = [
        "| class | placement | path (ms) | service (ms) | zero-load latency (ms) | deadline (ms) "
        "| can meet it |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.app} | {r.placement} | {r.path_ms:.1f} | {r.service_ms:.1f} | "
            f"{r.latency_ms:.1f} | {r.deadline_ms:g} | {'yes' if r.feasible else '**no**'} |"
        )
    return "\n".join(lines) + "\n"
