"""Capacity levers: active cores with a boot delay, DVFS, and a reactive autoscaler.

Each server runs at one of the config's capacity levels ``l`` (``Capacity.levels``: fractions of
its installed cores, ``params.level_cores[s, l]`` cores) and one of its frequency levels ``f``
(``Capacity.frequencies``: fractions of the nominal clock). The state of B systems is a
:class:`CapacityState`; it is a pure function of the requests made to it, like the rest of the
core:

- **Switching off** is immediate: a request for a level below the active one takes effect in the
  same step, and cancels any boot in progress.
- **Switching on** takes ``Capacity.boot_steps`` steps: a request for a level above the active one
  boots the extra cores, which serve from the step ``boot_steps`` after the request (at once
  when it is 0). While they boot they draw their full-load power (boot energy = boot_steps x
  step x P_max per core) and serve nothing. Raising the target of a boot in progress restarts
  its countdown (the new cores boot from now); lowering it to a level still above the active one
  keeps the countdown.
- **DVFS** is immediate (transitions take microseconds, far below a step).

:func:`controlled_params` turns the state into the step kernel's per-server rows: capacity
``mu * (c_l / c) * f``, the active cores ``c_l`` (and their row of the Erlang C table), idle
power ``P_idle * c_l / c`` plus the booting cores at full power, power range
``(P_max - P_idle) * (c_l / c) * f^alpha`` (``alpha = Capacity.dvfs_exponent``, 3 for CMOS:
``P = C V^2 f`` with the voltage proportional to the clock; e.g. Yao, Demers and Shenker, FOCS
1995) and service times ``1 / f`` times the nominal ones. At the top level and frequency with
nothing booting the rows are the params' own, bit for bit.

:func:`autoscale` is the built-in reactive autoscaler, after Kubernetes' Horizontal Pod
Autoscaler (kubernetes.io, "Horizontal Pod Autoscaling": ``desired = ceil(current * metric /
target)``, no action within a tolerance of 0.1, scale-down to the highest recommendation of a
stabilisation window).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from edgecloud_gym._threads import rows_of
from edgecloud_gym.config import Capacity
from edgecloud_gym.core._jit import jit
from edgecloud_gym.core.params import (
    SRV_CORES,
    SRV_DYNAMIC_W,
    SRV_ERLANG_ROW,
    SRV_IDLE_W,
    SRV_INV_MU,
    SRV_MU,
    SRV_SPEED,
    SystemParams,
)

__all__ = [
    "CapacityState",
    "advance_boot",
    "autoscale",
    "autoscale_capacity",
    "bind_autoscaler",
    "capacity_columns",
    "continuous_levels",
    "controlled_params",
    "finish_capacity",
    "initial_capacity_state",
    "prepare_capacity",
    "request_capacity",
]

_TINY = 1e-12


class CapacityState(NamedTuple):
    """Capacity of B systems with S servers (integer arrays of shape (B, S)).

    Attributes:
        level: Active capacity level (index into ``Capacity.levels``).
        target: Level being booted to (equal to ``level`` when nothing boots).
        countdown: Steps until the booting cores serve (0 when nothing boots).
        frequency: DVFS level (index into ``Capacity.frequencies``).
        history: (B, S, W) the autoscaler's last W recommended levels (its stabilisation window).
    """

    level: np.ndarray
    target: np.ndarray
    countdown: np.ndarray
    frequency: np.ndarray
    history: np.ndarray

    def booting_cores(self, params: SystemParams) -> np.ndarray:
        """(B, S) cores booting towards the target level."""
        s = np.arange(self.level.shape[1])
        return params.level_cores[s, self.target] - params.level_cores[s, self.level]


def initial_capacity_state(batch: int, servers: int, capacity: Capacity) -> CapacityState:
    """Every server at its top level and nominal clock, nothing booting."""
    top = len(capacity.levels) - 1
    return CapacityState(
        level=np.full((batch, servers), top, dtype=np.int64),
        target=np.full((batch, servers), top, dtype=np.int64),
        countdown=np.zeros((batch, servers), dtype=np.int64),
        frequency=np.full((batch, servers), len(capacity.frequencies) - 1, dtype=np.int64),
        history=np.full((batch, servers, capacity.stabilisation_steps), top, dtype=np.int64),
    )


def request_capacity(
    state: CapacityState,
    levels: np.ndarray,
    frequencies: np.ndarray,
    capacity: Capacity,
    rows: np.ndarray | slice = slice(None),
) -> None:
    """Apply requested capacity levels and frequency levels (B, S) to ``state`` in place (the
    systems ``rows``), before the step. Levels and frequencies must be valid indices (the env
    validates actions); see the module docstring for the rules."""
    levels = _whole("capacity levels", levels)
    frequencies = _whole("frequency levels", frequencies)
    top_l, top_f = len(capacity.levels) - 1, len(capacity.frequencies) - 1
    if _out_of_range(levels, top_l):
        raise ValueError(f"capacity levels must lie in 0..{top_l}, got {levels}.")
    if _out_of_range(frequencies, top_f):
        raise ValueError(f"frequency levels must lie in 0..{top_f}, got {frequencies}.")
    if isinstance(rows, slice) and rows == slice(None):  # in place, no copies
        _request(state.level, state.target, state.countdown, levels, capacity.boot_steps)
        state.frequency[...] = frequencies
        return
    level, target, countdown = state.level[rows], state.target[rows], state.countdown[rows]
    _request(level, target, countdown, levels, capacity.boot_steps)
    state.level[rows], state.target[rows], state.countdown[rows] = level, target, countdown
    state.frequency[rows] = frequencies


def _whole(what: str, values: object) -> np.ndarray:
    """``values`` as int64 level indices, or a ValueError: a fractional index is refused, never
    truncated."""
    if isinstance(values, np.ndarray) and values.dtype == np.int64:  # as decode_action makes
        return values
    raw = np.asarray(values)
    if raw.dtype.kind not in "iu" and not (
        raw.dtype.kind == "f" and np.all(np.isfinite(raw)) and np.all(raw == np.round(raw))
    ):
        raise ValueError(
            f"{what} must be whole level indices, got {raw.dtype} values {raw.tolist()}."
        )
    return raw.astype(np.int64, copy=False)


@jit
def _out_of_range(values, top):  # pragma: no cover - compiled
    for v in values.ravel():  # noqa: SIM110 - a loop compiles, a generator in any() does not
        if v < 0 or v > top:
            return True
    return False


@jit
def _request(level, target, countdown, want, boot_steps):  # pragma: no cover - compiled
    n_batch, n_srv = level.shape
    for b in range(n_batch):
        for s in range(n_srv):
            w = want[b, s]
            if w <= level[b, s]:  # off at once; a boot in progress is cancelled
                level[b, s] = w
                target[b, s] = w
                countdown[b, s] = 0
            elif w > target[b, s] or target[b, s] == level[b, s]:  # (re)start a boot
                target[b, s] = w
                countdown[b, s] = boot_steps
            else:  # fewer cores than the boot in progress: keep its countdown
                target[b, s] = w
            if countdown[b, s] == 0 and target[b, s] > level[b, s]:
                level[b, s] = target[b, s]


def advance_boot(state: CapacityState, rows: np.ndarray | slice = slice(None)) -> None:
    """After a step: one step less to boot; cores whose boot ends serve from the next step."""
    if isinstance(rows, slice) and rows == slice(None):  # in place, no copies
        _advance(state.level, state.target, state.countdown)
        return
    level, target, countdown = state.level[rows], state.target[rows], state.countdown[rows]
    _advance(level, target, countdown)
    state.level[rows], state.target[rows], state.countdown[rows] = level, target, countdown


@jit
def _advance(level, target, countdown):  # pragma: no cover - compiled
    n_batch, n_srv = level.shape
    for b in range(n_batch):
        for s in range(n_srv):
            if target[b, s] > level[b, s]:
                countdown[b, s] -= 1
                if countdown[b, s] <= 0:
                    countdown[b, s] = 0
                    level[b, s] = target[b, s]


@lru_cache(maxsize=64)
def _clock(frequencies: tuple[float, ...]) -> np.ndarray:
    return np.asarray(frequencies, dtype=np.float64)


def controlled_params(
    params: SystemParams,
    state: CapacityState,
    capacity: Capacity,
    out: np.ndarray | None = None,
) -> SystemParams:
    """``params`` with the per-server rows of the capacity ``state`` (see the module
    docstring); the other arrays are shared, not copied. ``out``: an array shaped like
    ``params.srv`` to hold the rows (a new one by default)."""
    srv = np.empty_like(params.srv) if out is None else out
    _controlled_rows(
        params.srv,
        state.level,
        state.target,
        state.frequency,
        params.level_cores,
        params.level_fraction,
        _clock(capacity.frequencies),
        capacity.dvfs_exponent,
        srv,
    )
    return _with_srv(params, srv)


def capacity_columns(
    state: CapacityState, params: SystemParams, capacity: Capacity, obs: np.ndarray
) -> None:
    """Write the last 3 S columns of the observations ``obs`` (B, D): each server's active
    cores and booting cores (over its installed cores) and its clock (over the nominal)."""
    _columns(
        state.level,
        state.target,
        state.frequency,
        params.level_fraction,
        _clock(capacity.frequencies),
        obs,
    )


@jit
def _columns(level, target, frequency, fraction, clock, obs):  # pragma: no cover - compiled
    n_batch, n_srv = level.shape
    first = obs.shape[1] - 3 * n_srv
    for b in range(n_batch):
        for s in range(n_srv):
            active = fraction[s, level[b, s]]
            obs[b, first + s] = active
            obs[b, first + n_srv + s] = fraction[s, target[b, s]] - active
            obs[b, first + 2 * n_srv + s] = clock[frequency[b, s]]


@jit
def continuous_levels(action, n_servers, n_levels, n_clocks):  # pragma: no cover - compiled
    """(B, 2, S) capacity and DVFS level indices of joint continuous actions (B, 3 S): values
    ``a`` clipped to ``[-1, 1]`` map to ``round((a + 1) / 2 * (n - 1))``, halves to even."""
    n_batch = action.shape[0]
    out = np.empty((n_batch, 2, n_servers), dtype=np.int64)
    for b in range(n_batch):
        for s in range(n_servers):
            for lever in range(2):
                n = n_levels if lever == 0 else n_clocks
                a = min(max(action[b, (lever + 1) * n_servers + s], -1.0), 1.0)
                out[b, lever, s] = int(np.rint((a + 1.0) * 0.5 * (n - 1)))
    return out


def _with_srv(params: SystemParams, srv: np.ndarray) -> SystemParams:
    new = object.__new__(SystemParams)
    new.__dict__.update(params.__dict__)
    new.__dict__["srv"] = srv
    return new


@jit
def _controlled_rows(
    base, level, target, frequency, level_cores, level_fraction, freqs, exponent, out
):  # pragma: no cover - compiled
    n_batch, n_srv = level.shape
    n_levels = level_cores.shape[1]
    top = n_levels - 1
    for b in range(n_batch):
        for s in range(n_srv):
            for r in range(base.shape[1]):
                out[b, r, s] = base[b, r, s]
            lv, f = level[b, s], freqs[frequency[b, s]]
            frac = level_fraction[s, lv]
            booting = level_fraction[s, target[b, s]] - frac
            if lv != top:
                out[b, SRV_MU, s] = base[b, SRV_MU, s] * frac
                out[b, SRV_CORES, s] = level_cores[s, lv]
                out[b, SRV_IDLE_W, s] = base[b, SRV_IDLE_W, s] * frac
                out[b, SRV_DYNAMIC_W, s] = base[b, SRV_DYNAMIC_W, s] * frac
                out[b, SRV_ERLANG_ROW, s] = s * n_levels + lv
            if f != 1.0:
                out[b, SRV_MU, s] = out[b, SRV_MU, s] * f
                out[b, SRV_DYNAMIC_W, s] = out[b, SRV_DYNAMIC_W, s] * f**exponent
                out[b, SRV_SPEED, s] = f
            if booting > 0.0:  # booting cores draw their full-load power
                out[b, SRV_IDLE_W, s] += booting * (
                    base[b, SRV_IDLE_W, s] + base[b, SRV_DYNAMIC_W, s]
                )
            out[b, SRV_INV_MU, s] = (
                base[b, SRV_INV_MU, s]
                if out[b, SRV_MU, s] == base[b, SRV_MU, s]
                else 1.0 / max(out[b, SRV_MU, s], _TINY)
            )


def autoscale(
    state: CapacityState,
    utilisation: np.ndarray,
    params: SystemParams,
    capacity: Capacity,
    rows: np.ndarray | slice = slice(None),
) -> np.ndarray:
    """The autoscaler's requested levels (B, S) after a step whose per-server utilisation (over
    active capacity) was ``utilisation``; it also records them in ``state.history``.

    Per server, with ``c`` the active cores and ``u`` the utilisation: when ``|u / target - 1|``
    exceeds the tolerance, ``desired = ceil(c * u / target)`` cores, rounded up to a level (the
    top level at most); otherwise the current target. Scale-up takes effect at once (through the
    boot delay); a scale-down goes only to the highest level recommended over the stabilisation
    window, so a short dip doesn't switch off cores that the next step needs."""
    level, target, history = state.level[rows], state.target[rows], state.history[rows]
    util = np.ascontiguousarray(utilisation, dtype=np.float64)
    want = np.empty_like(level)
    _autoscale(
        level,
        target,
        history,
        util,
        params.level_cores,
        capacity.target_utilisation,
        capacity.tolerance,
        want,
    )
    state.history[rows] = history
    return want


