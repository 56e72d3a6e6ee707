"""DDLO's multi-user multi-task offloading cost, its edge-cloud extension, and their exact optima.

The model (L. Huang, X. Feng, A. Feng, Y. Huang, L. P. Qian, "Distributed deep learning-based
offloading for mobile edge computing networks", Mobile Networks and Applications, 2018; data and
parameters from the authors' DDLO repository) has N users with M independent tasks each. Task ``(n, m)`` of
``s`` MB (``b = 8 * 2**20 * s`` bits) runs either on the device (place 0) or on the edge server
(place 1). Per user ``n``:

* energy ``E_n = sum_m b_nm * (e_loc if local else e_tx + e_rx)``  [J]
* local chain time ``T_loc = sum_{m local} b_nm * t_loc``  [s]
* edge chain time ``T_edge = sum_{m edge} (s_nm / (R / 8 / N) + b_nm * c_edge / f_edge)``  [s]
  (upload over an uplink of R Mbit/s shared equally by the N users, then compute at the edge)
* cost ``C_n = E_n + w_t * max(T_loc, T_edge)``

and the frame's cost is ``sum_n C_n``. With DDLO's parameters (:class:`MUMTParams` defaults), the
minimum over all 2^(NM) decisions reproduces the published ``gain_min`` to machine precision.

The edge-cloud extension (ours, documented in ``docs/offloading.md``) adds place 2, the cloud:
the task is uploaded as for the edge, forwarded over a WAN of ``W`` Mbit/s shared equally by the
N users, and computed at the faster cloud CPU; a user that sends anything to the cloud also pays
the WAN round-trip latency once. The cloud chain runs in parallel with the local and edge chains:
``C_n = E_n + w_t * max(T_loc, T_edge, T_cloud)``. Device energy for a cloud task equals that of
an edge task (the device only transmits to the access point). With the cloud disabled
(``cloud=None``) the cost is computed by the very same operations as MUMT's.

All functions take a leading batch axis: task sizes of shape ``(N, M)`` or ``(..., N, M)``.
The cost separates over users (the only coupling, the equal bandwidth share, depends on N
alone), so the exact optimum minimises each user's 2^M (or 3^M) choices independently; the
``brute_force=True`` path enumerates all 2^(NM) (3^(NM)) joint decisions and gives the same
result, which the tests check.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

from edgecloud_gym._validation import check_nonnegative, check_positive

__all__ = [
    "CLOUD",
    "EDGE",
    "LOCAL",
    "CloudParams",
    "MUMTParams",
    "OffloadOptimum",
    "all_decisions",
    "edgecloud_cost",
    "edgecloud_optimum",
    "mumt_cost",
    "mumt_optimum",
]

#: Place indices of a decision entry.
LOCAL, EDGE, CLOUD = 0, 1, 2

_BITS_PER_MB = 8.0 * 2**20
_MAX_ENUMERATION = 2**20


@dataclass(frozen=True)
class MUMTParams:
    """Parameters of DDLO's multi-user multi-task model (defaults: DDLO, Huang et al. 2018).

    Attributes:
        bandwidth_mbps: uplink bandwidth shared equally by the N users [Mbit/s]; DDLO: 100.
            As in DDLO, the upload time of ``s`` MB is ``s / (bandwidth_mbps / 8 / N)`` s.
        local_energy_j_per_bit: device energy per bit computed locally [J/bit]; DDLO: 3.25e-7.
        local_time_s_per_bit: device computing time per bit [s/bit]; DDLO: 4.75e-7.
        offload_tx_energy_j_per_bit: first per-bit energy term of offloading [J/bit]; DDLO: 1.5e-7.
        offload_rx_energy_j_per_bit: second per-bit energy term of offloading [J/bit];
            DDLO: 1.42e-7. Only the sum enters the cost.
        edge_cycles_per_bit: edge CPU cycles per bit of task [cycles/bit]; DDLO: 1900.
        edge_cpu_hz: edge CPU frequency [cycles/s]; DDLO: 1e10.
        time_weight: weight of the completion time against energy [J/s]; DDLO: 1.0.
    """

    bandwidth_mbps: float = 100.0
    local_energy_j_per_bit: float = 3.25e-7
    local_time_s_per_bit: float = 4.75e-7
    offload_tx_energy_j_per_bit: float = 1.5e-7
    offload_rx_energy_j_per_bit: float = 1.42e-7
    edge_cycles_per_bit: float = 1900.0
    edge_cpu_hz: float = 1e10
    time_weight: float = 1.0

    def __post_init__(self) -> None:
        for f in fields(self):
            check = check_nonnegative if f.name == "time_weight" else check_positive
            object.__setattr__(self, f.name, check(f"MUMTParams.{f.name}", getattr(self, f.name)))


@dataclass(frozen=True)
class CloudParams:
    """Parameters of the cloud place in the edge-cloud extension (ours; see docs/offloading.md).

    Attributes:
        cloud_cpu_hz: cloud CPU frequency available to one task [cycles/s]; default 1e11, an
            order of magnitude above DDLO's edge server (brief, section 4).
        cloud_cycles_per_bit: cloud CPU cycles per bit [cycles/bit]; default 1900 (same workload
            as at the edge).
        wan_bandwidth_mbps: edge-to-cloud WAN bandwidth shared equally by the N users [Mbit/s];
            default 20.
        wan_latency_s: WAN round-trip latency paid once per user that uses the cloud [s];
            default 0.05 (tens of ms, brief section 4).
    """

    cloud_cpu_hz: float = 1e11
    cloud_cycles_per_bit: float = 1900.0
    wan_bandwidth_mbps: float = 20.0
    wan_latency_s: float = 0.05

    def __post_init__(self) -> None:
        for f in fields(self):
            check = check_nonnegative if f.name == "wan_latency_s" else check_positive
            object.__setattr__(self, f.name, check(f"CloudParams.{f.name}", getattr(self, f.name)))


_DEFAULT_CLOUD = CloudParams()


class OffloadOptimum(NamedTuple):
    """The exact optimum of an offloading frame.

    Attributes:
        cost: minimal cost, shape of the batch axes (0-d for one frame).
        decision: an optimal decision, shape ``(..., N, M)``, int8 (0 local, 1 edge, 2 cloud).
    """

    cost: np.ndarray
    decision: np.ndarray


def all_decisions(n: int, n_places: int = 2) -> np.ndarray:
    """All ``n_places**n`` decisions of ``n`` entries, shape ``(n_places**n, n)``, int8.

    Row ``k`` is ``k`` written in base ``n_places``, most significant digit first, so row 0 is
    all-local and rows follow lexicographic order. :class:`DiscreteDecisionWrapper` uses the same
    numbering.
    """
    if n_places**n > _MAX_ENUMERATION:
        raise ValueError(
            f"all_decisions: {n_places}**{n} = {n_places**n} decisions exceed the enumeration "
            f"limit {_MAX_ENUMERATION}; use fewer entries."
        )
    k = np.arange(n_places**n)
    powers = n_places ** np.arange(n - 1, -1, -1)
    return ((k[:, None] // powers[None, :]) % n_places).astype(np.int8)


def _check_sizes(task_sizes_mb: object) -> np.ndarray:
    try:
        sizes = np.asarray(task_sizes_mb, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"task_sizes_mb must be numeric, got {task_sizes_mb!r}.") from exc
    if sizes.ndim < 2 or sizes.shape[-1] == 0 or sizes.shape[-2] == 0:
        raise ValueError(
            "task_sizes_mb must have shape (N, M) or (..., N, M) with N users and M tasks per "
            f"user (N, M >= 1), got shape {sizes.shape}."
        )
    if not np.all(np.isfinite(sizes)):
        raise ValueError("task_sizes_mb must be finite (no NaN or inf).")
    if np.any(sizes < 0):
        raise ValueError(
            f"task_sizes_mb must be >= 0 (MB), got a minimum of {sizes.min()!r}; "
            "task sizes are data volumes in MB."
        )
    return sizes


def _check_decision(
    decision: object, shape: tuple[int, ...], n_places: int, name: str
) -> np.ndarray:
    arr = np.asarray(decision)
    if arr.shape != shape:
        raise ValueError(f"{name} must have the shape of task_sizes_mb, {shape}, got {arr.shape}.")
    if arr.dtype == bool:
        arr = arr.astype(np.int8)
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}.")
    allowed = tuple(range(n_places))
    ok = np.isin(arr, allowed)
    if not np.all(ok):
        bad = arr[~ok].ravel()[0]
        what = "binary (0 local, 1 edge)" if n_places == 2 else "0 local, 1 edge or 2 cloud"
        hint = "" if n_places == 3 else " (the cloud place 2 needs cloud=CloudParams())"
        raise ValueError(f"{name} entries must be {what}, got {bad!r}{hint}.")
    return arr.astype(np.int8)


def _user_cost(
    sizes: np.ndarray,
    place: np.ndarray,
    n_users: int,
    params: MUMTParams,
    cloud: CloudParams | None,
) -> np.ndarray:
    """Per-user cost over the last axis (tasks); broadcasts ``sizes`` against ``place``."""
    bits = sizes * _BITS_PER_MB
    local = place == LOCAL
    edge = place == EDGE
    offload_e = params.offload_tx_energy_j_per_bit + params.offload_rx_energy_j_per_bit
    energy = np.where(local, bits * params.local_energy_j_per_bit, bits * offload_e).sum(-1)
    t_local = (bits * params.local_time_s_per_bit * local).sum(-1)
    t_up = sizes / (params.bandwidth_mbps / 8.0 / n_users)
    t_edge_task = t_up + bits * params.edge_cycles_per_bit / params.edge_cpu_hz
    t = np.maximum(t_local, (t_edge_task * edge).sum(-1))
    if cloud is not None:
        on_cloud = place == CLOUD
        t_cloud_task = (
            t_up
            + sizes / (cloud.wan_bandwidth_mbps / 8.0 / n_users)
            + bits * cloud.cloud_cycles_per_bit / cloud.cloud_cpu_hz
        )
        t_cloud = (t_cloud_task * on_cloud).sum(-1) + cloud.wan_latency_s * on_cloud.any(-1)
        t = np.maximum(t, t_cloud)
    return energy + params.time_weight * t


def _scalar_or_array(x: np.ndarray) -> np.ndarray:
    return x[()] if x.ndim == 0 else x


def edgecloud_cost(
    task_sizes_mb: object,
    placement: object,
    params: MUMTParams | None = None,
    cloud: CloudParams | None = _DEFAULT_CLOUD,
) -> np.ndarray:
    """Cost of a placement in the edge-cloud extension of DDLO's model.

    Args:
        task_sizes_mb: task sizes [MB], shape ``(N, M)`` or ``(..., N, M)``, >= 0.
        placement: same shape, entries 0 (device), 1 (edge) or 2 (cloud; only with ``cloud``).
        params: the MUMT parameters (DDLO's by default).
        cloud: the cloud parameters (default :class:`CloudParams`), or ``None`` for no cloud
            (then this equals :func:`mumt_cost` exactly).

    Returns:
        The cost (energy [J] + time_weight x completion time [s]) per frame, shape
        ``task_sizes_mb.shape[:-2]`` (a 0-d float for one frame).
    """
    params = MUMTParams() if params is None else params
    sizes = _check_sizes(task_sizes_mb)
    place = _check_decision(placement, sizes.shape, 2 if cloud is None else 3, "placement")
    return _scalar_or_array(_user_cost(sizes, place, sizes.shape[-2], params, cloud).sum(-1))


def mumt_cost(
    task_sizes_mb: object, decision: object, params: MUMTParams | None = None
) -> np.ndarray:
    """DDLO's multi-user multi-task cost of a binary offloading decision.

    Args:
        task_sizes_mb: task sizes [MB], shape ``(N, M)`` or ``(..., N, M)`` (N users, M tasks
            each), >= 0.
        decision: same shape, 1 = offload to the edge server, 0 = compute on the device.
        params: model parameters, DDLO's by default.

    Returns:
        The frame cost, sum over users of energy [J] + time_weight x max(local, offload chain
        time) [s], shape ``task_sizes_mb.shape[:-2]`` (a 0-d float for one frame).

    Raises:
        ValueError: wrong shapes, negative or non-finite sizes, or a non-binary decision.
    """
    params = MUMTParams() if params is None else params
    sizes = _check_sizes(task_sizes_mb)
    place = _check_decision(decision, sizes.shape, 2, "decision")
    return _scalar_or_array(_user_cost(sizes, place, sizes.shape[-2], params, None).sum(-1))


def _optimum(
    sizes: np.ndarray,
    params: MUMTParams,
    cloud: CloudParams | None,
    brute_force: bool,
) -> OffloadOptimum:
    n_users, n_tasks = sizes.shape[-2:]
    n_places = 2 if cloud is None else 3
    batch = sizes.shape[:-2]
    if brute_force:
        cands = all_decisions(n_users * n_tasks, n_places).reshape(-1, n_users, n_tasks)
        flat = sizes.reshape(-1, 1, n_users, n_tasks)
        # Chunk the batch so that the (batch, candidates, N, M) temporaries stay small.
        step = max(1, (1 << 22) // (cands.shape[0] * n_users * n_tasks))
        best = np.empty(flat.shape[0], dtype=np.int64)
        for start in range(0, flat.shape[0], step):
            costs = _user_cost(flat[start : start + step], cands, n_users, params, cloud).sum(-1)
            best[start : start + step] = np.argmin(costs, axis=-1)
        decision = cands[best].reshape(*batch, n_users, n_tasks)
    else:
        cands = all_decisions(n_tasks, n_places)  # (K, M), per user
        costs = _user_cost(sizes[..., None, :], cands, n_users, params, cloud)  # (..., N, K)
        decision = cands[np.argmin(costs, axis=-1)]  # (..., N, M)
    cost = _user_cost(sizes, decision, n_users, params, cloud).sum(-1)
    return OffloadOptimum(_scalar_or_array(cost), decision)


def mumt_optimum(
    task_sizes_mb: object, params: MUMTParams | None = None, *, brute_force: bool = False
) -> OffloadOptimum:
    """Exact minimum of :func:`mumt_cost` over all 2^(NM) binary decisions.

    Args:
        task_sizes_mb: task sizes [MB], shape ``(N, M)`` or ``(..., N, M)``.
        params: model parameters, DDLO's by default.
        brute_force: enumerate all 2^(NM) joint decisions instead of each user's 2^M (same
            result, since the cost separates over users; slower, kept as a cross-check).

    Returns:
        ``(cost, decision)``: the minimal cost per frame and a decision attaining it (ties go to
        the first decision in :func:`all_decisions` order).
    """
    params = MUMTParams() if params is None else params
    return _optimum(_check_sizes(task_sizes_mb), params, None, brute_force)


def edgecloud_optimum(
    task_sizes_mb: object,
    params: MUMTParams | None = None,
    cloud: CloudParams | None = _DEFAULT_CLOUD,
    *,
    brute_force: bool = False,
) -> OffloadOptimum:
    """Exact minimum of :func:`edgecloud_cost` over all 3^(NM) placements (2^(NM) without cloud).

    Arguments and result as :func:`mumt_optimum`, plus ``cloud`` (``None``: no cloud place).
    """
    params = MUMTParams() if params is None else params
    return _optimum(_check_sizes(task_sizes_mb), params, cloud, brute_force)
