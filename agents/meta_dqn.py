"""Meta-training of the DQN Q-network with MAML over the training task distribution.

This is the meta-learning module of DYNAMIC-ALLOCATOR (the source paper's section 3.3): it learns
an *initialisation* of the paper's Q-network (3 x 128 ReLU MLP on the forecast-augmented
observation) from which a DQN adapts to a new workload scenario in few steps. Every choice is
documented in ``docs/dynamic_allocator.md``; in short:

- **Tasks.** A pool of :func:`~edgecloud_gym.tasks.train_tasks` (plus the Low / Medium / High
  presets, by default); held-out :func:`~edgecloud_gym.tasks.test_tasks` are never used here.
- **Transitions.** Each task keeps a ring buffer of its last ``buffer_episodes`` episodes. An
  episode is played by a behaviour policy drawn per episode: the current meta-network (greedy),
  or one of the static, reactive-threshold and least-loaded rules; each step is replaced by a
  uniformly random action with a probability drawn per episode from ``epsilon``. All tasks of a
  meta-batch play at once in one :class:`~edgecloud_gym.core.simulator.BatchSimulator`.
- **Inner loop.** ``inner_steps`` SGD steps (step ``inner_lr``) on the TD loss of SB3's DQN
  (Huber loss of ``Q(s, a)`` against ``r + gamma max_a' Q_target(s', a')``), each on its own
  minibatch of ``batch_size`` transitions of the task (the *support* set).
- **Outer loop.** The TD loss of the adapted network on ``batch_size`` further transitions of
  the same task, disjoint from the support set (the *query* set), averaged over a meta-batch of
  ``meta_batch`` tasks and minimised with Adam (step ``outer_lr``, gradient norm clipped at
  ``max_grad_norm``), through the inner steps (second order) unless ``first_order``.
- **Target network.** One *meta-target* network, a Polyak average (rate ``target_tau`` per outer
  step) of the meta-parameters, gives the TD targets of both loops; it is not adapted per task.

:class:`MetaTrainer` runs it with resumable checkpoints and TensorBoard scalars under ``meta/``;
:func:`save_meta_init` / :func:`load_meta_init` write and read the resulting initialisation with
the metadata that keeps it from being loaded into an incompatible network.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgecloud_agents._io import check_finite_weights, load_torch, save_torch
from edgecloud_agents.maml import MAML
from edgecloud_gym._validation import check_keys
from edgecloud_gym.config import EdgeCloudConfig
from edgecloud_gym.core.simulator import BatchSimulator
from edgecloud_gym.envs.allocation import EdgeCloudEnv
from edgecloud_gym.model_version import MODEL_VERSION, check_model_version
from edgecloud_gym.tasks import PRESETS, Task, test_tasks, train_tasks

__all__ = [
    "CHECKPOINT_FORMAT",
    "META_INIT_FORMAT",
    "MetaInit",
    "MetaTrainConfig",
    "MetaTrainer",
    "load_meta_init",
    "meta_init_from_state",
    "meta_init_state",
    "q_network",
    "save_meta_init",
    "td_loss",
]

#: ``format`` field of a meta-initialisation file.
META_INIT_FORMAT = "edgecloud-meta-init/1"
#: ``format`` field of a meta-training checkpoint.
CHECKPOINT_FORMAT = "edgecloud-meta-checkpoint/1"

#: Behaviour policies of the data collection, drawn per episode.
BEHAVIOURS: tuple[str, ...] = ("meta-greedy", "static", "reactive", "least-loaded")


def q_network(
    obs_size: int, n_actions: int, net_arch: Sequence[int] = (128, 128, 128)
) -> nn.Module:
    """The Q-network exactly as SB3's ``QNetwork.q_net`` builds it (same layers and key names),
    so its state dict loads into ``DQN.policy.q_net.q_net`` and ``q_net_target.q_net``."""
    from stable_baselines3.common.torch_layers import create_mlp

    return nn.Sequential(*create_mlp(int(obs_size), int(n_actions), list(net_arch), nn.ReLU))


def td_loss(
    q: Any, obs: torch.Tensor, actions: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """SB3 DQN's loss: Huber (smooth L1) between ``q(obs)[a]`` and precomputed TD ``targets``."""
    values = q(obs).gather(1, actions[:, None]).squeeze(1)
    return nn.functional.smooth_l1_loss(values, targets)


