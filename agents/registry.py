"""The zoo's registry: every agent by name, the env each one acts in, construction and loading.

Allocation family (the ``EdgeCloud-*`` envs other than ``EdgeCloud-Offload-*``):

=========================  =============================================================  =============  ==========
name                       agent                                                          action mode    forecaster
=========================  =============================================================  =============  ==========
``static``                 capacity-proportional shares (the source paper's baseline)     discrete       none
``reactive``               threshold heuristic: offload from a hot node                   discrete       none
``least-loaded``           join the server with the least expected delay                  discrete       none
``random``                 uniformly random actions                                       discrete       none
``oracle``                 LP plan over the episode, model v0 relaxation (true arrivals)  weights        none
``mpc``                    receding-horizon search on the env's own model                 discrete (1)   own
``mpc-clairvoyant``        ``mpc`` on the realised arrivals (clairvoyant reference)       discrete (1)   truth
``local-first``            keep arrivals local up to a tuned threshold, overflow out      weights        none
``best-constant``          the best constant shares (tuned)                               weights        none
``autoscale``              static shares, capacity from the built-in autoscaler (2)       weights        none
``local-first-autoscale``  ``local-first`` shares, the autoscaler's capacity (2)          weights        none
``dqn``                    SB3 DQN without forecasts ("reactive RL")                      discrete       none
``dqn-forecast``           SB3 DQN with workload forecasts                                discrete       lstm
=========================  =============================================================  =============  ==========

(1) ``weights`` on the joint ids (``EdgeCloud-Joint-*-v0``): in joint control ``mpc`` plans the
shares and the capacity and DVFS levels together, in that mode only. (2) On the joint ids the
agent runs the autoscaler rule itself and sets the levels; on the other ids :func:`make_env_for`
turns the env's built-in autoscaler on (``autoscaler=True``). See
:mod:`edgecloud_agents.capacity_rules`.

The meta-learned DQNs (:mod:`edgecloud_agents.dynamic_allocator`): ``dynamic-allocator``, the
DQN with forecasts started from a MAML meta-initialisation (the source paper's system, forecaster
lstm), and ``maml-dqn``, the same without forecasts (an ablation, forecaster none).

Offloading family (the ``EdgeCloud-Offload-*`` envs; see ``docs/dmro.md``): ``ddlo``, ``droo``,
``dmro`` and ``dqn-offload``. Every agent of both families has one entry of :data:`AGENTS`, whose
:attr:`AgentInfo.family` says which envs it acts in; :func:`make_agent`, :func:`make_env_for` and
:func:`load_agent` serve both families.

The rule-based agents ignore forecasts, so their envs skip them (same dynamics, same arrivals
for the same seed). The DQN variants take their env kwargs from their hyperparameter files
(``hyperparams/dqn.yml``, ``hyperparams/dqn-forecast.yml``); any of these is overridden by
``env_kwargs``, e.g. ``make_env_for("dqn-forecast", env_id, 0, forecaster="naive")``.

    >>> from edgecloud_agents.registry import make_agent, make_env_for
    >>> env = make_env_for("dqn", "EdgeCloud-High-v0", seed=0)
    >>> agent = make_agent("dqn", env, seed=0).learn(10_000)  # doctest: +SKIP

One module on purpose, above the zoo's usual size: the table of agents and the three doors that
build, place and load them (with their argument checks) are read together whenever an agent is
added, so they stay side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym

import edgecloud_gym
from edgecloud_agents._io import AgentFile, AgentFileError, read_agent_file
from edgecloud_agents.base import Agent
from edgecloud_gym._validation import did_you_mean

__all__ = [
    "AGENTS",
    "ENV_FAMILIES",
    "OFFLOADING_AGENTS",
    "AgentInfo",
    "agent_names",
    "env_kwargs_for",
    "load_agent",
    "load_offloading_agent",
    "make_agent",
    "make_env_for",
    "make_offloading_agent",
]

#: The env families: ``allocation`` (``EdgeCloud-*-v0``) and ``offloading``
#: (``EdgeCloud-Offload-*-v0``).
ENV_FAMILIES: tuple[str, ...] = ("allocation", "offloading")


@dataclass(frozen=True)
class AgentInfo:
    """What the harness needs to know about an agent before building it.

    Attributes:
        description: One line for tables and ``--help``.
        learns: Whether ``learn`` trains it (budgets apply).
        family: The envs it acts in, one of :data:`ENV_FAMILIES`.
        env_id: A registered id of its family that it acts in (the default of examples and
            tests).
        action_mode: The allocation env's action mode it acts in (None for the offloading
            family, whose envs have one action space each).
    """

    description: str
    learns: bool
    family: str = "allocation"
    env_id: str = "EdgeCloud-Medium-v0"
    action_mode: str | None = "discrete"

    def __post_init__(self) -> None:
        if self.family not in ENV_FAMILIES:
            raise ValueError(f"family must be one of {ENV_FAMILIES}, got {self.family!r}.")


def _dqn_env_kwargs(name: str) -> dict[str, Any]:
    from edgecloud_agents.dqn import load_hyperparams

    return dict(load_hyperparams("default", name).get("env_kwargs") or {})


_MUMT, _WPMEC = "EdgeCloud-Offload-MUMT-v0", "EdgeCloud-Offload-WPMEC-v0"

#: Every agent of the zoo, both families, by name.
AGENTS: dict[str, AgentInfo] = {
    "static": AgentInfo("capacity-proportional shares (source paper's baseline)", False),
    "reactive": AgentInfo("threshold heuristic: offload from a hot node", False),
    "least-loaded": AgentInfo("join the server with the least expected delay", False),
    "random": AgentInfo("uniformly random actions", False),
    "oracle": AgentInfo(
        "LP plan over the episode (model v0 relaxation, reads the true arrivals)",
        False,
        action_mode="weights",
    ),
    "mpc": AgentInfo("receding-horizon search over the actions on the env's own model", False),
    "mpc-clairvoyant": AgentInfo(
        "mpc on the realised arrivals (clairvoyant reference, not causal)", False
    ),
    "local-first": AgentInfo(
        "keep arrivals local up to a tuned threshold, overflow out", False, action_mode="weights"
    ),
    "best-constant": AgentInfo(
        "the best constant shares, tuned per env", False, action_mode="weights"
    ),
    "autoscale": AgentInfo(
        "static shares, capacity from the built-in HPA-like autoscaler",
        False,
        env_id="EdgeCloud-Joint-Medium-v0",
        action_mode="weights",
    ),
    "local-first-autoscale": AgentInfo(
        "local-first shares, capacity from the built-in HPA-like autoscaler",
        False,
        env_id="EdgeCloud-Joint-Medium-v0",
        action_mode="weights",
    ),
    "dqn": AgentInfo("SB3 DQN without forecasts (reactive RL)", True),
    "dqn-forecast": AgentInfo("SB3 DQN with workload forecasts", True),
    "dynamic-allocator": AgentInfo(
        "DQN from a MAML meta-initialisation, with LSTM forecasts (DYNAMIC-ALLOCATOR)", True
    ),
    "maml-dqn": AgentInfo("DQN from a MAML meta-initialisation, no forecasts", True),
    "ppo": AgentInfo(
        "SB3 PPO without forecasts, discrete moves (reactive RL, second reference)", True
    ),
    "ppo-continuous": AgentInfo(
        "SB3 PPO without forecasts, continuous shares", True, action_mode="continuous"
    ),
    "ddlo": AgentInfo(
        "K parallel DNNs, best candidate by the env's model (DDLO)",
        True,
        family="offloading",
        env_id=_MUMT,
        action_mode=None,
    ),
    "droo": AgentInfo(
        "one DNN, order-preserving quantisation, adaptive K (DROO)",
        True,
        family="offloading",
        env_id=_WPMEC,
        action_mode=None,
    ),
    "dmro": AgentInfo(
        "parallel DNNs from a meta-learned initialisation (DMRO)",
        True,
        family="offloading",
        env_id=_MUMT,
        action_mode=None,
    ),
    "dqn-offload": AgentInfo(
        "SB3 DQN on the Discrete wrapper (traditional DRL)",
        True,
        family="offloading",
        env_id=_MUMT,
        action_mode=None,
    ),
}


def agent_names(family: str | None = None) -> tuple[str, ...]:
    """Names of the agents of ``family`` (None: of both), in the order of :data:`AGENTS`."""
    if family is not None and family not in ENV_FAMILIES:
        raise ValueError(
            f"family must be one of {ENV_FAMILIES}, got {family!r}.{did_you_mean(str(family), ENV_FAMILIES)}"
        )
    return tuple(n for n, info in AGENTS.items() if family in (None, info.family))


#: The offloading family's agents (:func:`agent_names` ``("offloading")``), kept for code that
#: used the table of that name.
OFFLOADING_AGENTS: dict[str, AgentInfo] = {
    n: info for n, info in AGENTS.items() if info.family == "offloading"
}

#: Offloading agent name -> (module of edgecloud_agents, class).
_OFFLOADING_CLASSES: dict[str, tuple[str, str]] = {
    "ddlo": ("ddlo", "DDLO"),
    "droo": ("droo", "DROO"),
    "dmro": ("dmro", "DMRO"),
    "dqn-offload": ("dqn_offload", "OffloadDQN"),
}


def offloading_class(name: str) -> Any:
    """The class of offloading agent ``name``."""
    import importlib

    if name not in _OFFLOADING_CLASSES:
        raise ValueError(
            f"unknown offloading agent {name!r}.{did_you_mean(str(name), _OFFLOADING_CLASSES)} "
            f"Valid: {', '.join(_OFFLOADING_CLASSES)}."
        )
    module, cls = _OFFLOADING_CLASSES[name]
    return getattr(importlib.import_module(f"edgecloud_agents.{module}"), cls)


def make_offloading_agent(name: str, env: Any, *, seed: int = 0, **kwargs: Any) -> Any:
    """A new offloading agent ``name`` for ``env`` (an offloading env or a registered
    ``EdgeCloud-Offload-*`` id); ``kwargs`` are the agent's own parameters."""
    from edgecloud_agents.frame_learner import make_offloading_env

    cls = offloading_class(name)
    if isinstance(env, str):
        env = make_offloading_env(env)
    return cls(env, seed=seed, **kwargs)


