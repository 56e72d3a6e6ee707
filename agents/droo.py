"""DROO: deep reinforcement learning-based online offloading (Huang, Bi, Zhang, IEEE TMC 2020).

One DNN maps the frame's channel gains to a relaxed offloading decision ``x_hat`` in [0, 1]^N.
*Order-preserving quantisation* turns it into K binary candidates: the first thresholds
``x_hat`` at 0.5; candidate k + 1 (k = 1 .. K - 1) thresholds at the entry ``x_hat_(k)`` that is
k-th closest to 0.5 (entries above it offload, entries below compute locally; the entry itself
offloads iff ``x_hat_(k) <= 0.5``), so the candidates differ where the DNN is least sure. The
*critic* (the env's model: the optimal rate of each mode, Bi & Zhang's closed form) picks the
best, which is played and stored in a replay memory of 1024 entries; every 10 frames the DNN
takes one Adam step (lr 0.01) on a batch of 128 with the stored best modes as labels.

*Adaptive K* (DROO, section IV-D): starting at K = N, every ``delta`` = 32 frames K is set to
``min(max(k*_(t-1), ..., k*_(t-delta)) + 1, N)``, where ``k*`` is the 1-based order of the best
candidate, so K shrinks to what the critic actually uses.

Defaults are DROO's (hidden layers 120 and 80, memory 1024, batch 128, interval 10, Adam with
lr 0.01 and beta1 0.09, weights N(0, 1/N^2), biases 0.1).
DROO is defined for binary decisions; it runs on WPMEC (its home) and on MUMT.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from edgecloud_gym._validation import check_int

from .frame_learner import FrameLearner

__all__ = ["DROO", "order_preserving_quantise"]


def order_preserving_quantise(x_hat: np.ndarray, k: int) -> np.ndarray:
    """DROO's order-preserving quantisation of one relaxed decision into ``k`` candidates.

    Args:
        x_hat: relaxed decision (N,), entries in [0, 1].
        k: number of candidates, 1 <= k <= N.

    Returns:
        (k, N) int8 binary candidates; row 0 is ``x_hat > 0.5``.
    """
    x_hat = np.asarray(x_hat, dtype=np.float64)
    if x_hat.ndim != 1:
        raise ValueError(f"x_hat must have shape (N,), got {x_hat.shape}.")
    n = x_hat.shape[0]
    k = check_int("k", k, minimum=1)
    if k > n:
        raise ValueError(f"k must be <= N = {n} (order-preserving quantisation), got {k}.")
    out = np.empty((k, n), dtype=np.int8)
    out[0] = x_hat > 0.5
    order = np.argsort(np.abs(x_hat - 0.5), kind="stable")
    for j in range(1, k):
        t = x_hat[order[j - 1]]
        cand = x_hat > t
        cand[x_hat == t] = t <= 0.5
        out[j] = cand
    return out


class DROO(FrameLearner):
    """DROO behind the zoo's protocol (see the module docstring).

    Args:
        env: an offloading env with binary decisions (WPMEC or MUMT).
        k_init: initial number of candidates (default N, DROO's).
        adaptive_k: adapt K every ``delta`` frames (DROO's rule); False keeps K fixed.
        delta: adaptation period of K in frames (DROO: 32).
        **kwargs: the :class:`~edgecloud_agents.offloading.FrameLearner` arguments (``hidden``,
            ``learning_rate``, ``memory_size``, ``batch_size``, ``training_interval``,
            ``input_scale``, ``seed``).
    """

    name: ClassVar[str] = "droo"
    n_nets_default: ClassVar[int] = 1
    init_bias: ClassVar[float] = 0.1
    _param_names: ClassVar[tuple[str, ...]] = (
        *FrameLearner._param_names,
        "k_init",
        "adaptive_k",
        "delta",
    )

    def __init__(
        self,
        env: Any,
        *,
        k_init: int | None = None,
        adaptive_k: bool = True,
        delta: int = 32,
        n_nets: int | None = None,
        **kwargs: Any,
    ) -> None:
        if n_nets not in (None, 1):
            raise ValueError(f"DROO has one DNN (n_nets=1), got n_nets={n_nets}; use DDLO for K.")
        super().__init__(env, n_nets=1, **kwargs)
        if self.n_places != 2:
            raise ValueError(
                "DROO quantises binary decisions; the edge-cloud env has 3 places. Use "
                "EdgeCloud-Offload-WPMEC-v0 / -MUMT-v0, or DDLO / DMRO for the edge-cloud env."
            )
        n = self.n_entries
        self.k_init = check_int("k_init", n if k_init is None else k_init, minimum=1)
        if self.k_init > n:
            raise ValueError(f"k_init must be <= N = {n}, got {self.k_init}.")
        if not isinstance(adaptive_k, bool):
            raise TypeError(f"adaptive_k must be a bool, got {adaptive_k!r}.")
        self.adaptive_k = adaptive_k
        self.delta = check_int("delta", delta, minimum=1)
        self.k = self.k_init
        self._recent_best: list[int] = []

    def _candidates(self, obs: np.ndarray) -> np.ndarray:
        return order_preserving_quantise(self._relaxed(obs)[0], self.k)

    def _on_choice(self, index: int, n_candidates: int) -> None:
        self._recent_best.append(index)
        if self.adaptive_k and self.num_timesteps % self.delta == 0:
            # index is 0-based: the 1-based order is index + 1, and K = max order + 1.
            self.k = min(max(self._recent_best[-self.delta :]) + 2, self.n_entries)
            self._recent_best = self._recent_best[-self.delta :]

    def _extra_state(self) -> dict[str, Any]:
        return {"k": self.k}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.k = int(state["k"])
