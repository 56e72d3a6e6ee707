"""Arrays derived once from a configuration and a batch of tasks.

The step function reads only these arrays, so a batch of environments with different tasks (or a
single environment, a batch of one) runs the same code. Shapes use ``B`` for the batch, ``N`` for
edge nodes, ``S = N + 1`` for servers (the cloud last) and ``K`` for application classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgecloud_gym.config import EdgeCloudConfig
from edgecloud_gym.tasks import Task

__all__ = [
    "CONST_ROWS",
    "SCAL_ROWS",
    "SRV_ROWS",
    "SystemParams",
    "build_params",
    "ring_hops",
]

#: Capacity below which a server counts as failed (requests per step).
_TINY = 1e-12

#: Rows of :attr:`SystemParams.srv`, by name; the step kernel and its readers index by these.
SRV_ROWS: tuple[str, ...] = (
    "mu",  # service capacity (requests/step)
    "inv_mu",  # 1 / mu; failed servers map to a huge value
    "buffer",  # queue buffer (requests)
    "wait_scale_ms",  # Sakasegawa scale: mean service time over cores (ms)
    "wait_exponent",  # Sakasegawa exponent sqrt(2 (c + 1)) - 1
    "idle_w",  # idle power (W)
    "dynamic_w",  # power range P_max - P_idle (W)
)
SRV_MU, SRV_INV_MU, SRV_BUFFER, SRV_WAIT_SCALE, SRV_WAIT_EXP, SRV_IDLE_W, SRV_DYNAMIC_W = range(7)
#: Columns of :attr:`SystemParams.scal`, by name.
SCAL_ROWS: tuple[str, ...] = ("backhaul_j_per_request", "wan_j_per_request", "reference_energy_j")
SCAL_BACKHAUL_J, SCAL_WAN_J, SCAL_REFERENCE_J = range(3)
#: Entries of :attr:`SystemParams.consts`, by name.
CONST_ROWS: tuple[str, ...] = (
    "timeout_ms",
    "step_s",
    "w_latency",
    "w_sla",
    "w_drops",
    "w_energy",
)
CONST_TIMEOUT_MS, CONST_STEP_S, CONST_W_LATENCY, CONST_W_SLA, CONST_W_DROPS, CONST_W_ENERGY = range(
    6
)


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
        srv: (B, 7, S) per-server rows named by :data:`SRV_ROWS`: capacity ``mu``
            (requests/step), ``1 / mu`` (failed servers map to a huge value), buffer (requests),
            Sakasegawa scale (mean service time over cores, ms), Sakasegawa exponent
            ``sqrt(2(c+1)) - 1``, idle power (W), power range ``P_max - P_idle`` (W).
        egress: (B, 2, N) backhaul and WAN egress capacity of each edge node (requests/step).
        hop_ms: (N, N) edge-to-edge latency (ms), ring hops times the hop latency.
        mix: (B, K) application-class fractions.
        base_ms: (S, K) fixed latency of a (server, class) pair: access, WAN latency and
            transfer for the cloud, service time on one core (ms).
        remote_ms_per_class: (K,) backhaul transfer time of one request per class (ms).
        deadline_ms: (K,) deadline per class (ms).
        scal: (B, 3) named by :data:`SCAL_ROWS`: backhaul and WAN transfer energy per request
            (J), and the energy of all servers at full power for one step (J), which normalises
            the energy reward.
        consts: (6,) named by :data:`CONST_ROWS`: timeout (ms), step (s), reward weights of
            latency, SLA, drops, energy.
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
    deadline_ms: np.ndarray
    scal: np.ndarray
    consts: np.ndarray
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
    def wait_scale_ms(self) -> np.ndarray:
        """(B, S) mean service time over the cores (ms): the M/M/c waiting term's scale."""
        return self.srv[:, SRV_WAIT_SCALE]

    @property
    def wait_exponent(self) -> np.ndarray:
        """(B, S) exponent ``sqrt(2 (c + 1)) - 1`` of the M/M/c waiting term."""
        return self.srv[:, SRV_WAIT_EXP]

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
        """(B,) transfer energy of one request over the backhaul (J)."""
        return self.scal[:, SCAL_BACKHAUL_J]

    @property
    def wan_j_per_request(self) -> np.ndarray:
        """(B,) transfer energy of one request over the WAN (J)."""
        return self.scal[:, SCAL_WAN_J]

    @property
    def reference_energy_j(self) -> np.ndarray:
        """(B,) energy of all servers at full power for one step (J): the energy reward's unit."""
        return self.scal[:, SCAL_REFERENCE_J]

    @property
    def timeout_ms(self) -> float:
        """Client timeout (ms): latencies are capped here."""
        return float(self.consts[CONST_TIMEOUT_MS])

    @property
    def weights(self) -> dict[str, float]:
        """Reward weights by part: ``latency``, ``sla``, ``drops``, ``energy``."""
        first = CONST_W_LATENCY
        return {
            name: float(self.consts[first + j])
            for j, name in enumerate(("latency", "sla", "drops", "energy"))
        }


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
    # Row-wise sums rather than ``mix @ work``: BLAS rounds a matrix-vector product differently
    # from a dot product, so a system's constants would depend on the size of its batch.
    mean_work = (mix * work).sum(axis=1)  # (B,) Mcycles per request
    mean_data = (mix * data).sum(axis=1)  # (B,) Mbit per request

    cycles_per_step = cores * ghz * 1e3 * config.step_s  # Mcycles per step, nominal (S,)
    obs_mu = cycles_per_step[None, :] / mean_work[:, None]  # (B, S) requests/step
    mu = obs_mu * factors
    buffer_s = np.array([topo.edge_buffer_s] * n + [topo.cloud_buffer_s])
    obs_buffer = obs_mu * buffer_s / config.step_s
    idle = np.array([topo.edge_idle_w] * n + [topo.cloud_idle_w]) * factors
    peak = np.array([topo.edge_max_w] * n + [topo.cloud_max_w]) * factors

    by_row = {
        "mu": mu,
        "inv_mu": 1.0 / np.maximum(mu, _TINY),
        "buffer": obs_buffer * factors,
        "wait_scale_ms": (mean_work[:, None] / ghz[None, :]) / cores[None, :],  # Mcycles/GHz = ms
        "wait_exponent": np.broadcast_to(np.sqrt(2.0 * (cores + 1.0)) - 1.0, (b, n + 1)),
        "idle_w": idle,
        "dynamic_w": peak - idle,
    }
    srv = np.stack([by_row[name] for name in SRV_ROWS], axis=1)
    per_step_mbit = config.step_s * 1e3 / mean_data  # requests per step per Gbit/s
    egress = np.stack(
        (
            np.broadcast_to((topo.backhaul_gbps * per_step_mbit)[:, None], (b, n)),
            np.broadcast_to((topo.wan_gbps * per_step_mbit)[:, None], (b, n)),
        ),
        axis=1,
    )
    base_ms = work[None, :] / ghz[:, None] + topo.access_ms  # service on one core + access
    base_ms[n, :] += topo.wan_ms + data / topo.wan_gbps  # Mbit / (Gbit/s) = ms
    to_j = 1e6 * 1e-9  # Mbit -> bit and nJ -> J
    by_column = {
        "backhaul_j_per_request": mean_data * topo.backhaul_nj_per_bit * to_j,
        "wan_j_per_request": mean_data * topo.wan_nj_per_bit * to_j,
        "reference_energy_j": np.maximum(peak.sum(axis=1), _TINY) * config.step_s,
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
    }
    return SystemParams(
        n_edge=n,
        step_s=config.step_s,
        srv=np.ascontiguousarray(srv),
        egress=np.ascontiguousarray(egress),
        hop_ms=ring_hops(n) * topo.backhaul_hop_ms,
        mix=mix,
        base_ms=np.ascontiguousarray(base_ms),
        remote_ms_per_class=data / topo.backhaul_gbps,
        deadline_ms=np.array([a.deadline_ms for a in config.apps]),
        scal=scal,
        consts=np.array([by_const[name] for name in CONST_ROWS]),
        obs_mu=obs_mu,
        obs_buffer=obs_buffer,
        static_shares=np.broadcast_to(
            (cores * ghz / (cores * ghz).sum())[None, :], (b, n + 1)
        ).copy(),
    )