def load_offloading_agent(
    path: str | Path | AgentFile, env: Any = None, *, trusted: bool = False
) -> Any:
    """Read any offloading agent written by ``agent.save(path)`` (dispatching on the file).

    Args:
        path: An agent file of the offloading family (or one already read).
        env: The env to learn in further (optional).
        trusted: Also accept a Stable-Baselines3 zip of ``dqn-offload`` (reading one may run code
            its author put in it; only for files you trust).
    """
    if isinstance(path, AgentFile):
        file = path
    else:
        file = read_agent_file(path, agents=_OFFLOADING_CLASSES, trusted=trusted)
    if file.sb3_zip:
        return offloading_class("dqn-offload").load(file, env)
    if file.agent not in _OFFLOADING_CLASSES:
        raise AgentFileError(f"{path} is not a saved offloading agent (agent {file.agent!r}).")
    return offloading_class(file.agent).load(file, env)


#: The meta-learned DQNs (edgecloud_agents.dynamic_allocator) and the DQN variant whose
#: hyperparameters and env kwargs each one shares.
_META_DQN = {"dynamic-allocator": "dqn-forecast", "maml-dqn": "dqn"}

_DQN = ("dqn", "dqn-forecast")
_PPO = ("ppo", "ppo-continuous")


def _rule_class(name: str) -> Any:
    from edgecloud_agents import heuristics

    return {
        "static": heuristics.Static,
        "reactive": heuristics.ReactiveThreshold,
        "least-loaded": heuristics.LeastLoaded,
        "random": heuristics.RandomAgent,
    }[name]


