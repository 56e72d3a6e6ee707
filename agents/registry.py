"""The zoo's registry: every agent by name, the env each one acts in, construction and loading.

==================  ==========================================================  ============  ===========
name                agent                                                       action mode   forecaster
==================  ==========================================================  ============  ===========
``static``          capacity-proportional shares (the source paper's baseline)  discrete      none
``reactive``        threshold heuristic: offload from a hot node                discrete      none
``least-loaded``    join the server with the least expected delay               discrete      none
``random``          uniformly random actions                                    discrete      none
``oracle``          clairvoyant LP over the episode (reads the true arrivals)   continuous    none
``dqn``             SB3 DQN without forecasts ("reactive RL")                   discrete      none
``dqn-forecast``    SB3 DQN with workload forecasts                             discrete      lstm
==================  ==========================================================  ============  ===========

The meta-learned DQNs (:mod:`edgecloud_agents.dynamic_allocator`): ``dynamic-allocator``, the
DQN with forecasts started from a MAML meta-initialisation (the source paper's system, forecaster
lstm), and ``maml-dqn``, the same without forecasts (an ablation, forecaster none).

The offloading learners act in the offloading envs (``EdgeCloud-Offload-*``), not the
allocation envs, so they have their own table, :data:`OFFLOADING_AGENTS` (``ddlo``, ``droo``,
``dmro``, ``dqn-offload``; see ``docs/dmro.md``), built by :func:`make_offloading_agent` and read
back by :func:`load_offloading_agent`.

The rule-based agents ignore forecasts, so their envs skip them (same dynamics, same arrivals
for the same seed). The DQN variants take their env kwargs from their hyperparameter files
(``hyperparams/dqn.yml``, ``hyperparams/dqn-forecast.yml``); any of these is overridden by
``env_kwargs``, e.g. ``make_env_for("dqn-forecast", env_id, 0, forecaster="naive")``.

    >>> from edgecloud_agents.registry import make_agent, make_env_for
    >>> env = make_env_for("dqn", "EdgeCloud-High-v0", seed=0)
    >>> agent = make_agent("dqn", env, seed=0).learn(10_000)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym

import edgecloud_gym
from edgecloud_agents._io import AgentFileError, read_agent_file
from edgecloud_agents.base import Agent
from edgecloud_agents.offloading import (
    OFFLOADING_AGENTS,
    load_offloading_agent,
    make_offloading_agent,
)
from edgecloud_gym._validation import did_you_mean

__all__ = [
    "AGENTS",
    "OFFLOADING_AGENTS",
    "AgentInfo",
    "env_kwargs_for",
    "load_agent",
    "load_offloading_agent",
    "make_agent",
    "make_env_for",
    "make_offloading_agent",
]


@dataclass(frozen=True)
class AgentInfo:
    """What the harness needs to know about an agent before building it.

    Attributes:
        description: One line for tables and ``--help``.
        learns: Whether ``learn`` trains it (budgets apply).
        action_mode: The env's action mode it acts in.
    """

    description: str
    learns: bool
    action_mode: str


def _dqn_env_kwargs(name: str) -> dict[str, Any]:
    from edgecloud_agents.dqn import load_hyperparams

    return dict(load_hyperparams("default", name).get("env_kwargs") or {})


#: Every agent of the zoo, by name.
AGENTS: dict[str, AgentInfo] = {
    "static": AgentInfo(
        "capacity-proportional shares (source paper's baseline)", False, "discrete"
    ),
    "reactive": AgentInfo("threshold heuristic: offload from a hot node", False, "discrete"),
    "least-loaded": AgentInfo("join the server with the least expected delay", False, "discrete"),
    "random": AgentInfo("uniformly random actions", False, "discrete"),
    "oracle": AgentInfo("clairvoyant LP over the episode (upper bound)", False, "continuous"),
    "dqn": AgentInfo("SB3 DQN without forecasts (reactive RL)", True, "discrete"),
    "dqn-forecast": AgentInfo("SB3 DQN with workload forecasts", True, "discrete"),
    "dynamic-allocator": AgentInfo(
        "DQN from a MAML meta-initialisation, with LSTM forecasts (DYNAMIC-ALLOCATOR)",
        True,
        "discrete",
    ),
    "maml-dqn": AgentInfo("DQN from a MAML meta-initialisation, no forecasts", True, "discrete"),
}

#: The meta-learned DQNs (edgecloud_agents.dynamic_allocator) and the DQN variant whose
#: hyperparameters and env kwargs each one shares.
_META_DQN = {"dynamic-allocator": "dqn-forecast", "maml-dqn": "dqn"}

_DQN = ("dqn", "dqn-forecast")


def _rule_class(name: str) -> Any:
    from edgecloud_agents import heuristics

    return {
        "static": heuristics.Static,
        "reactive": heuristics.ReactiveThreshold,
        "least-loaded": heuristics.LeastLoaded,
        "random": heuristics.RandomAgent,
    }[name]


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or name not in AGENTS:
        raise ValueError(
            f"unknown agent {name!r}.{did_you_mean(str(name), AGENTS)} "
            f"Valid agents: {', '.join(AGENTS)}."
        )
    return name


def _check_env_id(env_id: Any) -> str:
    if not isinstance(env_id, str):
        raise TypeError(f"env_id must be a registered env id (str), got {env_id!r}.")
    gym.register_envs(edgecloud_gym)
    if env_id not in gym.registry:
        ids = sorted(edgecloud_gym.ALLOCATION_IDS)
        raise ValueError(
            f"unknown env id {env_id!r}.{did_you_mean(env_id, gym.registry)} "
            f"Allocation ids: {', '.join(ids)}."
        )
    return env_id


def env_kwargs_for(name: str) -> dict[str, Any]:
    """The env keyword arguments agent ``name`` is built with by default."""
    name = _check_name(name)
    kwargs: dict[str, Any] = {"forecaster": "none", "action_mode": AGENTS[name].action_mode}
    if name in _DQN or name in _META_DQN:
        kwargs.update(_dqn_env_kwargs(_META_DQN.get(name, name)))
    return kwargs


def make_env_for(name: str, env_id: str, seed: int = 0, **env_kwargs: Any) -> gym.Env:
    """The env agent ``name`` acts in, for the registered id ``env_id``.

    Args:
        name: An agent of :data:`AGENTS`.
        env_id: A registered allocation id, e.g. ``"EdgeCloud-High-v0"``.
        seed: Seeds the env's first episode and its action space.
        **env_kwargs: Override the agent's defaults (:func:`env_kwargs_for`) and the id's.
    """
    kwargs = {**env_kwargs_for(name), **env_kwargs}
    env = gym.make(_check_env_id(env_id), **kwargs)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    return env


def _vec_env(name: str, env: gym.Env | str, n_envs: int, seed: int) -> Any:
    """An SB3 VecEnv of ``n_envs`` systems over the native vector env of ``env``'s id."""
    from edgecloud_agents.sb3_vec import make_sb3_vec_env

    if isinstance(env, str):
        env_id, kwargs = env, env_kwargs_for(name)
    else:
        spec = getattr(env, "spec", None)
        if spec is None:
            raise ValueError(
                "n_envs > 1 needs a registered env id or an env made with gym.make (to rebuild "
                "it as a vector env)."
            )
        env_id, kwargs = spec.id, dict(spec.kwargs)
    return make_sb3_vec_env(env_id, n_envs=n_envs, seed=seed, **kwargs)


