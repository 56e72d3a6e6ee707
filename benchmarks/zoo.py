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

__all__ = ["agent_names", "check_agent_name", "family", "learns", "load", "make", "make_env"]


def _registry() -> Any:
    from edgecloud_agents import registry

    return registry


def agent_names(family: str | None = None) -> tuple[str, ...]:
    """Names of the zoo's agents of ``family`` (``"allocation"``, ``"offloading"``; None: all),
    in the registry's order."""
    return tuple(_registry().agent_names(family))


def family(name: str) -> str:
    """The env family agent ``name`` acts in: ``"allocation"`` or ``"offloading"``."""
    return str(_registry().AGENTS[check_agent_name(name)].family)


def learns(name: str) -> bool:
    """Whether agent ``name`` trains (so that a budget applies to it)."""
    return bool(_registry().AGENTS[check_agent_name(name)].learns)


def check_agent_name(name: str) -> str:
    """Return ``name`` if the zoo has such an agent, else raise with the closest name."""
    names = agent_names()
    if name not in names:
        raise ValueError(
            f"unknown agent {name!r}.{did_you_mean(name, names)} Valid agents: {', '.join(names)}."
        )
    return name


def make_env(name: str, env_id: str, seed: int = 0, **env_kwargs: Any) -> gym.Env:
    """The env agent ``name`` acts in (its forecaster and action mode) for id ``env_id`` of its
    family."""
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


def load(name: str, path: str | Path, env: gym.Env | None = None, *, trusted: bool = False) -> Any:
    """An agent written by ``agent.save(path)``; ``name`` is checked against what the file holds.

    ``trusted`` also accepts a Stable-Baselines3 zip (``--trust-pickle``), whose reading can run
    code its author put in it; see :func:`edgecloud_agents.registry.load_agent`.
    """
    check_agent_name(name)
    if not Path(path).exists():
        raise FileNotFoundError(
            f"--load: no saved agent at {path}; train one with 'edgecloud train'."
        )
    try:
        return _registry().load_agent(path, env=env, agent=name, trusted=trusted)
    except ValueError as exc:
        raise ValueError(f"--load: {exc}") from None