@jit
def _autoscale(
    level, target, history, util, level_cores, goal, tolerance, want
):  # pragma: no cover - compiled
    n_batch, n_srv = level.shape
    n_levels = level_cores.shape[1]
    window = history.shape[2]
    for b in range(n_batch):
        for s in range(n_srv):
            rec = target[b, s]
            ratio = util[b, s] / goal
            if abs(ratio - 1.0) > tolerance:
                desired = np.ceil(level_cores[s, level[b, s]] * ratio - 1e-9)
                rec = n_levels - 1
                for lv in range(n_levels):
                    if level_cores[s, lv] >= desired:
                        rec = lv
                        break
            for w in range(window - 1):  # slide the window
                history[b, s, w] = history[b, s, w + 1]
            history[b, s, window - 1] = rec
            highest = rec
            for w in range(window):
                highest = max(highest, history[b, s, w])
            want[b, s] = rec if rec > target[b, s] else highest


def prepare_capacity(
    state: CapacityState,
    request: np.ndarray | None,
    params: SystemParams,
    capacity: Capacity,
    out: np.ndarray,
    view: SystemParams | None = None,
) -> SystemParams:
    """:func:`request_capacity` (when ``request``, (B, 2, S) levels and clocks, is given) and
    :func:`controlled_params` into ``out``, in one compiled pass: the simulator's per-step path.
    Returns ``view`` when given (``params`` with ``srv`` = ``out``, kept by a caller that steps
    many times), else a new such view.

    Raises:
        ValueError: A requested level or clock index is out of range (nothing is changed).
    """
    has = request is not None
    req = (
        _whole("capacity requests (B, 2, S): levels, then clocks,", request) if has else _NO_REQUEST
    )
    bad = _prepare(
        state.level,
        state.target,
        state.countdown,
        state.frequency,
        req,
        has,
        capacity.boot_steps,
        params.srv,
        params.level_cores,
        params.level_fraction,
        _clock(capacity.frequencies),
        capacity.dvfs_exponent,
        out,
    )
    if bad:
        top_l, top_f = len(capacity.levels) - 1, len(capacity.frequencies) - 1
        raise ValueError(
            f"capacity levels must lie in 0..{top_l} and frequency levels in 0..{top_f}, got "
            f"{req[:, 0]} and {req[:, 1]}."
        )
    return _with_srv(params, out) if view is None else view


