"""Arrays derived once from a configuration and a batch of tasks.

The step function reads only these arrays, so a batch of environments with different tasks (or a
single environment, a batch of one) runs the same code. Shapes use ``B`` for the batch, ``N`` for
edge nodes, ``S = N + 1`` for servers (the cloud last) and ``K`` for application classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from edgecloud_gym.config import EdgeCloudConfig
from edgecloud_gym.core.links import PACKET_OVERHEAD_BYTES, UDP_PAYLOAD_BYTES, wire_mbit
from edgecloud_gym.tasks import Task

__all__ = [
    "CONST_ROWS",
    "RHO_STEP",
    "SCAL_ROWS",
    "SRV_ROWS",
    "SystemParams",
    "build_params",
    "log_inv_erlang_c",
    "ring_hops",
]

#: Capacity below which a server counts as failed (requests per step).
_TINY = 1e-12

#: Rows of :attr:`SystemParams.srv`, by name; the step kernel and its readers index by these.
SRV_ROWS: tuple[str, ...] = (
    "mu",  # service capacity (requests/step)
    "inv_mu",  # 1 / mu; failed servers map to a huge value
    "buffer",  # queue buffer (requests)
    "cores",  # cores c (count)
    "idle_w",  # idle power (W)
    "dynamic_w",  # power range P_max - P_idle (W)
    "speed",  # clock over the nominal clock (DVFS): service times scale by 1 / speed
    "erlang_row",  # row of log_inv_erlang_c for the active cores (a whole number)
    "mu_installed",  # capacity of all installed cores at the nominal clock (requests/step)
)
(
    SRV_MU,
    SRV_INV_MU,
    SRV_BUFFER,
    SRV_CORES,
    SRV_IDLE_W,
    SRV_DYNAMIC_W,
    SRV_SPEED,
    SRV_ERLANG_ROW,
    SRV_MU_INSTALLED,
) = range(9)
#: Columns of :attr:`SystemParams.scal`, by name.
SCAL_ROWS: tuple[str, ...] = (
    "backhaul_j_per_request",  # transfer energy of a request and its response (J)
    "wan_j_per_request",
    "reference_energy_j",  # all servers at full power for one step (J)
    "service_scv",  # squared coefficient of variation of the service time over the mix
    "backhaul_mean_ms",  # mean transmission time of a request on a backhaul link (ms)
    "backhaul_second_ms2",  # its second moment (ms^2)
    "wan_mean_ms",  # the same on a WAN link
    "wan_second_ms2",
)
(
    SCAL_BACKHAUL_J,
    SCAL_WAN_J,
    SCAL_REFERENCE_J,
    SCAL_SCV,
    SCAL_BH_M1,
    SCAL_BH_M2,
    SCAL_WAN_M1,
    SCAL_WAN_M2,
) = range(8)
#: Entries of :attr:`SystemParams.consts`, by name.
CONST_ROWS: tuple[str, ...] = (
    "timeout_ms",
    "step_s",
    "w_latency",
    "w_sla",
    "w_drops",
    "w_energy",
    "backhaul_buffer_ms",
    "wan_buffer_ms",
    "w_rejected",
)
(
    CONST_TIMEOUT_MS,
    CONST_STEP_S,
    CONST_W_LATENCY,
    CONST_W_SLA,
    CONST_W_DROPS,
    CONST_W_ENERGY,
    CONST_BH_BUFFER_MS,
    CONST_WAN_BUFFER_MS,
    CONST_W_REJECTED,
) = range(9)
#: Utilisations at which :attr:`SystemParams.log_inv_erlang_c` is tabulated: ``j * RHO_STEP``.
RHO_STEP = 0.99 / 255


def ring_hops(n: int) -> np.ndarray:
    """Hop counts between ``n`` edge nodes on a bidirectional ring, shape (n, n)."""
    idx = np.arange(n)
    diff = np.abs(idx[:, None] - idx[None, :])
    return np.minimum(diff, n - diff).astype(np.float64)


@dataclass(frozen=True)
class SystemParams:
    """Per-environment constants of the dynamics (read-only arrays).

    The step kernel reads the packed arrays ``srv``, ``egress``, ``scal`` and ``consts``, whose
    rows are named by :data:`SRV_ROWS`, :data:`SCAL_ROWS` and :data:`CONST_ROWS` (with index
    constants ``SRV_MU``, ``SCAL_WAN_J``, ``CONST_W_SLA``, ...); other code reads them through the
    named properties (``params.mu``, ``params.idle_w``, ``params.weights``, ...).

    Attributes:
        n_edge: Number of edge nodes N.
        step_s: Decision interval (s).
        srv: (B, 9, S) per-server rows named by :data:`SRV_ROWS`: capacity ``mu``
            (requests/step), ``1 / mu`` (failed servers map to a huge value), buffer (requests),
            active cores, idle power (W), power range ``P_max - P_idle`` (W), clock over the
            nominal clock, the row of ``log_inv_erlang_c`` of the active cores, and the capacity
            of all installed cores at the nominal clock (requests/step). As built, every core
            is active at the nominal clock; :mod:`edgecloud_gym.core.capacity` derives the rows
            of other capacity levels.
        egress: (B, 2, N) backhaul and WAN egress capacity of each edge node (requests/step).
        hop_ms: (N, N) edge-to-edge latency (ms), ring hops times the hop latency.
        mix: (B, K) application-class fractions.
        base_ms: (S, K) fixed round-trip latency of a (server, class) pair without waiting:
            access both ways and the service time on one core, plus for the cloud the WAN latency
            both ways and the transfer of the request and its response (ms).
        remote_ms_per_class: (K,) backhaul transfer time of one request and its response (ms).
        service_ms: (S, K) mean service time of a class-``k`` request on one core (ms).
        deadline_ms: (K,) round-trip deadline per class (ms).
        scal: (B, 8) named by :data:`SCAL_ROWS`: transfer energy per request on the backhaul and
            the WAN (J), the energy of all servers at full power for one step (J, the energy
            reward's unit), the service time's squared coefficient of variation, and the first two
            moments of a request's transmission time on a backhaul and a WAN link (ms, ms²).
        consts: (9,) named by :data:`CONST_ROWS`: timeout (ms), step (s), reward weights of
            latency, SLA, drops, energy, the link buffers (ms of transmission) and the reward
            weight of rejected requests.
        work_mcycles: (K,) CPU work of a request of each class (Mcycles): with per-class
            routing or admission a server's class mix, and so its capacity in requests, differs
            from the workload's.
        log_inv_erlang_c: (S * L, 256) ``ln(1 / C(c, rho))`` at ``rho = j * RHO_STEP``
            (Erlang's C formula; the kernel interpolates it), row ``s * L + l`` for the active
            cores of server ``s`` at capacity level ``l`` (``level_cores[s, l]``).
        level_cores: (S, L) active cores of each server at each of the config's capacity
            levels (``Capacity.levels`` of the installed cores, rounded up, at least 1).
        level_fraction: (S, L) ``level_cores`` over the installed cores (the last column 1).
        obs_mu: (B, S) nominal capacity per step, normalising observations.
        obs_buffer: (B, S) nominal buffer, normalising observations.
        static_shares: (B, S) capacity-proportional shares.
    """

    n_edge: int
    step_s: float
    srv: np.ndarray
    egress: np.ndarray
    hop_ms: np.ndarray
    mix: np.ndarray
    base_ms: np.ndarray
    remote_ms_per_class: np.ndarray
    service_ms: np.ndarray
    deadline_ms: np.ndarray
    scal: np.ndarray
    consts: np.ndarray
    log_inv_erlang_c: np.ndarray
    level_cores: np.ndarray
    level_fraction: np.ndarray
    work_mcycles: np.ndarray
    obs_mu: np.ndarray
    obs_buffer: np.ndarray
    static_shares: np.ndarray

    @property
    def batch_size(self) -> int:
        """Number of environments B."""
        return self.srv.shape[0]

    @property
    def mu(self) -> np.ndarray:
        """(B, S) service capacity per step (requests/step), after capacity factors."""
        return self.srv[:, SRV_MU]

    @property
    def buffer(self) -> np.ndarray:
        """(B, S) queue buffer (requests), after capacity factors."""
        return self.srv[:, SRV_BUFFER]

    @property
    def cores(self) -> np.ndarray:
        """(B, S) active cores of each server."""
        return self.srv[:, SRV_CORES]

    @property
    def n_levels(self) -> int:
        """Number of capacity levels L."""
        return self.level_cores.shape[1]

    @property
    def wait_scale_ms(self) -> np.ndarray:
        """(B, S) mean service time over the cores (ms), nominal: the scale of Sakasegawa's M/M/c
        waiting-time approximation (used by the LP relaxation of model v0's waiting term)."""
        return self.step_s * 1e3 / self.obs_mu

    @property
    def wait_exponent(self) -> np.ndarray:
        """(B, S) Sakasegawa's exponent ``sqrt(2 (c + 1)) - 1``."""
        return np.sqrt(2.0 * (self.cores + 1.0)) - 1.0

    @property
    def idle_w(self) -> np.ndarray:
        """(B, S) idle power of each server (W), after capacity factors."""
        return self.srv[:, SRV_IDLE_W]

    @property
    def dynamic_w(self) -> np.ndarray:
        """(B, S) power range ``P_max - P_idle`` of each server (W), after capacity factors."""
        return self.srv[:, SRV_DYNAMIC_W]

    @property
    def backhaul_j_per_request(self) -> np.ndarray:
        """(B,) transfer energy of one request and its response over the backhaul (J)."""
        return self.scal[:, SCAL_BACKHAUL_J]

    @property
    def wan_j_per_request(self) -> np.ndarray:
        """(B,) transfer energy of one request and its response over the WAN (J)."""
        return self.scal[:, SCAL_WAN_J]

    @property
    def reference_energy_j(self) -> np.ndarray:
        """(B,) energy of all servers at full power for one step (J): the energy reward's unit."""
        return self.scal[:, SCAL_REFERENCE_J]

    @property
    def service_scv(self) -> np.ndarray:
        """(B,) squared coefficient of variation of the service time over the class mix."""
        return self.scal[:, SCAL_SCV]

    @property
    def timeout_ms(self) -> float:
        """Client timeout (ms): waits beyond it abandon."""
        return float(self.consts[CONST_TIMEOUT_MS])

    @property
    def weights(self) -> dict[str, float]:
        """Reward weights by part: ``latency``, ``sla``, ``drops``, ``energy``, ``rejected``."""
        first = CONST_W_LATENCY
        weights = {
            name: float(self.consts[first + j])
            for j, name in enumerate(("latency", "sla", "drops", "energy"))
        }
        return {**weights, "rejected": float(self.consts[CONST_W_REJECTED])}


def log_inv_erlang_c(cores: np.ndarray) -> np.ndarray:
    """``ln(1 / C(c, rho))`` for each core count ``c`` at ``rho = j * RHO_STEP``, j = 0..255.

    Erlang's C formula through the Erlang B recursion; at ``rho = 0`` (no waiting at all) the
    value is capped at 700. Fractional core counts use the next whole number.
    """
    rho = np.arange(256) * RHO_STEP
    out = np.empty((len(cores), rho.size))
    done: dict[int, int] = {}  # core count -> the first row that holds it
    for s, c in enumerate(cores):
        c_int = max(int(np.ceil(c - 1e-9)), 1)
        if c_int in done:
            out[s] = out[done[c_int]]
            continue
        done[c_int] = s
        a = rho * c_int
        b = np.ones_like(rho)
        for k in range(1, c_int + 1):
            b = a * b / (k + a * b)
        with np.errstate(divide="ignore"):
            out[s] = np.minimum(-np.log(b / (1.0 - rho * (1.0 - b))), 700.0)
    return out


@lru_cache(maxsize=64)
def _erlang_table(cores: tuple[float, ...]) -> np.ndarray:
    """:func:`log_inv_erlang_c` of ``cores``, computed once per process for each topology and
    set of capacity levels (a reset with a new task rebuilds the params; the table is most of
    their cost), read-only."""
    table = log_inv_erlang_c(np.asarray(cores))
    table.flags.writeable = False
    return table


def build_params(config: EdgeCloudConfig, tasks: Sequence[Task]) -> SystemParams:
    """Derive the dynamics' constants for one task per environment of the batch."""
    topo = config.topology
    n, k = topo.n_edge, len(config.apps)
    for task in tasks:
        task.check_compatible(n, k)
    b = len(tasks)

    cores = np.array([*topo.edge_cores, topo.cloud_cores], dtype=np.float64)
    ghz = np.array([topo.edge_core_ghz] * n + [topo.cloud_core_ghz])
    factors = np.array(
        [t.capacity_factors if t.capacity_factors is not None else [1.0] * (n + 1) for t in tasks],
        dtype=np.float64,
    )
    mix = np.array(
        [t.app_mix if t.app_mix is not None else [1.0 / k] * k for t in tasks], dtype=np.float64
    )
    work = np.array([a.work_mcycles for a in config.apps])  # Mcycles
    data = np.array([a.data_mbit for a in config.apps])  # Mbit
    response = np.array([a.response_mbit for a in config.apps])  # Mbit
    # Mbit on the wire, headers included. Every argument given: a compiled function called
    # with a default left out takes numba's slow dispatch (about 50 us a call, at every reset
    # of a new task).
    wire = np.array([wire_mbit(float(d), UDP_PAYLOAD_BYTES, PACKET_OVERHEAD_BYTES) for d in data])
    wire_back = np.array(
        [wire_mbit(float(r), UDP_PAYLOAD_BYTES, PACKET_OVERHEAD_BYTES) if r > 0 else 0.0
         for r in response]
    )  # fmt: skip
    # Row-wise sums rather than ``mix @ work``: BLAS rounds a matrix-vector product differently
    # from a dot product, so a system's constants would depend on the size of its batch.
    mean_work = (mix * work).sum(axis=1)  # (B,) Mcycles per request
    scv = (mix * 2.0 * work**2).sum(axis=1) / mean_work**2 - 1.0  # exponential per class
    mean_wire = (mix * (wire + wire_back)).sum(axis=1)  # (B,) Mbit per request and response

    cycles_per_step = cores * ghz * 1e3 * config.step_s  # Mcycles per step, nominal (S,)
    obs_mu = cycles_per_step[None, :] / mean_work[:, None]  # (B, S) requests/step
    mu = obs_mu * factors
    buffer_s = np.array([topo.edge_buffer_s] * n + [topo.cloud_buffer_s])
    obs_buffer = obs_mu * buffer_s / config.step_s
    idle_core = np.array([topo.edge_core_idle_w] * n + [topo.cloud_core_idle_w])
    peak_core = np.array([topo.edge_core_max_w] * n + [topo.cloud_core_max_w])
    idle = (cores * idle_core)[None, :] * factors
    peak = (cores * peak_core)[None, :] * factors

    whole = np.maximum(np.ceil(cores - 1e-9), 1.0)  # the cores Erlang's C formula counts
    fractions = np.array(config.capacity.levels)
    levels = len(fractions)
    level_cores = np.maximum(np.ceil(fractions[None, :] * whole[:, None] - 1e-9), 1.0)
    level_cores[:, -1] = whole
    by_row = {
        "mu": mu,
        "inv_mu": 1.0 / np.maximum(mu, _TINY),
        "buffer": np.floor(obs_buffer * factors),
        "cores": np.broadcast_to(cores, (b, n + 1)),
        "idle_w": idle,
        "dynamic_w": peak - idle,
        "speed": np.ones((b, n + 1)),
        "erlang_row": np.broadcast_to(np.arange(n + 1) * levels + levels - 1.0, (b, n + 1)),
        "mu_installed": mu,
    }
    srv = np.stack([by_row[name] for name in SRV_ROWS], axis=1)
    per_step_mbit = config.step_s * 1e3 / (mix * data).sum(axis=1)  # requests/step per Gbit/s
    egress = np.stack(
        (
            np.broadcast_to((topo.backhaul_gbps * per_step_mbit)[:, None], (b, n)),
            np.broadcast_to((topo.wan_gbps * per_step_mbit)[:, None], (b, n)),
        ),
        axis=1,
    )
    service_ms = work[None, :] / ghz[:, None]  # Mcycles / GHz = ms, (S, K)
    base_ms = service_ms + 2.0 * topo.access_ms
    base_ms[n, :] += 2.0 * topo.wan_ms + (wire + wire_back) / topo.wan_gbps  # Mbit/(Gbit/s) = ms
    to_j = 1e6 * 1e-9  # Mbit -> bit and nJ -> J

    def moments(gbps: float) -> tuple[np.ndarray, np.ndarray]:
        t = wire / gbps  # ms on the wire per class
        return (mix * t).sum(axis=1), (mix * t * t).sum(axis=1)

    bh_m1, bh_m2 = moments(topo.backhaul_gbps)
    wan_m1, wan_m2 = moments(topo.wan_gbps)
    by_column = {
        "backhaul_j_per_request": mean_wire * topo.backhaul_nj_per_bit * to_j,
        "wan_j_per_request": mean_wire * topo.wan_nj_per_bit * to_j,
        "reference_energy_j": np.maximum(peak.sum(axis=1), _TINY) * config.step_s,
        "service_scv": scv,
        "backhaul_mean_ms": bh_m1,
        "backhaul_second_ms2": bh_m2,
        "wan_mean_ms": wan_m1,
        "wan_second_ms2": wan_m2,
    }
    scal = np.stack([by_column[name] for name in SCAL_ROWS], axis=1)
    w = config.reward
    by_const = {
        "timeout_ms": config.timeout_ms,
        "step_s": config.step_s,
        "w_latency": w.latency,
        "w_sla": w.sla,
        "w_drops": w.drops,
        "w_energy": w.energy,
        "backhaul_buffer_ms": topo.backhaul_buffer_ms,
        "wan_buffer_ms": topo.wan_buffer_ms,
        "w_rejected": w.rejected,
    }
    return SystemParams(
        n_edge=n,
        step_s=config.step_s,
        srv=np.ascontiguousarray(srv),
        egress=np.ascontiguousarray(egress),
        hop_ms=ring_hops(n) * topo.backhaul_hop_ms,
        mix=mix,
        base_ms=np.ascontiguousarray(base_ms),
        remote_ms_per_class=(wire + wire_back) / topo.backhaul_gbps,
        service_ms=np.ascontiguousarray(service_ms),
        deadline_ms=np.array([a.deadline_ms for a in config.apps]),
        scal=np.ascontiguousarray(scal),
        consts=np.array([by_const[name] for name in CONST_ROWS]),
        log_inv_erlang_c=_erlang_table(tuple(level_cores.ravel().tolist())),
        level_cores=level_cores,
        level_fraction=level_cores / whole[:, None],
        work_mcycles=work,
        obs_mu=obs_mu,
        obs_buffer=obs_buffer,
        static_shares=np.broadcast_to(
            (cores * ghz / (cores * ghz).sum())[None, :], (b, n + 1)
        ).copy(),
    )
