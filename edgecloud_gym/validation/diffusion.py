"""A diffusion model of one server's step: the candidate for model v1's within-step waiting.

The number of requests in a c-core server is taken as a reflected Brownian motion ``Y`` with
drift ``m = lambda - c mu`` and variance rate ``sigma^2 = lambda + c mu`` (per second): the
heavy-traffic limit of the M/M/c queue (Harrison, *Brownian Motion and Stochastic Flow Systems*,
1985). Its reflecting barrier lies ``L`` below the all-cores-busy level, with ``L`` chosen so
that the stationary probability of waiting, ``P(Y > 0) = exp(-2 |m| L / sigma^2)``, equals Erlang
C (:func:`barrier`). With ``Z = Y + L >= 0``, the queue is ``(Z - L)^+`` and an arrival at time
``t`` waits ``(Z(t) - L)^+ / (c mu)``.

The transient law of the reflected motion is closed form (Abate and Whitt, "Transient behavior
of regulated Brownian motion", Adv. Appl. Prob. 19, 1987), from a point ``x``:

    P(Z(t) > z) = Phi((x - z + m t) / s) + exp(2 m z / sigma^2) Phi((-x - z - m t) / s)

with ``s = sigma sqrt(t)``, and, integrating over an exponential start of rate ``g`` (the shape of
the stationary law, so that a stationary queue stays stationary),

    P(Z(t) > z) = Phi(a/s) + exp(g a + g^2 s^2 / 2) Phi(-a/s - g s)
                  + exp(2 m z / sigma^2) [Phi(b/s) - exp(-g b + g^2 s^2 / 2) Phi(b/s - g s)]

with ``a = m t - z`` and ``b = -z - m t``. :func:`step_waits` averages these over arrival instants
spread uniformly in a step and gives the step's mean and p95 wait, its probability of waiting
and the mean of ``Z`` at its end. ``docs/validation.md`` and ``scripts/server_diffusion_check.py``
compare it with the request-level simulator. Used for validation only; the step kernel does not
use it (yet).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import erfcx
from scipy.stats import norm

from edgecloud_gym.validation.theory import erlang_c

__all__ = ["LAWS", "StepWaits", "barrier", "reflected_tail", "step_waits"]

#: Laws of ``Z`` at the start of a step: a point, or an exponential with the given mean.
LAWS = ("point", "exponential")
#: Utilisation at which the barrier is taken when the load is at or above it.
_RHO_BARRIER = 0.99


class StepWaits(NamedTuple):
    """One step's waits: mean and p95 (s), the probability of waiting, and the mean of ``Z``
    (requests) at the end of the step."""

    mean_s: float
    p95_s: float
    p_wait: float
    end_mean: float


def barrier(cores: int, rho: float) -> float:
    """``L`` (requests): the barrier's depth below the all-cores-busy level at utilisation
    ``rho`` (taken at 0.99 for ``rho`` at or above it), so that the reflected motion's stationary
    probability of waiting equals Erlang C."""
    r = min(float(rho), _RHO_BARRIER)
    if r <= 0.0:
        raise ValueError(f"rho must be > 0, got {rho}.")
    return (r + 1.0) / (2.0 * (1.0 - r)) * float(np.log(1.0 / erlang_c(cores, r * cores)))


def _exp_times_phi(x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``exp(x) Phi(-u)`` without overflow: through erfcx where ``u > 0``, directly elsewhere."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        scaled = np.exp(x - 0.5 * u * u) * 0.5 * erfcx(np.maximum(u, 0.0) / np.sqrt(2.0))
        direct = np.exp(np.minimum(x, 700.0)) * norm.sf(u)
    return np.where(u > 0, scaled, direct)


def reflected_tail(
    z: np.ndarray, start: float, drift: float, variance: float, t: float, law: str = "point"
) -> np.ndarray:
    """``P(Z(t) > z)`` of a Brownian motion with ``drift`` and ``variance`` rate reflected at 0,
    started from the point ``start`` (``law="point"``) or from an exponential law of mean
    ``start`` (``law="exponential"``; a mean of 0 is the point 0)."""
    if law not in LAWS:
        raise ValueError(f"law must be one of {LAWS}, got {law!r}.")
    z = np.asarray(z, dtype=np.float64)
    s = np.sqrt(variance * t)
    reflect = np.exp(np.clip(2 * drift * z / variance, -700, 700))
    if law == "point" or start <= 1e-9:
        x = start if law == "point" else 0.0
        return norm.sf((z - x - drift * t) / s) + reflect * norm.cdf((-z - x - drift * t) / s)
    g = 1.0 / start
    a, b = drift * t - z, -z - drift * t
    half = 0.5 * (g * s) ** 2
    first = norm.cdf(a / s) + _exp_times_phi(g * a + half, a / s + g * s)
    second = norm.cdf(b / s) - _exp_times_phi(-g * b + half, g * s - b / s)
    return first + reflect * second


def step_waits(
    cores: int,
    rho: float,
    mean_service_s: float,
    start: float,
    *,
    law: str = "point",
    step_s: float = 1.0,
    points: int = 16,
    span: float = 4000.0,
    resolution: int = 20001,
) -> StepWaits:
    """The waits of one step's arrivals (instants uniform in the step).

    Args:
        cores: Cores c of the server.
        rho: Offered utilisation ``lambda / (c mu)`` in the step.
        mean_service_s: Mean service time (s).
        start: The start of ``Z`` (requests): its point, or its mean (``law="exponential"``).
            A queue of ``q`` waiting requests is the point ``q + L``; an empty one the point 0.
        law: ``"point"`` or ``"exponential"`` (:data:`LAWS`).
        step_s: Length of the step (s).
        points: Arrival instants averaged over (midpoints of equal parts of the step).
        span: Range of ``Z`` above the barrier on which tails are evaluated (requests).
        resolution: Points of that range.
    """
    mu = 1.0 / mean_service_s
    drift, variance = (rho - 1.0) * cores * mu, (rho + 1.0) * cores * mu
    depth = barrier(cores, rho)
    z = np.linspace(depth, depth + span, resolution)
    ts = (np.arange(points) + 0.5) / points * step_s
    tails = np.mean([reflected_tail(z, start, drift, variance, t, law) for t in ts], axis=0)
    p_wait = float(tails[0])
    rate = cores * mu
    mean = float(np.trapezoid(tails, z)) / rate
    above = np.searchsorted(-tails, -0.05)
    p95 = (float(z[min(above, z.size - 1)]) - depth) / rate if p_wait > 0.05 else 0.0
    whole = np.linspace(0.0, depth + span, resolution)
    end_mean = float(
        np.trapezoid(reflected_tail(whole, start, drift, variance, step_s, law), whole)
    )
    return StepWaits(mean, p95, p_wait, end_mean)
