"""One decision step of the edge-cloud model (model v1), for a batch of systems.

``step(params, backlog, shares, arrivals, queue_state)`` returns the new backlog and queue state,
the step's flows, latency, energy, metrics and reward parts. It is a pure function of arrays with
a leading batch axis and no Gymnasium dependency; the single environment (a batch of one) and the
vector environment call the same code. The kernel loops over the batch and is compiled by numba
(see ``_jit``). Equations and their sources are in ``docs/environment.md``.

Per step, for each system of the batch:

1. **Routing.** The shares ``x`` (a point on the simplex over N edge nodes and the cloud) set
   each server's target inflow ``d = x * A`` of the step's total arrivals ``A``. Each edge node
   keeps ``min(a_i, d_i)`` of its own arrivals; its surplus ``r_i`` is split between the other
   edges (in proportion to their spare share) and the cloud, each part limited by the node's
   backhaul or WAN egress bandwidth; what can't leave stays at the node.
2. **Links.** Each node's backhaul and WAN egress link is a FIFO queue with a finite buffer
   (:mod:`edgecloud_gym.core.links`, validated against ns-3): its load sets the queueing delay
   and the fraction of requests lost at its full buffer.
3. **Servers.** The number of requests at a server is a reflected Brownian motion ``Z`` between
   0 and ``K = L + buffer`` (drift ``lambda - c mu``, variance rate ``lambda (1 + SCV)``), whose
   law is kept in the family with density proportional to ``exp(kappa z)`` on ``[0, K]`` and
   carried from step to step by its mean (``queue_state``, relative to the all-cores-busy level).
   ``L`` is set so that the stationary probability of waiting is Erlang C. The mean moves by
   ``m + (v / 2) (f(0) - f(K))`` (drift plus the two reflections); requests wait ``(Z - L)^+ /
   (c mu)``; the upper reflection is the buffer's drops, and waits beyond the client timeout
   abandon. See :func:`_server_step`.
4. **Latency** per (server, class): round trip (access both ways, link delays, hops or WAN
   latency both ways, transfer of request and response), the step's mean wait and the class's
   service time; the SLA part counts the expected fraction of requests whose round trip exceeds
   the deadline (the wait law convolved with an exponential service time).
5. **Energy**: ``cores * (P_idle + (P_max - P_idle) * utilisation) * step`` per server, plus
   transfer energy per bit on the backhaul and the WAN.

Conservation holds per server: ``inflow = processed + dropped + abandoned + (backlog' -
backlog)``, and in total ``sum(arrivals) = sum(inflow) + link drops``, both to rounding.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from edgecloud_gym._threads import rows_of, run_in_chunks
from edgecloud_gym.core._jit import jit
from edgecloud_gym.core.links import link_workload, request_delay
from edgecloud_gym.core.params import (
    CONST_BH_BUFFER_MS,
    CONST_STEP_S,
    CONST_TIMEOUT_MS,
    CONST_W_DROPS,
    CONST_W_ENERGY,
    CONST_W_LATENCY,
    CONST_W_REJECTED,
    CONST_W_SLA,
    CONST_WAN_BUFFER_MS,
    RHO_STEP,
    SCAL_BACKHAUL_J,
    SCAL_BH_M1,
    SCAL_BH_M2,
    SCAL_REFERENCE_J,
    SCAL_SCV,
    SCAL_WAN_J,
    SCAL_WAN_M1,
    SCAL_WAN_M2,
    SRV_BUFFER,
    SRV_DYNAMIC_W,
    SRV_ERLANG_ROW,
    SRV_IDLE_W,
    SRV_MU,
    SRV_MU_INSTALLED,
    SRV_SPEED,
    SystemParams,
)
from edgecloud_gym.core.queue_law import (
    _EDGE,
    _FAR,
    EMPTY,
    SUBSTEPS,
    _late_fraction,
    _law,
    _server_step,
    _shape,
    _tail,
    _wait_tail,
)

__all__ = [
    "METRIC_COLUMNS",
    "METRIC_KEYS",
    "N_METRICS",
    "REWARD_PARTS",
    "StepResult",
    "initial_queue_state",
    "kernel_args",
    "kernel_rows",
    "neutral_classes",
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
    "abandoned",
    "utilisation_installed",
    "rejected",
)
#: Names of the reward parts, in the order of ``RewardWeights``.
REWARD_PARTS: tuple[str, ...] = ("latency", "sla", "drops", "energy", "rejected")
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
    _ABANDONED,
    _UTIL_INSTALLED,
    _REJECTED,
    _R_LATENCY,
    _R_SLA,
    _R_DROPS,
    _R_ENERGY,
    _R_REJECTED,
) = range(N_METRICS)

_RHO_MAX = 0.99  # utilisation at which the barrier L is taken at or above it


class StepResult(NamedTuple):
    """Outcome of one step for a batch of B systems with S servers and K classes.

    Request counts are expected (real-valued) numbers of requests in the step.
    """

    backlog: np.ndarray  #: (B, S) requests waiting at the end of the step
    inflow: np.ndarray  #: (B, S) requests reaching each server this step
    processed: np.ndarray  #: (B, S) requests served this step
    dropped: np.ndarray  #: (B, S) requests dropped at a full server buffer this step
    utilisation: np.ndarray  #: (B, S) processed / capacity, in [0, 1]
    latency_ms: np.ndarray  #: (B, S, K) mean round-trip latency of served requests (ms)
    served: np.ndarray  #: (B, S, K) requests served per server and class
    metrics: np.ndarray  #: (B, N_METRICS) the step's metrics and signed reward parts
    reward: np.ndarray  #: (B,) the reward (sum of the signed reward parts)
    abandoned: np.ndarray  #: (B, S) requests that abandoned after waiting the timeout
    queue_state: np.ndarray  #: (B, S) mean of Z minus L at the end of the step (requests)
    late: np.ndarray  #: (B, S, K) expected fraction of served requests later than the deadline
    #: (B, S, 6) the step's wait law: exponent x of Z's law at mid-step, K and L (requests), the
    #: service rate c mu (requests/ms), P(wait) and the mean wait (ms), both over the step
    wait_law: np.ndarray
    link_dropped: np.ndarray  #: (B, 2, N) requests lost at each node's backhaul and WAN link


@jit
def _link(requests_per_ms, m1, m2, buffer_ms):  # pragma: no cover - compiled
    """Mean queueing delay (ms) and delivered fraction of a link's requests
    (:mod:`edgecloud_gym.core.links`). Where the buffer is far beyond the workload's exponential
    tail (``theta K > 40``) the finite-buffer terms are below 1e-17 and the Pollaczek-Khinchine
    mean is used directly, without an ``exp``."""
    load = requests_per_ms * m1
    if load < 1.0:
        theta = 2.0 * (1.0 - load) * m1 / m2
        if theta * buffer_ms > _FAR:
            return load / theta, 1.0
    st = link_workload(load, m1, m2, buffer_ms)
    d, _, drop = request_delay(st[0], st[1], st[2], st[3], buffer_ms, m1, 0.0, 1e300)
    return d - m1, 1.0 - drop


@jit
def _route_by_class(
    arrivals,
    shares,
    mix,
    admit,
    bias,
    egress,
    scal,
    consts,
    step_ms,
    flow,
    remote,
    to_edges,
    bh_wait,
    bh_keep,
    link_lost,
    want_e,
    want_c,
):  # pragma: no cover - compiled
    """Routing and links of one system whose classes are routed apart or shed (joint control).

    Class ``k`` arrives at node ``i`` at ``a_i mix_k`` and is admitted at ``admit_k``; it is
    routed like the whole workload (step 1 of the module docstring) with its own shares: the
    common shares ``x`` with the cloud's weighted by ``exp(bias_k)`` and renormalised. Each
    node's backhaul and WAN egress limits apply to the sum of its classes' flows, every class
    cut in the same proportion; the links' delay and losses are those of the sum. Fills
    ``flow`` (S, K): requests of each class reaching each server, ``remote`` (S, K): the
    fraction of an edge server's class-k inflow that came over the backhaul, and the per-node
    link arrays; returns the offered total, the rejected, the backhaul and WAN requests sent,
    the WAN delivered, the mean WAN delay, the link losses and the backhaul delivered."""
    n, n_cls = arrivals.shape[0], mix.shape[0]
    total = 0.0
    rejected = 0.0
    for i in range(n):
        total += arrivals[i]
    for s in range(n + 1):
        for k in range(n_cls):
            flow[s, k] = 0.0
            remote[s, k] = 0.0
    for k in range(n_cls):
        cloud = shares[n] * np.exp(bias[k])
        norm = 1.0 - shares[n] + cloud
        total_k = 0.0
        for i in range(n):
            total_k += arrivals[i] * mix[k] * admit[k]
        rejected += total * mix[k] * (1.0 - admit[k])
        spare_sum = 0.0
        surplus_sum = 0.0
        for i in range(n):
            a_ik = arrivals[i] * mix[k] * admit[k]
            target = shares[i] / norm * total_k
            keep = min(a_ik, target)
            want_e[i, k] = a_ik - keep  # the surplus, for now
            remote[i, k] = target - keep  # the spare share, for now
            flow[i, k] = keep
            spare_sum += remote[i, k]
            surplus_sum += want_e[i, k]
        safe = surplus_sum if surplus_sum > 0.0 else 1.0
        frac_edges = spare_sum / safe
        frac_cloud = cloud / norm * total_k / safe
        for i in range(n):
            surplus = want_e[i, k]
            want_e[i, k] = surplus * frac_edges
            want_c[i, k] = surplus * frac_cloud
            flow[i, k] += surplus - want_e[i, k] - want_c[i, k]  # what can't leave stays
    bh_m1, bh_m2 = scal[SCAL_BH_M1], scal[SCAL_BH_M2]
    wan_m1, wan_m2 = scal[SCAL_WAN_M1], scal[SCAL_WAN_M2]
    sent = 0.0
    wan = 0.0
    wan_in = 0.0
    wan_wait = 0.0
    lost_sum = 0.0
    delivered = 0.0
    for i in range(n):
        e_sum = 0.0
        c_sum = 0.0
        for k in range(n_cls):
            e_sum += want_e[i, k]
            c_sum += want_c[i, k]
        cut_e = min(1.0, egress[0, i] / e_sum) if e_sum > 0.0 else 1.0
        cut_c = min(1.0, egress[1, i] / c_sum) if c_sum > 0.0 else 1.0
        to_edges[i] = e_sum * cut_e
        to_cloud = c_sum * cut_c
        for k in range(n_cls):  # the part cut by the egress limits stays at the node
            flow[i, k] += want_e[i, k] * (1.0 - cut_e) + want_c[i, k] * (1.0 - cut_c)
            want_e[i, k] *= cut_e
            want_c[i, k] *= cut_c
        sent += to_edges[i]
        wan += to_cloud
        bh_wait[i] = 0.0
        bh_keep[i] = 1.0
        if to_edges[i] > 0.0:
            bh_wait[i], bh_keep[i] = _link(
                to_edges[i] / step_ms, bh_m1, bh_m2, consts[CONST_BH_BUFFER_MS]
            )
        link_lost[0, i] = to_edges[i] * (1.0 - bh_keep[i])
        delivered += to_edges[i] * bh_keep[i]
        link_lost[1, i] = 0.0
        keep_c = 1.0
        if to_cloud > 0.0:
            wait_i, keep_c = _link(to_cloud / step_ms, wan_m1, wan_m2, consts[CONST_WAN_BUFFER_MS])
            link_lost[1, i] = to_cloud * (1.0 - keep_c)
            wan_in += to_cloud * keep_c
            wan_wait += to_cloud * keep_c * wait_i
        lost_sum += link_lost[0, i] + link_lost[1, i]
        for k in range(n_cls):
            flow[n, k] += want_c[i, k] * keep_c
    wan_wait = wan_wait / wan_in if wan_in > 0.0 else 0.0
    # what the backhaul delivered of each class goes to the edges with that class's spare share
    for k in range(n_cls):
        got = 0.0
        spare_k = 0.0
        for i in range(n):
            got += want_e[i, k] * bh_keep[i]
            spare_k += remote[i, k]
        frac = got / spare_k if spare_k > 0.0 else 0.0
        for i in range(n):
            received = remote[i, k] * frac
            flow[i, k] = max(flow[i, k], 0.0) + received
            remote[i, k] = received / flow[i, k] if flow[i, k] > 0.0 else 0.0
    return total, rejected, sent, wan, wan_in, wan_wait, lost_sum, delivered


@jit
def _kernel(
    arrivals,  # (B, N)
    shares,  # (B, S)
    backlog,  # (B, S)
    qstate,  # (B, S)
    srv,  # (B, 9, S): rows named by params.SRV_ROWS
    egress,  # (B, 2, N): backhaul and WAN egress capacity (requests/step)
    hop_ms,  # (N, N)
    mix,  # (B, K)
    base_ms,  # (S, K)
    remote_ms,  # (K,)
    service_ms,  # (S, K)
    deadline_ms,  # (K,)
    scal,  # (B, 8): columns named by params.SCAL_ROWS
    consts,  # (8,): named by params.CONST_ROWS
    erl,  # (S * L, 256): ln(1 / Erlang C), row srv[SRV_ERLANG_ROW]
    classes,  # (B, 2, K): admitted fraction (1: all) and cloud bias (0: none) of each class
    work,  # (K,): CPU work of a request of each class (Mcycles)
    srv_out,  # (B, 7, S): backlog, inflow, processed, dropped, utilisation, abandoned, state
    latency,  # (B, S, K)
    served,  # (B, S, K)
    late_out,  # (B, S, K)
    law,  # (B, S, 6)
    link_lost,  # (B, 2, N)
    metrics,  # (B, N_METRICS)
    reward,  # (B,)
):
    n_batch, n = arrivals.shape
    s_all = n + 1
    n_cls = mix.shape[1]
    timeout, step_s = consts[CONST_TIMEOUT_MS], consts[CONST_STEP_S]
    step_ms = step_s * 1e3
    surplus = np.empty(n)
    spare = np.empty(n)
    to_edges = np.empty(n)
    bh_wait = np.empty(n)
    bh_keep = np.empty(n)
    flow = np.empty((s_all, n_cls))
    remote_k = np.empty((s_all, n_cls))
    want_e = np.empty((n, n_cls))
    want_c = np.empty((n, n_cls))
    for b in range(n_batch):
        by_class = False
        for kk in range(n_cls):
            if classes[b, 0, kk] != 1.0 or classes[b, 1, kk] != 0.0:
                by_class = True
        rejected = 0.0
        spare_sum = 0.0
        recv_frac = 0.0
        if by_class:  # joint control routes classes apart or sheds some: 1. and 2. per class
            total, rejected, sent, wan, wan_in, wan_wait, lost_sum, delivered = _route_by_class(
                arrivals[b], shares[b], mix[b], classes[b, 0], classes[b, 1], egress[b], scal[b],
                consts,
                step_ms, flow, remote_k, to_edges, bh_wait, bh_keep, link_lost[b], want_e,
                want_c,
            )  # fmt: skip
            for s in range(s_all):
                inflow_s = 0.0
                for kk in range(n_cls):
                    inflow_s += flow[s, kk]
                srv_out[b, 1, s] = inflow_s
        else:
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
            # 2. links: each node's backhaul and WAN egress queue
            sent = 0.0
            delivered = 0.0
            wan = 0.0
            wan_in = 0.0
            wan_wait = 0.0
            lost_sum = 0.0
            bh_m1, bh_m2 = scal[b, SCAL_BH_M1], scal[b, SCAL_BH_M2]
            wan_m1, wan_m2 = scal[b, SCAL_WAN_M1], scal[b, SCAL_WAN_M2]
            for i in range(n):
                to_edges[i] = min(surplus[i] * frac_edges, egress[b, 0, i])
                to_cloud = min(surplus[i] * frac_cloud, egress[b, 1, i])
                sent += to_edges[i]
                wan += to_cloud
                srv_out[b, 1, i] = arrivals[b, i] - to_edges[i] - to_cloud
                bh_wait[i] = 0.0
                bh_keep[i] = 1.0
                if to_edges[i] > 0.0:
                    bh_wait[i], bh_keep[i] = _link(
                        to_edges[i] / step_ms, bh_m1, bh_m2, consts[CONST_BH_BUFFER_MS]
                    )
                link_lost[b, 0, i] = to_edges[i] * (1.0 - bh_keep[i])
                delivered += to_edges[i] * bh_keep[i]
                link_lost[b, 1, i] = 0.0
                if to_cloud > 0.0:
                    wait_i, keep_i = _link(
                        to_cloud / step_ms, wan_m1, wan_m2, consts[CONST_WAN_BUFFER_MS]
                    )
                    link_lost[b, 1, i] = to_cloud * (1.0 - keep_i)
                    wan_in += to_cloud * keep_i
                    wan_wait += to_cloud * keep_i * wait_i
                lost_sum += link_lost[b, 0, i] + link_lost[b, 1, i]
            wan_wait = wan_wait / wan_in if wan_in > 0.0 else 0.0
            recv_frac = delivered / spare_sum if spare_sum > 0.0 else 0.0
            for i in range(n):
                # A share of exactly 0 can leave -1e-16 by rounding: inflow is never negative.
                srv_out[b, 1, i] = max(srv_out[b, 1, i] + spare[i] * recv_frac, 0.0)
            srv_out[b, 1, n] = wan_in

        # 3. servers, 4. latency, 5. energy
        scv = scal[b, SCAL_SCV]
        mean_work = 0.0
        if by_class:
            for kk in range(n_cls):
                mean_work += mix[b, kk] * work[kk]
        processed_sum = 0.0
        processed_edge = 0.0
        mu_sum = 0.0
        mu_edge = 0.0
        mu_installed = 0.0
        dropped_sum = lost_sum
        abandoned_sum = 0.0
        backlog_sum = 0.0
        late = 0.0
        lat_weighted = 0.0
        power = 0.0
        for s in range(s_all):
            mu = srv[b, SRV_MU, s]
            inflow = srv_out[b, 1, s]
            buf = srv[b, SRV_BUFFER, s]
            q0 = backlog[b, s]
            scv = scal[b, SCAL_SCV]
            scale = 1.0  # the server's capacity in requests over the workload mix's
            if by_class and inflow > 0.0:  # its own class mix: capacity in requests and SCV
                m1 = 0.0
                m2 = 0.0
                for kk in range(n_cls):
                    m1 += flow[s, kk] * work[kk]
                    m2 += flow[s, kk] * 2.0 * work[kk] * work[kk]
                m1 /= inflow
                scv = m2 / inflow / (m1 * m1) - 1.0
                scale = mean_work / m1
                mu *= scale
            mu_installed += srv[b, SRV_MU_INSTALLED, s] * scale
            if mu <= 1e-12:  # a failed server drops everything it receives
                srv_out[b, 0, s] = 0.0
                srv_out[b, 2, s] = 0.0
                srv_out[b, 3, s] = inflow + q0
                srv_out[b, 4, s] = 0.0
                srv_out[b, 5, s] = 0.0
                srv_out[b, 6, s] = 0.0
                dropped_sum += inflow + q0
                law[b, s, 0] = 0.0
                law[b, s, 1] = 1.0
                law[b, s, 2] = 1.0
                law[b, s, 3] = 0.0
                law[b, s, 4] = 0.0
                law[b, s, 5] = 0.0
                for kk in range(n_cls):
                    latency[b, s, kk] = 0.0
                    served[b, s, kk] = 0.0
                    late_out[b, s, kk] = 0.0
                power += srv[b, SRV_IDLE_W, s]
                continue
            rho = inflow / mu
            r = min(rho, _RHO_MAX)
            pos = r / RHO_STEP
            j = min(int(pos), 254)
            row = int(srv[b, SRV_ERLANG_ROW, s])
            ln_c = erl[row, j] + (pos - j) * (erl[row, j + 1] - erl[row, j])
            theta = r * (1.0 + scv) / (2.0 * (1.0 - r)) if r > 0.0 else 0.0
            lvl = theta * ln_c  # the barrier L (requests below all cores busy)
            k = max(lvl + buf, 1e-6)  # a server without a buffer still has a law to keep
            z0 = min(max(qstate[b, s] + lvl, _EDGE * k), (1.0 - _EDGE) * k)
            m = inflow - mu  # per step
            half_v = 0.5 * inflow * (1.0 + scv)
            if ln_c > _FAR and z0 * _FAR < lvl and m < 0.0:
                # light load: the law starts and stays far below the all-busy level, where it
                # settles within a small part of the step (relaxation time v / m^2); nobody waits
                z1 = min(half_v / -m, 0.5 * k)
                queue, pw, lost, x_mid = 0.0, 0.0, 0.0, _shape(z1 / k)
                q_end = _law(x_mid, k, lvl)[2]
            else:
                z1, queue, pw, lost, x_mid, q_end = _server_step(
                    z0, k, lvl, m, half_v, SUBSTEPS, buf
                )
            cmu_ms = mu / step_ms  # requests of work per ms
            # abandonment: waits beyond the timeout leave
            patience = lvl + timeout * cmu_ms
            p_ab = _tail(x_mid, k, patience) if patience < k else 0.0
            dropped = min(lost, inflow)  # tail drop: arrivals that find the buffer full
            abandoned = min(p_ab * inflow, inflow - dropped)
            new_backlog = min(q_end, buf)  # the end law's queue
            processed = q0 + inflow - dropped - abandoned - new_backlog
            if processed > mu:
                new_backlog += processed - mu
                processed = mu
                if new_backlog > buf:
                    dropped += new_backlog - buf
                    new_backlog = buf
            elif processed < 0.0:
                new_backlog += processed
                processed = 0.0
            util = processed / mu
            srv_out[b, 0, s] = new_backlog
            srv_out[b, 2, s] = processed
            srv_out[b, 3, s] = dropped
            srv_out[b, 4, s] = util
            srv_out[b, 5, s] = abandoned
            srv_out[b, 6, s] = z1 - lvl
            law[b, s, 0] = x_mid
            law[b, s, 1] = k
            law[b, s, 2] = lvl
            law[b, s, 3] = cmu_ms
            law[b, s, 4] = pw
            processed_sum += processed
            mu_sum += mu
            if s < n:
                processed_edge += processed
                mu_edge += mu
            dropped_sum += dropped
            abandoned_sum += abandoned
            backlog_sum += new_backlog
            power += srv[b, SRV_IDLE_W, s] + srv[b, SRV_DYNAMIC_W, s] * util

            wait = queue / cmu_ms  # ms, mean over the step's arrivals
            law[b, s, 5] = wait
            remote = 0.0
            path = 0.0
            if s < n and inflow > 0.0:
                if not by_class:
                    remote = spare[s] * recv_frac / inflow
                if delivered > 0.0:
                    for i in range(n):
                        w_i = to_edges[i] * bh_keep[i]
                        path += w_i * (2.0 * hop_ms[i, s] + bh_wait[i])
                    path /= delivered
            elif s == n:
                path = wan_wait
            ok = inflow - dropped - abandoned
            if ok < 0.0:
                ok = 0.0
            kap, scale, log_c, e_abs, c0 = _wait_tail(x_mid, k, lvl, pw)
            speed = srv[b, SRV_SPEED, s]
            for kk in range(n_cls):
                fixed = base_ms[s, kk]
                service = service_ms[s, kk]
                if speed != 1.0:  # DVFS: the service time at the server's clock
                    service = service / speed
                    fixed += service - service_ms[s, kk]
                if s < n:
                    if by_class:
                        remote = remote_k[s, kk]
                    fixed += remote * (path + remote_ms[kk])
                else:
                    fixed += path
                lat = min(fixed + wait, timeout)
                latency[b, s, kk] = lat
                w = ok * mix[b, kk]
                if by_class:
                    w = ok * flow[s, kk] / inflow if inflow > 0.0 else 0.0
                served[b, s, kk] = w
                lat_weighted += w * lat
                slack = (deadline_ms[kk] - (fixed - service)) * cmu_ms
                rate = 1.0 / (service * cmu_ms)
                f_late = _late_fraction(kap, scale, log_c, e_abs, c0, k, lvl, pw, rate, slack)
                late_out[b, s, kk] = f_late
                late += w * f_late

        failed = dropped_sum + abandoned_sum
        served_sum = total - rejected - failed
        lat_mean = lat_weighted / served_sum if served_sum > 0.0 else 0.0
        per_arrival = 1.0 / total if total > 0.0 else 0.0
        # a failed server loses its queue with its arrivals: a step's failures can then exceed
        # its arrivals, and the rates are capped at 1
        sla = min((late + failed) * per_arrival, 1.0)
        drop_rate = min(dropped_sum * per_arrival, 1.0)
        energy = power * step_s + sent * scal[b, SCAL_BACKHAUL_J] + wan * scal[b, SCAL_WAN_J]
        m_ = metrics[b]
        m_[_ARRIVED] = total
        m_[_PROCESSED] = processed_sum
        m_[_DROPPED] = dropped_sum
        m_[_BACKLOG] = backlog_sum
        m_[_LATENCY] = lat_mean
        m_[_SLA] = sla
        m_[_DROP_RATE] = drop_rate
        m_[_UTIL] = processed_sum / mu_sum if mu_sum > 0.0 else 0.0
        m_[_UTIL_EDGE] = processed_edge / mu_edge if mu_edge > 0.0 else 0.0
        m_[_UTIL_CLOUD] = srv_out[b, 4, n]
        m_[_ENERGY] = energy
        m_[_BACKHAUL] = sent
        m_[_WAN] = wan
        m_[_ABANDONED] = abandoned_sum
        m_[_UTIL_INSTALLED] = processed_sum / mu_installed if mu_installed > 0.0 else 0.0
        m_[_REJECTED] = rejected
        # a failed or rejected request counts at the timeout: neither costs less than serving
        m_[_R_LATENCY] = (
            -consts[CONST_W_LATENCY]
            * ((lat_weighted + (failed + rejected) * timeout) * per_arrival)
            / 100.0
        )
        m_[_R_SLA] = -consts[CONST_W_SLA] * sla
        m_[_R_DROPS] = -consts[CONST_W_DROPS] * min(failed * per_arrival, 1.0)
        m_[_R_ENERGY] = -consts[CONST_W_ENERGY] * energy / scal[b, SCAL_REFERENCE_J]
        reward[b] = m_[_R_LATENCY] + m_[_R_SLA] + m_[_R_DROPS] + m_[_R_ENERGY]
        m_[_R_REJECTED] = 0.0
        if rejected > 0.0:
            m_[_R_REJECTED] = -consts[CONST_W_REJECTED] * min(rejected * per_arrival, 1.0)
            reward[b] += m_[_R_REJECTED]


#: Systems per thread below which a step runs in one thread (see :mod:`edgecloud_gym._threads`).
MIN_ROWS_PER_THREAD = 256
#: Which of ``_kernel``'s arguments have the batch axis first (split between threads).
_PER_SYSTEM = (
    (True,) * 6 + (False, True) + (False,) * 4 + (True, False, False) + (True, False)
    + (True,) * 8
)  # fmt: skip


_NEUTRAL: dict[tuple[int, int], np.ndarray] = {}


def neutral_classes(b: int, k: int) -> np.ndarray:
    """(B, 2, K) class levers at rest: all admitted, no cloud bias; cached by shape and shared,
    so copy it before writing into it."""
    if (b, k) not in _NEUTRAL:
        neutral = np.zeros((b, 2, k))
        neutral[:, 0] = 1.0
        if len(_NEUTRAL) > 64:
            _NEUTRAL.clear()
        _NEUTRAL[(b, k)] = neutral
    return _NEUTRAL[(b, k)]


def initial_queue_state(backlog: np.ndarray) -> np.ndarray:
    """The queue state of systems of which only the backlog is known: empty servers where the
    backlog is 0, otherwise ``backlog`` requests waiting (all cores busy)."""
    return np.where(np.asarray(backlog) > 0.0, backlog, EMPTY)


def step(
    params: SystemParams,
    backlog: np.ndarray,
    shares: np.ndarray,
    arrivals: np.ndarray,
    queue_state: np.ndarray | None = None,
    classes: np.ndarray | None = None,
) -> StepResult:
    """Advance B systems by one step.

    Args:
        params: Constants of the batch (see :func:`~edgecloud_gym.core.params.build_params`).
        backlog: (B, S) requests waiting at each server before the step.
        shares: (B, S) allocation shares, each row on the simplex.
        arrivals: (B, N) requests arriving at each edge node in the step.
        queue_state: (B, S) the servers' queue state before the step (``StepResult.queue_state``
            of the previous step); default :func:`initial_queue_state` of ``backlog``.
        classes: (B, 2, K) per-class levers of joint control: the admitted fraction of each
            class's arrivals (in [0, 1]) and its cloud-share log-weight (the cloud's share of
            class k is ``x_cloud exp(bias_k)``, renormalised); default all admitted, routed
            alike (see :func:`_route_by_class`).
    """
    args, result = kernel_args(params, backlog, shares, arrivals, queue_state, classes)
    b = shares.shape[0]

    def rows(lo: int, hi: int) -> None:
        _kernel(*(args if lo == 0 and hi == b else kernel_rows(args, lo, hi)))

    # systems are independent: any split is exact; a small batch runs rows(0, B), unsliced
    run_in_chunks(rows, b, MIN_ROWS_PER_THREAD)
    return result


def kernel_rows(args: tuple, lo: int, hi: int) -> tuple:
    """:func:`kernel_args`' arguments for systems ``lo..hi-1``: the per-system arrays sliced,
    the shared ones as they are."""
    return rows_of(args, _PER_SYSTEM, lo, hi)


def kernel_args(
    params: SystemParams,
    backlog: np.ndarray,
    shares: np.ndarray,
    arrivals: np.ndarray,
    queue_state: np.ndarray | None = None,
    classes: np.ndarray | None = None,
) -> tuple[tuple, StepResult]:
    """The step kernel's arguments, in order, and the :class:`StepResult` whose arrays the
    kernel fills: for compiled callers that run the kernel inside a pass of their own (the
    simulator gathers each system's arrivals, steps it and writes its observation in one
    compiled call). Arguments as for :func:`step`; ``arrivals`` is read when the kernel runs,
    so it must then be a C-contiguous float64 array (one that is converted here is copied
    now)."""
    b, s = shares.shape
    k = params.mix.shape[1]
    n = s - 1
    srv_out = np.empty((b, 7, s))
    latency = np.empty((b, s, k))
    served = np.empty((b, s, k))
    late = np.empty((b, s, k))
    law = np.empty((b, s, 6))
    link_lost = np.empty((b, 2, n))
    metrics = np.empty((b, N_METRICS))
    reward = np.empty(b)
    arrivals = np.ascontiguousarray(arrivals, dtype=np.float64)
    shares = np.ascontiguousarray(shares, dtype=np.float64)
    backlog = np.ascontiguousarray(backlog, dtype=np.float64)
    if queue_state is None:
        queue_state = initial_queue_state(backlog)
    queue_state = np.ascontiguousarray(queue_state, dtype=np.float64)
    if classes is None:
        classes = neutral_classes(b, k)
    else:
        classes = np.ascontiguousarray(classes, dtype=np.float64)

    args = (arrivals, shares, backlog, queue_state, params.srv, params.egress, params.hop_ms,
            params.mix, params.base_ms, params.remote_ms_per_class, params.service_ms,
            params.deadline_ms, params.scal, params.consts, params.log_inv_erlang_c, classes,
            params.work_mcycles, srv_out, latency, served, late, law, link_lost, metrics,
            reward)  # fmt: skip

    # positional: a NamedTuple built from keywords costs about a microsecond more per step
    result = StepResult(
        srv_out[:, 0],  # backlog
        srv_out[:, 1],  # inflow
        srv_out[:, 2],  # processed
        srv_out[:, 3],  # dropped
        srv_out[:, 4],  # utilisation
        latency,
        served,
        metrics,
        reward,
        srv_out[:, 5],  # abandoned
        srv_out[:, 6],  # queue_state
        late,
        law,  # wait_law
        link_lost,  # link_dropped
    )
    return args, result
