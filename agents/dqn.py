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

import ast
import contextlib
import copy
import inspect
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import yaml
from stable_baselines3 import DQN
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv

from edgecloud_agents._io import (
    AgentFile,
    AgentFileError,
    load_sb3_zip,
    read_agent_file,
    rebuild_sb3_dqn,
    sb3_state,
    write_agent_file,
)
from edgecloud_agents.callbacks import with_env_metrics
from edgecloud_agents.hyperparams import FILES, hyperparams_file
from edgecloud_gym._validation import did_you_mean

__all__ = [
    "VARIANTS",
    "DQNAgent",
    "hyperparams_path",
    "load_hyperparams",
]

#: The agent names this module serves and their hyperparameter files.
VARIANTS: dict[str, str] = {name: FILES[name] for name in ("dqn", "dqn-forecast")}

# rl_zoo3 keys that are not DQN arguments: read here, or refused with a reason.
_ZOO_KEYS = {"n_timesteps", "policy", "n_envs", "env_kwargs"}
_UNSUPPORTED = {
    "normalize": "observations are already normalised by capacity",
    "env_wrapper": "wrap the env before passing it in",
    "vec_env_wrapper": "wrap the env before passing it in",
    "frame_stack": "the observation already holds a window of past arrivals",
    "callback": "pass callbacks to learn(callback=...)",
    "monitor_kwargs": "the harness adds its own monitoring",
}
_DQN_ARGS = set(inspect.signature(DQN.__init__).parameters) - {
    "self",
    "policy",
    "env",
    "seed",
    "tensorboard_log",
    "verbose",
    "device",
    "_init_setup_model",
}


def hyperparams_path(name: str = "dqn") -> Path:
    """Path of the shipped hyperparameter file of variant ``name`` ("dqn" or "dqn-forecast")."""
    if name not in VARIANTS:
        raise ValueError(
            f"unknown DQN variant {name!r}.{did_you_mean(name, VARIANTS)} "
            f"Valid: {', '.join(VARIANTS)}."
        )
    return hyperparams_file(name)


def _policy_kwargs(value: Any) -> dict[str, Any]:
    """rl_zoo3 writes ``policy_kwargs`` as the string ``"dict(key=literal, ...)"``; parse it
    without ``eval`` (only literal keyword values), or accept a mapping."""
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, str):
        raise TypeError(f"policy_kwargs must be a mapping or a 'dict(...)' string, got {value!r}.")
    try:
        node = ast.parse(value.strip(), mode="eval").body
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "dict"):
            raise ValueError
        if node.args:
            raise ValueError
        return {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}
    except (SyntaxError, ValueError) as exc:
        raise ValueError(
            f"policy_kwargs {value!r} must read 'dict(name=literal, ...)', e.g. "
            "'dict(net_arch=[128, 128, 128])'."
        ) from exc


def load_hyperparams(
    env_id: str, name: str = "dqn", path: str | Path | None = None
) -> dict[str, Any]:
    """The hyperparameters of ``env_id`` from a file in rl_zoo3's format.

    Args:
        env_id: Key of the file; ids without their own entry use ``default``.
        name: Variant whose shipped file to read ("dqn" or "dqn-forecast").
        path: Read this file instead.

    Returns:
        A fresh dict with rl_zoo3's keys (``n_timesteps``, ``policy``, ``env_kwargs``, ...) and
        DQN's keyword arguments; ``policy_kwargs`` parsed into a dict.
    """
    file = Path(path) if path is not None else hyperparams_path(name)
    try:
        table = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"hyperparameter file {file} does not exist.") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"hyperparameter file {file} is not valid YAML: {exc}") from exc
    if not isinstance(table, dict):
        raise ValueError(f"hyperparameter file {file} must map env ids to settings.")
    key = env_id if env_id in table else "default"
    if key not in table:
        raise KeyError(
            f"{file} has no entry for {env_id!r} and no 'default'.{did_you_mean(env_id, table)}"
        )
    params = copy.deepcopy(table[key])
    if "policy_kwargs" in params:
        params["policy_kwargs"] = _policy_kwargs(params["policy_kwargs"])
    return params