_SHARE_RULES = ("local-first", "best-constant", "autoscale", "local-first-autoscale")
#: Agents that set the capacity with the autoscaler rule (the env's own one outside joint ids).
_AUTOSCALED = ("autoscale", "local-first-autoscale")
#: Agents whose action mode on the joint ids is ``weights`` whatever their default.
_JOINT_WEIGHTS = ("mpc", "mpc-clairvoyant")


def _share_rule_class(name: str) -> Any:
    from edgecloud_agents import capacity_rules, share_rules

    return {
        "local-first": share_rules.LocalFirst,
        "best-constant": share_rules.ConstantShares,
        "autoscale": capacity_rules.Autoscale,
        "local-first-autoscale": capacity_rules.LocalFirstAutoscale,
    }[name]


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or name not in AGENTS:
        raise ValueError(
            f"unknown agent {name!r}.{did_you_mean(str(name), AGENTS)} "
            f"Valid agents: {', '.join(AGENTS)}."
        )
    return name


def _family_ids(family: str) -> list[str]:
    if family == "allocation":
        return sorted(edgecloud_gym.ALLOCATION_IDS)
    from edgecloud_gym.offloading import OFFLOADING_ENV_IDS

    return sorted(OFFLOADING_ENV_IDS)


def _check_env_id(env_id: Any, name: str = "static") -> str:
    """``env_id`` if it is a registered id of agent ``name``'s family, else raise with the fix."""
    if not isinstance(env_id, str):
        raise TypeError(f"env_id must be a registered env id (str), got {env_id!r}.")
    family = AGENTS[name].family
    ids = _family_ids(family)
    gym.register_envs(edgecloud_gym)
    if env_id not in gym.registry:
        raise ValueError(
            f"unknown env id {env_id!r}.{did_you_mean(env_id, gym.registry)} "
            f"{family.capitalize()} ids: {', '.join(ids)}."
        )
    from edgecloud_gym.offloading import OFFLOADING_ENV_IDS

    if (env_id in OFFLOADING_ENV_IDS) != (family == "offloading"):
        raise ValueError(
            f"agent {name!r} acts in the {family} envs, and {env_id!r} is not one; "
            f"pass one of {', '.join(ids)}."
        )
    return env_id