_NO_REQUEST = np.zeros((0, 2, 0), dtype=np.int64)


@jit
def _prepare(
    level,
    target,
    countdown,
    frequency,
    req,
    has,
    boot_steps,
    base,
    level_cores,
    fraction,
    clock,
    exponent,
    out,
):  # pragma: no cover - compiled
    if has:
        n_batch, n_srv = level.shape
        top_l, top_f = fraction.shape[1] - 1, clock.shape[0] - 1
        for b in range(n_batch):
            for s in range(n_srv):
                if not (0 <= req[b, 0, s] <= top_l and 0 <= req[b, 1, s] <= top_f):
                    return True
        _request(level, target, countdown, req[:, 0], boot_steps)
        for b in range(n_batch):
            for s in range(n_srv):
                frequency[b, s] = req[b, 1, s]
    _controlled_rows(base, level, target, frequency, level_cores, fraction, clock, exponent, out)
    return False


def finish_capacity(
    state: CapacityState, params: SystemParams, capacity: Capacity, obs: np.ndarray | None
) -> None:
    """:func:`advance_boot`, then (with ``obs``) :func:`capacity_columns`, in one compiled
    pass: the simulator's per-step path after the kernel."""
    _finish(
        state.level,
        state.target,
        state.countdown,
        state.frequency,
        params.level_fraction,
        _clock(capacity.frequencies),
        obs if obs is not None else _NO_OBS,
        obs is not None,
    )


