"""Aggregate statistics of benchmark runs: IQM, stratified bootstrap intervals, improvements,
convergence speed (brief section 8).

The unit of resampling is a *run* (one agent trained and evaluated with one seed on one env);
a run's score is the mean of its evaluation episodes. Scores are aggregated with the
interquartile mean (IQM, the mean of the middle 50 %: robust to an outlier seed, less noisy than
the median) and given a 95 % percentile interval from a *stratified* bootstrap: runs are resampled
with replacement within each stratum (env or task) and never across, so every replicate keeps the
same number of runs per env, as in Agarwal et al. (2021), "Deep RL at the edge of the statistical
precipice" (rliable). The implementation is plain numpy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _scipy_stats

__all__ = [
    "NAN_INTERVAL",
    "Interval",
    "convergence_step",
    "improvement_ci",
    "iqm",
    "late_gain",
    "recovery_frames",
    "rolling_mean",
    "stratified_bootstrap",
    "stratified_ci",
    "tail_mean",
]

Statistic = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Interval:
    """A point estimate with a confidence interval ``[low, high]``."""

    estimate: float
    low: float
    high: float

    def as_tuple(self) -> tuple[float, float, float]:
        """``(estimate, low, high)``."""
        return (self.estimate, self.low, self.high)

    def format(self, digits: int = 3) -> str:
        """``"1.23 [1.01, 1.45]"`` with ``digits`` significant digits (``"n/a"`` for NaN)."""
        if math.isnan(self.estimate):
            return "n/a"
        return f"{self.estimate:.{digits}g} [{self.low:.{digits}g}, {self.high:.{digits}g}]"


#: The interval of a statistic that cannot be estimated (no scores, or a zero baseline).
NAN_INTERVAL = Interval(math.nan, math.nan, math.nan)


def iqm(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean along ``axis``: the mean after trimming 25 % from each end.

    With n scores, ``floor(n / 4)`` are cut from each end (scipy's ``trim_mean``); for n < 4 this
    is the plain mean.
    """
    return _scipy_stats.trim_mean(np.asarray(scores, dtype=np.float64), 0.25, axis=axis)


def _clean_strata(strata: Sequence[Sequence[float]], name: str) -> list[np.ndarray]:
    if len(strata) == 0:
        raise ValueError(f"{name} must hold at least one stratum.")
    out = []
    for i, s in enumerate(strata):
        arr = np.asarray(s, dtype=np.float64).ravel()
        arr = arr[np.isfinite(arr)]
        if arr.size == 0:
            raise ValueError(f"{name}[{i}] has no finite score; every stratum needs at least one.")
        out.append(arr)
    return out


def _check_resampling(n_resamples: int, confidence: float) -> None:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)):
        raise TypeError(f"n_resamples must be an integer, got {n_resamples!r}.")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}.")


def stratified_bootstrap(
    strata: Sequence[Sequence[float]],
    statistic: Statistic = iqm,
    *,
    n_resamples: int = 2000,
    rng: np.random.Generator | int | None = 0,
) -> np.ndarray:
    """Bootstrap replicates of ``statistic`` over the pooled runs of all strata.

    Each replicate draws, for every stratum of n_i runs, n_i runs with replacement from that
    stratum, pools the draws of all strata and applies ``statistic`` (a function reducing the last
    axis). Non-finite scores are dropped first.

    Returns:
        ``(n_resamples,)`` replicates.
    """
    _check_resampling(n_resamples, 0.95)
    clean = _clean_strata(strata, "strata")
    gen = np.random.default_rng(rng)
    draws = [s[gen.integers(0, s.size, size=(n_resamples, s.size))] for s in clean]
    return np.asarray(statistic(np.concatenate(draws, axis=1)), dtype=np.float64)


def _percentile_interval(estimate: float, reps: np.ndarray, confidence: float) -> Interval:
    alpha = 100.0 * (1.0 - confidence) / 2.0
    reps = reps[np.isfinite(reps)]
    if reps.size == 0 or not math.isfinite(estimate):
        return NAN_INTERVAL
    low, high = np.percentile(reps, [alpha, 100.0 - alpha])
    return Interval(float(estimate), float(low), float(high))