def make_agent(
    name: str,
    env: gym.Env | str,
    *,
    seed: int = 0,
    tensorboard_log: str | Path | None = None,
    **kwargs: Any,
) -> Agent:
    """A new agent ``name`` for ``env``.

    Args:
        name: An agent of :data:`AGENTS` (unknown names raise with the closest one).
        env: The env the agent acts in (from :func:`make_env_for`), or a registered id, for which
            :func:`make_env_for` builds it.
        seed: Seeds the agent (network initialisation, exploration, random actions).
        tensorboard_log: TensorBoard folder of learning agents (ignored by the others).
        **kwargs: The agent's own parameters: rule parameters (e.g. ``util_high=0.9``), or
            DQN hyperparameters overriding the YAML file (e.g. ``learning_starts=100``), and
            ``n_envs`` for the DQN variants (> 1 trains on the native vector env).
    """
    name = _check_name(name)
    if isinstance(env, str):
        env = make_env_for(name, env, seed)
    if name in _DQN:
        from edgecloud_agents.dqn import DQNAgent

        n_envs = kwargs.pop("n_envs", 1)
        if isinstance(n_envs, bool) or not isinstance(n_envs, int) or n_envs < 1:
            raise ValueError(f"n_envs must be a positive integer, got {n_envs!r}.")
        env_id = env.spec.id if getattr(env, "spec", None) is not None else None
        train_env = _vec_env(name, env, n_envs, seed) if n_envs > 1 else env
        return DQNAgent(
            train_env,
            name=name,
            env_id=env_id,
            seed=seed,
            tensorboard_log=tensorboard_log,
            **kwargs,
        )
    if name in _META_DQN:
        from edgecloud_agents.dynamic_allocator import DynamicAllocator

        env_id = env.spec.id if getattr(env, "spec", None) is not None else None
        return DynamicAllocator(
            env, name=name, env_id=env_id, seed=seed, tensorboard_log=tensorboard_log, **kwargs
        )
    if name == "oracle":
        from edgecloud_agents.oracle import Oracle

        if kwargs:
            raise TypeError(f"the oracle takes no parameters, got {sorted(kwargs)}.")
        return Oracle(env)
    if name == "random":
        kwargs.setdefault("seed", seed)
    return _rule_class(name)(env, **kwargs)


