"""Stable-Baselines3 learners behind the agent protocol: the pieces the DQN and PPO agents share.

:class:`SB3Agent` trains an SB3 algorithm (DQN, PPO) unchanged on an allocation env, with its
hyperparameters read from a versioned YAML file in rl_zoo3's format keyed by env id
(``edgecloud_agents/hyperparams``), so ``python -m rl_zoo3.train --algo ... -conf
edgecloud_agents.hyperparams.<file>`` trains the same model. :class:`~edgecloud_agents.dqn.DQNAgent`
and :class:`~edgecloud_agents.ppo.PPOAgent` set the algorithm, their agent names and the file of
each.

A saved agent is the zoo's agent file (:mod:`edgecloud_agents._io`): the name, env id,
hyperparameters and env kwargs as JSON and SB3's parameters as tensors; loading rebuilds the model
from its hyperparameters and puts the weights back, so no pickled object is ever read.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import inspect
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
import yaml
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv

from edgecloud_agents._io import (
    AgentFile,
    AgentFileError,
    read_agent_file,
    rebuild_sb3,
    sb3_state,
    write_agent_file,
)
from edgecloud_agents.callbacks import with_env_metrics
from edgecloud_agents.hyperparams import hyperparams_file
from edgecloud_gym._validation import did_you_mean

__all__ = ["SB3Agent", "algorithm_args", "load_hyperparams", "split_hyperparams"]

# rl_zoo3 keys that are not the algorithm's arguments: read here, or refused with a reason.
_ZOO_KEYS = {"n_timesteps", "policy", "n_envs", "env_kwargs"}
_UNSUPPORTED = {
    "normalize": "observations are already normalised by capacity",
    "env_wrapper": "wrap the env before passing it in",
    "vec_env_wrapper": "wrap the env before passing it in",
    "frame_stack": "the observation already holds a window of past arrivals",
    "callback": "pass callbacks to learn(callback=...)",
    "monitor_kwargs": "the harness adds its own monitoring",
}


@cache
def algorithm_args(algorithm: Any) -> frozenset[str]:
    """The keyword arguments of the SB3 class ``algorithm`` that a hyperparameter file may set."""
    return frozenset(inspect.signature(algorithm.__init__).parameters) - {
        "self",
        "policy",
        "env",
        "seed",
        "tensorboard_log",
        "verbose",
        "device",
        "_init_setup_model",
    }


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
        name: The shipped file to read (a key of ``edgecloud_agents.hyperparams.FILES``:
            "dqn", "dqn-forecast" or "ppo").
        path: Read this file instead.

    Returns:
        A fresh dict with rl_zoo3's keys (``n_timesteps``, ``policy``, ``env_kwargs``, ...) and
        the algorithm's keyword arguments; ``policy_kwargs`` parsed into a dict.
    """
    file = Path(path) if path is not None else hyperparams_file(name)
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


