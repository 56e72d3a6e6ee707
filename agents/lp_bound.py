"""The episode LP: a linear program over a whole episode given its true arrivals, and its bound.

**Model v0 only**: the LP relaxes model v0's dynamics. On model v1 (within-step waiting from a
diffusion, per-request lateness, congesting links, abandonment, per-core energy; see
``docs/lp_bound.md``) it is not a bound, and the ``oracle`` agent that plays its plans is a
planning heuristic. :data:`BOUNDED_MODEL` names the model version it bounds.

Arrivals are exogenous, so once an episode is reset its whole realisation is known
(``sim.workload.arrivals``). :func:`solve_episode` builds a linear program over every step of the
episode and solves it with HiGHS (``scipy.optimize.linprog``). Its optimal cost is a **lower bound
on the cost of every action sequence** on that realisation, so ``-cost`` (:func:`oracle_bound`)
is an **upper bound on the return of any policy**, causal or not. The ``oracle`` agent
(:class:`edgecloud_agents.oracle.Oracle`) plays the LP's allocation shares step by step.

Variables, per step ``t`` (N edge nodes, S = N + 1 servers, the cloud last; requests per step):

=========  ===============================================================================
``l_i``    arrivals of edge node ``i`` processed locally
``o_i``    arrivals sent by node ``i`` over its backhaul egress (``<= egress[0, i]``)
``w_i``    arrivals sent by node ``i`` to the cloud over its WAN egress (``<= egress[1, i]``)
``r_j``    backhaul requests received by edge node ``j`` (``sum r = sum o``)
``p_s``    requests processed by server ``s`` (``<= mu_s``)
``d_s``    requests dropped at server ``s``
``b_s``    backlog of server ``s`` at the end of the step (``<= buffer_s``)
``y_j``    lower bound of the served requests that came over the backhaul (``>= r_j - d_j``)
``v_sk``   lower bound of the fraction of class ``k`` late by backlog at ``s``
``z_s``    lower bound of the served-weighted within-step queueing time at ``s`` (ms)
``e_sk``   lower bound of the class-``k`` requests late by within-step queueing at ``s``
=========  ===============================================================================

with ``l_i + o_i + w_i = a_i`` and ``b_s = b_s(t-1) + inflow_s - p_s - d_s``
(``inflow_j = l_j + r_j``, ``inflow_cloud = sum_i w_i``). **Every env trajectory is a feasible
point**: the env's routing sends a node's surplus within the same egress limits and its queues
obey the same balance, capacity and buffer. The LP relaxes the rest: any node may route to any
other (also relaying through another node's WAN link, which the env never does), servers need
not work at capacity, and drops may come early; each only widens the feasible set.

**On every env trajectory the LP objective is at most the env's cost** (``-`` the sum of
rewards), term by term, so ``oracle_bound = -optimum >= return`` of every policy; the term-by-term
argument and where the bound is loose are in ``docs/lp_bound.md``.

:func:`solve_episode` with ``executable=True`` also plans shares the env's routing can realise: a
second solve with each node's role per step (sender or receiver) fixed from the first; the bound
always comes from the first, relaxed solve.

This module stays whole above the harness's usual size: the LP's assembly (constants, objective,
bounds, constraints) is one class whose parts all index the same variable layout, and splitting it
would scatter one model over several files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from edgecloud_gym.core.simulator import BatchSimulator

__all__ = [
    "BOUNDED_MODEL",
    "EpisodeLP",
    "OraclePlan",
    "oracle_bound",
    "simulator_of",
    "solve_episode",
]

#: The model version whose returns :func:`oracle_bound` bounds (model v0's dynamics).
BOUNDED_MODEL = 0

_TINY = 1e-9  # capacity (requests/step) below which a server counts as failed
_SHARE_FLOOR = 1e-6  # smallest share a plan holds
_RHO_MAX = 0.99  # the env caps the utilisation of its M/M/c term here
_GROUPS = ("l", "o", "w", "r", "p", "d", "b", "y", "v", "z", "e")


@dataclass(frozen=True)
class OraclePlan:
    """The LP's solution for one episode.

    Attributes:
        value: Upper bound on the episode's return (``-`` the LP's optimal cost).
        shares: (T, S) allocation shares the plan implies: each server's planned inflow over the
            step's arrivals (capacity-proportional where a step has no arrivals).
        inflow: (T, S) planned inflow per server (requests/step).
        backlog: (T, S) planned end-of-step backlog per server (requests).
        solve_s: Wall time of building and solving the LP (s).
    """

    value: float
    shares: np.ndarray
    inflow: np.ndarray
    backlog: np.ndarray
    solve_s: float


def _sakasegawa_ms(u: np.ndarray, scale_ms: float, exponent: float) -> np.ndarray:
    """The env's within-step queueing time (ms) at utilisation ``u`` (capped at 0.99)."""
    rho = np.minimum(u, _RHO_MAX)
    return scale_ms * rho**exponent / (1.0 - rho)