# --------------------------------------------------------------------------- configuration


def _check(name: str, value: Any, kind: type, low: float, high: float = math.inf) -> Any:
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
        _check("n_train_tasks", self.n_train_tasks, int, 1)
        _check("task_seed", self.task_seed, int, 0)
        arch = tuple(self.net_arch)
        if not arch or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in arch):
            raise ValueError(
                f"MetaTrainConfig.net_arch must be positive layer widths, got {self.net_arch!r}."
            )
        object.__setattr__(self, "net_arch", arch)
        _check("meta_batch", self.meta_batch, int, 1)
        _check("inner_steps", self.inner_steps, int, 1)
        _check("inner_lr", self.inner_lr, float, 1e-12)
        _check("outer_lr", self.outer_lr, float, 1e-12)
        _check("batch_size", self.batch_size, int, 1)
        _check("gamma", self.gamma, float, 0.0, 1.0)
        _check("target_tau", self.target_tau, float, 0.0, 1.0)
        _check("max_grad_norm", self.max_grad_norm, float, 1e-12)
        _check("buffer_episodes", self.buffer_episodes, int, 1)
        _check("warmup_episodes", self.warmup_episodes, int, 1, self.buffer_episodes)
        _check("collect_every", self.collect_every, int, 1)
        _check("episode_steps", self.episode_steps, int, 1)
        _check("seed", self.seed, int, 0)
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


# --------------------------------------------------------------------------- the meta-initialisation


@dataclass(frozen=True)
class MetaInit:
    """A meta-learned Q-network initialisation and what it fits.

    Attributes:
        state_dict: Parameters of :func:`q_network` (keys ``0.weight``, ``0.bias``, ...).
        obs_size: Length of the observation it reads.
        n_actions: Number of discrete actions it scores.
        forecaster: Forecaster of the observations it was trained on.
        net_arch: Hidden layer widths.
        metadata: Everything else (meta-training settings, outer steps, versions).
    """

    state_dict: dict[str, torch.Tensor]
    obs_size: int
    n_actions: int
    forecaster: str
    net_arch: tuple[int, ...]
    metadata: dict[str, Any]

    def network(self) -> nn.Module:
        """A fresh :func:`q_network` holding these parameters."""
        net = q_network(self.obs_size, self.n_actions, self.net_arch)
        net.load_state_dict(self.state_dict)
        return net

    def check_compatible(
        self,
        obs_size: int,
        n_actions: int,
        net_arch: Sequence[int] | None = None,
        forecaster: str | None = None,
        where: str = "meta-initialisation",
    ) -> None:
        """Raise ``ValueError`` naming the mismatch and the fix if this does not fit a network."""
        if forecaster is not None and forecaster != self.forecaster:
            raise ValueError(
                f"{where} was meta-trained on observations with forecaster {self.forecaster!r} "
                f"but the env uses {forecaster!r}; make the env with "
                f"forecaster={self.forecaster!r} or meta-train with --forecaster {forecaster}."
            )
        if obs_size != self.obs_size:
            raise ValueError(
                f"{where} expects observations of size {self.obs_size} (forecaster "
                f"{self.forecaster!r}) but the network reads size {obs_size}; use an env with "
                "the same configuration and forecaster, or meta-train for this one."
            )
        if n_actions != self.n_actions:
            raise ValueError(
                f"{where} scores {self.n_actions} actions but the network has {n_actions}; use "
                "an env with the same number of edge nodes, or meta-train for this one."
            )
        if net_arch is not None and tuple(net_arch) != self.net_arch:
            raise ValueError(
                f"{where} has hidden layers {list(self.net_arch)} but the network has "
                f"{list(net_arch)}; build the DQN with policy_kwargs=dict(net_arch="
                f"{list(self.net_arch)})."
            )


def meta_init_state(init: MetaInit) -> dict[str, Any]:
    """``init`` as the plain dict of tensors and values that :func:`save_meta_init` writes."""
    return {
        "format": META_INIT_FORMAT,
        "model_version": MODEL_VERSION,
        "state_dict": {k: v.detach().cpu().clone() for k, v in init.state_dict.items()},
        "obs_size": int(init.obs_size),
        "n_actions": int(init.n_actions),
        "forecaster": init.forecaster,
        "net_arch": list(init.net_arch),
        "activation": "relu",
        "metadata_json": json.dumps(init.metadata, sort_keys=True),
    }


