"""Per-task replay of DYNAMIC-ALLOCATOR's meta-training: a ring buffer of whole episodes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

__all__ = ["EpisodeBuffer"]


class EpisodeBuffer:
    """The last ``capacity`` episodes of one task, stored per episode (T + 1 observations)."""

    def __init__(self, capacity: int, steps: int, obs_size: int) -> None:
        self.obs = np.zeros((capacity, steps + 1, obs_size), dtype=np.float32)
        self.actions = np.zeros((capacity, steps), dtype=np.int64)
        self.rewards = np.zeros((capacity, steps), dtype=np.float32)
        self.filled = 0
        self.next = 0

    @property
    def transitions(self) -> int:
        """Transitions stored."""
        return self.filled * self.actions.shape[1]

    def add(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Store one episode (obs (T + 1, D), actions (T,), rewards (T,)), replacing the oldest."""
        self.obs[self.next], self.actions[self.next], self.rewards[self.next] = (
            obs,
            actions,
            rewards,
        )
        self.next = (self.next + 1) % len(self.obs)
        self.filled = min(self.filled + 1, len(self.obs))

    def batch(self, flat: np.ndarray) -> tuple[torch.Tensor, ...]:
        """(obs, actions, rewards, next_obs) of the transitions with flat indices ``flat``."""
        e, t = np.divmod(flat, self.actions.shape[1])
        return (
            torch.from_numpy(self.obs[e, t]),
            torch.from_numpy(self.actions[e, t]),
            torch.from_numpy(self.rewards[e, t]),
            torch.from_numpy(self.obs[e, t + 1]),
        )

    def state(self) -> dict[str, Any]:
        """Contents as tensors (for checkpoints)."""
        return {
            "obs": torch.from_numpy(self.obs.copy()),
            "actions": torch.from_numpy(self.actions.copy()),
            "rewards": torch.from_numpy(self.rewards.copy()),
            "filled": self.filled,
            "next": self.next,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`state`."""
        self.obs[...] = state["obs"].numpy()
        self.actions[...] = state["actions"].numpy()
        self.rewards[...] = state["rewards"].numpy()
        self.filled, self.next = int(state["filled"]), int(state["next"])


# --------------------------------------------------------------------------- the trainer