def load_agent(
    path: str | Path, env: Any = None, *, agent: str | None = None, trusted: bool = False
) -> Agent:
    """Read any agent of either family written by ``agent.save(path)``, dispatching on the file.

    The file is the zoo's agent file (:mod:`edgecloud_agents._io`); reading it runs no code.

    Args:
        path: A saved agent.
        env: The env the agent acts in; required by the rule-based agents and the oracle (they
            read its layout or arrivals), and by a learner that will train further.
        agent: The agent the file must hold (checked); for a Stable-Baselines3 zip that does not
            record it, the agent it holds (default ``"dqn"``).
        trusted: Also accept a Stable-Baselines3 zip (e.g. one trained by rl_zoo3). Its ``data``
            entry is unpickled, and unpickling can run any code its author chose: pass True only
            for files from a source you trust, then save the agent again to get a safe file.

    Raises:
        FileNotFoundError: No file at ``path``.
        ValueError: Not an agent file, an SB3 zip without ``trusted``, another model version,
            or an agent other than ``agent``; the message names the file and the fix.
    """
    if agent is not None:
        _check_any_name(agent)
    file = read_agent_file(path, trusted=trusted)
    if file.sb3_zip:
        name = file.agent or agent or "dqn"
        if name in OFFLOADING_AGENTS:
            return load_offloading_agent(file, env)
        if name not in _DQN:
            raise AgentFileError(
                f"{path} is an SB3 zip of agent {name!r}; only the DQN variants "
                f"({', '.join(_DQN)}) and dqn-offload can be read from one."
            )
        from edgecloud_agents.dqn import DQNAgent

        loaded = DQNAgent.load(file, env=env)
        loaded.name = name
        return loaded
    if agent is not None and file.agent != agent:
        raise AgentFileError(
            f"{path} holds agent {file.agent!r}, not {agent!r}; pass --agent {file.agent} "
            f"(or agent={file.agent!r})."
        )
    if file.agent in OFFLOADING_AGENTS:
        return load_offloading_agent(file, env)
    if file.agent not in AGENTS:
        raise AgentFileError(
            f"{path} holds agent {file.agent!r}, which this installation does not know; valid: "
            f"{', '.join([*AGENTS, *OFFLOADING_AGENTS])}."
        )
    if file.agent in _DQN:
        from edgecloud_agents.dqn import DQNAgent

        return DQNAgent.load(file, env=env)
    if file.agent in _META_DQN:
        from edgecloud_agents.dynamic_allocator import DynamicAllocator

        return DynamicAllocator.load(file, env=env)
    if file.agent == "oracle":
        from edgecloud_agents.oracle import Oracle

        return Oracle.load(file, env)
    return _rule_class(file.agent).load(file, env)


def _check_any_name(name: Any) -> str:
    if not isinstance(name, str) or (name not in AGENTS and name not in OFFLOADING_AGENTS):
        valid = [*AGENTS, *OFFLOADING_AGENTS]
        raise ValueError(
            f"unknown agent {name!r}.{did_you_mean(str(name), valid)} Valid agents: "
            f"{', '.join(valid)}."
        )
    return name