def stratified_ci(
    strata: Sequence[Sequence[float]],
    statistic: Statistic = iqm,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    rng: np.random.Generator | int | None = 0,
) -> Interval:
    """Point estimate of ``statistic`` on the pooled runs and its stratified percentile interval.

    Args:
        strata: One sequence of run scores per stratum (env or task). Non-finite scores are
            dropped; every stratum must keep at least one.
        statistic: Reduces the last axis of an array of scores (default :func:`iqm`).
        confidence: Coverage of the interval (default 95 %).
        n_resamples: Bootstrap replicates.
        rng: Seed or generator of the resampling (fixed by default: reports are reproducible).
    """
    _check_resampling(n_resamples, confidence)
    clean = _clean_strata(strata, "strata")
    estimate = float(statistic(np.concatenate(clean)))
    reps = stratified_bootstrap(clean, statistic, n_resamples=n_resamples, rng=rng)
    return _percentile_interval(estimate, reps, confidence)


def _relative_change(a: np.ndarray, b: np.ndarray, higher_is_better: bool) -> np.ndarray:
    sign = 1.0 if higher_is_better else -1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = sign * 100.0 * (a - b) / np.abs(b)
    return np.where(np.abs(b) > 1e-12, out, np.nan)


def improvement_ci(
    agent: Sequence[Sequence[float]],
    baseline: Sequence[Sequence[float]],
    *,
    higher_is_better: bool,
    paired: bool = False,
    statistic: Statistic = iqm,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    rng: np.random.Generator | int | None = 0,
) -> Interval:
    """Improvement of ``agent`` over ``baseline`` in percent, with a stratified interval.

    The improvement is ``100 (S(agent) - S(baseline)) / |S(baseline)|`` for a metric where higher
    is better and ``100 (S(baseline) - S(agent)) / |S(baseline)|`` where lower is better, S the
    ``statistic`` (IQM) over pooled runs; positive always means better than the baseline. Both
    arguments hold one sequence of run scores per stratum, in the same stratum order.

    With ``paired=True`` the i-th runs of agent and baseline in a stratum share their evaluation
    workloads (same seeds), and each replicate resamples the same run indices for both, which
    keeps the pairing; otherwise the two are resampled independently. NaN when the baseline's
    statistic is zero.
    """
    _check_resampling(n_resamples, confidence)
    a_clean = _clean_strata(agent, "agent")
    b_clean = _clean_strata(baseline, "baseline")
    if len(a_clean) != len(b_clean):
        raise ValueError(
            f"agent and baseline must have the same strata, got {len(a_clean)} and {len(b_clean)}."
        )
    estimate = float(
        _relative_change(
            statistic(np.concatenate(a_clean)),
            statistic(np.concatenate(b_clean)),
            higher_is_better,
        )
    )
    gen = np.random.default_rng(rng)
    if paired:
        for i, (a, b) in enumerate(zip(a_clean, b_clean, strict=True)):
            if a.size != b.size:
                raise ValueError(
                    f"paired=True needs as many runs of agent and baseline in each stratum; "
                    f"stratum {i} has {a.size} and {b.size} (pass paired=False)."
                )
        idx = [gen.integers(0, a.size, size=(n_resamples, a.size)) for a in a_clean]
        a_draw = np.concatenate([a[i] for a, i in zip(a_clean, idx, strict=True)], axis=1)
        b_draw = np.concatenate([b[i] for b, i in zip(b_clean, idx, strict=True)], axis=1)
    else:
        a_draw = np.concatenate(
            [a[gen.integers(0, a.size, size=(n_resamples, a.size))] for a in a_clean], axis=1
        )
        b_draw = np.concatenate(
            [b[gen.integers(0, b.size, size=(n_resamples, b.size))] for b in b_clean], axis=1
        )
    reps = _relative_change(statistic(a_draw), statistic(b_draw), higher_is_better)
    return _percentile_interval(estimate, reps, confidence)


