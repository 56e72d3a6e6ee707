"""Wireless-powered MEC (DROO; model of Bi & Zhang): optimal rate for a mode, and the best mode.

Model (S. Bi and Y. J. Zhang, "Computation rate maximization for wireless powered mobile-edge
computing with binary computation offloading", IEEE TWC 17(6), 2018; used by L. Huang, S. Bi,
Y. J. Zhang, "Deep reinforcement learning for online computation offloading in wireless powered
mobile-edge computing networks" (DROO), IEEE TMC 19(11), 2020). In a frame of unit length the
access point first charges all N devices for a fraction ``a``; then each offloading device ``j``
transmits for ``tau_j``, with ``a + sum_j tau_j <= 1``. For channel power gains ``h`` and a binary
mode (1 = offload) the weighted sum computation rate [bits/s] is

    Q(a, tau) = sum_{i local}   w_i * eta1 * (h_i / k)^(1/3) * a^(1/3)
              + sum_{j offload} w_j * eps * tau_j * ln(1 + eta2 * h_j^2 * a / tau_j),

    eta1 = (mu * P)^(1/3) / phi,  eta2 = mu * P / N0,  eps = B / (v_u * ln 2).

For a fixed mode the problem is convex. With the multiplier ``v`` of the time constraint, the
KKT conditions give closed forms (Bi & Zhang 2018, section IV):

    x_j(v) = eta2 h_j^2 a / tau_j = -1 / W0(-exp(-1 - v / (w_j eps))) - 1,
    a(v)   = 1 / (1 + eta2 * sum_j h_j^2 / x_j(v)),       tau_j = eta2 h_j^2 a(v) / x_j(v),

and ``v`` is the root of the decreasing function

    g(v) = S / 3 * a(v)^(-2/3) + eps * eta2 * sum_j w_j h_j^2 / (1 + x_j(v)) - v,
    S = sum_{i local} w_i eta1 (h_i / k)^(1/3),

found here by a safeguarded Newton iteration (Newton steps inside a shrinking bracket, bisection
on ``log v`` otherwise), vectorised over a batch. The root lies in
``[Q*/3, Q*]`` (``v`` is the derivative of the optimal rate with respect to the frame length, and
each term of Q is homogeneous of degree 1/3 or 1), which brackets it from any feasible rate
below and the bound ``S + eps * eta2 * sum_j w_j h_j^2`` above. ``W0`` is the principal branch of
the Lambert W function (:func:`scipy.special.lambertw`).

Oracles over modes: exact enumeration of all 2^N modes for small N, and coordinate descent (as
Bi & Zhang 2018 and DROO use for comparison) for larger N, which is a local search and not exact.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal, NamedTuple

import numpy as np
from scipy.special import lambertw

from edgecloud_gym._validation import check_positive

from .mumt import all_decisions

__all__ = [
    "MAX_ENUMERATE_DEVICES",
    "WPMECOptimum",
    "WPMECParams",
    "WPMECResult",
    "default_weights",
    "wpmec_objective",
    "wpmec_optimum",
    "wpmec_rate",
]

#: ``wpmec_optimum(method="auto")`` enumerates all modes up to this many devices.
MAX_ENUMERATE_DEVICES = 12

_LOG_TOL = 1e-13  # the search stops when hi / lo < exp(_LOG_TOL) ...
_REL_TOL = 1e-13  # ... or when the Newton step is below this, relative to v
_MAX_ITER = 200
_CHUNK_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class WPMECParams:
    """Physical parameters of the wireless-powered MEC model (defaults: DROO / Bi & Zhang).

    Attributes:
        energy_harvesting_efficiency: mu, fraction of the received RF power harvested; 0.7.
        ap_power_w: P, access-point transmit power during wireless power transfer [W]; 3.
        cycles_per_bit: phi, CPU cycles to process one bit locally [cycles/bit]; 100.
        capacitance: k, effective switched capacitance of the device CPU; 1e-26.
        noise_w: N0, receiver noise power at the access point [W]; 1e-10.
        bandwidth_hz: B, uplink bandwidth [Hz]; 2e6.
        comm_overhead: v_u > 1, communication overhead factor of offloaded bits; 1.1.
    """

    energy_harvesting_efficiency: float = 0.7
    ap_power_w: float = 3.0
    cycles_per_bit: float = 100.0
    capacitance: float = 1e-26
    noise_w: float = 1e-10
    bandwidth_hz: float = 2e6
    comm_overhead: float = 1.1

    def __post_init__(self) -> None:
        for f in fields(self):
            value = check_positive(f"WPMECParams.{f.name}", getattr(self, f.name))
            object.__setattr__(self, f.name, value)

    @property
    def eta1(self) -> float:
        """(mu P)^(1/3) / phi, local computing coefficient."""
        return (self.energy_harvesting_efficiency * self.ap_power_w) ** (
            1.0 / 3
        ) / self.cycles_per_bit

    @property
    def eta2(self) -> float:
        """mu P / N0, received SNR coefficient [1/W x W]."""
        return self.energy_harvesting_efficiency * self.ap_power_w / self.noise_w

    @property
    def eps(self) -> float:
        """B / (v_u ln 2) [bits/s per nat]."""
        return self.bandwidth_hz / (self.comm_overhead * np.log(2.0))


class WPMECResult(NamedTuple):
    """Optimal resource allocation for given modes (unpacks as ``rate, a, tau``).

    Attributes:
        rate: maximal weighted sum computation rate [bits/s], shape of the batch axes.
        a: optimal wireless-power-transfer fraction of the frame, shape of the batch axes.
        tau: optimal offloading time fractions, shape ``(..., N)``, 0 for local devices.
    """

    rate: np.ndarray
    a: np.ndarray
    tau: np.ndarray


class WPMECOptimum(NamedTuple):
    """Best mode found by :func:`wpmec_optimum`.

    Attributes:
        rate: best weighted sum computation rate [bits/s], shape of the batch axes.
        mode: the mode attaining it, shape ``(..., N)``, int8.
        a: its wireless-power-transfer fraction.
        tau: its offloading time fractions, shape ``(..., N)``.
        exact: True for enumeration (the global optimum), False for coordinate descent.
    """

    rate: np.ndarray
    mode: np.ndarray
    a: np.ndarray
    tau: np.ndarray
    exact: bool


def default_weights(n_devices: int) -> np.ndarray:
    """DROO's weights: 1 for even device indices, 1.5 for odd ones (0-based), shape (N,)."""
    return np.where(np.arange(n_devices) % 2 == 1, 1.5, 1.0)


