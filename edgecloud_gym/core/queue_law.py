"""The law of one server's queue over a step (model v1): compiled helpers of the step kernel.

The number of requests at a server is a reflected Brownian motion ``Z`` on ``[0, K]`` whose law is
kept in the family with density proportional to ``exp(kappa z)``, fixed by its mean (see
:mod:`edgecloud_gym.core.dynamics` and ``docs/environment.md``, section 3.3). This module holds
that family (its shape table, tail, densities and excess over a level), the integration of its
mean over a step (:func:`_server_step`), and the lateness of a request under it
(:func:`late_fraction`, also used by the validation against the request-level simulator).
"""

from __future__ import annotations

import math

import numpy as np

from edgecloud_gym.core._jit import jit

__all__ = ["EMPTY", "SUBSTEPS", "family_shape", "late_fraction"]

#: Queue state of an empty server: far below the all-busy level (requests).
EMPTY = -1e300

#: Substeps of the integration of a server's queue law over one step (midpoint rule).
SUBSTEPS = 2
_EDGE = 1e-9  # the mean of Z is kept this far (relative to K) inside (0, K)
_FAR = 40.0  # exp(-40) = 4e-18: terms this small are dropped without computing them

# Shape of the family: for the density proportional to exp(x u) on u in [0, 1], the mean is
# g(x) = 1 / (1 - exp(-x)) - 1 / x. _H[j] = x y (1 - y) at y = j / (len - 1), where g(x) = y: a
# smooth function from -1 (y -> 0, an exponential law) to 1 (y -> 1, piled at the top) that the
# kernel interpolates to invert g.
_N_SHAPE = 4097


def family_shape(n: int = _N_SHAPE) -> np.ndarray:
    """``x y (1 - y)`` on ``n`` equally spaced means ``y`` in [0, 1], where ``x`` is the exponent
    whose law (density proportional to ``exp(x u)`` on [0, 1]) has mean ``y``."""
    x = np.concatenate([-np.geomspace(1e7, 1e-5, 20000), [0.0], np.geomspace(1e-5, 1e7, 20000)])
    with np.errstate(all="ignore"):
        g = np.where(np.abs(x) < 1e-4, 0.5 + x / 12.0, 1.0 / (-np.expm1(-x)) - 1.0 / x)
    y = np.linspace(0.0, 1.0, n)
    xs = np.interp(y, g, x)
    h = xs * y * (1.0 - y)
    h[0], h[-1] = -1.0, 1.0
    return h


_H = family_shape()


@jit
def _shape(y):  # pragma: no cover - compiled
    """The exponent ``x = kappa K`` of the law whose mean is ``y K``."""
    pos = y * (_N_SHAPE - 1)
    j = int(pos)
    if j >= _N_SHAPE - 1:
        j = _N_SHAPE - 2
    f = pos - j
    h = _H[j] + f * (_H[j + 1] - _H[j])
    return h / (y * (1.0 - y))


@jit
def _tail(x, k, z):  # pragma: no cover - compiled
    """P(Z > z) for z in [0, K]."""
    if z >= k:
        return 0.0
    if z <= 0.0:
        return 1.0
    if abs(x) < 1e-6:
        return (k - z) / k
    kap = x / k
    if x > 0.0:
        return -math.expm1(kap * (z - k)) / -math.expm1(-x)
    return (math.exp(kap * z) - math.exp(x)) / -math.expm1(x)


@jit
def _law(x, k, lvl):  # pragma: no cover - compiled
    """Densities at 0 and K, E[(Z - lvl)^+] and P(Z > lvl) of the law of exponent x on [0, K],
    with at most two ``exp`` (none where the law is far from a barrier or from ``lvl``)."""
    if abs(x) < 1e-6:
        d = k - lvl
        return 1.0 / k, 1.0 / k, d * d / (2.0 * k), d / k
    kap = x / k
    d = k - lvl
    if x > 0.0:
        e = math.exp(-x) if x < _FAR else 0.0
        top = kap / (1.0 - e)
        g = -math.expm1(-kap * d)
        return top * e, top, (d - g / kap) / (1.0 - e), g / (1.0 - e)
    e = math.exp(x) if x > -_FAR else 0.0
    bottom = -kap / (1.0 - e)
    a = kap * lvl
    if a < -_FAR:  # no mass above lvl worth an exp
        return bottom, bottom * e, 0.0, 0.0
    h = math.exp(a)
    return bottom, bottom * e, ((h - e) / -kap - d * e) / (1.0 - e), (h - e) / (1.0 - e)


@jit
def _wait_tail(x, k, lvl, pw):  # pragma: no cover - compiled
    """The terms of the wait law's tail that all classes of a server share: the waiting part of
    the law of exponent x on [0, K] above ``lvl``, rescaled to the mass ``pw``. Returns
    ``(kap, scale, log_c, e_abs)``: the exponent per request, the density's scale (density
    ``scale exp(kap (z - ref))``, ref = K for x > 0 and 0 otherwise), ``kap (lvl - ref)``,
    ``exp(-|x|)`` and ``exp(kap (lvl - ref))`` (0 where it is below ``exp(-40)``), which every
    class's :func:`_late_fraction` needs."""
    if pw <= 1e-12 or lvl >= k:
        return 0.0, 0.0, 0.0, 0.0, 0.0
    if abs(x) < 1e-6:
        mass = (k - lvl) / k
        return 0.0, pw / mass / k, 0.0, 1.0, 1.0
    kap = x / k
    e_abs = math.exp(-abs(x)) if abs(x) < _FAR else 0.0
    ref = k if x > 0.0 else 0.0
    log_c = kap * (lvl - ref)
    # P(Z > lvl) of the law itself, to rescale its waiting part to the step's mass pw
    c0 = math.exp(log_c) if log_c > -_FAR else 0.0
    if x > 0.0:
        mass = -math.expm1(log_c) / (1.0 - e_abs)
    else:
        mass = (c0 - e_abs) / (1.0 - e_abs) if log_c > -_FAR else 0.0
    if mass <= 1e-300:
        return 0.0, 0.0, 0.0, 0.0, 0.0
    return kap, abs(kap) / (1.0 - e_abs) * pw / mass, log_c, e_abs, c0


