"""A per-step relaxation bound on the return of an episode (model v2, routing and joint control).

Arrivals are exogenous, so once an episode is reset its realisation is known. :func:`step_bound`
bounds, step by step, the reward that *any* sequence of actions can get on it, causal or not:

    return = sum_t r_t(state_t, action_t)  <=  sum_t max over (state, action) of r_t  =  bound

Each step's maximum is taken over a relaxation that contains every state the env can be in and
every action it accepts, so the bound holds for every policy; what it gives up is the coupling
between steps (a queue left by one step costs nothing in the next). Per step, the relaxation:

1. **Starts every server empty.** A server's part of a step's cost (its requests' latency,
   lateness and failures, and its energy) grows with the work it starts the step with: a backlog
   is processed (energy), and it makes the step's arrivals wait longer (latency, lateness,
   abandonment, drops). So the step's cost from any state is at least its cost from empty queues.
2. **Lets each server run at whichever capacity level costs least**, with no boot delay and no
   boot power: the env's level (chosen by the autoscaler or the agent) is one of them, and
   booting only adds power. Fixed capacity (``autoscaler=False``) has its one level.
3. **Relaxes the routing to any split of the step's arrivals** ``A`` into server inflows ``u_s``
   plus requests ``d`` that never reach a server (lost on a link), at the failure cost (timeout in
   the latency part, SLA and drop parts). Every split the env's routing makes (shares, egress
   caps, link losses) is one of them.
4. **Charges links their least cost.** A request an edge server gets from another node pays at
   least the shortest hop both ways and the class's backhaul transfer time (the latency cap at the
   timeout respected), and its backhaul transfer energy; a request at the cloud pays its WAN
   transfer energy. Link queueing, which only adds delay and losses, is dropped; an edge node's
   own arrivals ``a_i`` bound how many of its server's requests can be local.

With the reward a sum of per-server parts and link parts divided by the (exogenous) arrivals, the
relaxed step is a separable resource allocation: ``min sum_s cost_s(u_s) + F d`` subject to
``sum_s u_s + d = A``. Each server's cost of an inflow ``u`` at each capacity level is tabulated
once per episode by the env's own kernel (a server isolated, from empty, its links made ideal)
on ``points`` inflows from 0 to the largest step's arrivals, and the split is solved exactly by
dynamic programming over ``cells`` cells of ``A / cells`` requests per server, each cell charged
its smallest cost (its lower end's, costs being non-decreasing in the inflow; the tables are
made non-decreasing by a running minimum from the top, which only lowers them).

So ``step_bound(env).total`` is an upper bound on the return of every policy on the episode, up to
the tables' resolution: the cost of a server between two table points is taken to be at least its
cost at the lower point (costs rise with inflow; 4,001 points by default). ``docs/bound.md`` gives
the argument and the measured gaps; the tests check it against every step of env trajectories.

**Joint control** adds three levers: capacity and DVFS levels (already among the options of
2.), admission per class (shedding) and a cloud bias per class, which routes the classes apart
and gives each server its own class mix. Its relaxation (:func:`_joint_step_cost`) splits each
class on its own: the class's arrivals go to servers, each charged its cost of that class
*alone* from empty at its cheapest option (tabulated per class by the kernel with the other
classes shed), to rejection (the reward's rejection cost) or to no server, whichever is least
per request; each server's idle energy is charged once, at its cheapest option; the classes may
each use all of the nodes' WAN egress and share one price on the backhaul. Its one assumption
beyond those above: a server's cost for a mix of classes is at least the sum of its costs for
each class alone (sharing a queue only adds waiting, lateness and failures), idle energy counted
once. It is loose: every class may use the fastest option while the idle energy is the lowest
option's, and no class waits behind another. The tests check it on every step of random moves,
the autoscaled rules and clairvoyant MPC.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from edgecloud_gym.core import dynamics
from edgecloud_gym.core._jit import jit
from edgecloud_gym.core.capacity import CapacityState, controlled_params
from edgecloud_gym.core.params import (
    SCAL_WAN_M1,
    SCAL_WAN_M2,
    SRV_DYNAMIC_W,
    SRV_IDLE_W,
    SystemParams,
)
from edgecloud_gym.core.queue_law import EMPTY

__all__ = ["StepBound", "step_bound"]


@dataclass(frozen=True)
class StepBound:
    """The bound of one episode.

    Attributes:
        total: Upper bound on the episode's return (the sum of ``per_step``).
        per_step: (T,) upper bound on each step's reward.
        seconds: Wall time of the computation (s).
    """

    total: float
    per_step: np.ndarray
    seconds: float


@dataclass(frozen=True)
class _Tables:
    """Per-server costs from empty of an inflow, at each table point and capacity level, in
    requests or joules (unweighted): arrays (S, L, P), and ``latency`` (S, L, K, P)."""

    grid: np.ndarray  # (P,) inflows (requests/step)
    latency_sum: np.ndarray  # sum over served requests of their latency, failed at the timeout
    late: np.ndarray  # expected late served requests plus failed ones
    failed: np.ndarray  # dropped and abandoned requests
    energy: np.ndarray  # the server's energy over the step (J)
    served: np.ndarray  # served requests
    latency: np.ndarray  # each class's latency of a served local request (ms)


#: The per-system arrays of :class:`SystemParams` (batch axis first).
_PER_SYSTEM = ("srv", "egress", "mix", "scal", "obs_mu", "obs_buffer", "static_shares")


def _one_system(params: SystemParams, index: int, repeat: int = 1) -> SystemParams:
    """The constants of system ``index``, as a batch of ``repeat`` copies of it."""
    rows = np.full(repeat, index)
    return replace(params, **{name: getattr(params, name)[rows] for name in _PER_SYSTEM})


def _levels_of(sim: Any) -> tuple[list[int], list[int]]:
    """The capacity levels and clocks a server of this env can run at."""
    cap = sim.config.capacity
    top_l, top_f = len(cap.levels) - 1, len(cap.frequencies) - 1
    if sim.control == "joint":
        return list(range(top_l + 1)), list(range(top_f + 1))
    if sim.autoscaler:
        return list(range(top_l + 1)), [top_f]
    return [top_l], [top_f]


def _isolated(params: SystemParams, points: int) -> tuple[SystemParams, SystemParams]:
    """``points`` copies of system 0's constants: as they are (an edge server's table: its node's
    own arrivals, no link in the way), and with ideal WAN links, without queueing or limit (the
    cloud's table)."""
    base = _one_system(params, 0, points)
    scal = base.scal.copy()
    scal[:, SCAL_WAN_M1] = 1e-9
    scal[:, SCAL_WAN_M2] = 1e-18
    return base, replace(base, egress=np.full_like(base.egress, 1e30), scal=scal)


def _uniform_state(points: int, s_all: int, level: int, clock: int, window: int) -> CapacityState:
    """Every server of ``points`` systems at capacity ``level`` and ``clock``, settled."""
    full = np.full((points, s_all), level, dtype=np.int64)
    return CapacityState(
        level=full,
        target=full.copy(),
        countdown=np.zeros((points, s_all), dtype=np.int64),
        frequency=np.full((points, s_all), clock, dtype=np.int64),
        history=np.full((points, s_all, window), level, dtype=np.int64),
    )


def _tables(sim: Any, params: SystemParams, grid: np.ndarray) -> _Tables:
    """Each server's cost from empty at the inflows ``grid`` (increasing, evenly spaced for
    :func:`_step_cost`) and every capacity option."""
    n, s_all = sim.n_edge, sim.n_servers
    k = params.mix.shape[1]
    cap = sim.config.capacity
    levels, clocks = _levels_of(sim)
    options = [(lv, f) for lv in levels for f in clocks]
    points = grid.size
    timeout, step_s = params.timeout_ms, params.step_s
    shape = (s_all, len(options), points)
    out = {name: np.empty(shape) for name in ("latency_sum", "late", "failed", "energy", "served")}
    latency = np.empty((s_all, len(options), k, points))
    base, ideal = _isolated(params, points)
    backlog = np.zeros((points, s_all))
    queue = np.full((points, s_all), EMPTY)
    for o, (lv, f) in enumerate(options):
        state = _uniform_state(points, s_all, lv, f, cap.stabilisation_steps)
        for j in range(s_all):
            arrivals = np.zeros((points, n))
            shares = np.zeros((points, s_all))
            shares[:, j] = 1.0
            if j < n:  # all of the inflow is the node's own: no link in the way
                arrivals[:, j] = grid
                p = controlled_params(base, state, cap)
            else:  # the cloud's inflow comes over ideal WAN links from every node
                arrivals[:] = grid[:, None] / n
                p = controlled_params(ideal, state, cap)
            res = dynamics.step(p, backlog, shares, arrivals, queue)
            failed = res.dropped[:, j] + res.abandoned[:, j]
            served = res.served[:, j]  # (P, K)
            out["failed"][j, o] = failed
            out["served"][j, o] = served.sum(axis=1)
            out["latency_sum"][j, o] = (served * res.latency_ms[:, j]).sum(axis=1)
            out["latency_sum"][j, o] += failed * timeout
            out["late"][j, o] = (served * res.late[:, j]).sum(axis=1) + failed
            power = p.srv[:, SRV_IDLE_W, j] + p.srv[:, SRV_DYNAMIC_W, j] * res.utilisation[:, j]
            out["energy"][j, o] = power * step_s
            latency[j, o] = res.latency_ms[:, j].T
    return _Tables(grid=grid, latency=latency, **out)


@dataclass(frozen=True)
class _ClassTables:
    """Joint control: each server's costs from empty of one class's inflow alone, at each table
    point and capacity option: arrays (K, S, O, P) of the same quantities as :class:`_Tables`
    (``energy`` the dynamic part only), and ``idle`` (S, O), each option's idle energy (J)."""

    grid: np.ndarray
    latency_sum: np.ndarray
    late: np.ndarray
    failed: np.ndarray
    energy: np.ndarray
    served: np.ndarray
    latency: np.ndarray
    idle: np.ndarray


def _class_tables(sim: Any, params: SystemParams, grid: np.ndarray) -> _ClassTables:
    """:func:`_tables` per class: each class admitted alone (the joint levers' per-class
    routing lets a server receive any mix of the classes)."""
    n, s_all = sim.n_edge, sim.n_servers
    mix = params.mix[0]
    k_all = mix.size
    cap = sim.config.capacity
    levels, clocks = _levels_of(sim)
    options = [(lv, f) for lv in levels for f in clocks]
    points = grid.size
    timeout, step_s = params.timeout_ms, params.step_s
    shape = (k_all, s_all, len(options), points)
    out = {name: np.zeros(shape) for name in ("latency_sum", "late", "failed", "energy", "served")}
    latency = np.zeros(shape)
    idle = np.empty((s_all, len(options)))
    base, ideal = _isolated(params, points)
    backlog = np.zeros((points, s_all))
    queue = np.full((points, s_all), EMPTY)
    for o, (lv, f) in enumerate(options):
        state = _uniform_state(points, s_all, lv, f, cap.stabilisation_steps)
        local, remote = controlled_params(base, state, cap), controlled_params(ideal, state, cap)
        idle[:, o] = local.srv[0, SRV_IDLE_W] * step_s
        for k in range(k_all):
            if mix[k] <= 0.0:  # the task sends none of this class
                continue
            classes = np.zeros((points, 2, k_all))
            classes[:, 0, k] = 1.0  # class k admitted alone, no cloud bias
            for j in range(s_all):
                arrivals = np.zeros((points, n))
                shares = np.zeros((points, s_all))
                shares[:, j] = 1.0
                if j < n:  # the node's own class-k arrivals, all kept
                    arrivals[:, j] = grid / mix[k]
                    p = local
                else:  # over ideal WAN links from every node
                    arrivals[:] = grid[:, None] / (n * mix[k])
                    p = remote
                res = dynamics.step(p, backlog, shares, arrivals, queue, classes)
                failed = res.dropped[:, j] + res.abandoned[:, j]
                served = res.served[:, j, k]
                out["failed"][k, j, o] = failed
                out["served"][k, j, o] = served
                out["latency_sum"][k, j, o] = served * res.latency_ms[:, j, k] + failed * timeout
                out["late"][k, j, o] = served * res.late[:, j, k] + failed
                out["energy"][k, j, o] = p.srv[:, SRV_DYNAMIC_W, j] * res.utilisation[:, j] * step_s
                latency[k, j, o] = res.latency_ms[:, j, k]
    return _ClassTables(grid=grid, latency=latency, idle=idle, **out)


def step_bound(
    env_or_sim: Any, index: int | None = None, *, cells: int = 1000, points: int = 4001
) -> StepBound:
    """Upper bound on the return of any policy on the current episode (call after ``reset``).

    Args:
        env_or_sim: An allocation env (wrapped or not), a vector env exposing ``sim``, or a
            ``BatchSimulator``, in routing or joint control.
        index: System of the batch; required when the batch holds more than one system.
        cells: Cells per server of the dynamic programme (each step's arrivals over ``cells``);
            more is tighter and slower (the step's cost is ``7 cells^2 / 2`` operations).
        points: Inflows per server's cost table (from 0 to the largest step's arrivals).

    Raises:
        ValueError: A batch without ``index``, an env not reset, or too few cells or points.
    """
    import time

    from edgecloud_agents.lp_bound import simulator_of

    start = time.perf_counter()
    sim = simulator_of(env_or_sim)
    if index is None:
        if sim.batch_size != 1:
            raise ValueError(f"the simulator holds {sim.batch_size} systems; pass index=.")
        index = 0
    if sim.workload is None:
        raise ValueError("reset the env before asking for its episode's bound.")
    if cells < 10 or points < 100:
        raise ValueError(f"cells must be >= 10 and points >= 100, got {cells} and {points}.")
    params = _one_system(sim.params, index)
    first = sim.config.warmup_steps
    arrivals = np.asarray(sim.workload.arrivals[index, first : first + sim.episode_steps])
    totals = arrivals.sum(axis=1)
    grid = np.linspace(0.0, max(float(totals.max()), 1.0), points)
    if sim.control == "joint":
        class_tables = _class_tables(sim, params, grid)
        per_step = np.array([-_joint_step_cost(class_tables, params, a, cells) for a in arrivals])
    else:
        tables = _tables(sim, params, grid)
        per_step = np.array([-_step_cost(tables, params, a, cells) for a in arrivals])
    return StepBound(float(per_step.sum()), per_step, time.perf_counter() - start)


def _step_cost(tables: _Tables, params: SystemParams, arrivals: np.ndarray, cells: int) -> float:
    """The relaxed step's least cost (minus its largest reward) for the nodes' ``arrivals``."""
    weights, timeout = params.weights, params.timeout_ms
    w_lat, w_sla, w_drop = weights["latency"] / 100.0, weights["sla"], weights["drops"]
    w_e = weights["energy"] / float(params.reference_energy_j[0])
    total = float(arrivals.sum())
    n = arrivals.shape[0]
    if total <= 0.0:  # nothing arrives: only the servers' idle energy, at the least level
        return float((w_e * tables.energy[:, :, 0]).min(axis=1).sum())
    inv = 1.0 / total
    # per (server, option, point) cost, made non-decreasing in the inflow from above
    cost = (
        w_lat * tables.latency_sum + w_sla * tables.late + w_drop * tables.failed
    ) * inv + w_e * tables.energy
    cost[n] += w_e * params.wan_j_per_request[0] * tables.grid  # every cloud request's WAN energy
    cost = np.minimum.accumulate(cost[..., ::-1], axis=-1)[..., ::-1]
    served = np.minimum.accumulate(tables.served[..., ::-1], axis=-1)[..., ::-1]
    delta = total / cells
    step = tables.grid[1] - tables.grid[0]
    m = np.arange(cells + 1)
    lo = np.minimum((m * delta / step).astype(np.int64), tables.grid.size - 1)
    hi = np.minimum(np.ceil((m + 1) * delta / step).astype(np.int64), tables.grid.size - 1)
    cell_cost = cost[:, :, lo]  # (S, O, M+1): each cell at its lower end
    # remote requests at an edge server: at least the inflow above the node's own arrivals
    hop = params.hop_ms.copy()
    np.fill_diagonal(hop, np.inf)
    mix = params.mix[0]
    for j in range(n):
        extra = 2.0 * hop[:, j].min() + params.remote_ms_per_class  # (K,) ms a remote request adds
        room = np.maximum(timeout - tables.latency[j][:, :, hi], 0.0)  # (O, K, M+1)
        latency_add = (mix[None, :, None] * np.minimum(extra[None, :, None], room)).sum(axis=1)
        remote_served = np.maximum(served[j][:, lo] - arrivals[j], 0.0)  # (O, M+1)
        remote_in = np.maximum(m * delta - arrivals[j], 0.0)  # (M+1,)
        cell_cost[j] += w_lat * inv * latency_add * remote_served
        cell_cost[j] += w_e * params.backhaul_j_per_request[0] * remote_in[None]
    best = cell_cost.min(axis=1)  # (S, M+1): each server at its cheapest level
    # the cloud gets at most what the nodes' WAN egress links carry
    best[n, m * delta > np.minimum(arrivals, params.egress[0, 1]).sum()] = np.inf
    unserved = (w_lat * timeout + w_sla + w_drop) * inv  # per request that reaches no server
    # the edges' remote requests share the nodes' backhaul egress: a Lagrange multiplier
    # ``price`` >= 0 per remote request, less ``price`` times the links' capacity, is below the
    # relaxed cost for every price (weak duality); the best price is found by golden section
    # (the dual is concave in it)
    capacity = float(np.minimum(arrivals, params.egress[0, 0]).sum())
    remote = np.zeros_like(best)
    remote[:n] = np.maximum(m[None] * delta - arrivals[:, None], 0.0)

    def dual(price: float) -> float:
        return float(_allocate(best + price * remote, cells, delta, unserved)) - price * capacity

    return _maximise(dual, unserved)


def _maximise(dual: Any, unserved: float) -> float:
    """The largest value of a concave ``dual`` over the backhaul's price in [0, 2 unserved] (a
    price above the cost of a request that reaches no server sends none over the links)."""
    free = dual(0.0)
    if dual(1e-3 * unserved) <= free:  # the links' capacity does not bind: price 0 is best
        return free
    lo_p, hi_p = 0.0, 2.0 * unserved
    value = max(free, dual(hi_p))
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = hi_p - ratio * (hi_p - lo_p), lo_p + ratio * (hi_p - lo_p)
    fa, fb = dual(a), dual(b)
    for _ in range(_GOLDEN_STEPS):
        if fa < fb:
            lo_p, a, fa = a, b, fb
            b = lo_p + ratio * (hi_p - lo_p)
            fb = dual(b)
        else:
            hi_p, b, fb = b, a, fa
            a = hi_p - ratio * (hi_p - lo_p)
            fa = dual(a)
    return max(value, fa, fb)


def _joint_step_cost(
    tables: _ClassTables, params: SystemParams, arrivals: np.ndarray, cells: int
) -> float:
    """The relaxed joint-control step's least cost for the nodes' ``arrivals``.

    Each class is split on its own (the joint levers route classes apart and shed them): its
    arrivals go to servers, each charged its class-alone table at its cheapest capacity option,
    to rejection (the admission lever) or to no server, whichever costs least per request. Each
    server's idle energy is charged once, at its cheapest option. The classes share the nodes'
    WAN egress (each class may use all of it) and their backhaul egress (one price for all)."""
    weights, timeout = params.weights, params.timeout_ms
    w_lat, w_sla, w_drop = weights["latency"] / 100.0, weights["sla"], weights["drops"]
    w_e = weights["energy"] / float(params.reference_energy_j[0])
    idle = float(w_e * tables.idle.min(axis=1).sum())
    total = float(arrivals.sum())
    n = arrivals.shape[0]
    if total <= 0.0:
        return idle
    inv = 1.0 / total
    unserved = (w_lat * timeout + w_sla + w_drop) * inv  # lost on the way: failed at the timeout
    sink = min(unserved, (w_lat * timeout + weights["rejected"]) * inv)  # or rejected
    mix = params.mix[0]
    wan_cap = float(np.minimum(arrivals, params.egress[0, 1]).sum())
    capacity = float(np.minimum(arrivals, params.egress[0, 0]).sum())
    hop = params.hop_ms.copy()
    np.fill_diagonal(hop, np.inf)
    step = tables.grid[1] - tables.grid[0]
    m = np.arange(cells + 1)
    parts = []  # per class: (cost per server and cell, remote requests per cell, cell size)
    for k in np.flatnonzero(mix > 0.0):
        own = arrivals * mix[k]  # each node's class-k arrivals
        delta = total * mix[k] / cells
        cost = (
            w_lat * tables.latency_sum[k] + w_sla * tables.late[k] + w_drop * tables.failed[k]
        ) * inv + w_e * tables.energy[k]
        cost[n] += w_e * params.wan_j_per_request[0] * tables.grid
        cost = np.minimum.accumulate(cost[..., ::-1], axis=-1)[..., ::-1]
        served = np.minimum.accumulate(tables.served[k][..., ::-1], axis=-1)[..., ::-1]
        lo = np.minimum((m * delta / step).astype(np.int64), tables.grid.size - 1)
        hi = np.minimum(np.ceil((m + 1) * delta / step).astype(np.int64), tables.grid.size - 1)
        cell_cost = cost[:, :, lo]
        extra = 2.0 * hop.min(axis=0) + params.remote_ms_per_class[k]  # (N,) ms a remote adds
        for j in range(n):
            room = np.maximum(timeout - tables.latency[k, j][:, hi], 0.0)  # (O, M+1)
            remote_served = np.maximum(served[j][:, lo] - own[j], 0.0)
            remote_in = np.maximum(m * delta - own[j], 0.0)
            cell_cost[j] += w_lat * inv * np.minimum(extra[j], room) * remote_served
            cell_cost[j] += w_e * params.backhaul_j_per_request[0] * remote_in[None]
        best = cell_cost.min(axis=1)
        best[n, m * delta > wan_cap] = np.inf
        remote = np.zeros_like(best)
        remote[:n] = np.maximum(m[None] * delta - own[:, None], 0.0)
        parts.append((best, remote, delta))

    def dual(price: float) -> float:
        value = sum(float(_allocate(b + price * r, cells, d, sink)) for b, r, d in parts)
        return value - price * capacity

    return idle + _maximise(dual, unserved)


#: Golden-section steps over the backhaul's price (each a dynamic programme).
_GOLDEN_STEPS = 14


@jit
def _allocate(cost, cells, delta, unserved):  # pragma: no cover - compiled
    """min over cells m_s (sum m_s <= cells) of sum_s cost[s, m_s] + unserved * d, with d the
    requests the cells cannot hold: max(0, (cells - sum m_s - S) delta)."""
    s_all = cost.shape[0]
    value = cost[0].copy()
    for s in range(1, s_all):
        new = np.full(cells + 1, np.inf)
        for total in range(cells + 1):
            for m in range(total + 1):
                v = value[total - m] + cost[s, m]
                if v < new[total]:
                    new[total] = v
        value = new
    best = np.inf
    for total in range(cells + 1):
        left = max(0.0, (cells - total - s_all) * delta)
        v = value[total] + unserved * left
        if v < best:
            best = v
    return best
