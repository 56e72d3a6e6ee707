"""The "traditional DRL" baseline of the offloading family: SB3 DQN on one Discrete action.

DMRO's paper compares against deep Q-learning. Here SB3's :class:`~stable_baselines3.DQN`,
unchanged, learns Q-values of all ``K**n`` joint decisions of an offloading env through
:class:`~edgecloud_gym.offloading.DiscreteDecisionWrapper` (MUMT 3 x 3: 512 actions, edge-cloud
3 x 3: 19 683, WPMEC N = 10: 1 024). Two small adapters sit between env and DQN:

* observations are normalised as the other offloading learners see them
  (``(obs - shift) * scale``, :data:`~edgecloud_agents.frame_learner.INPUT_NORMALISATION`, with the
  MUMT scale divided by 100 so the inputs lie in about [-2, 3]);
* rewards are scaled by ``reward_scale`` (default 1/500 for MUMT and edge-cloud, whose frame
  costs are a few hundred J + s; 1 for WPMEC, whose reward is already in Mbit/s).

Frames are independent (an action never changes the next frame), so the default discount is
``gamma = 0``: the Q-value of an action is its expected reward, which is the best case for DQN
here. Other defaults: Q-network 2 x 256, Adam 1e-3, replay 50 000, 500 random frames first,
batch 64, one gradient step per frame, target update every 500 frames, epsilon 1 -> 0.02 over
the first 30 % of training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from stable_baselines3 import DQN

from edgecloud_gym._validation import check_int, check_positive
from edgecloud_gym.offloading import DiscreteDecisionWrapper, EdgeCloudOffloadEnv, MUMTEnv, WPMECEnv

from ._io import (
    AgentFile,
    AgentFileError,
    load_sb3_zip,
    read_agent_file,
    rebuild_sb3_dqn,
    sb3_state,
    write_agent_file,
)
from .frame_learner import INPUT_NORMALISATION
from .offloading_critic import OffloadingCritic, unwrap_offloading_env

__all__ = ["OffloadDQN"]

_REWARD_SCALE = {"mumt": 1.0 / 500.0, "edgecloud": 1.0 / 500.0, "wpmec": 1.0}


def _normalisation(family: str) -> tuple[float, float]:
    shift, scale = INPUT_NORMALISATION[family]
    return shift, scale / 100.0 if family != "wpmec" else scale


class _Adapter(gym.Wrapper):
    """Discrete actions, normalised observations and scaled rewards for SB3."""

    def __init__(self, env: gym.Env, shift: float, scale: float, reward_scale: float) -> None:
        super().__init__(DiscreteDecisionWrapper(env))
        self.shift, self.scale, self.reward_scale = shift, scale, reward_scale
        low = np.full(env.observation_space.shape, -np.inf, dtype=np.float32)
        self.observation_space = gym.spaces.Box(low, -low, dtype=np.float32)

    def _obs(self, obs: np.ndarray) -> np.ndarray:
        return ((np.asarray(obs, np.float32) - self.shift) * self.scale).astype(np.float32)

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        return self._obs(obs), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, term, trunc, info = self.env.step(action)
        return self._obs(obs), float(reward) * self.reward_scale, term, trunc, info


class OffloadDQN:
    """SB3 DQN on an offloading env, behind the zoo's protocol (see the module docstring).

    Args:
        env: an offloading env (MUMT, edge-cloud or WPMEC, wrapped or not), or None with
            ``critic`` (loading).
        seed: seed of the network, exploration and replay.
        gamma: discount (default 0: frames are independent).
        reward_scale: factor on the env's reward (default per family).
        net_arch: hidden layers of the Q-network.
        **dqn_kwargs: further :class:`stable_baselines3.DQN` arguments, overriding the defaults.
    """

    name: ClassVar[str] = "dqn-offload"

    def __init__(
        self,
        env: Any,
        *,
        seed: int = 0,
        gamma: float = 0.0,
        reward_scale: float | None = None,
        net_arch: tuple[int, ...] = (256, 256),
        critic: OffloadingCritic | None = None,
        **dqn_kwargs: Any,
    ) -> None:
        self.critic = OffloadingCritic.from_env(env) if critic is None else critic
        family = self.critic.family
        self.seed = check_int("seed", seed, minimum=0)
        self.reward_scale = check_positive(
            "reward_scale", _REWARD_SCALE[family] if reward_scale is None else reward_scale
        )
        self.shift, self.scale = _normalisation(family)
        self.n_entries, self.n_places = self.critic.n_entries, self.critic.n_places
        self._powers = self.n_places ** np.arange(self.n_entries - 1, -1, -1, dtype=np.int64)
        self.net_arch = tuple(int(h) for h in net_arch)
        defaults: dict[str, Any] = {
            "learning_rate": 1e-3,
            "buffer_size": 50_000,
            "learning_starts": 500,
            "batch_size": 64,
            "train_freq": 1,
            "gradient_steps": 1,
            "target_update_interval": 500,
            "exploration_fraction": 0.3,
            "exploration_final_eps": 0.02,
        }
        self.dqn_kwargs = {**defaults, **dqn_kwargs, "gamma": float(gamma)}
        self.env = None if env is None else self._adapt(env)
        self.model = DQN(
            "MlpPolicy",
            self.env if self.env is not None else self._adapt(self._template_env()),
            seed=self.seed,
            policy_kwargs={"net_arch": list(self.net_arch)},
            verbose=0,
            device="cpu",
            **self.dqn_kwargs,
        )

    def _adapt(self, env: Any) -> _Adapter:
        unwrap_offloading_env(env)
        return _Adapter(env, self.shift, self.scale, self.reward_scale)

    def _template_env(self) -> gym.Env:
        task = self.critic.task
        if self.critic.family == "wpmec":
            return WPMECEnv(task=task, optimum="none")
        return (
            MUMTEnv(task=task) if self.critic.family == "mumt" else EdgeCloudOffloadEnv(task=task)
        )

    def learn(self, total_timesteps: int, **kwargs: Any) -> OffloadDQN:
        """Train SB3 DQN for ``total_timesteps`` frames (``kwargs`` go to ``DQN.learn``)."""
        total = check_int("total_timesteps", total_timesteps, minimum=0)
        if self.env is None:
            raise ValueError(
                "OffloadDQN.learn needs an env; pass env= to the constructor or load()."
            )
        self.model.learn(total, reset_num_timesteps=False, **kwargs)
        return self

    def predict(self, obs: Any, deterministic: bool = True) -> np.ndarray:
        """The decision (n,) for one observation, or (B, n) for a batch (B, n)."""
        arr = np.asarray(obs, dtype=np.float32)
        if arr.shape[-1:] != (self.n_entries,) or arr.ndim not in (1, 2):
            raise ValueError(
                f"obs must have shape ({self.n_entries},) or (B, {self.n_entries}), got {arr.shape}."
            )
        action, _ = self.model.predict((arr - self.shift) * self.scale, deterministic=deterministic)
        action = np.asarray(action, dtype=np.int64)
        return ((action[..., None] // self._powers) % self.n_places).astype(np.int8)

    def save(self, path: str | Path) -> None:
        """Write the agent file (:mod:`edgecloud_agents._io`): settings, critic and SB3's
        parameters, atomically."""
        sb3, weights = sb3_state(self.model)
        config = {
            "seed": self.seed,
            "gamma": self.dqn_kwargs["gamma"],
            "reward_scale": self.reward_scale,
            "net_arch": list(self.net_arch),
            "dqn_kwargs": {k: v for k, v in self.dqn_kwargs.items() if k != "gamma"},
            "critic": self.critic.to_dict(),
            "sb3": sb3,
        }
        write_agent_file(
            path, agent=self.name, family="offloading", config=config, weights={"sb3": weights}
        )

    @classmethod
    def load(
        cls, path: str | Path | AgentFile, env: Any = None, *, trusted: bool = False
    ) -> OffloadDQN:
        """Read an agent written by :meth:`save`; ``env`` is needed only to learn further.

        Args:
            path: The agent file (or one already read).
            env: An offloading env to learn in further.
            trusted: Also accept a Stable-Baselines3 zip written by earlier versions of this
                agent. Reading one unpickles objects and can run any code its author put in it:
                pass True only for files from a source you trust.
        """
        file = read_agent_file(path, trusted=trusted)
        if file.agent != cls.name:
            raise AgentFileError(
                f"{file.path} holds agent {file.agent!r}, not {cls.name!r}; load it with "
                "load_offloading_agent."
            )
        critic = OffloadingCritic.from_dict(file.require("critic"), f"agent file {file.path}")
        agent = cls(
            env,
            seed=file.require("seed"),
            gamma=file.require("gamma"),
            reward_scale=file.require("reward_scale"),
            net_arch=tuple(file.require("net_arch")),
            critic=critic if env is None else None,
            **dict(file.config.get("dqn_kwargs") or {}),
        )
        if file.sb3_zip:
            agent.model = load_sb3_zip(file, DQN, agent.env)
        else:
            kwargs = {**agent.dqn_kwargs, "policy_kwargs": {"net_arch": list(agent.net_arch)}}
            agent.model = rebuild_sb3_dqn(file, kwargs, agent.env)
        return agent
