"""Stable-Baselines3 DQN behind the agent protocol: "reactive RL" and the DQN with forecasts.

The source paper's Q-network (three hidden layers of 128 units) with experience replay and a
target network, trained by SB3's :class:`~stable_baselines3.DQN` unchanged. The two variants
differ only in the observation: ``"dqn"`` ("reactive RL", the paper's baseline) acts on an env
made with ``forecaster="none"``, ``"dqn-forecast"`` on one whose observation carries workload
forecasts (the LSTM by default). Their hyperparameters live in versioned YAML files in rl_zoo3's
format, keyed by env id (``hyperparams/dqn.yml`` and ``hyperparams/dqn-forecast.yml``), so
``python -m rl_zoo3.train --algo dqn -conf edgecloud_agents.hyperparams.dqn`` trains the
same model (see :mod:`edgecloud_agents.hyperparams`).

    >>> import gymnasium as gym, edgecloud_gym
    >>> from edgecloud_agents.dqn import DQNAgent
    >>> agent = DQNAgent(gym.make("EdgeCloud-Low-v0", forecaster="none"), seed=0)
    >>> agent.learn(2_000).save("dqn-low.zip")  # doctest: +SKIP
    >>> DQNAgent.load("dqn-low.zip").predict(obs)  # doctest: +SKIP

A saved agent is the zoo's agent file (:mod:`edgecloud_agents._io`): the name, env id,
hyperparameters and env kwargs as JSON and SB3's parameters as tensors; loading rebuilds the DQN
from its hyperparameters and puts the weights back, so no pickled object is ever read. A model
saved by SB3 itself (``DQN.save``, rl_zoo3) loads with ``trusted=True`` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from stable_baselines3 import DQN

from edgecloud_agents._io import AgentFile, load_sb3_zip, read_agent_file
from edgecloud_agents.hyperparams import FILES, hyperparams_file
from edgecloud_agents.sb3_agent import (
    SB3Agent,
    _policy_kwargs,
    algorithm_args,
    load_hyperparams,
)
from edgecloud_gym._validation import did_you_mean

__all__ = [
    "VARIANTS",
    "DQNAgent",
    "hyperparams_path",
    "load_hyperparams",
]

#: The agent names this module serves and their hyperparameter files.
VARIANTS: dict[str, str] = {name: FILES[name] for name in ("dqn", "dqn-forecast")}
_ = _policy_kwargs  # rl_zoo3's policy_kwargs parser, kept importable from here


def hyperparams_path(name: str = "dqn") -> Path:
    """Path of the shipped hyperparameter file of variant ``name`` ("dqn" or "dqn-forecast")."""
    if name not in VARIANTS:
        raise ValueError(
            f"unknown DQN variant {name!r}.{did_you_mean(name, VARIANTS)} "
            f"Valid: {', '.join(VARIANTS)}."
        )
    return hyperparams_file(name)


def _hyperparams_of(model: DQN) -> dict[str, Any]:
    """The DQN arguments a model was built with, as far as they are plain values (what an agent
    file records of a model read from an SB3 zip)."""
    params: dict[str, Any] = {}
    for key in sorted(algorithm_args(DQN)):
        value = getattr(model, key, None)
        if key == "train_freq" and value is not None:
            value = [int(value.frequency), value.unit.value]
        if key == "policy_kwargs":
            value = {k: v for k, v in (value or {}).items() if k == "net_arch"}
        if isinstance(value, (bool, int, float, str, list, dict)):
            params[key] = value
    return params


class DQNAgent(SB3Agent):
    """SB3 DQN on an allocation env (discrete action mode), meeting
    :class:`~edgecloud_agents.base.Agent`: ``"dqn"`` (reactive RL, the paper's baseline, no
    forecasts) or ``"dqn-forecast"``; arguments as :class:`~edgecloud_agents.sb3_agent.SB3Agent`.
    """

    algorithm: ClassVar[Any] = DQN
    variants: ClassVar[dict[str, tuple[str, str]]] = {
        "dqn": ("dqn", "discrete"),
        "dqn-forecast": ("dqn-forecast", "discrete"),
    }

    @classmethod
    def load(
        cls, path: str | Path | AgentFile, env: Any = None, *, trusted: bool = False
    ) -> DQNAgent:
        """Read an agent written by :meth:`save`; ``env`` is needed only to train further.

        Args:
            path: The agent file (or one already read by :func:`~edgecloud_agents._io.
                read_agent_file`).
            env: The env to train in further (its spaces must match the saved ones).
            trusted: Also accept a Stable-Baselines3 zip (e.g. from rl_zoo3). Reading one
                unpickles objects and can run any code its author put in it: pass True only
                for files from a source you trust.
        """
        file = read_agent_file(path, trusted=trusted)
        if file.sb3_zip:
            model = load_sb3_zip(file, DQN, env)
            meta: Mapping[str, Any] = {"agent": file.agent or "dqn", **file.config}
            meta = {"hyperparams": _hyperparams_of(model), **meta}
            return cls._wrap(model, meta)  # type: ignore[return-value]
        return super().load(file, env)  # type: ignore[return-value]
