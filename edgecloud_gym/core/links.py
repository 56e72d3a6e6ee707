"""Queueing model of one FIFO egress link with a finite buffer (backhaul and WAN links).

A request of class ``k`` leaves its node as a burst of MTU-sized UDP/IP packets; the link sends
the packets first-in first-out at its bandwidth and drops what no longer fits in its buffer (tail
drop). All packets of a burst enter the queue at the same instant, so at the level of requests the
link is a single-server FIFO queue whose customer is a whole request with service time
``S_k = (bits on the wire) / bandwidth``; Poisson request arrivals make it an M/G/1 queue with a
finite buffer for *work* (bytes), where a request that does not fit is cut (its first packets
enter, the rest are dropped) and counts as dropped.

Let ``V`` be the link's unfinished work (ms of transmission) that an arriving request finds,
which by PASTA (Wolff, *Operations Research* 30(2), 1982) is distributed as the time-stationary
workload. A request of class ``k`` is delivered whole iff ``V + S_k <= K`` (``K``: buffer in ms of
transmission) and then its last packet arrives after

    delay_k = propagation + V + S_k                         (ms)

Model of ``V`` (all times in ms, ``λ_k`` request rate, ``ρ = Σ λ_k S_k`` offered load):

1. **Infinite buffer, M/G/1.** ``P(V = 0) = 1 − ρ`` and the Pollaczek–Khinchine mean
   ``E[V] = λ E[S²] / (2 (1 − ρ))`` (Kleinrock, *Queueing Systems* vol. 1, 1975, ch. 5; Gross &
   Harris, *Fundamentals of Queueing Theory*, 3rd ed., 1998, §5.1). The positive part is taken
   exponential with the rate that reproduces that mean,
   ``θ = 2 (1 − ρ) E[S] / E[S²]`` (1/ms): ``P(V > v) = ρ e^(−θv)``. This is exact for M/M/1 and is
   the heavy-traffic (diffusion) limit of M/G/1 (Kingman, *J. R. Stat. Soc. B* 24, 1962; Whitt,
   *Stochastic-Process Limits*, 2002).
2. **Finite buffer.** In the M/G/1 queue whose work above ``K`` is lost (the finite dam), the
   stationary workload on ``[0, K)`` is the infinite-buffer one, truncated and renormalised: the
   level-crossing equation of a level ``v < K`` involves only states below ``v`` (Brill & Posner,
   *Operations Research* 25(4), 1977; Cohen, *The Single Server Queue*, 1982; Asmussen, *Applied
   Probability and Queues*, 2nd ed., 2003). With the unnormalised infinite solution, atom 1 at 0
   and density ``ρ a e^(−θv)``, ``a = 2 E[S] / E[S²]``, this holds for every ``ρ``, including
   ``ρ >= 1`` where ``θ <= 0`` and the work piles up near a full buffer:

       P(V = 0) = 1 / Z,   density(v) = ρ a e^(−θv) / Z  on [0, K),
       Z = 1 + ρ a (1 − e^(−θK)) / θ.

From these, per class ``k`` with ``L_k = K − S_k``: the dropped fraction ``P(V > L_k)``; the mean
delay of delivered requests ``propagation + S_k + E[V | V <= L_k]`` (a truncated exponential's
mean); the late fraction ``P(delay_k > x | delivered)``; and the carried throughput
``bandwidth · (1 − P(V = 0))`` (work conservation: the link sends whenever it holds work), so at
``ρ >= 1`` the lost bits are the excess ``1 − (1 − P(V = 0)) / ρ`` (→ ``1 − 1/ρ`` for a large
buffer) and every delay stays below ``propagation + K``.

Packets: the link counts the bytes it sends, so header overhead is on the wire. A request of ``D``
payload bytes travels as ``ceil(D / 1472)`` UDP datagrams of at most 1472 payload bytes (an IP MTU
of 1500 B less the 20-B IPv4 header, RFC 791, and the 8-B UDP header, RFC 768), each with 30 B of
overhead on a point-to-point link (IPv4 20 + UDP 8 + PPP 2, RFC 1661 with address and control
fields omitted, as ns-3's ``PointToPointNetDevice`` frames them).

Cost: one ``exp`` per link (:func:`link_workload`) and one per class (:func:`request_delay`),
plus one per class for a tail probability inside the delay range; the rest is arithmetic. All
functions except :func:`link_performance` and :func:`buffer_bytes_to_ms` are compiled by numba
(``_jit``) and callable from compiled kernels. :func:`link_performance` is the validated,
batched entry point for users and :func:`delay_quantile` gives percentiles;
``docs/validation.md`` compares the model with ns-3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgecloud_gym._validation import as_finite_array, check_nonnegative, check_positive
from edgecloud_gym.core._jit import jit

__all__ = [
    "IPV4_HEADER_BYTES",
    "MTU_BYTES",
    "PACKET_OVERHEAD_BYTES",
    "PPP_HEADER_BYTES",
    "UDP_HEADER_BYTES",
    "UDP_PAYLOAD_BYTES",
    "LinkPerformance",
    "buffer_bytes_to_ms",
    "delay_quantile",
    "fifo_link_batch",
    "link_performance",
    "link_workload",
    "request_delay",
    "wire_mbit",
]

#: IP maximum transmission unit of the link (bytes): an IPv4 packet's largest size.
MTU_BYTES = 1500
#: IPv4 header without options (bytes), RFC 791.
IPV4_HEADER_BYTES = 20
#: UDP header (bytes), RFC 768.
UDP_HEADER_BYTES = 8
#: PPP header on a point-to-point link (bytes): the 2-byte protocol field, as ns-3 frames it.
PPP_HEADER_BYTES = 2
#: Largest UDP payload of one packet (bytes): MTU less the IPv4 and UDP headers.
UDP_PAYLOAD_BYTES = MTU_BYTES - IPV4_HEADER_BYTES - UDP_HEADER_BYTES
#: Bytes a packet carries on the wire beyond its UDP payload (IPv4 + UDP + PPP headers).
PACKET_OVERHEAD_BYTES = IPV4_HEADER_BYTES + UDP_HEADER_BYTES + PPP_HEADER_BYTES

# Below this |θ·x| the exponential integrals use their Taylor series (relative error < 1e-12).
_SERIES = 1e-4


@jit
def wire_mbit(
    data_mbit: float,
    payload_bytes: float = UDP_PAYLOAD_BYTES,
    overhead_bytes: float = PACKET_OVERHEAD_BYTES,
) -> float:
    """Bits on the wire (Mbit) of a request of ``data_mbit`` Mbit sent as full-size packets.

    Args:
        data_mbit: Request payload (Mbit).
        payload_bytes: Largest payload of one packet (bytes); default 1472 (UDP over IPv4, MTU
            1500).
        overhead_bytes: Header bytes per packet on the wire (bytes); default 30 (IPv4 + UDP +
            PPP).

    Returns:
        ``data_mbit`` plus the headers of its ``ceil(bytes / payload_bytes)`` packets (Mbit).
    """
    payload = data_mbit * 1e6 / 8.0
    # Round away float noise before the ceiling (1.6 Mbit is 200000.00000000003 bytes).
    packets = math.ceil(round(payload / payload_bytes, 9))
    return data_mbit + packets * overhead_bytes * 8.0 / 1e6


def buffer_bytes_to_ms(buffer_bytes: float, bandwidth_gbps: float) -> float:
    """Buffer of ``buffer_bytes`` bytes as ms of transmission at ``bandwidth_gbps`` Gbit/s."""
    b = check_nonnegative("buffer_bytes", buffer_bytes)
    bw = check_positive("bandwidth_gbps", bandwidth_gbps)
    return b * 8.0 / (bw * 1e6)


@jit
def _density(theta: float, buffer_ms: float, v: float) -> float:
    """``g(v) = e^(−θv − s)``, ``s = max(0, −θK)``: the workload density up to a constant.

    The shift ``s`` keeps ``g`` in ``(0, 1]`` for either sign of θ (no overflow in overload); it
    scales every mass alike and cancels in every probability.
    """
    if theta >= 0.0:
        return math.exp(-theta * v)
    return math.exp(theta * (buffer_ms - v))


@jit
def _mass(theta: float, g_lo: float, g_hi: float, width: float) -> float:
    """``∫ g`` over an interval of ``width`` ms whose ends have densities ``g_lo``, ``g_hi``."""
    u = theta * width
    if abs(u) < _SERIES:
        return g_lo * width * (1.0 - 0.5 * u + u * u / 6.0)
    return (g_lo - g_hi) / theta


@jit
def link_workload(
    load: float, mean_ms: float, second_moment_ms2: float, buffer_ms: float
) -> tuple[float, float, float, float]:
    """Stationary unfinished work of the link, as found by an arriving request.

    Args:
        load: Offered load ``ρ = Σ λ_k S_k`` (dimensionless, any value >= 0; >= 1 is overload).
        mean_ms: Mean service time ``E[S]`` of a request (ms).
        second_moment_ms2: ``E[S²]`` of the service time (ms²).
        buffer_ms: Buffer ``K`` in ms of transmission at the link's bandwidth (ms).

    Returns:
        ``(theta, p_idle, scale, edge)``: the exponent θ (1/ms), ``P(V = 0)``, the density scale
        (1/ms) such that the density of ``V`` at ``v`` in ``(0, K)`` is
        ``scale · e^(−θv − s)`` with ``s = max(0, −θK)``, and ``edge = e^(−|θ|K)``, that
        density's unscaled value at ``K`` (θ >= 0) or at 0 (θ < 0). One ``exp``.
    """
    if load <= 0.0 or second_moment_ms2 <= 0.0:
        return 0.0, 1.0, 0.0, 1.0
    a = 2.0 * mean_ms / second_moment_ms2
    theta = (1.0 - load) * a
    edge = math.exp(-abs(theta) * buffer_ms)
    g0, gk = (1.0, edge) if theta >= 0.0 else (edge, 1.0)
    rho_a = load * a
    z = g0 + rho_a * _mass(theta, g0, gk, buffer_ms)
    return theta, g0 / z, rho_a / z, edge


@jit
def request_delay(
    theta: float,
    p_idle: float,
    scale: float,
    edge: float,
    buffer_ms: float,
    service_ms: float,
    propagation_ms: float,
    tail_ms: float,
) -> tuple[float, float, float]:
    """Delay and loss of one class of requests on a link in the state of :func:`link_workload`.

    Args:
        theta: The exponent θ of the link's workload density (1/ms), from :func:`link_workload`.
        p_idle: ``P(V = 0)``, the probability that the link is idle, from the same.
        scale: The workload density's scale (1/ms), from the same.
        edge: The density's unscaled value at the buffer's edge, from the same.
        buffer_ms: Buffer ``K`` (ms of transmission), as given to :func:`link_workload`.
        service_ms: Transmission time ``S_k`` of the whole request on the wire (ms).
        propagation_ms: One-way propagation delay of the link (ms).
        tail_ms: Threshold ``x`` of the tail probability (ms).

    Returns:
        ``(mean_delay_ms, p_late, p_drop)``: the mean delay of delivered requests from the burst's
        send time to its last packet's arrival (ms), ``P(delay > tail_ms | delivered)`` and the
        fraction of requests dropped (one or more packets lost at the full buffer). A request
        larger than the buffer is always dropped (``p_drop = 1``, delay ``propagation +
        service``, ``p_late = 0``). One ``exp``, and one more when ``tail_ms`` falls inside the
        delays a delivered request can have.
    """
    room = buffer_ms - service_ms  # largest workload that still lets the whole request in (ms)
    if room < 0.0:
        return propagation_ms + service_ms, 0.0, 1.0
    g0, gk = (1.0, edge) if theta >= 0.0 else (edge, 1.0)
    g_room = _density(theta, buffer_ms, room)
    inside = scale * _mass(theta, g0, g_room, room)  # P(0 < V <= room)
    delivered = p_idle + inside
    p_drop = scale * _mass(theta, g_room, gk, service_ms)
    if delivered <= 0.0:  # extreme overload: the few delivered requests find V = room
        late = 1.0 if tail_ms < propagation_ms + buffer_ms else 0.0
        return propagation_ms + buffer_ms, late, p_drop
    # Mean of the density ∝ e^(−θv) on [0, room]: 1/θ − room·g(room) / (g(0) − g(room)).
    u = theta * room
    if abs(u) < _SERIES:
        mean_inside = room * (0.5 - u / 12.0)
    else:
        mean_inside = 1.0 / theta - room * g_room / (g0 - g_room)
    wait = inside * mean_inside / delivered
    y = tail_ms - propagation_ms - service_ms  # waiting time beyond which a request is late (ms)
    if y < 0.0:
        p_late = 1.0
    elif y >= room:
        p_late = 0.0
    else:
        g_y = _density(theta, buffer_ms, y)
        p_late = scale * _mass(theta, g_y, g_room, room - y) / delivered
    return propagation_ms + service_ms + wait, p_late, p_drop


@jit
def _link_state(
    rates_per_s: np.ndarray, wire_mbit_per_class: np.ndarray, bandwidth_gbps: float, buf_ms: float
) -> tuple[float, float, float, float]:
    """:func:`link_workload` of one link from its (K,) request rates (requests/s) and sizes."""
    lam = 0.0  # requests/ms
    m1 = 0.0
    m2 = 0.0
    for k in range(rates_per_s.shape[0]):
        s = wire_mbit_per_class[k] / bandwidth_gbps  # ms: Mbit / (Gbit/s)
        r = rates_per_s[k] * 1e-3
        lam += r
        m1 += r * s
        m2 += r * s * s
    load = m1
    if lam > 0.0:
        m1 /= lam
        m2 /= lam
    return link_workload(load, m1, m2, buf_ms)


@jit
def fifo_link_batch(
    rates_per_s: np.ndarray,
    wire_mbit_per_class: np.ndarray,
    bandwidth_gbps: np.ndarray,
    propagation_ms: np.ndarray,
    buffer_ms: np.ndarray,
    tail_ms: np.ndarray,
    delay_ms: np.ndarray,
    p_late: np.ndarray,
    p_drop: np.ndarray,
    carried_gbps: np.ndarray,
) -> None:
    """The link model for a batch of B links and K request classes, written into outputs.

    Args:
        rates_per_s: (B, K) Poisson request arrival rate per link and class (requests/s).
        wire_mbit_per_class: (K,) bits on the wire of one request per class (Mbit), see
            :func:`wire_mbit`.
        bandwidth_gbps: (B,) link bandwidth (Gbit/s).
        propagation_ms: (B,) one-way propagation delay (ms).
        buffer_ms: (B,) buffer in ms of transmission at the link's bandwidth (ms).
        tail_ms: (K,) per-class threshold of the tail probability (ms).
        delay_ms: (B, K) output, mean delay of delivered requests (ms).
        p_late: (B, K) output, ``P(delay > tail_ms | delivered)``.
        p_drop: (B, K) output, fraction of requests dropped at the full buffer.
        carried_gbps: (B,) output, throughput the link carries, headers included (Gbit/s).
    """
    n_links, n_classes = rates_per_s.shape
    for b in range(n_links):
        bw = bandwidth_gbps[b]
        theta, p_idle, scale, edge = _link_state(
            rates_per_s[b], wire_mbit_per_class, bw, buffer_ms[b]
        )
        for k in range(n_classes):
            d, late, drop = request_delay(
                theta,
                p_idle,
                scale,
                edge,
                buffer_ms[b],
                wire_mbit_per_class[k] / bw,
                propagation_ms[b],
                tail_ms[k],
            )
            delay_ms[b, k] = d
            p_late[b, k] = late
            p_drop[b, k] = drop
        carried_gbps[b] = bw * (1.0 - p_idle)


@jit
def delay_quantile(
    q: float,
    rates_per_s: np.ndarray,
    wire_mbit_per_class: np.ndarray,
    bandwidth_gbps: float,
    propagation_ms: float,
    buffer_ms: float,
) -> float:
    """The ``q``-quantile (ms) of the delay of delivered requests of all classes on one link.

    Solves ``Σ_k w_k P(delay_k > x | delivered) = 1 − q`` for ``x`` by bisection (60 halvings of
    ``[propagation, propagation + K + max S_k]``), with ``w_k`` each class's share of the
    delivered requests. For reports, not for a step kernel. NaN when no request is delivered.

    Args:
        q: Quantile level in (0, 1), e.g. 0.95.
        rates_per_s: (K,) request rates (requests/s).
        wire_mbit_per_class: (K,) bits on the wire per request (Mbit).
        bandwidth_gbps: Bandwidth (Gbit/s).
        propagation_ms: One-way propagation delay (ms).
        buffer_ms: Buffer in ms of transmission (ms).
    """
    theta, p_idle, scale, edge = _link_state(
        rates_per_s, wire_mbit_per_class, bandwidth_gbps, buffer_ms
    )
    lo = propagation_ms
    hi = propagation_ms + buffer_ms + wire_mbit_per_class.max() / bandwidth_gbps
    for _ in range(60):
        x = 0.5 * (lo + hi)
        late = 0.0
        weight = 0.0
        for k in range(rates_per_s.shape[0]):
            _, p_late, p_drop = request_delay(
                theta,
                p_idle,
                scale,
                edge,
                buffer_ms,
                wire_mbit_per_class[k] / bandwidth_gbps,
                propagation_ms,
                x,
            )
            w = rates_per_s[k] * (1.0 - p_drop)
            late += w * p_late
            weight += w
        if weight <= 0.0:
            return math.nan
        if late > (1.0 - q) * weight:
            lo = x
        else:
            hi = x
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class LinkPerformance:
    """The link model's outputs for a batch of B links and K request classes.

    Attributes:
        load: (B,) offered load on the wire, headers included (fraction of the bandwidth).
        delay_ms: (B, K) mean delay of delivered requests per class (ms): propagation, waiting
            and transmission of the whole request.
        p_late: (B, K) per class, ``P(delay > tail_ms | delivered)``.
        p_drop: (B, K) per class, fraction of requests dropped at the full buffer.
        carried_gbps: (B,) throughput carried by the link, headers included (Gbit/s).
        mean_delay_ms: (B,) mean delay over all delivered requests (ms); NaN where no request
            is offered or delivered (as ``p95_delay_ms``).
        drop_fraction: (B,) fraction of all requests dropped.
        bit_loss: (B,) fraction of the offered bits on the wire that the link drops.
        p95_delay_ms: (B,) 95th percentile of the delay over all delivered requests (ms).
    """

    load: np.ndarray
    delay_ms: np.ndarray
    p_late: np.ndarray
    p_drop: np.ndarray
    carried_gbps: np.ndarray
    mean_delay_ms: np.ndarray
    drop_fraction: np.ndarray
    bit_loss: np.ndarray
    p95_delay_ms: np.ndarray


def _batch(name: str, value: Any, n: int) -> np.ndarray:
    arr = as_finite_array(name, value)
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != n):
        raise ValueError(f"{name} must be a number or have shape ({n},), got shape {arr.shape}.")
    return np.ascontiguousarray(np.broadcast_to(arr, (n,)), dtype=np.float64)


def link_performance(
    rates_per_s: Any,
    data_mbit: Any,
    *,
    bandwidth_gbps: Any = 1.0,
    propagation_ms: Any = 30.0,
    buffer_bytes: Any = 7_500_000.0,
    tail_ms: Any = math.inf,
) -> LinkPerformance:
    """Validated, batched entry point of the link model (see the module docstring).

    Args:
        rates_per_s: (K,) or (B, K) Poisson request arrival rates per class (requests/s).
        data_mbit: (K,) payload of one request per class (Mbit), e.g. ``AppClass.data_mbit``;
            headers are added per :func:`wire_mbit`.
        bandwidth_gbps: Link bandwidth (Gbit/s), a number or (B,).
        propagation_ms: One-way propagation delay (ms), a number or (B,).
        buffer_bytes: Queue capacity (bytes), a number or (B,). The default, 7.5 MB, is the
            bandwidth-delay product of a 1 Gbit/s link with a 60-ms round trip.
        tail_ms: Threshold of ``p_late`` (ms), a number or (K,); ``inf`` gives zeros.

    Returns:
        A :class:`LinkPerformance` with a leading batch axis (B = 1 for 1-D ``rates_per_s``).

    Raises:
        ValueError: A negative, non-finite or wrongly shaped argument, or a zero bandwidth.
    """
    rates = as_finite_array("rates_per_s", rates_per_s)
    if rates.ndim == 1:
        rates = rates[None, :]
    if rates.ndim != 2 or rates.shape[1] == 0:
        raise ValueError(
            f"rates_per_s must have shape (K,) or (B, K) with K >= 1 classes, got {rates.shape}."
        )
    if np.any(rates < 0):
        raise ValueError(f"rates_per_s must be >= 0 (requests/s), got {rates_per_s!r}.")
    n_links, n_classes = rates.shape
    data = as_finite_array("data_mbit", data_mbit)
    if data.shape != (n_classes,):
        raise ValueError(
            f"data_mbit must have shape ({n_classes},), one size per class of rates_per_s, "
            f"got {data.shape}."
        )
    if np.any(data <= 0):
        raise ValueError(f"data_mbit must be > 0 (Mbit per request), got {data_mbit!r}.")
    bw = _batch("bandwidth_gbps", bandwidth_gbps, n_links)
    if np.any(bw <= 0):
        raise ValueError(f"bandwidth_gbps must be > 0 (Gbit/s), got {bandwidth_gbps!r}.")
    prop = _batch("propagation_ms", propagation_ms, n_links)
    if np.any(prop < 0):
        raise ValueError(f"propagation_ms must be >= 0 (ms), got {propagation_ms!r}.")
    buf_bytes = _batch("buffer_bytes", buffer_bytes, n_links)
    if np.any(buf_bytes < 0):
        raise ValueError(f"buffer_bytes must be >= 0 (bytes), got {buffer_bytes!r}.")
    tail = np.asarray(tail_ms, dtype=np.float64)
    if tail.ndim > 1 or (tail.ndim == 1 and tail.shape[0] != n_classes) or np.any(np.isnan(tail)):
        raise ValueError(
            f"tail_ms must be a number or have shape ({n_classes},) without NaN, got {tail_ms!r}."
        )
    tail = np.ascontiguousarray(np.broadcast_to(tail, (n_classes,)))

    wire = np.array([wire_mbit(float(d)) for d in data])
    buf = buf_bytes * 8.0 / (bw * 1e6)
    delay = np.empty((n_links, n_classes))
    late = np.empty((n_links, n_classes))
    drop = np.empty((n_links, n_classes))
    carried = np.empty(n_links)
    fifo_link_batch(
        np.ascontiguousarray(rates), wire, bw, prop, buf, tail, delay, late, drop, carried
    )

    offered_gbps = rates @ wire * 1e-3  # (requests/s) · Mbit = Mbit/s; /1e3 -> Gbit/s
    total = rates.sum(axis=1)
    delivered = rates * (1.0 - drop)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_delay = np.where(
            delivered.sum(axis=1) > 0,
            (delivered * delay).sum(axis=1) / delivered.sum(axis=1),
            np.nan,
        )
        drop_fraction = np.where(
            total > 0, (rates * drop).sum(axis=1) / np.where(total > 0, total, 1), 0.0
        )
        bit_loss = np.where(
            offered_gbps > 0,
            np.clip(1.0 - carried / np.where(offered_gbps > 0, offered_gbps, 1), 0.0, 1.0),
            0.0,
        )
    return LinkPerformance(
        load=offered_gbps / bw,
        delay_ms=delay,
        p_late=late,
        p_drop=drop,
        carried_gbps=carried,
        mean_delay_ms=mean_delay,
        drop_fraction=drop_fraction,
        bit_loss=bit_loss,
        p95_delay_ms=np.array(
            [delay_quantile(0.95, rates[b], wire, bw[b], prop[b], buf[b]) for b in range(n_links)]
        ),
    )