def split_hyperparams(
    params: Mapping[str, Any], algorithm: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Separate rl_zoo3's keys from the SB3 ``algorithm``'s arguments, checking both."""
    args = algorithm_args(algorithm)
    label = algorithm.__name__
    zoo, kwargs = {}, {}
    for key, value in params.items():
        if key in _ZOO_KEYS:
            zoo[key] = value
        elif key in _UNSUPPORTED:
            raise ValueError(f"hyperparameter {key!r} is not supported here: {_UNSUPPORTED[key]}.")
        elif key in args:
            kwargs[key] = value
        else:
            valid = sorted(args | _ZOO_KEYS)
            raise TypeError(
                f"unknown {label} hyperparameter {key!r}.{did_you_mean(key, valid)} "
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


class SB3Agent:
    """A Stable-Baselines3 learner on an allocation env, meeting
    :class:`~edgecloud_agents.base.Agent`; :class:`~edgecloud_agents.dqn.DQNAgent` and
    :class:`~edgecloud_agents.ppo.PPOAgent` set the algorithm and their variants.

    Args:
        env: The env to train in: a Gymnasium env in the variant's action mode, or an SB3
            ``VecEnv`` (e.g. :func:`edgecloud_agents.sb3_vec.make_sb3_vec_env` for ``n_envs`` > 1).
            Its forecaster decides the variant's observation; see
            :func:`edgecloud_agents.registry.make_env_for`.
        name: The variant (a key of the subclass's :attr:`variants`): the label and the default
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

    #: The SB3 class (set by each subclass).
    algorithm: ClassVar[Any] = None
    #: Agent name -> (hyperparameter file, action space kind: "discrete" or "box").
    variants: ClassVar[dict[str, tuple[str, str]]] = {}

    def __init__(
        self,
        env: gym.Env | VecEnv,
        *,
        name: str | None = None,
        env_id: str | None = None,
        hyperparams: Mapping[str, Any] | None = None,
        seed: int = 0,
        tensorboard_log: str | Path | None = None,
        verbose: int = 0,
        device: str = "cpu",
        torch_threads: int | None = 1,
        **overrides: Any,
    ) -> None:
        name = next(iter(self.variants)) if name is None else name
        if name not in self.variants:
            raise ValueError(
                f"name must be one of {sorted(self.variants)}, got {name!r}."
                f"{did_you_mean(str(name), self.variants)}"
            )
        if not isinstance(env, (gym.Env, VecEnv)):
            raise TypeError(
                f"env must be a Gymnasium env or an SB3 VecEnv, got {type(env).__name__}; "
                "make one with edgecloud_agents.registry.make_env_for(name, env_id, seed)."
            )
        file_name, kind = self.variants[name]
        discrete = isinstance(env.action_space, gym.spaces.Discrete)
        if discrete != (kind == "discrete"):
            mode = (
                "action_mode='discrete' (the default)"
                if kind == "discrete"
                else ("action_mode='continuous'")
            )
            raise ValueError(
                f"{name} needs a {'discrete' if kind == 'discrete' else 'box'} action space, got "
                f"{env.action_space}; make the env with {mode} (make_env_for({name!r}, env_id) "
                "does)."
            )
        self.name = name
        self.torch_threads = torch_threads
        self.env_id = env_id or _env_id(env) or "default"
        params = (
            dict(hyperparams)
            if hyperparams is not None
            else load_hyperparams(self.env_id, file_name)
        )
        params.update(overrides)
        zoo, kwargs = split_hyperparams(params, self.algorithm)
        #: every setting, rl_zoo3's keys included (for the harness's hyperparameter records)
        self.hyperparams: dict[str, Any] = {**zoo, **kwargs}
        #: env kwargs the variant expects (from the file), used by the registry to build envs
        self.env_kwargs: dict[str, Any] = dict(zoo.get("env_kwargs") or {})
        #: default budget of :meth:`learn` (env steps)
        self.default_timesteps = int(zoo.get("n_timesteps", 100_000))
        with _torch_threads(torch_threads):
            self.model = self.algorithm(
                "MlpPolicy",
                env,
                seed=seed,
                tensorboard_log=None if tensorboard_log is None else str(tensorboard_log),
                verbose=verbose,
                device=device,
                **kwargs,
            )

    @classmethod
    def _wrap(cls, model: Any, meta: Mapping[str, Any]) -> SB3Agent:
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
    ) -> SB3Agent:
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
        """The policy's action (greedy by default): for one observation (D,), an int (discrete)
        or a float32 vector (box); for (B, D), a batch of them."""
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
        if not isinstance(self.model.action_space, gym.spaces.Discrete):
            return np.asarray(actions, dtype=np.float32)
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
    def load(cls, path: str | Path | AgentFile, env: Any = None, **_: Any) -> SB3Agent:
        """Read an agent written by :meth:`save`; ``env`` is needed only to train further.

        Args:
            path: The agent file (or one already read by :func:`~edgecloud_agents._io.
                read_agent_file`).
            env: The env to train in further (its spaces must match the saved ones).
        """
        file = read_agent_file(path)
        if file.agent not in cls.variants:
            raise AgentFileError(
                f"{file.path} holds agent {file.agent!r}, not one of {sorted(cls.variants)}; "
                "load it with edgecloud_agents.registry.load_agent."
            )
        return cls.from_file(file, env)

    @classmethod
    def from_file(cls, file: AgentFile, env: Any = None, name: str | None = None) -> SB3Agent:
        """The model of an agent file (this agent's, or the part of an agent built on it): the
        SB3 model rebuilt from the saved hyperparameters, with the saved weights.

        Args:
            file: A file read by :func:`~edgecloud_agents._io.read_agent_file`.
            env: The env to train in further (its spaces must match the saved ones).
            name: The variant (default: the file's agent).
        """
        _, kwargs = split_hyperparams(file.require("hyperparams"), cls.algorithm)
        model = rebuild_sb3(file, cls.algorithm, kwargs, env)
        return cls._wrap(model, {**file.config, "agent": name or file.agent})
