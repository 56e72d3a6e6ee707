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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgecloud_gym.core._jit import jit

__all__ = [
    "CONTINUOUS_TEMPERATURE",
    "DiscreteActionTable",
    "action_names",
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