def save_meta_init(init: MetaInit, path: str | Path) -> None:
    """Write ``init`` to ``path`` (a torch file loadable with ``weights_only=True``), atomically."""
    save_torch(meta_init_state(init), path)


_META_INIT_FIX = "Create one with 'edgecloud meta-train'."


def load_meta_init(source: str | Path | bytes) -> MetaInit:
    """Read a meta-initialisation from a file written by :func:`save_meta_init` (or its bytes);
    a foreign, corrupt or non-finite one raises ``ValueError`` naming it."""
    data = load_torch(source, "meta-initialisation", _META_INIT_FIX)
    where = "meta-initialisation" if isinstance(source, bytes) else str(source)
    return meta_init_from_state(data, where)


def meta_init_from_state(data: Any, where: str) -> MetaInit:
    """The :class:`MetaInit` of a dict written by :func:`meta_init_state`, checked: its format,
    model version, keys, shapes and finiteness (``ValueError`` naming ``where`` otherwise)."""
    if not isinstance(data, dict) or data.get("format") != META_INIT_FORMAT:
        raise ValueError(
            f"{where} is not a meta-initialisation of format {META_INIT_FORMAT!r} (a checkpoint? "
            "pass the meta_init.pt that 'edgecloud meta-train' writes)."
        )
    check_model_version(data.get("model_version"), f"meta-initialisation {where}")
    missing = sorted({"state_dict", "obs_size", "n_actions", "forecaster", "net_arch"} - set(data))
    if missing or not isinstance(data["state_dict"], dict):
        raise ValueError(
            f"{where}: the meta-initialisation lacks {missing or ['a state_dict']}; it is "
            f"damaged. {_META_INIT_FIX}"
        )
    check_finite_weights(data["state_dict"], f"meta-initialisation {where}")
    init = MetaInit(
        state_dict=dict(data["state_dict"]),
        obs_size=int(data["obs_size"]),
        n_actions=int(data["n_actions"]),
        forecaster=str(data["forecaster"]),
        net_arch=tuple(int(w) for w in data["net_arch"]),
        metadata=json.loads(data.get("metadata_json", "{}")),
    )
    expected = q_network(init.obs_size, init.n_actions, init.net_arch).state_dict()
    bad = sorted(set(expected) ^ set(init.state_dict))
    shapes = [
        k
        for k in expected
        if k in init.state_dict and init.state_dict[k].shape != expected[k].shape
    ]
    if bad or shapes:
        raise ValueError(
            f"{where}: parameters do not match its own metadata (keys {bad}, shapes {shapes}); "
            "the file is damaged, create it again with 'edgecloud meta-train'."
        )
    return init


# --------------------------------------------------------------------------- per-task replay


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


