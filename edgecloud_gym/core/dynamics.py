"""One decision step of the edge-cloud fluid model, for a batch of systems.

``step(params, backlog, shares, arrivals)`` returns the new backlog, the step's flows, latency,
energy, metrics and reward parts. It is a pure function of arrays with a leading batch axis and no
Gymnasium dependency; the single environment (a batch of one) and the vector environment call
the same code. The kernel loops over the batch and is compiled by numba (see ``_jit``), because at
small batch sizes the cost of a step would otherwise be the ~1 us overhead of each of ~100 numpy
calls. Equations and their sources are in ``docs/environment.md``.

Per step, for each system of the batch:

1. **Routing.** The shares ``x`` (a point on the simplex over N edge nodes and the cloud) set
   each server's target inflow ``d = x * A`` of the step's total arrivals ``A``. Each edge node
   keeps ``min(a_i, d_i)`` of its own arrivals; its surplus ``r_i`` is split between the other
   edges (in proportion to their spare share ``p_j = d_j - min(a_j, d_j)``) and the cloud, each
   part limited by the node's backhaul or WAN egress capacity; what can't leave stays at the node.
2. **Queues.** Fluid queues: ``processed = min(backlog + inflow, mu)``; what exceeds the buffer
   is dropped (tail drop, so only this step's inflow is dropped); the rest carries over.
3. **Latency** of this step's served requests, per server and class: access, backhaul (mean hop
   latency of the senders + transfer) or WAN (latency + transfer), waiting (end-of-step backlog
   over the service rate, by Little's law, plus Sakasegawa's M/M/c approximation
   ``E[s]/c * rho^(sqrt(2(c+1)) - 1) / (1 - rho)`` for queueing within the step) and service time
   on one core, capped at the client timeout.
4. **Energy**: ``(P_idle + (P_max - P_idle) * utilisation) * step`` per server, plus transfer
   energy per bit on the backhaul and the WAN.

Conservation holds per server: ``inflow = processed + dropped + (backlog' - backlog)``, and in
total ``sum(arrivals) = sum(inflow)``, both to floating-point rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from edgecloud_gym._threads import run_in_chunks
from edgecloud_gym.core._jit import jit
from edgecloud_gym.core.params import (
    CONST_STEP_S,
    CONST_TIMEOUT_MS,
    CONST_W_DROPS,
    CONST_W_ENERGY,
    CONST_W_LATENCY,
    CONST_W_SLA,
    SCAL_BACKHAUL_J,
    SCAL_REFERENCE_J,
    SCAL_WAN_J,
    SRV_BUFFER,
    SRV_DYNAMIC_W,
    SRV_IDLE_W,
    SRV_INV_MU,
    SRV_MU,
    SRV_WAIT_EXP,
    SRV_WAIT_SCALE,
    SystemParams,
)

__all__ = [
    "METRIC_COLUMNS",
    "METRIC_KEYS",
    "N_METRICS",
    "REWARD_PARTS",
    "StepResult",
    "prepare_step",
    "step",
]

#: Per-step metrics, each a total over all servers for the step (see docs/environment.md).
METRIC_KEYS: tuple[str, ...] = (
    "arrived",
    "processed",
    "dropped",
    "backlog",
    "latency_mean_ms",
    "sla_violation_rate",
    "drop_rate",
    "utilisation",
    "utilisation_edge",
    "utilisation_cloud",
    "energy_j",
    "backhaul_requests",
    "wan_requests",
)
#: Names of the reward parts, in the order of ``RewardWeights``.
REWARD_PARTS: tuple[str, ...] = ("latency", "sla", "drops", "energy")
#: Column of each metric and signed reward part (``reward_<part>``) in ``StepResult.metrics``.
METRIC_COLUMNS: dict[str, int] = {
    name: j for j, name in enumerate((*METRIC_KEYS, *(f"reward_{p}" for p in REWARD_PARTS)))
}
#: Columns of ``StepResult.metrics``: the metrics, then the signed reward parts.
N_METRICS = len(METRIC_COLUMNS)
(
    _ARRIVED,
    _PROCESSED,
    _DROPPED,
    _BACKLOG,
    _LATENCY,
    _SLA,
    _DROP_RATE,
    _UTIL,
    _UTIL_EDGE,
    _UTIL_CLOUD,
    _ENERGY,
    _BACKHAUL,
    _WAN,
    _R_LATENCY,
    _R_SLA,
    _R_DROPS,
    _R_ENERGY,
) = range(N_METRICS)

_RHO_MAX = 0.99  # cap of the utilisation in the M/M/c waiting-time term


class StepResult(NamedTuple):
    """Outcome of one step for a batch of B systems with S servers and K classes.

    Request counts are fluid (real-valued) numbers of requests in the step.
    """

    backlog: np.ndarray  #: (B, S) requests queued at the end of the step
    inflow: np.ndarray  #: (B, S) requests routed to each server this step
    processed: np.ndarray  #: (B, S) requests served this step
    dropped: np.ndarray  #: (B, S) requests dropped at full buffers this step
    utilisation: np.ndarray  #: (B, S) processed / capacity, in [0, 1]
    latency_ms: np.ndarray  #: (B, S, K) latency of served requests per server and class (ms)
    served: np.ndarray  #: (B, S, K) served (not dropped) requests per server and class
    metrics: np.ndarray  #: (B, N_METRICS) the step's metrics and signed reward parts
    reward: np.ndarray  #: (B,) the reward (sum of the signed reward parts)


@jit
def _kernel(
    arrivals,  # (B, N)
    shares,  # (B, S)
    backlog,  # (B, S)
    srv,  # (B, 7, S): rows named by params.SRV_ROWS
    egress,  # (B, 2, N): backhaul and WAN egress capacity (requests/step)
    hop_ms,  # (N, N)
    mix,  # (B, K)
    base_ms,  # (S, K)
    remote_ms,  # (K,)
    deadline_ms,  # (K,)
    scal,  # (B, 3): columns named by params.SCAL_ROWS
    consts,  # (6,): named by params.CONST_ROWS
    srv_out,  # (B, 5, S): backlog, inflow, processed, dropped, utilisation
    latency,  # (B, S, K)
    served,  # (B, S, K)
    metrics,  # (B, N_METRICS)
    reward,  # (B,)
):
    n_batch, n = arrivals.shape
    s_all = n + 1
    n_cls = mix.shape[1]
    timeout, step_s = consts[CONST_TIMEOUT_MS], consts[CONST_STEP_S]
    surplus = np.empty(n)
    spare = np.empty(n)
    to_edges = np.empty(n)
    for b in range(n_batch):
        # 1. routing
        total = 0.0
        for i in range(n):
            total += arrivals[b, i]
        spare_sum = 0.0
        surplus_sum = 0.0
        for i in range(n):
            keep = min(arrivals[b, i], shares[b, i] * total)
            surplus[i] = arrivals[b, i] - keep
            spare[i] = shares[b, i] * total - keep
            spare_sum += spare[i]
            surplus_sum += surplus[i]
        safe = surplus_sum if surplus_sum > 0.0 else 1.0
        frac_edges = spare_sum / safe
        frac_cloud = shares[b, n] * total / safe
        sent = 0.0
        wan = 0.0
        for i in range(n):
            to_edges[i] = min(surplus[i] * frac_edges, egress[b, 0, i])
            to_cloud = min(surplus[i] * frac_cloud, egress[b, 1, i])
            sent += to_edges[i]
            wan += to_cloud
            srv_out[b, 1, i] = arrivals[b, i] - to_edges[i] - to_cloud
        recv_frac = sent / spare_sum if spare_sum > 0.0 else 0.0
        for i in range(n):
            # A share of exactly 0 can leave -1e-16 by rounding: inflow is never negative.
            srv_out[b, 1, i] = max(srv_out[b, 1, i] + spare[i] * recv_frac, 0.0)
        srv_out[b, 1, n] = wan

        # 2. queues, 3. latency, 4. energy
        processed_sum = 0.0
        processed_edge = 0.0
        mu_sum = 0.0
        mu_edge = 0.0
        dropped_sum = 0.0
        backlog_sum = 0.0
        late = 0.0
        lat_weighted = 0.0
        power = 0.0
        for s in range(s_all):
            mu = srv[b, SRV_MU, s]
            inv_mu = srv[b, SRV_INV_MU, s]
            inflow = srv_out[b, 1, s]
            queued = backlog[b, s] + inflow
            processed = min(queued, mu)
            dropped = max(queued - processed - srv[b, SRV_BUFFER, s], 0.0)
            new_backlog = queued - processed - dropped
            util = processed * inv_mu
            srv_out[b, 0, s] = new_backlog
            srv_out[b, 2, s] = processed
            srv_out[b, 3, s] = dropped
            srv_out[b, 4, s] = util
            processed_sum += processed
            mu_sum += mu
            if s < n:
                processed_edge += processed
                mu_edge += mu
            dropped_sum += dropped
            backlog_sum += new_backlog
            power += srv[b, SRV_IDLE_W, s] + srv[b, SRV_DYNAMIC_W, s] * util

            rho = min(util, _RHO_MAX)
            wait = new_backlog * inv_mu * step_s * 1e3 + srv[b, SRV_WAIT_SCALE, s] * rho ** srv[
                b, SRV_WAIT_EXP, s
            ] / (1.0 - rho)
            remote = 0.0
            hop = 0.0
            if s < n and inflow > 0.0:
                remote = spare[s] * recv_frac / inflow
                if sent > 0.0:
                    for i in range(n):
                        hop += to_edges[i] * hop_ms[i, s]
                    hop /= sent
            ok = inflow - dropped
            for k in range(n_cls):
                lat = base_ms[s, k] + wait + remote * (hop + remote_ms[k])
                lat = min(lat, timeout)
                latency[b, s, k] = lat
                w = ok * mix[b, k]
                served[b, s, k] = w
                lat_weighted += w * lat
                if lat > deadline_ms[k]:
                    late += w

        served_sum = total - dropped_sum
        lat_mean = lat_weighted / served_sum if served_sum > 0.0 else 0.0
        per_arrival = 1.0 / total if total > 0.0 else 0.0
        sla = (late + dropped_sum) * per_arrival
        drop_rate = dropped_sum * per_arrival
        energy = power * step_s + sent * scal[b, SCAL_BACKHAUL_J] + wan * scal[b, SCAL_WAN_J]
        m = metrics[b]
        m[_ARRIVED] = total
        m[_PROCESSED] = processed_sum
        m[_DROPPED] = dropped_sum
        m[_BACKLOG] = backlog_sum
        m[_LATENCY] = lat_mean
        m[_SLA] = sla
        m[_DROP_RATE] = drop_rate
        m[_UTIL] = processed_sum / mu_sum
        m[_UTIL_EDGE] = processed_edge / mu_edge if mu_edge > 0.0 else 0.0  # all edge nodes failed
        m[_UTIL_CLOUD] = srv_out[b, 4, n]
        m[_ENERGY] = energy
        m[_BACKHAUL] = sent
        m[_WAN] = wan
        m[_R_LATENCY] = -consts[CONST_W_LATENCY] * lat_mean / 100.0
        m[_R_SLA] = -consts[CONST_W_SLA] * sla
        m[_R_DROPS] = -consts[CONST_W_DROPS] * drop_rate
        m[_R_ENERGY] = -consts[CONST_W_ENERGY] * energy / scal[b, SCAL_REFERENCE_J]
        reward[b] = m[_R_LATENCY] + m[_R_SLA] + m[_R_DROPS] + m[_R_ENERGY]


#: Systems per thread below which a step runs in one thread (see :mod:`edgecloud_gym._threads`).
MIN_ROWS_PER_THREAD = 256
#: Which of ``_kernel``'s arguments have the batch axis first (split between threads).
_PER_SYSTEM = (True,) * 5 + (False, True, False, False, False, True, False) + (True,) * 5


def step(
    params: SystemParams, backlog: np.ndarray, shares: np.ndarray, arrivals: np.ndarray
) -> StepResult:
    """Advance B systems by one step.

    Args:
        params: Constants of the batch (see :func:`~edgecloud_gym.core.params.build_params`).
        backlog: (B, S) requests queued at each server before the step.
        shares: (B, S) allocation shares, each row on the simplex.
        arrivals: (B, N) requests arriving at each edge node in the step.
    """
    rows, result = prepare_step(params, backlog, shares, arrivals)
    # systems are independent: any split is exact; a small batch runs rows(0, B), unsliced
    run_in_chunks(rows, shares.shape[0], MIN_ROWS_PER_THREAD)
    return result


def prepare_step(
    params: SystemParams, backlog: np.ndarray, shares: np.ndarray, arrivals: np.ndarray
) -> tuple[Callable[[int, int], None], StepResult]:
    """:func:`step` in two parts, for callers that do per-system work of their own in the same
    pass over the batch (the simulator gathers each system's arrivals just before its step).

    Returns ``rows(lo, hi)``, which computes systems ``lo..hi-1`` (calls on chunks that cover
    ``range(B)``, in any order or thread, compute the whole step), and the :class:`StepResult`
    whose arrays they fill. ``arrivals`` is read when ``rows`` runs; it must then be a
    C-contiguous float64 array (one that is converted here is copied now).
    """
    b, s = shares.shape
    k = params.mix.shape[1]
    srv_out = np.empty((b, 5, s))
    latency = np.empty((b, s, k))
    served = np.empty((b, s, k))
    metrics = np.empty((b, N_METRICS))
    reward = np.empty(b)
    arrivals = np.ascontiguousarray(arrivals, dtype=np.float64)
    shares = np.ascontiguousarray(shares, dtype=np.float64)
    backlog = np.ascontiguousarray(backlog, dtype=np.float64)

    args = (arrivals, shares, backlog, params.srv, params.egress, params.hop_ms, params.mix)
    args += (params.base_ms, params.remote_ms_per_class, params.deadline_ms, params.scal)
    args += (params.consts, srv_out, latency, served, metrics, reward)

    def rows(lo: int, hi: int) -> None:
        if lo == 0 and hi == b:
            _kernel(*args)
        else:
            parts = zip(args, _PER_SYSTEM, strict=True)
            _kernel(*(x[lo:hi] if per_system else x for x, per_system in parts))

    result = StepResult(
        backlog=srv_out[:, 0],
        inflow=srv_out[:, 1],
        processed=srv_out[:, 2],
        dropped=srv_out[:, 3],
        utilisation=srv_out[:, 4],
        latency_ms=latency,
        served=served,
        metrics=metrics,
        reward=reward,
    )
    return rows, result