def convergence_step(
    steps: Sequence[float],
    returns: Sequence[float],
    *,
    tolerance: float = 0.05,
    plateau_fraction: float = 0.2,
) -> float:
    """Environment steps until an evaluation curve first reaches and then stays near its plateau.

    The *plateau* is the mean evaluation return over the last ``plateau_fraction`` of the
    evaluations (at least the last two, or the only one). The curve has converged at the first
    evaluation from which every later evaluation return lies within ``tolerance * |plateau|`` of
    the plateau (5 % by default); the result is that evaluation's step count.

    Args:
        steps: Environment steps at each evaluation, increasing.
        returns: Mean evaluation return at each evaluation.
        tolerance: Relative band around the plateau.
        plateau_fraction: Share of the last evaluations averaged into the plateau, in (0, 1].

    Returns:
        The step count, or NaN if even the last evaluation is outside the band (the curve has
        not settled) or the curve is empty.
    """
    x = np.asarray(steps, dtype=np.float64)
    y = np.asarray(returns, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(
            f"steps and returns must be 1-d of equal length, got {x.shape} and {y.shape}."
        )
    if not 0.0 < plateau_fraction <= 1.0:
        raise ValueError(f"plateau_fraction must lie in (0, 1], got {plateau_fraction!r}.")
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}.")
    if x.size == 0:
        return math.nan
    if np.any(np.diff(x) <= 0):
        raise ValueError("steps must be strictly increasing.")
    tail = min(x.size, max(2, math.ceil(plateau_fraction * x.size)))
    plateau = float(np.mean(y[-tail:]))
    inside = np.abs(y - plateau) <= tolerance * abs(plateau)
    if not inside[-1]:
        return math.nan
    outside = np.flatnonzero(~inside)
    first = 0 if outside.size == 0 else int(outside[-1]) + 1
    return float(x[first])


def late_gain(returns: Sequence[float], fraction: float = 0.2) -> float:
    """How much an evaluation curve still rose at the end of training: the mean evaluation
    return over the last ``fraction`` of the evaluations against the mean over the ``fraction``
    before it, in percent of the earlier mean's magnitude (positive: still improving).

    One run's value is noisy (a few evaluation episodes each); averaged over seeds with an
    interval, one that contains 0 says no gain is detectable late in training: a plateau.

    Returns:
        The gain in percent, or NaN with fewer than four evaluations.
    """
    y = np.asarray(returns, dtype=np.float64)
    n = max(2, math.ceil(fraction * y.size))
    if y.size < 4 or 2 * n > y.size:
        n = y.size // 2
    if n < 2:
        return math.nan
    late, early = float(np.mean(y[-n:])), float(np.mean(y[-2 * n : -n]))
    return 100.0 * (late - early) / abs(early) if early != 0.0 else math.nan


def tail_mean(values: Sequence[float], fraction: float = 0.2) -> float:
    """Mean of the last ``fraction`` of ``values`` (NaNs ignored; NaN when empty)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return math.nan
    n = max(1, math.ceil(fraction * arr.size))
    return float(np.nanmean(arr[-n:]))


def rolling_mean(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing mean over ``window`` values (over fewer at the start)."""
    arr = np.asarray(values, dtype=np.float64)
    c = np.concatenate([[0.0], np.cumsum(arr)])
    idx = np.arange(1, arr.size + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)


def recovery_frames(
    ratios: Sequence[float], start: int, stop: int, threshold: float = 0.99, window: int = 100
) -> float:
    """Frames after ``start`` until the trailing ``window``-frame mean of ``ratios`` (over
    frames since ``start`` only) first reaches ``threshold``; NaN if not before ``stop``.

    The offloading counterpart of :func:`convergence_step`: how fast a learner is back at a
    target score after its task changed at frame ``start``.
    """
    seg = np.asarray(ratios[start:stop], dtype=np.float64)
    if seg.size == 0:
        return math.nan
    roll = rolling_mean(seg, window)
    full = np.arange(1, seg.size + 1) >= min(window, seg.size)
    hit = np.flatnonzero((roll >= threshold) & full)
    return float(hit[0] + 1) if hit.size else math.nan
