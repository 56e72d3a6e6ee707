"""DYNAMIC-ALLOCATOR: the source paper's MAML-initialised DQN on forecast-augmented observations.

The agent is SB3's DQN exactly as the zoo's ``"dqn-forecast"`` (same hyperparameter file, same
3 x 128 Q-network, replay and target network; :class:`~edgecloud_agents.dqn.DQNAgent`), with one
difference: its Q-network *and* target network start from a meta-learned initialisation
(:mod:`edgecloud_agents.meta_dqn`, ``edgecloud meta-train``) instead of a random one. Training it
on a task (``learn``) is the adaptation; :meth:`DynamicAllocator.adapt` does the same from the
meta-initialisation on another env and returns the adapted agent, leaving this one unchanged.

Two variants, like the DQN's:

================================  ============  ===============================================
name                              forecaster    meaning
================================  ============  ===============================================
``"dynamic-allocator"``           ``"lstm"``    the paper's system (hyperparameters of
                                                ``dqn-forecast``)
``"maml-dqn"``                    ``"none"``    ablation: meta-learning without forecasts
                                                (hyperparameters of ``dqn``)
================================  ============  ===============================================

The shipped meta-initialisations (``edgecloud_agents/meta_init/{lstm,none}.pt``) were made with
the commands in ``docs/dynamic_allocator.md``; pass ``meta_init=`` to use another file.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import DQN
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv
from torch import nn

from edgecloud_agents._io import AgentFile, AgentFileError, read_agent_file, write_agent_file
from edgecloud_agents.dqn import DQNAgent
from edgecloud_agents.meta_dqn import (
    MetaInit,
    load_meta_init,
    meta_init_from_state,
    meta_init_state,
)
from edgecloud_gym._validation import did_you_mean

__all__ = [
    "VARIANTS",
    "DynamicAllocator",
    "apply_meta_init",
    "shipped_meta_init",
]

#: Agent name -> (forecaster of its observations, DQN variant whose hyperparameters it uses).
VARIANTS: dict[str, tuple[str, str]] = {
    "dynamic-allocator": ("lstm", "dqn-forecast"),
    "maml-dqn": ("none", "dqn"),
}


def shipped_meta_init(forecaster: str) -> Path:
    """Path of the meta-initialisation shipped for ``forecaster`` (``"lstm"`` or ``"none"``)."""
    path = Path(str(resources.files("edgecloud_agents") / "meta_init" / f"{forecaster}.pt"))
    if not path.is_file():
        shipped = sorted(p.stem for p in path.parent.glob("*.pt")) if path.parent.is_dir() else []
        raise FileNotFoundError(
            f"no meta-initialisation is shipped for forecaster {forecaster!r} (shipped: "
            f"{shipped}); make one with 'edgecloud meta-train --forecaster {forecaster} --out DIR' "
            "and pass meta_init=DIR/meta_init.pt."
        )
    return path


def _env_forecaster(env: Any) -> str | None:
    """The forecaster name of an allocation env (None if it cannot be read, e.g. a VecEnv)."""
    sim = getattr(getattr(env, "unwrapped", None), "sim", None)
    forecaster = getattr(sim, "forecaster", None)
    return getattr(forecaster, "name", None)


def apply_meta_init(model: DQN, init: MetaInit, forecaster: str | None = None) -> None:
    """Load ``init`` into the Q-network and the target network of an SB3 DQN.

    Args:
        model: An SB3 DQN whose policy is an MLP of ``init``'s architecture.
        init: The meta-initialisation.
        forecaster: The forecaster of the env the model acts in, if known (checked).

    Raises:
        ValueError: The observation size, action count, architecture, activation or forecaster
            does not match; the message names it and the fix.
    """
    policy = model.policy
    init.check_compatible(
        obs_size=int(np.prod(model.observation_space.shape)),
        n_actions=int(model.action_space.n),
        net_arch=list(policy.net_arch),
        forecaster=forecaster,
    )
    if policy.activation_fn is not nn.ReLU:
        raise ValueError(
            f"the meta-initialisation is a ReLU network but the DQN uses "
            f"{policy.activation_fn.__name__}; build it with policy_kwargs=dict(activation_fn="
            "torch.nn.ReLU) (SB3's default)."
        )
    with torch.no_grad():
        policy.q_net.q_net.load_state_dict(init.state_dict)
        policy.q_net_target.q_net.load_state_dict(init.state_dict)


class DynamicAllocator:
    """The MAML-initialised DQN (DYNAMIC-ALLOCATOR); meets :class:`~edgecloud_agents.base.MetaAgent`.

    Args:
        env: The env to adapt in (discrete actions, the variant's forecaster); see
            :func:`edgecloud_agents.registry.make_env_for`.
        name: ``"dynamic-allocator"`` or ``"maml-dqn"`` (see the module docstring).
        meta_init: A meta-initialisation file or object (default: the shipped one for the
            variant's forecaster).
        env_id: Key of the hyperparameter file (default: the env's registered id).
        hyperparams: Settings in rl_zoo3's format to use instead of the file's.
        seed: Seeds SB3 (exploration, replay sampling, the env's first reset).
        tensorboard_log: Folder for SB3's TensorBoard logs.
        verbose: SB3's verbosity.
        device: Torch device.
        **overrides: Single DQN hyperparameters to replace, e.g. ``learning_starts=100``.

    Raises:
        ValueError: The meta-initialisation does not fit the env's observation, actions or
            forecaster, or the network (the message says which and how to fix it).
    """

    def __init__(
        self,
        env: gym.Env | VecEnv,
        *,
        name: str = "dynamic-allocator",
        meta_init: str | Path | MetaInit | None = None,
        env_id: str | None = None,
        hyperparams: Mapping[str, Any] | None = None,
        seed: int = 0,
        tensorboard_log: str | Path | None = None,
        verbose: int = 0,
        device: str = "cpu",
        **overrides: Any,
    ) -> None:
        if name not in VARIANTS:
            raise ValueError(
                f"name must be one of {sorted(VARIANTS)}, got {name!r}.{did_you_mean(name, VARIANTS)}"
            )
        forecaster, dqn_variant = VARIANTS[name]
        if meta_init is None:
            meta_init = shipped_meta_init(forecaster)
        init = meta_init if isinstance(meta_init, MetaInit) else load_meta_init(meta_init)
        if init.forecaster != forecaster:
            raise ValueError(
                f"{name} acts on observations with forecaster {forecaster!r} but meta_init was "
                f"meta-trained with {init.forecaster!r}; pass a meta-initialisation made with "
                f"'edgecloud meta-train --forecaster {forecaster}'."
            )
        env_forecaster = _env_forecaster(env)
        self.name = name
        self.seed = int(seed)
        self.meta_init = init
        self.dqn = DQNAgent(
            env,
            name=dqn_variant,
            env_id=env_id,
            hyperparams=hyperparams,
            seed=seed,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            **overrides,
        )
        apply_meta_init(self.dqn.model, init, forecaster=env_forecaster)
        self._settings = {
            "hyperparams": hyperparams,
            "tensorboard_log": tensorboard_log,
            "verbose": verbose,
            "device": device,
            "overrides": dict(overrides),
        }

    # ------------------------------------------------------------------ views

    @property
    def model(self) -> DQN:
        """The SB3 DQN."""
        return self.dqn.model

    @property
    def hyperparams(self) -> dict[str, Any]:
        """The DQN's settings (rl_zoo3's keys included)."""
        return self.dqn.hyperparams

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """Env keyword arguments the variant expects (its forecaster)."""
        return self.dqn.env_kwargs

    # ------------------------------------------------------------------ protocol

    def learn(
        self,
        total_timesteps: int | None = None,
        callback: BaseCallback | list[BaseCallback] | None = None,
        tb_log_name: str | None = None,
        progress_bar: bool = False,
        reset_num_timesteps: bool = True,
    ) -> DynamicAllocator:
        """Adapt on the agent's env for ``total_timesteps`` env steps (SB3 DQN training)."""
        self.dqn.learn(
            total_timesteps,
            callback=callback,
            tb_log_name=tb_log_name or self.name,
            progress_bar=progress_bar,
            reset_num_timesteps=reset_num_timesteps,
        )
        return self

    def adapt(self, env: gym.Env | VecEnv, total_timesteps: int, **kwargs: Any) -> DynamicAllocator:
        """A new agent started from the meta-initialisation on ``env``, trained for
        ``total_timesteps`` steps; this agent is left unchanged.

        ``kwargs`` go to :meth:`learn` (``callback``, ``tb_log_name``, ``progress_bar``), except
        ``seed`` (default: this agent's seed).
        """
        seed = kwargs.pop("seed", self.seed)
        settings = self._settings
        agent = DynamicAllocator(
            env,
            name=self.name,
            meta_init=self.meta_init,
            hyperparams=settings["hyperparams"],
            seed=seed,
            tensorboard_log=settings["tensorboard_log"],
            verbose=settings["verbose"],
            device=settings["device"],
            **settings["overrides"],
        )
        return agent.learn(total_timesteps, **kwargs)

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> Any:
        """Greedy action: an int for one observation (D,), (B,) actions for (B, D)."""
        return self.dqn.predict(obs, deterministic=deterministic)

    def save(self, path: str | Path) -> None:
        """Write the agent file: the DQN's settings and weights, and the meta-initialisation (so
        that a loaded agent can still :meth:`adapt`), atomically."""
        init = meta_init_state(self.meta_init)
        init_weights = init.pop("state_dict")
        config = {**self.dqn.file_config(), "seed": self.seed, "meta_init": init}
        write_agent_file(
            path,
            agent=self.name,
            family="allocation",
            config=config,
            weights={"sb3": self.model.get_parameters(), "meta_init": init_weights},
        )

    @classmethod
    def load(
        cls, path: str | Path | AgentFile, env: Any = None, *, trusted: bool = False
    ) -> DynamicAllocator:
        """Read an agent written by :meth:`save`; ``env`` is needed only to train further.

        ``trusted`` is accepted for the loaders' common signature; this agent's files never
        need it (an SB3 zip holds no meta-initialisation, so it is refused either way).
        """
        file = read_agent_file(path, trusted=trusted)
        if file.sb3_zip or file.agent not in VARIANTS:
            raise AgentFileError(
                f"{file.path} holds {'an SB3 zip' if file.sb3_zip else repr(file.agent)}, not "
                f"one of {sorted(VARIANTS)} saved by DynamicAllocator.save; load it with "
                "edgecloud_agents.registry.load_agent."
            )
        init_state = file.require("meta_init")
        if not isinstance(init_state, dict):
            raise AgentFileError(f"{file.path}: its 'meta_init' entry is not an object.")
        init = meta_init_from_state(
            {**init_state, "state_dict": file.weight("meta_init")}, str(file.path)
        )
        agent = cls.__new__(cls)
        agent.name = file.agent
        agent.seed = int(file.config.get("seed", 0))
        agent.meta_init = init
        agent.dqn = DQNAgent.from_file(file, env, name=VARIANTS[file.agent][1])
        agent._settings = {
            "hyperparams": dict(file.config.get("hyperparams") or {}) or None,
            "tensorboard_log": None,
            "verbose": 0,
            "device": "cpu",
            "overrides": {},
        }
        return agent