_NO_OBS = np.zeros((0, 0), dtype=np.float32)


@jit
def _finish(level, target, countdown, frequency, fraction, clock, obs, write):  # pragma: no cover
    _advance(level, target, countdown)
    if write:
        _columns(level, target, frequency, fraction, clock, obs)


def autoscale_capacity(
    state: CapacityState,
    utilisation: np.ndarray,
    params: SystemParams,
    capacity: Capacity,
    obs: np.ndarray | None,
    rows: np.ndarray | None = None,
) -> None:
    """The built-in autoscaler's per-step path after the kernel, in one compiled pass:
    :func:`advance_boot`, :func:`autoscale` on the step's ``utilisation`` (B, S),
    :func:`request_capacity` of its levels (clocks unchanged), then (with ``obs``)
    :func:`capacity_columns`: the same values as those calls one after the other. With
    ``rows`` (shaped like ``params.srv``), it also writes there the per-server rows of the new
    state (what :func:`controlled_params` gives), ready for the next step.

    ``params`` are the uncontrolled constants (not a :func:`controlled_params` view)."""
    bind_autoscaler(state, params, capacity, rows)(utilisation, obs)


def bind_autoscaler(
    state: CapacityState, params: SystemParams, capacity: Capacity, rows: np.ndarray | None
) -> Callable[[np.ndarray, np.ndarray | None], None]:
    """:func:`autoscale_capacity` with everything but the step's utilisation and observations
    bound, for a caller that steps the same arrays many times (the simulator): one compiled
    call a step, its arguments gathered once."""
    write_rows = rows is not None
    args = (
        state.level,
        state.target,
        state.countdown,
        state.frequency,
        state.history,
        params.level_cores,
        params.level_fraction,
        _clock(capacity.frequencies),
        capacity.target_utilisation,
        capacity.tolerance,
        capacity.boot_steps,
        capacity.dvfs_exponent,
        params.srv,
        rows if write_rows else params.srv,
        write_rows,
    )

    def run(
        utilisation: np.ndarray, obs: np.ndarray | None, lo: int = 0, hi: int | None = None
    ) -> None:
        """The step of systems ``lo..hi-1`` (all by default; ``utilisation`` and ``obs`` are
        theirs): chunks that cover the batch, in any order or thread, make the whole step."""
        bound = args if lo == 0 and hi is None else rows_of(args, _AUTOSCALE_PER_SYSTEM, lo, hi)
        if obs is None:
            _autoscale_step(*bound, utilisation, _NO_OBS, False)
        else:
            _autoscale_step(*bound, utilisation, obs, True)

    return run


#: Which of :func:`bind_autoscaler`'s bound arguments have the batch axis first.
_AUTOSCALE_PER_SYSTEM = (True,) * 5 + (False,) * 7 + (True, True, False)


@jit
def _autoscale_step(
    level,
    target,
    countdown,
    frequency,
    history,
    level_cores,
    fraction,
    clock,
    goal,
    tolerance,
    boot_steps,
    exponent,
    base,
    rows,
    write_rows,
    util,
    obs,
    write,
):  # pragma: no cover - compiled
    _advance(level, target, countdown)
    want = np.empty_like(level)
    _autoscale(level, target, history, util, level_cores, goal, tolerance, want)
    _request(level, target, countdown, want, boot_steps)
    if write_rows:
        _controlled_rows(
            base, level, target, frequency, level_cores, fraction, clock, exponent, rows
        )
    if write:
        _columns(level, target, frequency, fraction, clock, obs)
