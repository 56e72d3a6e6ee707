"""Poisson arrivals drawn in compiled code, draw for draw the values of ``Generator.poisson``.

A reset of a thousand systems draws more than a million Poisson variates. This module
implements the two algorithms numpy's ``Generator`` uses, reading the same uniforms from the
same bit generator in the same order, so an episode keeps its realisation
(``tests/test_rng.py`` compares the two draw for draw, ``tests/test_workload.py`` pins seeded
episodes). It saves numpy's per-call work (argument checks under the GIL, an integer array to
convert), because it runs inside the workload sampler's compiled loop over many systems
(:mod:`edgecloud_gym.core._rng`), and three of the five logarithms of PTRS's acceptance test
(below).

- ``lam >= 10``: Hörmann's transformed rejection with squeeze (PTRS), W. Hörmann, "The
  transformed rejection method for generating Poisson random variables", Insurance:
  Mathematics and Economics 12 (1993) 39-45, with its published constants. About a quarter
  of the candidates miss the squeeze and go to the acceptance test
  ``log(v) + log(inv_alpha) - log(a / us**2 + b) <= -lam + k log(lam) - log(k!)``, which
  numpy evaluates with five logarithms and Stirling's series for ``log(k!)`` (shifted to
  ``x >= 7``). Here ``log(k!)`` comes from a table (:data:`LOG_FACTORIAL`, made by the same
  series) below :data:`TABLE_SIZE`, and the left side is first taken as one logarithm of the
  product, which is within ~1e-13 of numpy's sum of three; only when the two sides are closer
  than :data:`_MARGIN` (1e-9: practically never) is the left side evaluated
  as numpy does. Both give numpy's decision, for two logarithms instead of five.
- ``0 < lam < 10``: the multiplication method (count uniforms until their product falls
  to ``exp(-lam)``).
- ``lam == 0``: zero, with no draw.

Without numba the module falls back to ``Generator.poisson`` itself, with the same results.
"""

from __future__ import annotations

import math

import numpy as np

from edgecloud_gym.core._jit import HAVE_NUMBA, jit
from edgecloud_gym.core._rng import uniform

__all__ = [
    "LAM_MAX",
    "LOG_FACTORIAL",
    "STIRLING",
    "TABLE_SIZE",
    "bad_rate_message",
    "poisson_into",
    "poisson_kernel",
]

#: Largest rate the samplers accept (numpy's bound, about 9.2e18: beyond it k overflows).
LAM_MAX = float(np.iinfo(np.int64).max - np.sqrt(np.iinfo(np.int64).max) * 10)

#: Stirling's series for log Gamma(x): the coefficients B_2k / (2k (2k - 1)) for k = 1..10,
# as 16-digit decimals (the last with 15), and log(2 pi).
STIRLING = np.array(
    [
        8.333333333333333e-02,
        -2.777777777777778e-03,
        7.936507936507937e-04,
        -5.952380952380952e-04,
        8.417508417508418e-04,
        -1.917526917526918e-03,
        6.410256410256410e-03,
        -2.955065359477124e-02,
        1.796443723688307e-01,
        -1.39243221690590e00,
    ]
)
_LOG_2PI = 1.8378770664093453


@jit
def _log_gamma(x, coef):  # pragma: no cover - compiled
    """``log Gamma(x)`` for x >= 1 (x = k + 1 gives ``log k!``)."""
    if x == 1.0 or x == 2.0:
        return 0.0
    shift = int(7 - x) if x < 7.0 else 0
    x0 = x + shift
    x2 = (1.0 / x0) * (1.0 / x0)
    series = coef[9]
    for k in range(8, -1, -1):
        series *= x2
        series += coef[k]
    value = series / x0 + 0.5 * _LOG_2PI + (x0 - 0.5) * math.log(x0) - x0
    for _ in range(shift):  # log Gamma(x) = log Gamma(x + 1) - log x, back down to x
        value -= math.log(x0 - 1.0)
        x0 -= 1.0
    return value


#: Entries of :data:`LOG_FACTORIAL`: the counts of rates up to a few thousand requests/step.
TABLE_SIZE = 8192


def _log_factorials(size: int) -> np.ndarray:
    """``log(k!)`` for ``k < size``: :func:`_log_gamma` at ``k + 1``, its operations in its
    order on whole arrays (``math.log`` is the C library's ``log``, as in the compiled code)."""
    x = np.arange(1.0, size + 1.0)
    big = x >= 7.0  # no shift: the series straight away
    coef = STIRLING.tolist()
    out = np.empty(size)
    scalar = getattr(_log_gamma, "py_func", _log_gamma)
    out[~big] = [scalar(v, coef) for v in x[~big].tolist()]
    x0 = x[big]
    x2 = (1.0 / x0) * (1.0 / x0)
    series = np.full_like(x0, coef[9])
    for c in coef[8::-1]:
        series = series * x2 + c
    log_x0 = np.array([math.log(v) for v in x0.tolist()])
    out[big] = series / x0 + 0.5 * _LOG_2PI + (x0 - 0.5) * log_x0 - x0
    return out


