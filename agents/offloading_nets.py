"""The offloading learners' networks, losses and replay.

:class:`ParallelMLP` holds K independent MLPs as stacked weight tensors, so that K DNNs cost one
batched matrix product per layer (DDLO's K parallel DNNs; DROO uses K = 1). An entry with two
places (local / offload) has one sigmoid output, as in DDLO and DROO; with three places
(device / edge / cloud) it has three softmax outputs (:func:`decision_loss`, :func:`relaxed`).
:class:`ReplayMemory` keeps the best decision found for each observation, the learners' labels.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from torch import nn

from edgecloud_gym._validation import check_int

__all__ = [
    "ParallelMLP",
    "ReplayMemory",
    "decision_loss",
    "relaxed",
    "threshold_candidates",
]


class ParallelMLP(nn.Module):
    """K independent MLPs evaluated together (stacked weights, one ``bmm`` per layer).

    Input (B, D) or (K, B, D); output logits (K, B, n, P) with P = 1 (sigmoid, two places) or
    P = ``n_places`` (softmax, three or more places). ReLU hidden layers; each of the K nets has
    its own initialisation (PyTorch's default uniform fan-in scheme, drawn from ``generator``).

    Args:
        n_nets: K.
        in_dim: D, the observation size.
        n_entries: n, decisions per frame.
        n_places: places per entry (2: one sigmoid output each).
        hidden: hidden layer sizes (DDLO and DROO: 120, 80).
        generator: the torch generator of the initial weights.
        init_std: if given, weights are drawn from N(0, init_std^2) and biases set to
            ``init_bias`` (DDLO / DROO: std 1 / in_dim, bias 0 / 0.1); None: PyTorch's default
            uniform fan-in scheme for weights and biases.
        init_bias: constant initial bias with ``init_std``.
    """

    def __init__(
        self,
        n_nets: int,
        in_dim: int,
        n_entries: int,
        n_places: int,
        hidden: tuple[int, ...] = (120, 80),
        generator: torch.Generator | None = None,
        init_std: float | None = None,
        init_bias: float = 0.0,
    ) -> None:
        super().__init__()
        self.n_nets = check_int("n_nets", n_nets, minimum=1)
        self.n_entries = check_int("n_entries", n_entries, minimum=1)
        self.n_places = check_int("n_places", n_places, minimum=2)
        self.out_per_entry = 1 if n_places == 2 else n_places
        sizes = [check_int("in_dim", in_dim, minimum=1)]
        sizes += [check_int("hidden[i]", h, minimum=1) for h in hidden]
        sizes.append(n_entries * self.out_per_entry)
        self.sizes = tuple(sizes)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in itertools.pairwise(sizes):
            if init_std is None:
                bound = 1.0 / math.sqrt(fan_in)
                w = (torch.rand(n_nets, fan_in, fan_out, generator=generator) * 2 - 1) * bound
                b = (torch.rand(n_nets, 1, fan_out, generator=generator) * 2 - 1) * bound
            else:
                w = torch.randn(n_nets, fan_in, fan_out, generator=generator) * init_std
                b = torch.full((n_nets, 1, fan_out), float(init_bias))
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(b))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (K, B, n, P) for inputs (B, D) (shared by all nets) or (K, B, D)."""
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.n_nets, -1, -1)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = torch.relu(x)
        return x.reshape(self.n_nets, x.shape[1], self.n_entries, self.out_per_entry)


def decision_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of logits (K, B, n, P) against integer decisions (K, B, n), summed over
    the K nets and averaged over batch and entries (binary: sigmoid; else softmax)."""
    if logits.shape[-1] == 1:
        per = nn.functional.binary_cross_entropy_with_logits(
            logits.squeeze(-1), labels.to(logits.dtype), reduction="none"
        )
    else:
        per = nn.functional.cross_entropy(
            logits.permute(0, 3, 1, 2), labels.long(), reduction="none"
        )
    return per.mean(dim=(1, 2)).sum()


def relaxed(logits: torch.Tensor) -> torch.Tensor:
    """Relaxed decisions: P(offload) (..., n) for binary logits, else probabilities (..., n, P)."""
    if logits.shape[-1] == 1:
        return torch.sigmoid(logits.squeeze(-1))
    return torch.softmax(logits, dim=-1)


def threshold_candidates(probs: np.ndarray) -> np.ndarray:
    """DDLO's quantisation: one decision per net, (K, n) int8 from relaxed decisions.

    Binary relaxed decisions (K, n): 1 where the offloading probability exceeds 0.5. Multi-place
    probabilities (K, n, P): the most probable place of each entry (the 0.5 threshold is the
    two-place case of this rule).
    """
    if probs.ndim == 2:
        return (probs > 0.5).astype(np.int8)
    return np.argmax(probs, axis=-1).astype(np.int8)


class ReplayMemory:
    """A ring buffer of (observation, best decision) pairs (DDLO / DROO: 1024 entries).

    Args:
        capacity: entries kept; the oldest is overwritten first.
        obs_dim: observation size.
        n_entries: decision size.
    """

    def __init__(self, capacity: int, obs_dim: int, n_entries: int) -> None:
        self.capacity = check_int("memory_size", capacity, minimum=1)
        self.obs = np.zeros((self.capacity, obs_dim), dtype=np.float32)
        self.decision = np.zeros((self.capacity, n_entries), dtype=np.int8)
        self.size = 0
        self._next = 0

    def add(self, obs: np.ndarray, decision: np.ndarray) -> None:
        """Store one pair."""
        self.obs[self._next] = obs
        self.decision[self._next] = decision
        self._next = (self._next + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
        """Observations ``shape + (D,)`` and decisions ``shape + (n,)`` drawn with replacement."""
        if self.size == 0:
            raise ValueError("ReplayMemory.sample: the memory is empty; add frames first.")
        idx = rng.integers(0, self.size, size=shape)
        return self.obs[idx], self.decision[idx]