def env_kwargs_for(name: str) -> dict[str, Any]:
    """The env keyword arguments agent ``name`` is built with by default."""
    name = _check_name(name)
    if AGENTS[name].family == "offloading":
        return {}
    kwargs: dict[str, Any] = {"forecaster": "none", "action_mode": AGENTS[name].action_mode}
    if name in _DQN or name in _META_DQN:
        kwargs.update(_dqn_env_kwargs(_META_DQN.get(name, name)))
    if name in _PPO:
        kwargs.update(_dqn_env_kwargs("ppo"))
    return kwargs


def make_env_for(name: str, env_id: str, seed: int = 0, **env_kwargs: Any) -> gym.Env:
    """The env agent ``name`` acts in, for the registered id ``env_id``.

    Args:
        name: An agent of :data:`AGENTS`.
        env_id: A registered id of the agent's family, e.g. ``"EdgeCloud-High-v0"`` or
            ``"EdgeCloud-Offload-MUMT-v0"``.
        seed: Seeds the env's first episode and its action space.
        **env_kwargs: Override the agent's defaults (:func:`env_kwargs_for`) and the id's.

    In joint control (the ``EdgeCloud-Joint-*-v0`` ids, or ``control="joint"``) ``mpc`` and
    ``mpc-clairvoyant`` act in the ``weights`` mode; outside it the autoscaled rules
    (``autoscale``, ``local-first-autoscale``) get the env's built-in autoscaler
    (``autoscaler=True``). Explicit ``env_kwargs`` win.
    """
    kwargs = {**env_kwargs_for(name), **env_kwargs}
    _check_env_id(env_id, name)
    spec_kwargs = getattr(gym.registry.get(env_id), "kwargs", None) or {}
    joint = kwargs.get("control", spec_kwargs.get("control", "routing")) == "joint"
    if joint and name in _JOINT_WEIGHTS and "action_mode" not in env_kwargs:
        kwargs["action_mode"] = "weights"
    if not joint and name in _AUTOSCALED:
        kwargs.setdefault("autoscaler", True)
    env = gym.make(env_id, **kwargs)
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


