"""The agent zoo (installed as ``edgecloud_agents``).

Every agent meets :class:`~edgecloud_agents.base.Agent` (predict, learn, save, load), so the
evaluation harness depends on no agent's internals. :mod:`edgecloud_agents.registry` builds any
of them by name (``make_agent``), with the env it needs (``make_env_for``), and loads saved ones
(``load_agent``); the SB3 agents are imported only when used.
"""

from edgecloud_agents.base import Agent
from edgecloud_agents.heuristics import LeastLoaded, RandomAgent, ReactiveThreshold, Static
from edgecloud_agents.registry import AGENTS, load_agent, make_agent, make_env_for

__all__ = [
    "AGENTS",
    "Agent",
    "LeastLoaded",
    "RandomAgent",
    "ReactiveThreshold",
    "Static",
    "load_agent",
    "make_agent",
    "make_env_for",
]
