"""A request-level discrete-event simulator of the allocation model (the reference).

The fluid model of :mod:`edgecloud_gym.core.dynamics` describes each step by request *counts*
and a latency per (server, class). This module simulates the same system one request at a time,
from the same configuration and the same per-step arrival counts, so that the fluid model's
latencies, drops and backlogs can be checked against it (``edgecloud validate model``):

- **Arrivals.** Step ``t`` of node ``i`` has ``arrivals[t, i]`` requests (the episode's Poisson
  counts), at instants drawn uniformly in ``[t, t + 1) * step_s``: given its count, that is how a
  Poisson process places its points. Each request's class is drawn from the task's application
  mix.
- **Routing.** ``flows[t, i, s]`` (requests of node ``i`` served at ``s`` in step ``t``, e.g. from
  the fluid model's routing) gives each request its server with probability
  ``flows[t, i, s] / arrivals[t, i]``; without flows every node serves its own arrivals.
- **Path.** A request reaches its server after its request path (access, then backhaul hops and
  transfer to another edge node, or WAN latency and transfer to the cloud; see
  :func:`path_latency_ms`) and returns over its response path.
- **Server.** ``cores`` identical cores, one first-come-first-served queue (the Kiefer-Wolfowitz
  recursion over the cores' next free instants, exact for FCFS G/G/c). A class-``k`` request
  needs an exponential service time of mean ``work_k / (GHz * capacity factor)``. At most
  ``cores + buffer`` requests are in the system; an arrival that finds it full is dropped. A
  request that has waited ``patience_ms`` without starting service abandons (it never takes a
  core).

The simulator runs in compiled code (one pass per server over its requests in arrival order);
an episode of a few hundred thousand requests takes well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgecloud_gym.config import EdgeCloudConfig
from edgecloud_gym.core._jit import jit
from edgecloud_gym.core.links import wire_mbit
from edgecloud_gym.core.params import ring_hops

__all__ = ["ABANDONED", "DROPPED", "SERVED", "RequestLog", "path_latency_ms", "simulate_requests"]

#: Outcomes of a request.
SERVED, DROPPED, ABANDONED = 0, 1, 2


@dataclass(frozen=True)
class RequestLog:
    """Every simulated request of an episode (R requests).

    Attributes:
        step: (R,) step of the request's arrival at its edge node (-1: present at the start).
        node: (R,) edge node the request arrived at (-1 for requests present at the start).
        server: (R,) server that handled it (edge nodes ``0..N-1``, the cloud ``N``).
        app: (R,) application class.
        arrival_ms: (R,) arrival instant at the edge node (ms since the episode's start).
        wait_ms: (R,) time queued at the server before service (NaN unless served).
        latency_ms: (R,) request path + wait + service + response path (NaN unless served).
        outcome: (R,) :data:`SERVED`, :data:`DROPPED` (full buffer) or :data:`ABANDONED`.
        departure_ms: (R,) instant the request left the server (served: end of service;
            abandoned: end of its patience; dropped: its arrival at the server).
    """

    step: np.ndarray
    node: np.ndarray
    server: np.ndarray
    app: np.ndarray
    arrival_ms: np.ndarray
    wait_ms: np.ndarray
    latency_ms: np.ndarray
    outcome: np.ndarray
    departure_ms: np.ndarray


def path_latency_ms(config: EdgeCloudConfig) -> tuple[np.ndarray, np.ndarray]:
    """Fixed request-path and response-path latency (ms) of each (node, server, class).

    Returns two (N, S, K) arrays, the model's paths without link queueing (model v1): the request
    path is the access, plus the ring hops' latency and the transfer of the request's bits on the
    wire (:func:`~edgecloud_gym.core.links.wire_mbit`) at the backhaul bandwidth to another edge
    node, or the WAN latency and the transfer at the WAN bandwidth to the cloud; the response path
    is the same way back with the response's bits.
    """
    topo = config.topology
    n = topo.n_edge
    hops = ring_hops(n) * topo.backhaul_hop_ms  # (N, N) ms
    remote = ~np.eye(n, dtype=bool)

    def path(mbit: np.ndarray) -> np.ndarray:
        out = np.full((n, n + 1, mbit.size), topo.access_ms)
        out[:, :n, :] += np.where(
            remote[:, :, None], hops[:, :, None] + mbit[None, None, :] / topo.backhaul_gbps, 0.0
        )
        out[:, n, :] += topo.wan_ms + mbit / topo.wan_gbps  # Mbit / (Gbit/s) = ms
        return out

    data = np.array([wire_mbit(a.data_mbit) for a in config.apps])
    back = np.array([wire_mbit(a.response_mbit) if a.response_mbit > 0 else 0.0
                     for a in config.apps])  # fmt: skip
    return path(data), path(back)


def simulate_requests(
    config: EdgeCloudConfig,
    arrivals: np.ndarray,
    rng: np.random.Generator,
    *,
    mix: np.ndarray | None = None,
    flows: np.ndarray | None = None,
    capacity_factors: np.ndarray | None = None,
    patience_ms: float | None = None,
    initial_backlog: np.ndarray | None = None,
) -> RequestLog:
    """Simulate every request of an episode.

    Args:
        config: The simulator's configuration (topology, classes, step).
        arrivals: (T, N) requests arriving at each edge node in each step (whole numbers).
        rng: Source of the arrival instants, classes, routes and service times.
        mix: (K,) application mix (default equal fractions).
        flows: (T, N, S) requests of node ``i`` routed to server ``s`` in step ``t`` (rows are
            normalised per (t, i), so fluid flows can be passed as they are); default: every node
            serves its own arrivals.
        capacity_factors: (S,) multipliers of each server's clock (0: a failed server, which
            drops everything it receives); default all 1.
        patience_ms: Longest wait before a request abandons (default ``config.timeout_ms``).
        initial_backlog: (S,) requests queued at each server at the start (their classes drawn
            from ``mix``); they are in the log with ``step == -1``.
    """
    topo = config.topology
    n, s_all, k = topo.n_edge, topo.n_servers, len(config.apps)
    arrivals = np.asarray(arrivals)
    if arrivals.ndim != 2 or arrivals.shape[1] != n:
        raise ValueError(f"arrivals must have shape (T, {n}), got {arrivals.shape}.")
    if np.any(arrivals < 0) or np.any(arrivals != np.round(arrivals)):
        raise ValueError("arrivals must be whole, non-negative request counts.")
    mix = np.full(k, 1.0 / k) if mix is None else np.asarray(mix, dtype=np.float64)
    if mix.shape != (k,) or np.any(mix < 0) or not np.isclose(mix.sum(), 1.0):
        raise ValueError(f"mix must be {k} non-negative fractions summing to 1, got {mix}.")
    factors = np.ones(s_all) if capacity_factors is None else np.asarray(capacity_factors, float)
    if factors.shape != (s_all,) or np.any(factors < 0):
        raise ValueError(f"capacity_factors must be {s_all} non-negative numbers, got {factors}.")
    patience = config.timeout_ms if patience_ms is None else float(patience_ms)
    step_ms = config.step_s * 1e3
    counts = arrivals.astype(np.int64)
    steps_n, _ = counts.shape

    # the episode's requests: step, node, instant, class, server
    step = np.repeat(np.repeat(np.arange(steps_n), n), counts.ravel())
    node = np.repeat(np.tile(np.arange(n), steps_n), counts.ravel())
    total = step.size
    arrival = (step + rng.random(total)) * step_ms
    app = np.searchsorted(np.cumsum(mix)[:-1], rng.random(total), side="right")
    if flows is None:
        server = node.copy()
    else:
        flows = np.asarray(flows, dtype=np.float64)
        if flows.shape != (steps_n, n, s_all) or np.any(flows < 0):
            raise ValueError(
                f"flows must be non-negative with shape ({steps_n}, {n}, {s_all}), got "
                f"{flows.shape}."
            )
        sums = flows.sum(axis=2, keepdims=True)
        cum = np.cumsum(flows / np.where(sums > 0, sums, 1.0), axis=2)[step, node]
        server = np.minimum((rng.random(total)[:, None] > cum[:, :-1]).sum(axis=1), s_all - 1)
    request_ms, response_ms = path_latency_ms(config)

    # requests present at the start, ahead of everything else at their server
    backlog = np.zeros(s_all, np.int64) if initial_backlog is None else np.asarray(initial_backlog)
    if backlog.shape != (s_all,) or np.any(backlog < 0):
        raise ValueError(f"initial_backlog must be {s_all} non-negative counts, got {backlog}.")
    pre = int(backlog.sum())
    if pre:
        pre_server = np.repeat(np.arange(s_all), backlog.astype(np.int64))
        pre_app = np.searchsorted(np.cumsum(mix)[:-1], rng.random(pre), side="right")
        step = np.concatenate([np.full(pre, -1), step])
        node = np.concatenate([np.full(pre, -1), node])
        server = np.concatenate([pre_server, server])
        app = np.concatenate([pre_app, app])
        arrival = np.concatenate([np.zeros(pre), arrival])
    there = np.where(node >= 0, request_ms[np.maximum(node, 0), server, app], 0.0)
    back = np.where(node >= 0, response_ms[np.maximum(node, 0), server, app], 0.0)
    at_server = arrival + there

    ghz = np.array([topo.edge_core_ghz] * n + [topo.cloud_core_ghz]) * factors
    work = np.array([a.work_mcycles for a in config.apps])  # Mcycles; / GHz = ms
    mean_service = work[app] / np.maximum(ghz[server], 1e-300)
    service = rng.exponential(1.0, step.size) * mean_service
    cores = np.array([*topo.edge_cores, topo.cloud_cores], dtype=np.int64)
    nominal = np.array([*topo.edge_cores, topo.cloud_cores]) * ghz / factors.clip(1e-300)
    # buffer in requests, as the fluid model sizes it: seconds of work at nominal capacity
    mean_work = float(mix @ work)
    buffer_s = np.array([topo.edge_buffer_s] * n + [topo.cloud_buffer_s])
    buffer = np.floor(buffer_s * nominal * 1e3 / mean_work * factors).astype(np.int64)

    wait = np.full(step.size, np.nan)
    outcome = np.empty(step.size, np.int8)
    departure = np.empty(step.size)
    order = np.lexsort((np.arange(step.size), at_server, server))
    bounds = np.searchsorted(server[order], np.arange(s_all + 1))
    for s in range(s_all):
        idx = order[bounds[s] : bounds[s + 1]]
        if factors[s] <= 0.0:
            outcome[idx] = DROPPED
            departure[idx] = at_server[idx]
            continue
        w, o, d = _fcfs(at_server[idx], service[idx], int(cores[s]), int(cores[s] + buffer[s]),
                        patience)  # fmt: skip
        wait[idx], outcome[idx], departure[idx] = w, o, d
    latency = np.where(outcome == SERVED, there + wait + service + back, np.nan)
    return RequestLog(
        step=step,
        node=node,
        server=server,
        app=app,
        arrival_ms=arrival,
        wait_ms=wait,
        latency_ms=latency,
        outcome=outcome,
        departure_ms=departure,
    )


@jit
def _fcfs(arrival, service, cores, capacity, patience):  # pragma: no cover - compiled
    """One FCFS multi-core queue over requests sorted by arrival: wait (ms, NaN unless served),
    outcome and departure instant of each."""
    n = arrival.shape[0]
    wait = np.full(n, np.nan)
    outcome = np.zeros(n, np.int8)
    departure = np.empty(n)
    free = np.zeros(cores)  # each core's next free instant: a binary min-heap
    leave = np.empty(max(capacity, 1))  # instants the requests in the system leave: a min-heap
    size = 0
    for j in range(n):
        t = arrival[j]
        while size > 0 and leave[0] <= t:
            size = _pop(leave, size)
        if size >= capacity:
            outcome[j] = DROPPED
            departure[j] = t
            continue
        start = max(t, free[0])
        if start - t > patience:
            outcome[j] = ABANDONED
            departure[j] = t + patience
        else:
            wait[j] = start - t
            departure[j] = start + service[j]
            free[0] = departure[j]
            _sift_down(free, cores)
        leave[size] = departure[j]
        size += 1
        _sift_up(leave, size - 1)
    return wait, outcome, departure


@jit
def _sift_down(heap, size):  # pragma: no cover - compiled
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            return
        child = left
        if left + 1 < size and heap[left + 1] < heap[left]:
            child = left + 1
        if heap[child] >= heap[i]:
            return
        heap[i], heap[child] = heap[child], heap[i]
        i = child


@jit
def _sift_up(heap, i):  # pragma: no cover - compiled
    while i > 0:
        parent = (i - 1) // 2
        if heap[parent] <= heap[i]:
            return
        heap[i], heap[parent] = heap[parent], heap[i]
        i = parent


@jit
def _pop(heap, size):  # pragma: no cover - compiled
    size -= 1
    heap[0] = heap[size]
    _sift_down(heap, size)
    return size