def _check_forecasts(name: str, env: Any) -> None:
    """Refuse an env whose observation has (or lacks) forecasts against what DQN variant
    ``name`` is defined on: its saved files could not be loaded with the variant's own env."""
    sim = getattr(getattr(env, "unwrapped", None), "sim", None)
    forecaster = getattr(getattr(sim, "forecaster", None), "name", None)
    if forecaster is None:  # not an allocation env of ours (e.g. a VecEnv): nothing to compare
        return
    expected = env_kwargs_for(name).get("forecaster", "none")
    if (forecaster == "none") != (expected == "none"):
        size = env.observation_space.shape
        other = "dqn" if name == "dqn-forecast" else "dqn-forecast"
        raise ValueError(
            f"agent {name!r} acts on observations {'without' if expected == 'none' else 'with'} "
            f"forecasts (forecaster {expected!r}), but the env has forecaster {forecaster!r} "
            f"(observation shape {size}); an agent trained on it could not act in the env that "
            f"'edgecloud evaluate --agent {name}' builds. Build the env with "
            f"make_env_for({name!r}, env_id), or use {other!r}."
        )


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
    if AGENTS[name].family == "offloading":
        return make_offloading_agent(name, env, seed=seed, **kwargs)
    if isinstance(env, str):
        env = make_env_for(name, env, seed)
    if name in _DQN or name in _PPO:
        from edgecloud_agents.dqn import DQNAgent
        from edgecloud_agents.ppo import PPOAgent

        n_envs = kwargs.pop("n_envs", 1)
        if isinstance(n_envs, bool) or not isinstance(n_envs, int) or n_envs < 1:
            raise ValueError(f"n_envs must be a positive integer, got {n_envs!r}.")
        env_id = env.spec.id if getattr(env, "spec", None) is not None else None
        if name in _DQN:
            _check_forecasts(name, env)
        train_env = _vec_env(name, env, n_envs, seed) if n_envs > 1 else env
        learner = DQNAgent if name in _DQN else PPOAgent
        return learner(
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
    if name == "mpc":
        from edgecloud_agents.mpc import MPCAgent

        return MPCAgent(env, **kwargs)
    if name == "mpc-clairvoyant":
        from edgecloud_agents.mpc import ClairvoyantMPC

        return ClairvoyantMPC(env, **kwargs)
    if name in _SHARE_RULES:
        return _share_rule_class(name)(env, **kwargs)
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
        _check_name(agent)
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
            f"{', '.join(AGENTS)}."
        )
    if file.agent in _DQN:
        from edgecloud_agents.dqn import DQNAgent

        return DQNAgent.load(file, env=env)
    if file.agent in _PPO:
        from edgecloud_agents.ppo import PPOAgent

        return PPOAgent.load(file, env=env)
    if file.agent in _META_DQN:
        from edgecloud_agents.dynamic_allocator import DynamicAllocator

        return DynamicAllocator.load(file, env=env)
    if file.agent == "oracle":
        from edgecloud_agents.oracle import Oracle

        return Oracle.load(file, env)
    if file.agent == "mpc":
        from edgecloud_agents.mpc import MPCAgent

        return MPCAgent.load(file, env)
    if file.agent == "mpc-clairvoyant":
        from edgecloud_agents.mpc import ClairvoyantMPC

        return ClairvoyantMPC.load(file, env)
    if file.agent in _SHARE_RULES:
        return _share_rule_class(file.agent).load(file, env)
    return _rule_class(file.agent).load(file, env)
