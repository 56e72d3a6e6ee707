"""Actions: from a discrete choice or a continuous vector to allocation shares.

Discrete mode (the default) has ``2 S + 2`` actions for ``S`` servers (16 for six edge nodes
and the cloud), each a small move of the current shares ``x``:

=============  ==========================================================================
index          meaning
=============  ==========================================================================
0              hold: keep ``x``
1 .. S         shift towards server ``s = index - 1``: ``x <- (x + delta c_s e_s) / (1 + delta c_s)``
S+1 .. 2S      shift away from server ``s = index - S - 1``: move ``min(delta c_s, x_s)`` of share
               from ``s`` to the other servers, in proportion to their capacity
2S + 1         reset to the capacity-proportional (static) shares
=============  ==========================================================================

``c`` are the capacity-proportional shares and ``delta`` is ``EdgeCloudConfig.share_step``: a
shift moves ``delta`` of a server's *capacity share*, so one step changes a small edge node's
inflow by the same fraction of its capacity as a large one's. Repeated shifts reach any point of
the simplex (to within one step); the current shares are part of the observation.

Continuous mode (``action_mode="continuous"``) takes a vector ``a`` in the symmetric box
``[-1, 1]^S``, in which every point is a valid action, and maps it onto the simplex by a softmax
centred on the capacity-proportional shares ``c``::

    x = softmax(ln c + a / T),    T = CONTINUOUS_TEMPERATURE = 0.25

``a = 0`` is the static allocation ``x = c``; each coordinate scales its server's share by up to
``exp(±1 / T) = exp(±4)`` (about 55x) relative to the others, enough to put over 98 % of the
workload on any one server of the default topology; a server with no capacity keeps share 0.
Values outside the box are clipped to it first (as Gymnasium's ``ClipAction`` would).

Weights mode (``action_mode="weights"``) takes ``S`` non-negative weights in ``[0, 1]`` and
normalises them (``x = w / sum(w)``): exact shares, zeros included, for planners such as the
oracle; an all-zero vector has no shares and is rejected.

Joint control (``control="joint"``) adds levers besides the shares: the requests of each
server's capacity and DVFS levels and each class's admission and cloud bias (:class:`JointControl`;
:func:`discrete_joint` decodes the discrete moves, :func:`checked_classes` validates class
levers given directly). ``BatchSimulator.decode_action`` documents every joint action mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from edgecloud_gym.core._jit import jit

__all__ = [
    "CLASS_BIAS_MAX",
    "CLASS_BIAS_STEP",
    "CONTINUOUS_TEMPERATURE",
    "SHED_STEP",
    "DiscreteActionTable",
    "JointControl",
    "action_names",
    "checked_classes",
    "discrete_joint",
    "normalise_shares",
    "softmax_shares",
]

#: Temperature T of the continuous mode's softmax (see the module docstring): the box's half-width
#: 1 moves a server's logit by 1 / T = 4, so its share relative to another's by up to e^8.
CONTINUOUS_TEMPERATURE = 0.25


def action_names(n_edge: int) -> list[str]:
    """Human-readable name of every discrete action."""
    servers = [f"edge{i}" for i in range(n_edge)] + ["cloud"]
    return (
        ["hold"]
        + [f"towards-{s}" for s in servers]
        + [f"away-from-{s}" for s in servers]
        + ["reset-static"]
    )


@dataclass(frozen=True)
class DiscreteActionTable:
    """Precomputed form of the discrete actions: ``x' = (1 - lam) x + lam T + m C`` with
    ``m = min(away, x_src)``.

    Attributes:
        lam: (A,) weight of the convex move towards ``target``.
        target: (A, S) target shares of convex moves (or zeros).
        away: (A,) share removed by an "away" action (0 for the others).
        source: (A,) server whose share an "away" action reduces (0 for the others).
        direction: (A, S) where removed share goes: capacity weights of the other servers minus
            the source's unit vector.
    """

    lam: np.ndarray
    target: np.ndarray
    away: np.ndarray
    source: np.ndarray
    direction: np.ndarray

    @classmethod
    def build(cls, static_shares: np.ndarray, delta: float) -> DiscreteActionTable:
        """Build the table for S servers with capacity shares ``static_shares`` (S,)."""
        s = static_shares.shape[0]
        n_actions = 2 * s + 2
        lam = np.zeros(n_actions)
        target = np.zeros((n_actions, s))
        away = np.zeros(n_actions)
        source = np.zeros(n_actions, dtype=np.intp)
        direction = np.zeros((n_actions, s))
        eye = np.eye(s)
        step = delta * static_shares
        lam[1 : s + 1] = step / (1.0 + step)
        target[1 : s + 1] = eye
        for j in range(s):
            a = s + 1 + j
            others = static_shares * (1 - eye[j])
            away[a] = step[j]
            source[a] = j
            direction[a] = others / others.sum() - eye[j] if s > 1 else 0.0
        lam[-1] = 1.0
        target[-1] = static_shares
        return cls(lam, target, away, source, direction)

    @property
    def n(self) -> int:
        """Number of discrete actions."""
        return self.lam.shape[0]

    def apply(self, shares: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """New shares (B, S) after actions (B,) of integer indices, from shares (B, S)."""
        out = np.empty_like(shares)
        _apply(self.lam, self.target, self.away, self.source, self.direction, shares, actions, out)
        return out


@jit
def _apply(lam, target, away, source, direction, shares, actions, out):  # pragma: no cover
    n_batch, s_all = shares.shape
    for b in range(n_batch):
        a = actions[b]
        moved = min(away[a], shares[b, source[a]])
        for s in range(s_all):
            out[b, s] = (
                (1.0 - lam[a]) * shares[b, s] + lam[a] * target[a, s] + moved * direction[a, s]
            )


def normalise_shares(weights: np.ndarray) -> np.ndarray:
    """Project non-negative weights (B, S) onto the simplex by dividing by their sum."""
    return weights / weights.sum(axis=1, keepdims=True)


def softmax_shares(
    actions: np.ndarray, static_shares: np.ndarray, temperature: float = CONTINUOUS_TEMPERATURE
) -> np.ndarray:
    """Map actions (B, S) of the box ``[-1, 1]^S`` onto the simplex: ``softmax(ln c + a / T)``.

    Args:
        actions: (B, S) finite values; those outside ``[-1, 1]`` are clipped to it.
        static_shares: (B, S) capacity-proportional shares ``c`` (the image of ``a = 0``).
        temperature: Softmax temperature T (> 0).

    Returns:
        (B, S) shares, non-negative, each row summing to 1.
    """
    with np.errstate(divide="ignore"):  # a server without capacity: ln 0 = -inf, share 0
        logits = np.log(static_shares) + np.clip(actions, -1.0, 1.0) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


#: Largest cloud bias of a class (its cloud share's log-weight): ``e^4``, about 55x, as far as the
#: continuous routing logits reach.
CLASS_BIAS_MAX = 4.0
#: The cloud bias moved by one discrete ``edge-first`` / ``cloud-first`` action.
CLASS_BIAS_STEP = 2.0
#: The shed fraction moved by one discrete ``shed-more`` / ``shed-less`` action.
SHED_STEP = 0.25


class JointControl(NamedTuple):
    """The levers of joint control besides the shares, for B systems (S servers, K classes).

    Attributes:
        capacity: (B, 2, S) int: each server's requested capacity level and DVFS level.
        classes: (B, 2, K) float: each class's admitted fraction of its arrivals (1 - shed) and
            its cloud bias (log-weight of the cloud's share for the class).
    """

    capacity: np.ndarray
    classes: np.ndarray


def checked_classes(classes: np.ndarray, b: int, k: int) -> np.ndarray:
    """``classes`` as a fresh (B, 2, K) float array, or a ValueError that names the fault."""
    out = np.array(classes, dtype=np.float64)
    if out.shape != (b, 2, k):
        raise ValueError(f"class levers must have shape ({b}, 2, {k}), got {out.shape}.")
    if not _classes_in_range(out, CLASS_BIAS_MAX):
        raise ValueError(
            "class levers: admitted fractions must lie in [0, 1] and cloud biases in "
            f"[-{CLASS_BIAS_MAX:g}, {CLASS_BIAS_MAX:g}] (NaN is neither), got {out.tolist()}."
        )
    return out


@jit
def _classes_in_range(classes, bias_max):  # pragma: no cover - compiled
    """Whether every admitted fraction lies in [0, 1] and every bias in [-max, max] (no NaN)."""
    n_batch, _, n_cls = classes.shape
    for b in range(n_batch):
        for k in range(n_cls):
            admit, bias = classes[b, 0, k], classes[b, 1, k]
            if not (0.0 <= admit <= 1.0 and -bias_max <= bias <= bias_max):
                return False
    return True


@jit
def discrete_joint(
    action, table, shares, target, frequency, classes, counts, steps
):  # pragma: no cover
    """The new shares (B, S), the requested (B, 2, S) levels and clocks and the (B, 2, K)
    admitted fractions and cloud biases of discrete joint actions (see
    :meth:`~edgecloud_gym.core.simulator.BatchSimulator.decode_action`); ``table`` holds the routing moves'
    :class:`~edgecloud_gym.core.actions.DiscreteActionTable` arrays, ``counts`` the numbers of
    capacity and clock levels, ``steps`` the class levers' steps and bias bound."""
    lam, move_to, away, source, direction = table
    n_l, n_f = counts
    bias_step, bias_max, shed_step = steps
    n_batch, n_srv = target.shape
    n_cls = classes.shape[2]
    n_routing = lam.shape[0]
    new = np.empty_like(shares)
    out = np.empty((n_batch, 2, n_srv), dtype=np.int64)
    cls = classes.copy()
    for b in range(n_batch):
        for s in range(n_srv):
            out[b, 0, s] = target[b, s]
            out[b, 1, s] = frequency[b, s]
        a = action[b]
        r = a if a < n_routing else 0  # a move of another lever holds the shares
        moved = min(away[r], shares[b, source[r]])
        for s in range(n_srv):
            new[b, s] = (
                (1.0 - lam[r]) * shares[b, s] + lam[r] * move_to[r, s] + moved * direction[r, s]
            )
        if a < n_routing:
            continue
        move = a - n_routing
        if move < 4 * n_srv:
            lever, rest = divmod(move, 2 * n_srv)
            server, down = divmod(rest, 2)
            top = n_l - 1 if lever == 0 else n_f - 1
            value = out[b, lever, server] + (-1 if down else 1)
            out[b, lever, server] = min(max(value, 0), top)
            continue
        lever, rest = divmod(move - 4 * n_srv, 2 * n_cls)
        k, second = divmod(rest, 2)
        if lever == 0:  # edge-first (bias down), cloud-first (bias up)
            bias = cls[b, 1, k] + (bias_step if second else -bias_step)
            cls[b, 1, k] = min(max(bias, -bias_max), bias_max)
        else:  # shed more (admit less), shed less
            admit = cls[b, 0, k] + (shed_step if second else -shed_step)
            cls[b, 0, k] = min(max(admit, 0.0), 1.0)
    return new, out, cls