@jit
def _late_fraction(kap, scale, log_c, e_abs, c0, k, lvl, pw, rate, slack):  # pragma: no cover
    """P((Z - lvl)^+ + S > slack) with S exponential of the given rate (per request of work):
    an atom ``1 - pw`` at no wait, and the waiting part of :func:`_wait_tail` (whose terms,
    ``c0 = exp(log_c)`` among them, a server's classes share). Two ``exp``."""
    if slack <= 0.0:
        return 1.0
    no_wait = math.exp(-rate * slack)
    if scale == 0.0:
        return no_wait
    top = lvl + slack  # where the wait alone reaches the slack
    g = kap + rate
    if top < k:
        # density integrated against P(S > slack - w) up to top, then all of the mass beyond
        f_top = math.exp(log_c + kap * slack)  # exp(kap (top - ref))
        lo = c0 * no_wait
        part = scale * (f_top - lo) / g if abs(g * slack) > 1e-9 else scale * slack * lo
        if abs(kap) < 1e-12:
            beyond = scale * (k - top)
        elif kap > 0.0:
            beyond = scale * (1.0 - f_top) / kap
        else:
            beyond = scale * (f_top - e_abs) / -kap
    else:
        v = k - lvl
        hi = math.exp(log_c + kap * v - rate * (slack - v))
        lo = c0 * no_wait
        part = scale * (hi - lo) / g if abs(g * v) > 1e-9 else scale * v * lo
        beyond = 0.0
    return min(max((1.0 - pw) * no_wait + part + beyond, 0.0), 1.0)


@jit
def _server_step(z0, k, lvl, m, half_v, steps, buf):  # pragma: no cover - compiled
    """Integrate one server's law over the step (time unit: the step).

    The mean ``z`` of Z moves by ``m + (v / 2) (f(0) - f(K))``. Near a barrier that is stiff (the
    law relaxes in a fraction of a step at low load), so each substep is semi-implicit in the
    distance ``w`` to the nearer barrier: with ``phi = w f(barrier)`` (between 1/2 for a uniform
    law and 1 for an exponential one) held at its start value, ``w^2`` grows by ``h (v phi + 2 w'
    m')``, a quadratic in the new ``w'`` whose root is stable for any step ``h`` and has the
    exact stationary point ``w = v phi / (2 |m'|)``.

    Returns the end mean, the step's mean queue and probability of waiting (trapezoid over the
    substeps, i.e. averaged over arrival instants), the dropped requests (the upper reflection),
    the exponent at mid-step and the end law's queue ``E[(Z - lvl)^+]`` (the backlog it leaves).
    """
    h = 1.0 / steps
    z = z0
    x = _shape(min(max(z / k, _EDGE), 1.0 - _EDGE))
    f0, fk, q_prev, p_prev = _law(x, k, lvl)
    queue = 0.0
    pw = 0.0
    lost = 0.0
    x_mid = x
    for j in range(steps):
        lower = z < 0.5 * k
        w = z if lower else k - z  # distance to the nearer barrier
        mp = m - half_v * fk if lower else -(m + half_v * f0)  # drift away from it
        phi = w * (f0 if lower else fk)
        if mp > 0.0:
            # moving away from the barrier (not stiff): midpoint rule in w^2, phi at mid-substep
            wm = math.sqrt(w * w + h * (2.0 * w * mp + 2.0 * half_v * phi) * 0.5)
            zm = wm if lower else k - wm
            xm = _shape(min(max(zm / k, _EDGE), 1.0 - _EDGE))
            g0, gk, _, _ = _law(xm, k, k)
            mpm = m - half_v * gk if lower else -(m + half_v * g0)
            grow = 2.0 * wm * mpm + 2.0 * half_v * wm * (g0 if lower else gk)
            w = math.sqrt(max(w * w + h * grow, 0.0))
        else:
            c = h * mp
            w = c + math.sqrt(c * c + w * w + 2.0 * h * half_v * phi)
        z = w if lower else k - w
        z = min(max(z, _EDGE * k), (1.0 - _EDGE) * k)
        x = _shape(z / k)
        f0, fk, q, p = _law(x, k, lvl)
        queue += 0.5 * (q_prev + q)
        pw += 0.5 * (p_prev + p)
        lost += half_v * fk * h
        q_prev, p_prev = q, p
        if j == (steps - 1) // 2:
            x_mid = x
    return z, min(queue * h, buf), pw * h, lost, x_mid, q_prev


def late_fraction(law: np.ndarray, service_ms: float, path_ms: float, t_ms: float) -> float:
    """P(round trip > ``t_ms``) for a request of one server's step whose wait law is ``law``
    (a row of ``StepResult.wait_law``), exponential service of mean ``service_ms`` and a fixed
    path of ``path_ms`` (both ways, without waiting or service)."""
    x, k, lvl, cmu, pw = (float(v) for v in law[:5])
    if cmu <= 0.0:
        return 0.0
    kap, scale, log_c, e_abs, c0 = _wait_tail(x, k, lvl, pw)
    rate, slack = 1.0 / (service_ms * cmu), (t_ms - path_ms) * cmu
    return float(_late_fraction(kap, scale, log_c, e_abs, c0, k, lvl, pw, rate, slack))
