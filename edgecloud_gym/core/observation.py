"""Assembly of the flat observation vector for a batch of systems.

The observation (layout in :class:`~edgecloud_gym.envs.allocation.EdgeCloudEnv`) joins the state
the actions change (inflow, backlog, utilisation, shares) with exogenous columns (the window of
past arrivals, time features and the forecast). The window is read straight from the episode's
pre-sampled arrivals as they enter the simulation, into a small ring buffer per system, instead
of being precomputed for every step at reset: that keeps a reset cheap and the state of
thousands of systems small, and an observation reads a few contiguous rows per system. One
compiled pass writes the float32 rows, so a step costs no temporary arrays (the values are
those numpy would give: each is computed in float64 and rounded to float32 once).
"""

from __future__ import annotations

import numpy as np

from edgecloud_gym._threads import run_in_chunks, splits
from edgecloud_gym.core._jit import jit

__all__ = ["assemble_into", "assemble_observations", "class_columns"]

#: Systems per thread below which the observation pass runs in one thread.
_MIN_ROWS_PER_THREAD = 256


@jit
def assemble_into(
    endo, recent, inv_mu, time_feat, forecast, t, start, window, out
):  # pragma: no cover - compiled
    """:func:`assemble_observations`' rows written into ``out`` (B, D) float32, for callers that
    fill the observations in their own pass over the batch (arguments as there)."""
    n_batch, n_endo = endo.shape
    n = recent.shape[2]
    width = recent.shape[1]
    n_time = time_feat.shape[2]
    n_fc = forecast.shape[2]
    for b in range(n_batch):
        k = t[b]
        for j in range(n_endo):
            out[b, j] = endo[b, j]
        col = n_endo
        first = start + k - window
        for w in range(window):
            slot = (first + w) % width
            for i in range(n):
                out[b, col] = recent[b, slot, i] * inv_mu[b, i]
                col += 1
        for j in range(n_time):
            out[b, col + j] = time_feat[b, k, j]
        col += n_time
        for j in range(n_fc):
            out[b, col + j] = forecast[b, k, j]


def assemble_observations(
    endo: np.ndarray,
    recent: np.ndarray,
    inv_mu: np.ndarray,
    time_feat: np.ndarray,
    forecast: np.ndarray,
    t: np.ndarray,
    start: int,
    window: int,
) -> np.ndarray:
    """Observations (B, D) float32 at episode steps ``t``.

    Args:
        endo: (B, 4 S) action-dependent columns (float64).
        recent: (B, M, N) recent arrivals (M >= W): slot ``a % M`` holds the arrivals at index
            ``a`` of the episode (index ``start + k`` is step ``k``) for the last M indices.
        inv_mu: (B, N) 1 / nominal service rate of each node (normalises the window).
        time_feat: (B, T + 1, 3) sin and cos of the diurnal phase, progress (float32).
        forecast: (B, T + 1, N H) normalised forecasts, node-major (float32).
        t: (B,) current episode step of each system.
        start: Index of episode step 0 in the episode's arrivals (the warm-up length).
        window: Number W of past steps of arrivals.
    """
    b = endo.shape[0]
    width = endo.shape[1] + window * recent.shape[2] + time_feat.shape[2] + forecast.shape[2]
    out = np.empty((b, width), dtype=np.float32)

    if not splits(b, _MIN_ROWS_PER_THREAD):  # a small batch (a single env): no slicing
        assemble_into(endo, recent, inv_mu, time_feat, forecast, t, start, window, out)
        return out

    def rows(lo: int, hi: int) -> None:  # rows are independent: any split gives the same values
        r = slice(lo, hi)
        assemble_into(
            endo[r], recent[r], inv_mu[r], time_feat[r], forecast[r], t[r], start, window, out[r]
        )

    run_in_chunks(rows, b, _MIN_ROWS_PER_THREAD)
    return out


@jit
def class_columns(classes, first, bias_max, obs):  # pragma: no cover - compiled
    """Each class's shed fraction, then its cloud bias over ``bias_max``, from column ``first``."""
    n_batch, _, n_cls = classes.shape
    for b in range(n_batch):
        for k in range(n_cls):
            obs[b, first + k] = 1.0 - classes[b, 0, k]
            obs[b, first + n_cls + k] = classes[b, 1, k] / bias_max