def _split(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Separate rl_zoo3's keys from DQN's arguments, checking both."""
    zoo, kwargs = {}, {}
    for key, value in params.items():
        if key in _ZOO_KEYS:
            zoo[key] = value
        elif key in _UNSUPPORTED:
            raise ValueError(f"hyperparameter {key!r} is not supported here: {_UNSUPPORTED[key]}.")
        elif key in _DQN_ARGS:
            kwargs[key] = value
        else:
            valid = sorted(_DQN_ARGS | _ZOO_KEYS)
            raise TypeError(
                f"unknown DQN hyperparameter {key!r}.{did_you_mean(key, valid)} "
                f"Valid: {', '.join(valid)}."
            )
    policy = zoo.get("policy", "MlpPolicy")
    if policy != "MlpPolicy":
        raise ValueError(f"policy must be 'MlpPolicy' (flat observations), got {policy!r}.")
    if "policy_kwargs" in kwargs:
        kwargs["policy_kwargs"] = _policy_kwargs(kwargs["policy_kwargs"])
    if isinstance(kwargs.get("train_freq"), list):  # YAML has no tuples
        kwargs["train_freq"] = tuple(kwargs["train_freq"])
    return zoo, kwargs


def _hyperparams_of(model: DQN) -> dict[str, Any]:
    """The DQN arguments a model was built with, as far as they are plain values (what an agent
    file records of a model read from an SB3 zip)."""
    params: dict[str, Any] = {}
    for key in sorted(_DQN_ARGS):
        value = getattr(model, key, None)
        if key == "train_freq" and value is not None:
            value = [int(value.frequency), value.unit.value]
        if key == "policy_kwargs":
            value = {k: v for k, v in (value or {}).items() if k == "net_arch"}
        if isinstance(value, (bool, int, float, str, list, dict)):
            params[key] = value
    return params


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Run torch on ``n`` threads inside the block, restoring the previous setting after it."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _env_id(env: Any) -> str | None:
    spec = getattr(env, "spec", None)
    if spec is None and isinstance(env, VecEnv):
        specs = env.get_attr("spec", [0])
        spec = specs[0] if specs else None
    return getattr(spec, "id", None)


class DQNAgent:
    """SB3 DQN on an allocation env, meeting :class:`~edgecloud_agents.base.Agent`.

    Args:
        env: The env to train in: a Gymnasium env in the discrete action mode, or an SB3
            ``VecEnv`` (e.g. :func:`edgecloud_agents.sb3_vec.make_sb3_vec_env` for ``n_envs`` > 1).
            Its forecaster decides the variant's observation; see
            :func:`edgecloud_agents.registry.make_env_for`.
        name: ``"dqn"`` (reactive RL) or ``"dqn-forecast"``: the label and the default
            hyperparameter file.
        env_id: Key of the hyperparameter file (default: the env's registered id).
        hyperparams: Settings in rl_zoo3's format to use instead of the file's.
        seed: Seeds SB3 (network initialisation, exploration, the env's first reset).
        tensorboard_log: Folder for SB3's TensorBoard logs (None: no logs); they carry the
            env's episode metrics under ``env/`` (:mod:`edgecloud_agents.callbacks`).
        verbose: SB3's verbosity (0 silent, 1 info).
        device: Torch device ("cpu" by default: the networks are small).
        torch_threads: Torch threads while learning and predicting (restored afterwards). One
            by default: networks this small run slower on several threads of a busy machine
            than on one. None keeps torch's setting.
        **overrides: Hyperparameters that replace single entries, e.g. ``learning_starts=100``.
    """

    def __init__(
        self,
        env: gym.Env | VecEnv,
        *,
        name: str = "dqn",
        env_id: str | None = None,
        hyperparams: Mapping[str, Any] | None = None,
        seed: int = 0,
        tensorboard_log: str | Path | None = None,
        verbose: int = 0,
        device: str = "cpu",
        torch_threads: int | None = 1,
        **overrides: Any,
    ) -> None:
        if name not in VARIANTS:
            raise ValueError(
                f"name must be one of {sorted(VARIANTS)}, got {name!r}.{did_you_mean(name, VARIANTS)}"
            )
        if not isinstance(env, (gym.Env, VecEnv)):
            raise TypeError(
                f"env must be a Gymnasium env or an SB3 VecEnv, got {type(env).__name__}; "
                "make one with edgecloud_agents.registry.make_env_for(name, env_id, seed)."
            )
        if not isinstance(env.action_space, gym.spaces.Discrete):
            raise ValueError(
                f"DQN needs a discrete action space, got {env.action_space}; make the env with "
                "action_mode='discrete' (the default)."
            )
        self.name = name
        self.torch_threads = torch_threads
        self.env_id = env_id or _env_id(env) or "default"
        params = (
            dict(hyperparams) if hyperparams is not None else load_hyperparams(self.env_id, name)
        )
        params.update(overrides)
        zoo, kwargs = _split(params)
        #: every setting, rl_zoo3's keys included (for the harness's hyperparameter records)
        self.hyperparams: dict[str, Any] = {**zoo, **kwargs}
        #: env kwargs the variant expects (from the file), used by the registry to build envs
        self.env_kwargs: dict[str, Any] = dict(zoo.get("env_kwargs") or {})
        #: default budget of :meth:`learn` (env steps)
        self.default_timesteps = int(zoo.get("n_timesteps", 100_000))
        with _torch_threads(torch_threads):
            self.model = DQN(
                "MlpPolicy",
                env,
                seed=seed,
                tensorboard_log=None if tensorboard_log is None else str(tensorboard_log),
                verbose=verbose,
                device=device,
                **kwargs,
            )

    @classmethod
    def _wrap(cls, model: DQN, meta: Mapping[str, Any]) -> DQNAgent:
        agent = cls.__new__(cls)
        agent.name = meta["agent"]
        agent.env_id = meta.get("env_id", "default")
        agent.hyperparams = dict(meta.get("hyperparams", {}))
        agent.env_kwargs = dict(meta.get("env_kwargs", {}))
        agent.default_timesteps = int(meta.get("default_timesteps", 100_000))
        agent.model = model
        agent.torch_threads = 1
        return agent

    # ------------------------------------------------------------------ protocol

    def learn(
        self,
        total_timesteps: int | None = None,
        callback: BaseCallback | list[BaseCallback] | None = None,
        tb_log_name: str | None = None,
        progress_bar: bool = False,
        reset_num_timesteps: bool = True,
    ) -> DQNAgent:
        """Train for ``total_timesteps`` env steps (default: the file's ``n_timesteps``).

        Args:
            total_timesteps: Budget in env steps (summed over sub-envs of a ``VecEnv``).
            callback: SB3 callback(s), e.g. the harness's TensorBoard and evaluation callbacks.
                With ``tensorboard_log`` set, the env's episode metrics are logged under
                ``env/`` as well (:func:`edgecloud_agents.callbacks.with_env_metrics`).
            tb_log_name: Run name under ``tensorboard_log`` (default: the agent's name).
            progress_bar: Show SB3's progress bar (needs tqdm and rich).
            reset_num_timesteps: Start the step counter (and TensorBoard curve) at zero.
        """
        steps = self.default_timesteps if total_timesteps is None else total_timesteps
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"total_timesteps must be a positive integer, got {steps!r}.")
        if self.model.get_env() is None:
            raise RuntimeError(
                f"{self.name}: this agent was loaded without an env; load it with env= to train."
            )
        with _torch_threads(self.torch_threads):
            self.model.learn(
                int(steps),
                callback=with_env_metrics(self.model, callback),
                tb_log_name=tb_log_name or self.name,
                progress_bar=progress_bar,
                reset_num_timesteps=reset_num_timesteps,
            )
        return self

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> Any:
        """Greedy (or epsilon-greedy) action: an int for one observation (D,), (B,) for (B, D)."""
        obs = np.asarray(obs, dtype=np.float32)
        size = self.model.observation_space.shape[0]
        if obs.ndim not in (1, 2) or obs.shape[-1] != size:
            raise ValueError(
                f"{self.name}: observation must have shape ({size},) or (B, {size}), got "
                f"{obs.shape}. An env with another forecaster has another size: build it with "
                f"make_env_for({self.name!r}, ...)."
            )
        with _torch_threads(self.torch_threads):
            actions, _ = self.model.predict(obs, deterministic=deterministic)
        return int(actions) if obs.ndim == 1 else np.asarray(actions, dtype=np.int64)

    def file_config(self) -> dict[str, Any]:
        """The JSON part of this agent's file (everything but the weights)."""
        sb3, _ = sb3_state(self.model)
        return {
            "env_id": self.env_id,
            "hyperparams": self.hyperparams,
            "env_kwargs": self.env_kwargs,
            "default_timesteps": self.default_timesteps,
            "sb3": sb3,
        }

    def save(self, path: str | Path) -> None:
        """Write the agent file (:mod:`edgecloud_agents._io`) to ``path``, atomically."""
        write_agent_file(
            path,
            agent=self.name,
            family="allocation",
            config=self.file_config(),
            weights={"sb3": self.model.get_parameters()},
        )

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
            meta = {"agent": file.agent or "dqn", **file.config}
            meta.setdefault("hyperparams", _hyperparams_of(model))
            return cls._wrap(model, meta)
        if file.agent not in VARIANTS:
            raise AgentFileError(
                f"{file.path} holds agent {file.agent!r}, not a DQN variant ({sorted(VARIANTS)}); "
                "load it with edgecloud_agents.registry.load_agent."
            )
        return cls.from_file(file, env)

    @classmethod
    def from_file(cls, file: AgentFile, env: Any = None, name: str | None = None) -> DQNAgent:
        """The DQN of an agent file (this agent's, or the DQN part of an agent built on it):
        SB3's DQN rebuilt from the saved hyperparameters, with the saved weights.

        Args:
            file: A file read by :func:`~edgecloud_agents._io.read_agent_file`.
            env: The env to train in further (its spaces must match the saved ones).
            name: The DQN variant (default: the file's agent).
        """
        _, kwargs = _split(file.require("hyperparams"))
        model = rebuild_sb3_dqn(file, kwargs, env)
        return cls._wrap(model, {**file.config, "agent": name or file.agent})