def _check_h(h: object) -> np.ndarray:
    try:
        arr = np.asarray(h, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"h must be numeric channel gains, got {h!r}.") from exc
    if arr.ndim < 1 or arr.shape[-1] == 0:
        raise ValueError(
            f"h must have shape (N,) or (..., N) with N >= 1 devices, got {arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError("h must be finite (no NaN or inf).")
    if np.any(arr < 0):
        raise ValueError(
            f"h must hold channel power gains >= 0, got a minimum of {arr.min()!r}; pass |g|^2, "
            "not an amplitude in dB."
        )
    return arr


def _check_mode(mode: object, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(mode)
    if arr.shape != shape:
        raise ValueError(f"mode must have the shape of h, {shape}, got {arr.shape}.")
    if arr.dtype == bool:
        arr = arr.astype(np.int8)
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"mode must be numeric 0/1, got dtype {arr.dtype}.")
    ok = (arr == 0) | (arr == 1)
    if not np.all(ok):
        raise ValueError(
            f"mode entries must be binary (0 local, 1 offload), got {arr[~ok].ravel()[0]!r}."
        )
    return arr.astype(np.int8)


def _check_weights(weights: object, n: int) -> np.ndarray:
    if weights is None:
        return default_weights(n)
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"weights must be numeric, got {weights!r}.") from exc
    if w.ndim < 1 or w.shape[-1] != n:
        raise ValueError(f"weights must have shape (N,) = ({n},) or (..., {n}), got {w.shape}.")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and >= 0 (0 switches a device's rate off).")
    return w


def _objective(
    h: np.ndarray, w: np.ndarray, m: np.ndarray, a: np.ndarray, tau: np.ndarray, p: WPMECParams
) -> np.ndarray:
    local = (w * p.eta1 * np.cbrt(h / p.capacitance) * ~m).sum(-1) * np.cbrt(a)
    c2 = p.eta2 * h * h
    pos = m & (tau > 0)
    tau_safe = np.where(pos, tau, 1.0)
    off = np.where(pos, w * tau_safe * np.log1p(c2 * a[..., None] / tau_safe), 0.0)
    return local + p.eps * off.sum(-1)


def _x_of(c: np.ndarray) -> np.ndarray:
    """Solve ln(1 + x) - x / (1 + x) = c for x > 0 (c > 0) with the principal Lambert W."""
    with np.errstate(divide="ignore"):  # W0(-0) = 0 gives x = inf: the device gets no time
        return -1.0 / lambertw(-np.exp(-1.0 - c)).real - 1.0


def _solve(h: np.ndarray, mode: np.ndarray, w: np.ndarray, p: WPMECParams) -> WPMECResult:
    """Vectorised bisection; ``h``, ``mode`` and ``w`` broadcast to ``(..., N)``."""
    h, mode, w = np.broadcast_arrays(h, mode, w)
    m = (mode == 1) & (w > 0)
    s_local = (w * p.eta1 * np.cbrt(h / p.capacitance) * ~m).sum(-1)
    c2 = np.where(m, p.eta2 * h * h, 0.0)
    g_sum = (w * c2).sum(-1)
    n_off = m.sum(-1)
    degenerate = g_sum <= 0  # nobody offloads usefully: all time goes to charging
    weps = np.where(m, w * p.eps, 1.0)

    # Bracket [F_lb / 3, S + eps * eta2 * sum w h^2] from a feasible point (a = 1/2).
    tau0 = np.where(m, 0.5 / np.maximum(n_off, 1)[..., None], 0.0)
    f_half = _objective(h, w, m, np.full(h.shape[:-1], 0.5), tau0, p)
    lo = np.maximum(np.maximum(s_local, f_half) / 3.0, np.finfo(float).tiny)
    hi = np.maximum(s_local + p.eps * g_sum, lo * 2.0)

    def a_of(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.where(m, _x_of(v[..., None] / weps), 1.0)
        return 1.0 / (1.0 + (c2 / x).sum(-1)), x

    # Safeguarded Newton: a Newton step on g when it stays inside the bracket, else the
    # geometric midpoint. g is smooth and strictly decreasing, so this converges quadratically.
    w_m = np.where(m, w, 0.0)
    v = np.sqrt(lo * hi)
    active = ~degenerate
    for _ in range(_MAX_ITER):
        if not np.any(active):
            break
        a, x = a_of(v)
        g = s_local / 3.0 * a ** (-2.0 / 3.0) + p.eps * (w_m * c2 / (1.0 + x)).sum(-1) - v
        up = g > 0
        lo = np.where(active & up, v, lo)
        hi = np.where(active & ~up, v, hi)
        # dx/dv = (1 + x)^2 / (x w eps); da/dv = a^2 sum c2 / x^2 dx/dv;
        # g'(v) = -(2/9) S a^(-5/3) da/dv - sum c2 / x - 1.
        finite = m & np.isfinite(x)
        x_f = np.where(finite, x, 1.0)
        dx = np.where(finite, (1.0 + x_f) ** 2 / (x_f * weps), 0.0)
        da = a * a * (c2 / (x_f * x_f) * dx).sum(-1)
        dg = -(2.0 / 9.0) * s_local * a ** (-5.0 / 3.0) * da - (c2 / x_f).sum(-1) - 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            step = g / dg
        newton = v - step
        inside = np.isfinite(newton) & (newton > lo) & (newton < hi)
        done = (np.abs(step) <= _REL_TOL * v) | (np.log(hi / lo) <= _LOG_TOL)
        v_next = np.where(done, v, np.where(inside, newton, np.sqrt(lo * hi)))
        v = np.where(active, v_next, v)
        active = active & ~done

    a, x = a_of(v)
    a = np.where(degenerate, 1.0, a)
    tau = np.where(m & ~degenerate[..., None], c2 * a[..., None] / x, 0.0)
    rate = _objective(h, w, m, a, tau, p)
    return WPMECResult(rate, a, tau)


def _squeeze(res: WPMECResult) -> WPMECResult:
    if res.rate.ndim == 0:
        return WPMECResult(res.rate[()], res.a[()], res.tau)
    return res


def wpmec_rate(
    h: object, mode: object, weights: object = None, params: WPMECParams | None = None
) -> WPMECResult:
    """Optimal weighted sum computation rate and time allocation for a given offloading mode.

    Args:
        h: channel power gains (dimensionless, DROO's are around 1e-6), shape ``(N,)`` or
            ``(..., N)``, >= 0 (0 switches a device off).
        mode: binary mode of the same shape, 1 = offload to the access point, 0 = compute locally.
        weights: per-device weights, shape ``(N,)`` or broadcastable to ``h``; default DROO's
            (1 for even, 1.5 for odd device index).
        params: physical parameters, DROO's by default.

    Returns:
        ``WPMECResult(rate, a, tau)``: the rate [bits/s] and the optimal charging fraction and
        offloading time fractions (``a + tau.sum(-1) == 1`` up to rounding).

    Raises:
        ValueError: wrong shapes, negative or non-finite gains, or a non-binary mode.
    """
    params = WPMECParams() if params is None else params
    h_arr = _check_h(h)
    m = _check_mode(mode, h_arr.shape)
    w = _check_weights(weights, h_arr.shape[-1])
    return _squeeze(_solve(h_arr, m, w, params))


def wpmec_objective(
    h: object,
    mode: object,
    a: object,
    tau: object,
    weights: object = None,
    params: WPMECParams | None = None,
) -> np.ndarray:
    """Weighted sum computation rate [bits/s] of a given allocation ``(a, tau)`` (not optimised).

    ``a`` has the batch shape, ``tau`` the shape of ``h``; ``tau`` of local devices is ignored.
    """
    params = WPMECParams() if params is None else params
    h_arr = _check_h(h)
    m = _check_mode(mode, h_arr.shape).astype(bool)
    w = _check_weights(weights, h_arr.shape[-1])
    a_arr = np.asarray(a, dtype=np.float64)
    tau_arr = np.asarray(tau, dtype=np.float64)
    if a_arr.shape != h_arr.shape[:-1] or tau_arr.shape != h_arr.shape:
        raise ValueError(
            f"a must have shape {h_arr.shape[:-1]} and tau shape {h_arr.shape}, got "
            f"{a_arr.shape} and {tau_arr.shape}."
        )
    if np.any(a_arr < 0) or np.any(tau_arr < 0):
        raise ValueError("a and tau must be >= 0 (fractions of the frame).")
    w, m = np.broadcast_arrays(w, m)
    out = _objective(h_arr, w, m, a_arr, tau_arr, params)
    return out[()] if out.ndim == 0 else out


def _enumerate(h: np.ndarray, w: np.ndarray, p: WPMECParams) -> WPMECOptimum:
    n = h.shape[-1]
    modes = all_decisions(n, 2)  # (2^N, N)
    batch = h.shape[:-1]
    hf = h.reshape(-1, n)
    wf = np.broadcast_to(w, (*batch, n)).reshape(-1, n)
    step = max(1, _CHUNK_ELEMENTS // (modes.shape[0] * n))
    best = np.empty(hf.shape[0], dtype=np.int64)
    for start in range(0, hf.shape[0], step):
        sl = slice(start, start + step)
        rates = _solve(hf[sl, None, :], modes, wf[sl, None, :], p).rate
        best[sl] = np.argmax(rates, axis=-1)
    mode = modes[best].reshape(*batch, n)
    res = _solve(h, mode, w, p)
    return WPMECOptimum(res.rate, mode, res.a, res.tau, True)


def _coordinate_descent(h: np.ndarray, w: np.ndarray, p: WPMECParams) -> WPMECOptimum:
    n = h.shape[-1]
    batch = h.shape[:-1]
    hf = h.reshape(-1, n)
    wf = np.broadcast_to(w, (*batch, n)).reshape(-1, n)
    mode = np.zeros_like(hf, dtype=np.int8)
    rate = _solve(hf, mode, wf, p).rate
    flips = np.eye(n, dtype=np.int8)
    rows = np.arange(hf.shape[0])
    for _ in range(n * n + 1):  # every accepted flip strictly improves: finite
        cand = mode[:, None, :] ^ flips[None]  # (B, N, N): flip one device each
        rates = _solve(hf[:, None, :], cand, wf[:, None, :], p).rate
        j = np.argmax(rates, axis=-1)
        better = rates[rows, j] > rate * (1.0 + 1e-12)
        if not np.any(better):
            break
        mode = np.where(better[:, None], cand[rows, j], mode)
        rate = np.where(better, rates[rows, j], rate)
    mode = mode.reshape(*batch, n)
    res = _solve(h, mode, w, p)
    return WPMECOptimum(res.rate, mode, res.a, res.tau, False)


def wpmec_optimum(
    h: object,
    weights: object = None,
    params: WPMECParams | None = None,
    *,
    method: Literal["auto", "enumerate", "coordinate_descent"] = "auto",
) -> WPMECOptimum:
    """Best offloading mode for channel gains ``h`` (shape ``(N,)`` or ``(..., N)``).

    Args:
        h: channel power gains, >= 0.
        weights: per-device weights (default DROO's alternating 1 / 1.5).
        params: physical parameters, DROO's by default.
        method: ``"enumerate"`` solves all 2^N modes (exact; N <= 20, practical to about 12);
            ``"coordinate_descent"`` starts from all-local and flips the single device that
            raises the rate most until no flip helps (Bi & Zhang 2018's baseline; a local
            optimum, **not exact**); ``"auto"`` enumerates when N <= MAX_ENUMERATE_DEVICES.

    Returns:
        ``WPMECOptimum(rate, mode, a, tau, exact)``.
    """
    params = WPMECParams() if params is None else params
    h_arr = _check_h(h)
    w = _check_weights(weights, h_arr.shape[-1])
    methods = ("auto", "enumerate", "coordinate_descent")
    if method not in methods:
        raise ValueError(f"method must be one of {methods}, got {method!r}.")
    n = h_arr.shape[-1]
    if method == "enumerate" or (method == "auto" and n <= MAX_ENUMERATE_DEVICES):
        res = _enumerate(h_arr, w, params)
    else:
        res = _coordinate_descent(h_arr, w, params)
    if res.rate.ndim == 0:
        return WPMECOptimum(res.rate[()], res.mode, res.a[()], res.tau, res.exact)
    return res
