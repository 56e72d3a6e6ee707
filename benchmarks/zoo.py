"""The harness's one door into the agent zoo (``edgecloud_agents.registry``).

Everything the harness needs from an agent goes through these few functions, so the harness
depends on the zoo's registry interface and on the :class:`~edgecloud_agents.base.Agent`
protocol only: names, the env each agent acts in, construction, loading, and whether it learns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym

from edgecloud_gym._validation import did_you_mean

__all__ = ["agent_names", "check_agent_name", "load", "make", "make_env"]


def _registry() -> Any:
    try:
        from edgecloud_agents import registry
    except ImportError:
        return _RuleRegistry
    return registry


class _RuleRegistry:
    """The rule-based agents alone, for a zoo installed without its registry."""

    AGENTS = ("static", "reactive", "least-loaded", "random")

    @staticmethod
    def make_env_for(name: str, env_id: str, seed: int, **env_kwargs: Any) -> gym.Env:
        return gym.make(env_id, **env_kwargs)

    @staticmethod
    def _cls(name: str) -> Any:
        from edgecloud_agents import heuristics as h

        return {
            "static": h.Static,
            "reactive": h.ReactiveThreshold,
            "least-loaded": h.LeastLoaded,
            "random": h.RandomAgent,
        }[name]

    @classmethod
    def make_agent(
        cls, name: str, env: Any, *, seed: int = 0, tensorboard_log: Any = None, **kw: Any
    ) -> Any:
        if isinstance(env, str):
            env = gym.make(env)
        if name == "random":
            kw.setdefault("seed", seed)
        return cls._cls(name)(env, **kw)

    @classmethod
    def load_agent(cls, path: Any, env: Any = None) -> Any:
        import json

        name = json.loads(Path(path).read_text())["agent"]
        return cls._cls(name).load(path, env)


def agent_names() -> tuple[str, ...]:
    """Names of every agent of the zoo, in the registry's order."""
    return tuple(_registry().AGENTS)


def check_agent_name(name: str) -> str:
    """Return ``name`` if the zoo has such an agent, else raise with the closest name."""
    names = agent_names()
    if name not in names:
        raise ValueError(
            f"unknown agent {name!r}.{did_you_mean(name, names)} Valid agents: {', '.join(names)}."
        )
    return name


def make_env(name: str, env_id: str, seed: int = 0, **env_kwargs: Any) -> gym.Env:
    """The env agent ``name`` acts in (its forecaster and action mode) for allocation id ``env_id``."""
    check_agent_name(name)
    return _registry().make_env_for(name, env_id, seed, **env_kwargs)


def make(
    name: str,
    env: gym.Env | str,
    *,
    seed: int = 0,
    tensorboard_log: str | None = None,
    **kwargs: Any,
) -> Any:
    """A new agent ``name`` for ``env`` (an env from :func:`make_env` or an id)."""
    check_agent_name(name)
    return _registry().make_agent(name, env, seed=seed, tensorboard_log=tensorboard_log, **kwargs)


def load(name: str, path: str | Path, env: gym.Env | None = None) -> Any:
    """An agent written by ``agent.save(path)``; ``name`` is checked against what the file holds."""
    check_agent_name(name)
    if not Path(path).exists():
        raise FileNotFoundError(
            f"--load: no saved agent at {path}; train one with 'edgecloud train'."
        )
    return _registry().load_agent(path, env=env)