class MetaTrainer:
    """MAML over the training tasks for the DQN Q-network (see the module docstring).

    Args:
        config: Meta-training settings.
        env_config: Simulator configuration (default: the package default).
        tensorboard_log: Folder of the TensorBoard run (None: no logs).
        eval_tasks: Number of training and of held-out test tasks whose greedy return of the
            meta-network is logged at every evaluation (``meta/eval_return_*``).
    """

    def __init__(
        self,
        config: MetaTrainConfig | None = None,
        env_config: EdgeCloudConfig | None = None,
        tensorboard_log: str | Path | None = None,
        eval_tasks: int = 4,
    ) -> None:
        from edgecloud_agents.heuristics import LeastLoaded, ReactiveThreshold, Static

        self.config = config or MetaTrainConfig()
        cfg = self.config
        self.env_config = env_config or EdgeCloudConfig()
        self.tasks = cfg.tasks()
        probe = EdgeCloudEnv(
            task=self.tasks[0],
            config=self.env_config,
            forecaster=cfg.forecaster,
            episode_steps=cfg.episode_steps,
        )
        self.obs_size = int(probe.observation_space.shape[0])
        self.n_actions = int(probe.action_space.n)
        self.rules = (Static(probe), ReactiveThreshold(probe), LeastLoaded(probe))
        torch.manual_seed(cfg.seed)
        self.net = q_network(self.obs_size, self.n_actions, cfg.net_arch)
        self.target = copy.deepcopy(self.net).requires_grad_(False)
        self.maml = MAML(self.net, lr=cfg.inner_lr, first_order=cfg.first_order)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=cfg.outer_lr)
        self.rng = np.random.default_rng(cfg.seed)
        self.buffers = [
            EpisodeBuffer(cfg.buffer_episodes, cfg.episode_steps, self.obs_size) for _ in self.tasks
        ]
        self.step = 0
        self.env_steps = 0
        self._sims: dict[int, BatchSimulator] = {}
        self._writer: Any = None
        self._tb = None if tensorboard_log is None else Path(tensorboard_log)
        n_eval = max(0, int(eval_tasks))
        self.eval_tasks = {
            "train": self.tasks[:n_eval],
            "test": test_tasks(n_eval, cfg.task_seed),
        }
        self._static_returns: dict[str, float] = {}

    # ------------------------------------------------------------------ data

    def _sim(self, tasks: Sequence[Task]) -> BatchSimulator:
        sim = self._sims.get(len(tasks))
        if sim is None:
            sim = BatchSimulator(
                self.env_config, list(tasks), self.config.forecaster, "discrete",
                self.config.episode_steps,
            )  # fmt: skip
            self._sims[len(tasks)] = sim
        else:
            sim.set_tasks(list(tasks))
        return sim

    def _greedy(self, net: nn.Module, obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.from_numpy(obs)).argmax(dim=1).numpy()

    def _play(
        self, tasks: Sequence[Task], behaviour: np.ndarray, epsilon: np.ndarray, seeds: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One episode per task: observations (B, T+1, D), actions (B, T), rewards (B, T)."""
        sim = self._sim(tasks)
        sim.reset([np.random.default_rng(int(s)) for s in seeds])
        b, steps = len(tasks), self.config.episode_steps
        obs = np.zeros((b, steps + 1, self.obs_size), dtype=np.float32)
        actions = np.zeros((b, steps), dtype=np.int64)
        rewards = np.zeros((b, steps), dtype=np.float32)
        rows = np.arange(b)
        for t in range(steps):
            o = sim.observe()
            obs[:, t] = o
            choices = np.stack(
                [self._greedy(self.net, o)] + [np.asarray(r.predict(o)) for r in self.rules]
            )
            a = choices[behaviour, rows]
            explore = self.rng.random(b) < epsilon
            a = np.where(explore, self.rng.integers(self.n_actions, size=b), a)
            reward, _, _ = sim.step(sim.shares_from_action(a))
            actions[:, t], rewards[:, t] = a, reward
        obs[:, steps] = sim.observe()
        self.env_steps += b * steps
        return obs, actions, rewards

    def collect(self, task_ids: Sequence[int]) -> dict[str, float]:
        """Play one behaviour episode on each task of ``task_ids`` into its buffer.

        Returns the mean episode return per behaviour policy that played.
        """
        ids = np.asarray(task_ids)
        lo, hi = self.config.epsilon
        behaviour = self.rng.integers(len(BEHAVIOURS), size=len(ids))
        epsilon = self.rng.uniform(lo, hi, size=len(ids))
        seeds = self.rng.integers(2**62, size=len(ids))
        obs, actions, rewards = self._play([self.tasks[i] for i in ids], behaviour, epsilon, seeds)
        for j, i in enumerate(ids):
            self.buffers[i].add(obs[j], actions[j], rewards[j])
        returns = rewards.sum(axis=1)
        return {
            BEHAVIOURS[k]: float(returns[behaviour == k].mean())
            for k in range(len(BEHAVIOURS))
            if np.any(behaviour == k)
        }

    def warmup(self) -> None:
        """Fill every task's buffer with ``warmup_episodes`` episodes (meta-batch sized chunks)."""
        chunk = self.config.meta_batch
        for _ in range(self.config.warmup_episodes):
            for start in range(0, len(self.tasks), chunk):
                self.collect(range(start, min(start + chunk, len(self.tasks))))

    # ------------------------------------------------------------------ losses

    def _targets(self, rewards: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return rewards + self.config.gamma * self.target(next_obs).max(dim=1).values

    def _sample(self, task: int) -> list[tuple[torch.Tensor, ...]]:
        """``inner_steps`` support minibatches and one query minibatch, all distinct transitions,
        as (obs, actions, targets)."""
        cfg, buf = self.config, self.buffers[task]
        flat = self.rng.choice(buf.transitions, (cfg.inner_steps + 1) * cfg.batch_size, False)
        out = []
        for chunk in np.split(flat, cfg.inner_steps + 1):
            obs, act, rew, nxt = buf.batch(chunk)
            out.append((obs, act, self._targets(rew, nxt)))
        return out

    def outer_step(self) -> dict[str, float]:
        """One meta-update on a fresh meta-batch; returns the logged values."""
        cfg = self.config
        ids = self.rng.choice(len(self.tasks), cfg.meta_batch, replace=False)
        behaviour: dict[str, float] = {}
        if self.step % cfg.collect_every == 0:
            behaviour = self.collect(ids)
        self.optimizer.zero_grad()
        pre = post = 0.0
        for task in ids:
            *support, query = self._sample(int(task))
            learner = self.maml.clone()
            with torch.no_grad():
                pre += float(td_loss(self.net, *query)) / cfg.meta_batch
            for batch in support:
                learner.adapt(td_loss(learner, *batch))
            loss = td_loss(learner, *query) / cfg.meta_batch
            loss.backward()
            post += float(loss.detach())
        grad_norm = float(nn.utils.clip_grad_norm_(self.net.parameters(), cfg.max_grad_norm))
        self.optimizer.step()
        with torch.no_grad():
            for p, tp in zip(self.net.parameters(), self.target.parameters(), strict=True):
                tp.lerp_(p, cfg.target_tau)
        self.step += 1
        logged = {
            "meta/query_loss_pre_adaptation": pre,
            "meta/query_loss_post_adaptation": post,
            "meta/adaptation_gain": pre - post,
            "meta/grad_norm": grad_norm,
        }
        logged.update({f"meta/behaviour_return/{k}": v for k, v in behaviour.items()})
        return logged

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, seed: int = 12345) -> dict[str, float]:
        """Greedy return of the meta-network (no adaptation) on the evaluation tasks, and of the
        static rule on the same workloads (computed once), one episode per task."""
        out: dict[str, float] = {}
        for split, tasks in self.eval_tasks.items():
            if not tasks:
                continue
            seeds = seed + np.arange(len(tasks))
            for policy in ("meta", "static"):
                key = f"{split}/{policy}"
                if policy == "static" and key in self._static_returns:
                    out[f"meta/eval_return_{split}_static"] = self._static_returns[key]
                    continue
                sim = self._sim(tasks)
                sim.reset([np.random.default_rng(int(s)) for s in seeds])
                total = np.zeros(len(tasks))
                for _ in range(self.config.episode_steps):
                    o = sim.observe()
                    a = self._greedy(self.net, o) if policy == "meta" else self.rules[0].predict(o)
                    reward, _, _ = sim.step(sim.shares_from_action(np.asarray(a)))
                    total += reward
                value = float(total.mean())
                if policy == "static":
                    self._static_returns[key] = value
                out[f"meta/eval_return_{split}_{policy}"] = value
        return out

    # ------------------------------------------------------------------ run, save, resume

    def meta_init(self) -> MetaInit:
        """The current meta-parameters with their metadata."""
        from importlib import metadata as md

        versions = {}
        for dist in ("edgecloud-gym", "torch", "stable-baselines3"):
            try:
                versions[dist] = md.version(dist)
            except md.PackageNotFoundError:
                continue
        return MetaInit(
            state_dict={k: v.detach().clone() for k, v in self.net.state_dict().items()},
            obs_size=self.obs_size,
            n_actions=self.n_actions,
            forecaster=self.config.forecaster,
            net_arch=self.config.net_arch,
            metadata={
                "meta_train": self.config.to_dict(),
                "outer_steps": self.step,
                "env_steps": self.env_steps,
                "env_config": self.env_config.to_dict()
                if hasattr(self.env_config, "to_dict")
                else {},
                "architecture": f"MLP {list(self.config.net_arch)} ReLU (SB3 QNetwork.q_net)",
                "versions": versions,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
        )

    def state(self) -> dict[str, Any]:
        """Everything needed to continue this run exactly (for :meth:`save_checkpoint`)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "model_version": MODEL_VERSION,
            "config": json.dumps(self.config.to_dict(), sort_keys=True),
            "step": self.step,
            "env_steps": self.env_steps,
            "net": self.net.state_dict(),
            "target": self.target.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "buffers": [b.state() for b in self.buffers],
        }

    def save_checkpoint(self, path: str | Path) -> None:
        """Write :meth:`state` to ``path`` atomically."""
        save_torch(self.state(), path)

    def load_checkpoint(self, path: str | Path) -> None:
        """Continue from a checkpoint of a run with the same configuration."""
        path = Path(path)
        data = load_torch(path, "meta-training checkpoint", "Delete it to start over.")
        if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path} is not a meta-training checkpoint; delete it to start over.")
        check_model_version(data.get("model_version"), f"meta-training checkpoint {path}")
        check_finite_weights(
            {"net": data.get("net"), "target": data.get("target")}, f"checkpoint {path}"
        )
        mine = json.dumps(self.config.to_dict(), sort_keys=True)
        if data["config"] != mine:
            theirs = json.loads(data["config"])
            diff = {
                k: (theirs.get(k), v)
                for k, v in self.config.to_dict().items()
                if theirs.get(k) != v
            }
            raise ValueError(
                f"{path} belongs to a meta-training run with other settings "
                f"(checkpoint vs now: {diff}); use another --out folder or start over "
                "with --no-resume."
            )
        self.net.load_state_dict(data["net"])
        self.target.load_state_dict(data["target"])
        self.optimizer.load_state_dict(data["optimizer"])
        self.rng.bit_generator.state = data["rng"]
        torch.set_rng_state(data["torch_rng"])
        for buf, state in zip(self.buffers, data["buffers"], strict=True):
            buf.restore(state)
        self.step, self.env_steps = int(data["step"]), int(data["env_steps"])

    def _log(self, values: Mapping[str, float]) -> None:
        if self._tb is None:
            return
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self._tb), purge_step=self.step or None)
            self._writer.add_text("meta/config", json.dumps(self.config.to_dict(), indent=1))
        for key, value in values.items():
            if math.isfinite(value):
                self._writer.add_scalar(key, value, self.step)

    def train(
        self,
        outer_steps: int,
        *,
        checkpoint: str | Path | None = None,
        meta_init: str | Path | None = None,
        checkpoint_every: int = 100,
        eval_every: int = 100,
        progress: bool = False,
    ) -> MetaTrainer:
        """Run until :attr:`step` reaches ``outer_steps`` (warming up first if needed).

        Args:
            outer_steps: Total outer steps of the run (a resumed run continues to it).
            checkpoint: Checkpoint path written every ``checkpoint_every`` steps and at the end.
            meta_init: Path of the meta-initialisation, written with every checkpoint and at the
                end (:func:`save_meta_init`).
            checkpoint_every: Outer steps between checkpoints.
            eval_every: Outer steps between evaluations (``meta/eval_return_*``; 0: none).
            progress: Show a tqdm progress bar.
        """
        _check("outer_steps", outer_steps, int, 0)
        if self.buffers[0].filled == 0:
            self.warmup()
        from tqdm.auto import tqdm

        bar = tqdm(
            total=outer_steps, initial=min(self.step, outer_steps), disable=not progress,
            desc=f"meta-train ({self.config.forecaster})", unit="step",
        )  # fmt: skip
        started, first = time.perf_counter(), self.step
        try:
            with bar:
                while self.step < outer_steps:
                    values = self.outer_step()
                    if eval_every and (self.step % eval_every == 0 or self.step == outer_steps):
                        values.update(self.evaluate())
                    values["meta/outer_steps_per_second"] = (self.step - first) / max(
                        time.perf_counter() - started, 1e-9
                    )
                    values["meta/env_steps"] = float(self.env_steps)
                    self._log(values)
                    bar.set_postfix(
                        post=f"{values['meta/query_loss_post_adaptation']:.3f}", refresh=False
                    )
                    bar.update()
                    if self.step % checkpoint_every == 0 or self.step == outer_steps:
                        if checkpoint is not None:
                            self.save_checkpoint(checkpoint)
                        if meta_init is not None:
                            save_meta_init(self.meta_init(), meta_init)
        finally:
            if self._writer is not None:
                self._writer.flush()
        if meta_init is not None and not Path(meta_init).exists():
            save_meta_init(self.meta_init(), meta_init)
        return self

    def close(self) -> None:
        """Close the TensorBoard writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
