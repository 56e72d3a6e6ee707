"""The agent protocol every member of the zoo meets."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["Agent", "MetaAgent"]


@runtime_checkable
class Agent(Protocol):
    """What the evaluation harness needs from an agent.

    ``predict`` takes one observation (D,) and returns one action, or a batch (B, D) and returns
    B actions. Agents that don't learn return themselves from ``learn`` unchanged.
    """

    name: str

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> Any:
        """Action(s) for observation(s)."""
        ...

    def learn(self, total_timesteps: int, **kwargs: Any) -> Agent:
        """Train for ``total_timesteps`` environment steps; returns the agent."""
        ...

    def save(self, path: str | Path) -> None:
        """Write everything needed to act identically after :meth:`load`."""
        ...

    @classmethod
    def load(cls, path: str | Path, env: Any = None) -> Agent:
        """Read an agent written by :meth:`save`."""
        ...


@runtime_checkable
class MetaAgent(Agent, Protocol):
    """An agent with a meta-learned initialisation that adapts to a new task."""

    def adapt(self, env: Any, total_timesteps: int, **kwargs: Any) -> Agent:
        """Adapt to the task of ``env`` in ``total_timesteps`` steps; returns the adapted agent."""
        ...
