"""The settings of DYNAMIC-ALLOCATOR's meta-training (:class:`MetaTrainConfig`), validated when
built; the algorithm they drive is :mod:`edgecloud_agents.meta_dqn`, and every default is
explained in ``docs/dynamic_allocator.md``."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgecloud_gym._validation import check_keys
from edgecloud_gym.tasks import PRESETS, Task, train_tasks

__all__ = ["MetaTrainConfig", "check_setting"]


def check_setting(name: str, value: Any, kind: type, low: float, high: float = math.inf) -> Any:
    """``value`` as ``kind`` if it is one and lies in ``[low, high]``; else raise naming the
    setting ``name`` and the range."""
    if kind is int and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
        raise TypeError(f"MetaTrainConfig.{name} must be an integer, got {value!r}.")
    if kind is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise TypeError(f"MetaTrainConfig.{name} must be a number, got {value!r}.")
    if not (low <= value <= high) or (kind is float and not math.isfinite(value)):
        raise ValueError(f"MetaTrainConfig.{name} must lie in [{low}, {high}], got {value!r}.")
    return kind(value)


@dataclass(frozen=True)
class MetaTrainConfig:
    """Settings of a meta-training run (validated at construction; see the module docstring).

    Attributes:
        forecaster: Forecaster of the observation (``"lstm"``: DYNAMIC-ALLOCATOR; ``"none"``:
            the MAML-without-forecasts ablation).
        n_train_tasks: Size of the training task pool drawn by ``train_tasks``.
        task_seed: Seed of ``train_tasks`` (the test split of the same seed stays held out).
        include_presets: Add the Low / Medium / High presets to the pool.
        net_arch: Hidden layer widths of the Q-network.
        meta_batch: Tasks per outer step.
        inner_steps: SGD steps of the inner loop.
        inner_lr: Step size of the inner loop (plain SGD).
        outer_lr: Adam step size of the outer loop.
        batch_size: Transitions per inner step (support) and in the query set.
        gamma: Discount factor (the fine-tuning DQN's).
        target_tau: Polyak rate of the meta-target network per outer step.
        max_grad_norm: Clip of the meta-gradient's norm (SB3 DQN's default).
        first_order: First-order MAML.
        buffer_episodes: Episodes kept per task.
        warmup_episodes: Episodes collected per task before the first outer step.
        collect_every: Outer steps between new episodes of the meta-batch's tasks.
        epsilon: (low, high) of the per-episode probability of a random action.
        episode_steps: Steps per collected episode.
        seed: Seed of the network initialisation and of every random draw of the run.
    """

    forecaster: str = "lstm"
    n_train_tasks: int = 64
    task_seed: int = 0
    include_presets: bool = True
    net_arch: tuple[int, ...] = (128, 128, 128)
    meta_batch: int = 8
    inner_steps: int = 3
    inner_lr: float = 0.01
    outer_lr: float = 3e-4
    batch_size: int = 64
    gamma: float = 0.99
    target_tau: float = 0.05
    max_grad_norm: float = 10.0
    first_order: bool = False
    buffer_episodes: int = 4
    warmup_episodes: int = 2
    collect_every: int = 1
    epsilon: tuple[float, float] = (0.05, 0.3)
    episode_steps: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.forecaster, str):
            raise TypeError(f"MetaTrainConfig.forecaster must be a name, got {self.forecaster!r}.")
        check_setting("n_train_tasks", self.n_train_tasks, int, 1)
        check_setting("task_seed", self.task_seed, int, 0)
        arch = tuple(self.net_arch)
        if not arch or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in arch):
            raise ValueError(
                f"MetaTrainConfig.net_arch must be positive layer widths, got {self.net_arch!r}."
            )
        object.__setattr__(self, "net_arch", arch)
        check_setting("meta_batch", self.meta_batch, int, 1)
        check_setting("inner_steps", self.inner_steps, int, 1)
        check_setting("inner_lr", self.inner_lr, float, 1e-12)
        check_setting("outer_lr", self.outer_lr, float, 1e-12)
        check_setting("batch_size", self.batch_size, int, 1)
        check_setting("gamma", self.gamma, float, 0.0, 1.0)
        check_setting("target_tau", self.target_tau, float, 0.0, 1.0)
        check_setting("max_grad_norm", self.max_grad_norm, float, 1e-12)
        check_setting("buffer_episodes", self.buffer_episodes, int, 1)
        check_setting("warmup_episodes", self.warmup_episodes, int, 1, self.buffer_episodes)
        check_setting("collect_every", self.collect_every, int, 1)
        check_setting("episode_steps", self.episode_steps, int, 1)
        check_setting("seed", self.seed, int, 0)
        eps = tuple(float(e) for e in self.epsilon)
        if len(eps) != 2 or not 0.0 <= eps[0] <= eps[1] <= 1.0:
            raise ValueError(
                f"MetaTrainConfig.epsilon must be (low, high) with 0 <= low <= high <= 1, "
                f"got {self.epsilon!r}."
            )
        object.__setattr__(self, "epsilon", eps)
        n_pool = self.n_train_tasks + (3 if self.include_presets else 0)
        if self.meta_batch > n_pool:
            raise ValueError(
                f"MetaTrainConfig.meta_batch ({self.meta_batch}) exceeds the task pool ({n_pool}); "
                "lower meta_batch or raise n_train_tasks."
            )
        needed = (self.inner_steps + 1) * self.batch_size
        if needed > self.warmup_episodes * self.episode_steps:
            raise ValueError(
                f"support and query sets need {needed} distinct transitions per task "
                f"((inner_steps + 1) x batch_size) but warm-up gives only "
                f"{self.warmup_episodes * self.episode_steps}; raise warmup_episodes or lower "
                "batch_size."
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-serialisable)."""
        out = dataclasses.asdict(self)
        out["net_arch"], out["epsilon"] = list(self.net_arch), list(self.epsilon)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> MetaTrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise with the closest valid one."""
        check_keys(values, [f.name for f in dataclasses.fields(cls)], "MetaTrainConfig")
        data = dict(values)
        for key in ("net_arch", "epsilon"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)

    def tasks(self) -> list[Task]:
        """The meta-training task pool."""
        pool = train_tasks(self.n_train_tasks, self.task_seed)
        return pool + list(PRESETS.values()) if self.include_presets else pool