#: ``log(k!)`` for ``k < TABLE_SIZE``, the values :func:`_log_gamma` gives (``tests/test_rng.py``
#: compares every entry).
LOG_FACTORIAL = _log_factorials(TABLE_SIZE)

#: How close the two sides of PTRS's acceptance test may be before the left side is evaluated
#: term by term as numpy does. The one-logarithm form differs from numpy's three-term sum by
#: at most ~5 ulp of the largest term (|log v| <= 37, |log(a / us**2 + b)| <= 75 for doubles
#: drawn from 53 bits), about 1e-13, so a margin of 1e-9 leaves the decision unchanged.
_MARGIN = 1e-9


@jit
def poisson_kernel(src, j, rates, out, coef, log_factorial):  # pragma: no cover - compiled
    """``out[...] = rng.poisson(rates)`` in a compiled caller's loop, from ``src`` (a
    ``Generator``, or row ``j`` of a :mod:`~edgecloud_gym.core._rng` state array); ``coef`` is
    :data:`STIRLING` and ``log_factorial`` :data:`LOG_FACTORIAL`. Returns -1, or the flat index
    of the first rate outside ``[0, LAM_MAX]`` (NaN included), where it stopped: the caller
    raises.

    The samplers are written into the loop rather than called: a call per draw would pass the
    generator and its reference count each time, which costs more than the draw."""
    flat_rates = rates.ravel()
    flat_out = out.ravel()
    for e in range(flat_rates.size):
        lam = flat_rates[e]
        if lam >= 10.0:  # PTRS (Hörmann 1993)
            if not lam <= LAM_MAX:
                return e
            slam = math.sqrt(lam)
            b = 0.931 + 2.53 * slam
            a = -0.059 + 0.02483 * b
            inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
            v_r = 0.9277 - 3.6224 / (b - 2)
            while True:
                u = uniform(src, j) - 0.5
                v = uniform(src, j)
                us = 0.5 - abs(u)
                if us == 0.0:  # u = -0.5: k would be -inf, rejected
                    continue
                k = math.floor((2 * a / us + b) * u + lam + 0.43)
                if us >= 0.07 and v <= v_r:  # the squeeze: most draws end here
                    break
                if k < 0 or (us < 0.013 and v > us):
                    continue
                if k < log_factorial.size:
                    log_k_factorial = log_factorial[int(k)]
                else:
                    log_k_factorial = _log_gamma(k + 1.0, coef)
                bound = -lam + k * math.log(lam) - log_k_factorial
                hat = a / (us * us) + b
                gap = math.log(v * inv_alpha / hat) - bound
                if gap > _MARGIN:
                    continue
                if gap < -_MARGIN:
                    break
                if math.log(v) + math.log(inv_alpha) - math.log(hat) <= bound:  # numpy's form
                    break
            flat_out[e] = k
        elif lam == 0.0:
            flat_out[e] = 0.0
        elif lam > 0.0:  # multiplication method
            floor = math.exp(-lam)
            count = 0
            prod = uniform(src, j)
            while prod > floor:
                count += 1
                prod *= uniform(src, j)
            flat_out[e] = count
        else:
            return e
    return -1


def bad_rate_message(rates: np.ndarray, index: int) -> str:
    """The error for the rate at flat ``index`` that :func:`poisson_kernel` stopped at."""
    return (
        f"Poisson rates must be finite and in [0, {LAM_MAX:.3g}] requests/step, got "
        f"{rates.ravel()[index]!r}; check the task's load and rate parameters and the "
        "servers' capacities."
    )


def poisson_into(rng: np.random.Generator, rates: np.ndarray, out: np.ndarray) -> None:
    """Write ``rng.poisson(rates)`` (as float64) into ``out``, drawing exactly what
    ``Generator.poisson`` would draw from ``rng`` and leaving ``rng`` in the same state.
    A rate outside ``[0, LAM_MAX]`` raises ``ValueError`` (the draws before it are made).

    Args:
        rng: The generator to draw from.
        rates: C-contiguous float64 rates (requests/step), each in ``[0, LAM_MAX]``.
        out: C-contiguous float64 array of the same shape, overwritten.
    """
    if not (rates.flags.c_contiguous and out.flags.c_contiguous and rates.shape == out.shape):
        raise ValueError("rates and out must be C-contiguous arrays of the same shape.")
    if HAVE_NUMBA:
        bad = poisson_kernel(rng, 0, rates, out, STIRLING, LOG_FACTORIAL)
        if bad >= 0:
            raise ValueError(bad_rate_message(rates, bad))
    else:  # pragma: no cover - depends on the install
        out[...] = rng.poisson(rates)