def _utilisation_at(delay_ms: float, scale_ms: float, exponent: float) -> float:
    """Utilisation in [0, 0.99) where the within-step queueing time reaches ``delay_ms``."""
    lo, hi = 0.0, _RHO_MAX
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if _sakasegawa_ms(np.float64(mid), scale_ms, exponent) > delay_ms:
            hi = mid
        else:
            lo = mid
    return lo


def _convex_minorant(phi: np.ndarray, grid: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Lines ``(intercept, slope)`` whose maximum lies below a non-decreasing ``phi`` everywhere
    on the grid's span (between grid points too), touching its convex minorant at ``at``.

    On ``[u_j, u_{j+1}]`` a non-decreasing ``phi`` is at least ``phi(u_j)``; the lower convex
    hull of the points ``(u_{j+1}, phi(u_j))`` lies below that step function, and so does the
    maximum of any subset of its edges' lines.
    """
    xs = np.concatenate(([grid[0]], grid[1:]))
    ys = np.concatenate(([phi[0]], phi[:-1]))
    hull: list[int] = []
    for i in range(len(xs)):  # monotone chain, lower hull
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = (xs[b] - xs[a]) * (ys[i] - ys[a]) - (ys[b] - ys[a]) * (xs[i] - xs[a])
            if cross > 0:
                break
            hull.pop()
        hull.append(i)
    h = np.array(hull)
    slopes = np.diff(ys[h]) / np.diff(xs[h])
    intercepts = ys[h[:-1]] - slopes * xs[h[:-1]]
    edge = np.unique(np.clip(np.searchsorted(xs[h], at, side="right") - 1, 0, len(slopes) - 1))
    return np.stack((intercepts[edge], slopes[edge]), axis=1)


@dataclass(frozen=True)
class _Layout:
    """Sizes of the variable groups of one step's block of the LP vector."""

    sizes: dict[str, int]

    def group(self, name: str) -> slice:
        start = 0
        for key in _GROUPS:
            if key == name:
                return slice(start, start + self.sizes[key])
            start += self.sizes[key]
        raise KeyError(name)

    @property
    def size(self) -> int:
        return sum(self.sizes.values())


class _Triplets:
    """Rows, columns and values of a sparse matrix, appended block by block."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.rhs: list[np.ndarray] = []
        self.n_rows = 0

    def add(self, rows: np.ndarray, cols: np.ndarray, vals: float | np.ndarray) -> None:
        rows, cols = np.broadcast_arrays(rows, cols)
        self.rows.append(rows.ravel())
        self.cols.append(cols.ravel())
        self.vals.append(np.broadcast_to(vals, rows.shape).astype(float).ravel())

    def new_rows(self, shape: tuple[int, ...], rhs: float | np.ndarray) -> np.ndarray:
        """Indices of ``prod(shape)`` new rows, shaped ``shape``, with right-hand side ``rhs``."""
        count = int(np.prod(shape))
        idx = self.n_rows + np.arange(count).reshape(shape)
        self.rhs.append(np.broadcast_to(rhs, shape).astype(float).ravel())
        self.n_rows += count
        return idx

    def matrix(self, n_cols: int) -> tuple[sp.csr_array, np.ndarray]:
        if not self.rows:
            return sp.csr_array((0, n_cols)), np.zeros(0)
        a = sp.csr_array(
            (np.concatenate(self.vals), (np.concatenate(self.rows), np.concatenate(self.cols))),
            shape=(self.n_rows, n_cols),
        )
        return a, np.concatenate(self.rhs)


class EpisodeLP:
    """The oracle's linear program for system ``index`` of a simulator's current episode.

    Args:
        sim: The simulator, after ``reset``.
        index: Which system of the batch.
        steps: Episode length T (default ``sim.episode_steps``).

    Attributes:
        c, A_eq, b_eq, A_ub, b_ub, bounds: The LP in ``scipy.optimize.linprog`` form (minimise).
        const: Constant part of the cost (idle energy).
        arrivals: (T, N) the episode's arrivals (requests/step).
    """

    def __init__(self, sim: BatchSimulator, index: int = 0, steps: int | None = None) -> None:
        if sim.workload is None:
            raise RuntimeError("the simulator has no episode yet; call env.reset() first.")
        self.n = sim.n_edge
        self.steps = sim.episode_steps if steps is None else int(steps)
        warm = sim.workload.warmup
        self.arrivals = np.asarray(
            sim.workload.arrivals[index, warm : warm + self.steps], dtype=np.float64
        )
        total = self.arrivals.sum(axis=1)
        #: (T,) 1 / total arrivals of each step: the env's rates are per arrival
        self.per_arrival = np.divide(1.0, total, out=np.zeros_like(total), where=total > 0)
        self._constants(sim, index)
        n, s = self.n, self.n + 1
        self.layout = _Layout(
            {
                **dict.fromkeys("lowr", n),
                **dict.fromkeys("pdb", s),
                "y": n,
                "v": len(self.wait_pairs),
                "z": s,
                "e": len(self.sak_pairs),
            }
        )
        self._objective()
        self._bounds()
        self._constraints()

    # ------------------------------------------------------------------ constants

    def _constants(self, sim: BatchSimulator, index: int) -> None:
        p = sim.params
        n, s = self.n, self.n + 1
        self.mu = mu = p.mu[index].copy()
        self.buffer = buf = p.buffer[index].copy()
        self.alive = alive = mu > _TINY
        self.has_buf = has_buf = buf > _TINY
        inv_mu = np.where(alive, 1.0 / np.where(alive, mu, 1.0), 0.0)
        self.idle_w, self.dyn_w = p.idle_w[index], p.dynamic_w[index]
        self.sak_scale, self.sak_exp = p.wait_scale_ms[index], p.wait_exponent[index]
        self.mix = mix = p.mix[index]
        timeout, self.step_s = p.timeout_ms, p.step_s
        weights = p.weights
        w_lat, self.w_sla, self.w_drop, w_en = (
            weights[k] for k in ("latency", "sla", "drops", "energy")
        )
        self.w_lat = w_lat / 100.0  # the reward counts latency per 100 ms
        self.w_en = w_en / p.reference_energy_j[index]  # energy per full power for one step
        self.j_backhaul, self.j_wan = p.backhaul_j_per_request[index], p.wan_j_per_request[index]
        self.egress = p.egress[index]
        self.inv_mu = inv_mu

        base = p.base_ms  # (S, K) access (+ WAN for the cloud) and service time, ms
        rem = p.remote_ms_per_class  # (K,) backhaul transfer, ms
        deadline = p.deadline_ms[None, :]
        hop_min = np.zeros(s)
        if n > 1:  # a receiving node never sends, so its senders are at least one hop away
            hop_min[:n] = (p.hop_ms + np.diag(np.full(n, np.inf))).min(axis=0)
        remote_fixed = base.copy()
        if n > 1:
            remote_fixed[:n] += hop_min[:n, None] + rem[None, :]
        self.base_cost = np.minimum(base, timeout)
        #: (S, K) latency a backhaul request adds at least (ms)
        self.remote_extra = np.minimum(remote_fixed, timeout) - self.base_cost
        cap = np.maximum(timeout - remote_fixed, 0.0)  # room left for queueing (ms)
        self.h_max = np.where(
            alive, _sakasegawa_ms(np.float64(1.0), self.sak_scale, self.sak_exp), 0
        )
        cap_wait = np.maximum(cap - self.h_max[:, None], 0.0)
        buf_wait_ms = 1e3 * self.step_s * buf * inv_mu
        #: (S, K) the countable backlog wait at a full buffer (ms), its secant is used below
        self.wait_full = np.minimum(buf_wait_ms[:, None], cap_wait) * has_buf[:, None]

        late_possible = timeout > deadline
        self.fixed_late = (base > deadline) & late_possible
        self.remote_late = np.zeros_like(self.fixed_late)
        if n > 1:
            self.remote_late[:n] = (
                (remote_fixed[:n] > deadline) & late_possible & ~self.fixed_late[:n]
            )
        slack = deadline - base  # ms a local request may queue before it is late
        eligible = (
            late_possible
            & ~self.fixed_late
            & ~self.remote_late
            & (slack >= 0)
            & alive[:, None]
            & (mix[None, :] > 0)
        )
        sak_late = eligible & (self.h_max[:, None] > slack)
        self.sak_pairs = np.argwhere(sak_late)  # late once the M/M/c term exceeds the slack
        self.sak_u = np.array(
            [
                _utilisation_at(slack[i, k], self.sak_scale[i], self.sak_exp[i])
                for i, k in self.sak_pairs
            ]
        )
        beta = (slack - self.h_max[:, None]) * mu[:, None] / (1e3 * self.step_s)
        wait_late = eligible & ~sak_late & has_buf[:, None] & (beta < buf[:, None] - _TINY)
        self.wait_pairs = np.argwhere(wait_late)  # late once the backlog exceeds beta
        self.wait_beta = beta[tuple(self.wait_pairs.T)] if len(self.wait_pairs) else np.zeros(0)

        # the M/M/c term, served-weighted: u * H(u) with H(u) = sum_k mix_k min(h(u), cap_k)
        grid = np.linspace(0.0, 1.0, 2001)
        touch = np.array(
            [0.0, 0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.96, 0.98, 0.99, 1.0]
        )
        self.sak_lines = []
        for i in range(s):
            if not alive[i]:
                self.sak_lines.append(np.zeros((0, 2)))
                continue
            h = _sakasegawa_ms(grid, self.sak_scale[i], self.sak_exp[i])
            served_h = np.minimum(h[:, None], cap[i][None, :]) @ mix
            self.sak_lines.append(_convex_minorant(grid * served_h, grid, touch))
        self.h_served_max = np.minimum(self.h_max[:, None], cap) @ mix  # (S,)

    # ------------------------------------------------------------------ objective

    def _objective(self) -> None:
        lay, n, t_n = self.layout, self.n, self.steps
        c_t = self.per_arrival
        rise = np.zeros(t_n)  # (c_{t+1} - c_t)^+, none after the last step
        rise[:-1] = np.maximum(c_t[1:] - c_t[:-1], 0.0)
        mix = self.mix
        cost = np.zeros((t_n, lay.size))
        col = {g: lay.group(g) for g in _GROUPS}
        # per served request: fixed latency and certain lateness (x c_t)
        served = self.w_lat * (self.base_cost @ mix) + self.w_sla * (self.fixed_late @ mix)
        cost[:, col["l"]] = c_t[:, None] * served[None, :n]
        cost[:, col["r"]] = c_t[:, None] * served[None, :n]
        cost[:, col["w"]] = c_t[:, None] * served[n] + self.w_en * self.j_wan
        cost[:, col["o"]] = self.w_en * self.j_backhaul
        cost[:, col["p"]] = self.w_en * self.dyn_w * self.inv_mu * self.step_s
        cost[:, col["d"]] = c_t[:, None] * ((self.w_drop + self.w_sla) - served[None, :])
        remote = self.w_lat * (self.remote_extra[:n] @ mix) + self.w_sla * (
            self.remote_late[:n] @ mix
        )
        cost[:, col["y"]] = c_t[:, None] * remote[None, :]
        # backlog wait, telescoped: mu c_t m(b) - (c_{t+1} - c_t)^+ M(b), secants over the buffer
        wait = self.wait_full @ mix  # (S,) ms at a full buffer
        ratio = np.where(self.has_buf, self.mu / np.where(self.has_buf, self.buffer, 1.0), 0.0)
        cost[:, col["b"]] = self.w_lat * (
            c_t[:, None] * (wait * ratio)[None, :] - rise[:, None] * wait[None, :] / 2.0
        )
        if len(self.wait_pairs):
            ws, wk = self.wait_pairs.T
            area = (self.buffer[ws] - self.wait_beta) / (2.0 * self.buffer[ws])  # M(buf) / buf
            b_cost = cost[:, col["b"]]
            np.add.at(b_cost.T, ws, -self.w_sla * mix[wk][:, None] * area[:, None] * rise[None, :])
            cost[:, col["b"]] = b_cost
            cost[:, col["v"]] = self.w_sla * c_t[:, None] * (mix[wk] * self.mu[ws])[None, :]
        cost[:, col["z"]] = self.w_lat * c_t[:, None]
        if len(self.sak_pairs):
            cost[:, col["e"]] = self.w_sla * c_t[:, None] * mix[self.sak_pairs[:, 1]][None, :]
        self.c = cost.ravel()
        self.const = float(self.w_en * self.idle_w.sum() * self.step_s * t_n)

    # ------------------------------------------------------------------ bounds and rows

    def _bounds(self) -> None:
        lay, n = self.layout, self.n
        hi = np.full((self.steps, lay.size), np.inf)
        hi[:, lay.group("o")] = self.egress[0] if n > 1 else 0.0
        hi[:, lay.group("r")] = np.inf if n > 1 else 0.0
        hi[:, lay.group("w")] = self.egress[1]
        hi[:, lay.group("p")] = np.where(self.alive, self.mu, 0.0)
        hi[:, lay.group("b")] = np.where(self.has_buf, self.buffer, 0.0)
        self.upper = hi
        self.bounds = np.stack((np.zeros(hi.size), hi.ravel()), axis=1)

    def _constraints(self) -> None:
        lay, n, t_n = self.layout, self.n, self.steps
        s = n + 1
        v_n = lay.size
        at = np.arange(t_n)[:, None] * v_n  # first column of each step's block

        def cols(group: str, idx: np.ndarray | None = None, shift: int = 0) -> np.ndarray:
            g = lay.group(group)
            idx = np.arange(g.stop - g.start) if idx is None else np.asarray(idx)
            return at[: t_n - shift] + g.start + idx[None, :]

        nodes, servers = np.arange(n), np.arange(s)
        eq = _Triplets()
        rows = eq.new_rows((t_n, n), self.arrivals)  # l + o + w = a
        for g in "low":
            eq.add(rows, cols(g), 1.0)
        rows = eq.new_rows((t_n, 1), 0.0)  # backhaul sent = received
        eq.add(rows, cols("o"), 1.0)
        eq.add(rows, cols("r"), -1.0)
        rows = eq.new_rows((t_n, s), 0.0)  # p + d + b - b(t-1) - inflow = 0
        for g in "pdb":
            eq.add(rows, cols(g), 1.0)
        eq.add(rows[1:], cols("b", shift=1), -1.0)
        eq.add(rows[:, :n], cols("l"), -1.0)
        eq.add(rows[:, :n], cols("r"), -1.0)
        eq.add(rows[:, n:], cols("w"), -1.0)
        self.A_eq, self.b_eq = eq.matrix(t_n * v_n)

        ub = _Triplets()
        rows = ub.new_rows((t_n, n), 0.0)  # r - d - y <= 0
        ub.add(rows, cols("r"), 1.0)
        ub.add(rows, cols("d", nodes), -1.0)
        ub.add(rows, cols("y"), -1.0)
        if len(self.wait_pairs):  # b - (buf - beta) v <= beta
            ws = self.wait_pairs[:, 0]
            rows = ub.new_rows((t_n, len(ws)), self.wait_beta)
            ub.add(rows, cols("b", ws), 1.0)
            ub.add(rows, cols("v"), -(self.buffer[ws] - self.wait_beta))
        for i in servers:  # slope p - H b(t-1) - z <= -intercept mu, per line
            lines = self.sak_lines[i]
            if not len(lines):
                continue
            rows = ub.new_rows((t_n, len(lines)), -lines[:, 0] * self.mu[i])
            ub.add(rows, cols("p", [i]), lines[:, 1][None, :])
            ub.add(rows[1:], cols("b", [i], shift=1), -self.h_served_max[i])
            ub.add(rows, cols("z", [i]), -1.0)
        if len(self.sak_pairs):  # p / (1 - u) - b(t-1) - e <= mu u / (1 - u)
            ps = self.sak_pairs[:, 0]
            u = self.sak_u
            rows = ub.new_rows((t_n, len(ps)), self.mu[ps] * u / (1.0 - u))
            ub.add(rows, cols("p", ps), 1.0 / (1.0 - u))
            ub.add(rows[1:], cols("b", ps, shift=1), -1.0)
            ub.add(rows, cols("e"), -1.0)
        self.A_ub, self.b_ub = ub.matrix(t_n * v_n)

    # ------------------------------------------------------------------ solve and check

    def solve(self, senders: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """Minimise; return the optimal cost (with the constant) and the solution (T, V).

        Args:
            senders: Optional (T, N) mask fixing each node's role per step as the env's routing
                has it: a sender neither receives over the backhaul, a non-sender sends nothing.
                This *restricts* the LP (its value is then no bound); the Oracle agent uses it to
                plan flows the env's routing can realise.
        """
        bounds = self.bounds
        if senders is not None:
            lay = self.layout
            hi = self.upper.copy()
            hi[:, lay.group("r")] = np.where(senders, 0.0, hi[:, lay.group("r")])
            for g in "ow":
                hi[:, lay.group(g)] = np.where(senders, hi[:, lay.group(g)], 0.0)
            bounds = np.stack((np.zeros(hi.size), hi.ravel()), axis=1)
        res = linprog(
            self.c,
            A_ub=self.A_ub,
            b_ub=self.b_ub,
            A_eq=self.A_eq,
            b_eq=self.b_eq,
            bounds=bounds,
            method="highs",
        )
        if res.status != 0:
            raise RuntimeError(f"the oracle's LP was not solved: {res.message}")
        return float(res.fun) + self.const, res.x.reshape(self.steps, self.layout.size)

    def point(
        self,
        inflow: np.ndarray,
        processed: np.ndarray,
        dropped: np.ndarray,
        backlog: np.ndarray,
        backhaul: np.ndarray,
    ) -> np.ndarray:
        """The LP point (T, V) of an env trajectory, for checking the relaxation.

        Args:
            inflow: (T, S) requests routed to each server per step.
            processed: (T, S) requests processed per step.
            dropped: (T, S) requests dropped per step.
            backlog: (T, S) requests queued at the end of each step.
            backhaul: (T,) requests sent over the backhaul per step.

        The per-node split of the backhaul and WAN traffic is not observed; any split within the
        egress limits serves (the objective does not depend on it), and one is found by
        interpolating every sender between its least and its most backhaul traffic.
        """
        lay, n = self.layout, self.n
        x = np.zeros((self.steps, lay.size))
        a = self.arrivals
        recv = np.maximum(inflow[:, :n] - a, 0.0)  # a receiving node keeps all its arrivals
        local = np.minimum(inflow[:, :n], a)
        surplus = a - local
        lo_o = np.maximum(surplus - self.upper[:, lay.group("w")], 0.0)
        hi_o = np.minimum(surplus, self.upper[:, lay.group("o")])
        room = (hi_o - lo_o).sum(axis=1)
        theta = np.divide(
            backhaul - lo_o.sum(axis=1), room, out=np.zeros_like(room), where=room > 0
        )
        out = lo_o + np.clip(theta, 0.0, 1.0)[:, None] * (hi_o - lo_o)
        before = np.vstack((np.zeros((1, n + 1)), backlog[:-1]))
        x[:, lay.group("l")] = local
        x[:, lay.group("o")] = out
        x[:, lay.group("w")] = surplus - out
        x[:, lay.group("r")] = recv
        x[:, lay.group("p")] = processed
        x[:, lay.group("d")] = dropped
        x[:, lay.group("b")] = backlog
        x[:, lay.group("y")] = np.maximum(recv - dropped[:, :n], 0.0)
        if len(self.wait_pairs):
            ws = self.wait_pairs[:, 0]
            gap = self.buffer[ws] - self.wait_beta
            x[:, lay.group("v")] = np.maximum(backlog[:, ws] - self.wait_beta, 0.0) / gap
        z = np.zeros((self.steps, n + 1))
        for i, lines in enumerate(self.sak_lines):
            if len(lines):
                best = lines[:, 0][None, :] * self.mu[i] + lines[:, 1][None, :] * processed[:, [i]]
                z[:, i] = np.maximum(best.max(axis=1) - self.h_served_max[i] * before[:, i], 0.0)
        x[:, lay.group("z")] = z
        if len(self.sak_pairs):
            ps, u = self.sak_pairs[:, 0], self.sak_u
            x[:, lay.group("e")] = np.maximum(
                (processed[:, ps] - self.mu[ps] * u) / (1.0 - u) - before[:, ps], 0.0
            )
        return x

    def cost_of(self, x: np.ndarray) -> float:
        """The LP objective (with the constant) at a point (T, V)."""
        return float(self.c @ x.ravel()) + self.const


def simulator_of(env_or_sim: Any) -> BatchSimulator:
    """The :class:`BatchSimulator` of an allocation env (wrapped or not), of a vector env exposing
    ``sim``, or the simulator itself; anything else raises ``TypeError``."""
    if isinstance(env_or_sim, BatchSimulator):
        return env_or_sim
    for obj in (getattr(env_or_sim, "unwrapped", None), env_or_sim):
        sim = getattr(obj, "sim", None)
        if isinstance(sim, BatchSimulator):
            return sim
    raise TypeError(
        "expected an EdgeCloud allocation env (gym.make('EdgeCloud-...')), its vector env or a "
        f"BatchSimulator, got {type(env_or_sim).__name__}."
    )


def _horizon(env_or_sim: Any, sim: BatchSimulator) -> int:
    spec = getattr(env_or_sim, "spec", None)
    limit = getattr(spec, "max_episode_steps", None)
    return min(sim.episode_steps, int(limit)) if limit else sim.episode_steps


def solve_episode(env_or_sim: Any, index: int = 0, *, executable: bool = True) -> OraclePlan:
    """Solve the oracle LP for the current episode of system ``index`` (from its first step).

    Args:
        env_or_sim: An allocation env (wrapped or not, after ``reset``), a vector env exposing
            ``sim``, or a :class:`~edgecloud_gym.core.simulator.BatchSimulator`.
        index: System of the batch (0 for a single env).
        executable: Also plan shares the env's routing can realise: a second solve with each
            node's role per step (sender or receiver) fixed from the first. The relaxed LP may
            relay a node's surplus through another node's WAN link, which the env never does.
            ``value`` is always the first (relaxed) solve's bound.
    """
    sim = simulator_of(env_or_sim)
    if not 0 <= index < sim.batch_size:
        raise ValueError(f"index must lie in [0, {sim.batch_size}), got {index}.")
    start = time.perf_counter()
    lp = EpisodeLP(sim, index, _horizon(env_or_sim, sim))
    cost, x = lp.solve()
    lay = lp.layout

    def inflow_of(sol: np.ndarray) -> np.ndarray:
        edges = sol[:, lay.group("l")] + sol[:, lay.group("r")]
        return np.concatenate((edges, sol[:, lay.group("w")].sum(1, keepdims=True)), axis=1)

    inflow = inflow_of(x)
    if executable:
        _, x = lp.solve(senders=inflow[:, : lp.n] < lp.arrivals - 1e-9)
        inflow = inflow_of(x)
    total = lp.arrivals.sum(axis=1, keepdims=True)
    static = sim.params.static_shares[index]
    shares = np.where(total > 0, inflow / np.where(total > 0, total, 1.0), static)
    # A floor keeps every planned share positive: with a share of exactly zero the env's routing
    # can leave a server a negative inflow of rounding size (~1e-14 requests).
    shares = np.maximum(shares, _SHARE_FLOOR)
    shares /= shares.sum(axis=1, keepdims=True)
    return OraclePlan(
        value=-cost,
        shares=shares,
        inflow=inflow,
        backlog=x[:, lay.group("b")],
        solve_s=time.perf_counter() - start,
    )


def oracle_bound(env_or_sim: Any, index: int | None = None) -> float:
    """Upper bound on the return of any policy on the current episode (call after ``reset``).

    The value of the oracle LP (see the module docstring): no agent, causal or clairvoyant, gets
    a higher return on the same arrivals. Works for any action mode and forecaster.

    Args:
        env_or_sim: An allocation env, a vector env exposing ``sim``, or a ``BatchSimulator``.
        index: System of the batch; required when the batch holds more than one system.
    """
    sim = simulator_of(env_or_sim)
    if index is None:
        if sim.batch_size != 1:
            raise ValueError(
                f"the simulator holds {sim.batch_size} systems; pass index= to choose one."
            )
        index = 0
    return solve_episode(env_or_sim, index, executable=False).value
