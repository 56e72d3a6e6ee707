"""The agent zoo (installed as ``edgecloud_agents``).

Every agent meets :class:`~edgecloud_agents.base.Agent` (predict, learn, save, load), so the
evaluation harness depends on no agent's internals.
"""

from edgecloud_agents.base import Agent
from edgecloud_agents.heuristics import LeastLoaded, RandomAgent, ReactiveThreshold, Static

__all__ = ["Agent", "LeastLoaded", "RandomAgent", "ReactiveThreshold", "Static"]
