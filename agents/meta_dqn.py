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

:class:`MetaTrainer` runs it with resumable checkpoints and TensorBoard scalars under ``meta/``.
Beside it: the settings (:mod:`edgecloud_agents.meta_train_config`), the per-task replay
(:mod:`edgecloud_agents.meta_replay`) and the meta-initialisation with its file
(:mod:`edgecloud_agents.meta_init`), whose names this module also exports.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgecloud_agents._io import check_finite_weights, load_torch, save_torch
from edgecloud_agents.maml import MAML
from edgecloud_agents.meta_init import (
    META_INIT_FORMAT,
    MetaInit,
    load_meta_init,
    meta_init_from_state,
    meta_init_state,
    q_network,
    save_meta_init,
)
from edgecloud_agents.meta_replay import EpisodeBuffer
from edgecloud_agents.meta_train_config import MetaTrainConfig, check_setting
from edgecloud_gym.config import EdgeCloudConfig
from edgecloud_gym.core.simulator import BatchSimulator
from edgecloud_gym.envs.allocation import EdgeCloudEnv
from edgecloud_gym.model_version import MODEL_VERSION, check_model_version
from edgecloud_gym.tasks import Task, test_tasks

__all__ = [
    "CHECKPOINT_FORMAT",
    "META_INIT_FORMAT",
    "EpisodeBuffer",
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

#: ``format`` field of a meta-training checkpoint.
CHECKPOINT_FORMAT = "edgecloud-meta-checkpoint/1"

#: Behaviour policies of the data collection, drawn per episode.
BEHAVIOURS: tuple[str, ...] = ("meta-greedy", "static", "reactive", "least-loaded")


def td_loss(
    q: Any, obs: torch.Tensor, actions: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """SB3 DQN's loss: Huber (smooth L1) between ``q(obs)[a]`` and precomputed TD ``targets``."""
    values = q(obs).gather(1, actions[:, None]).squeeze(1)
    return nn.functional.smooth_l1_loss(values, targets)


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
        check_setting("outer_steps", outer_steps, int, 0)
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
