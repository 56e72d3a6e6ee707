"""Stable-Baselines3 PPO behind the agent protocol: a second reactive-RL reference.

The same 3 x 128 hidden layers as the DQN (shared by the policy and the value function), trained
by SB3's :class:`~stable_baselines3.PPO` unchanged, without forecasts, on an allocation env in the
discrete action mode (``"ppo"``) or the continuous one (``"ppo-continuous"``: the softmax-centred
box of ``docs/environment.md`` §4), so that "reactive RL" is not one algorithm's tuning. Its
hyperparameters are ``hyperparams/ppo.yml`` in rl_zoo3's format, keyed by env id, which
``python -m rl_zoo3.train --algo ppo -conf edgecloud_agents.hyperparams.ppo`` also reads.

    >>> from edgecloud_agents.registry import make_agent
    >>> agent = make_agent("ppo", "EdgeCloud-Low-v0")
    >>> agent.learn(4_096).save("ppo-low.zip")  # doctest: +SKIP

Saving and loading work as for the DQN (:class:`~edgecloud_agents.sb3_agent.SB3Agent`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from stable_baselines3 import PPO

from edgecloud_agents.sb3_agent import SB3Agent

__all__ = ["VARIANTS", "PPOAgent"]


class PPOAgent(SB3Agent):
    """SB3 PPO on an allocation env, meeting :class:`~edgecloud_agents.base.Agent`: ``"ppo"``
    (discrete action mode) or ``"ppo-continuous"`` (continuous); arguments as
    :class:`~edgecloud_agents.sb3_agent.SB3Agent`."""

    algorithm: ClassVar[Any] = PPO
    variants: ClassVar[dict[str, tuple[str, str]]] = {
        "ppo": ("ppo", "discrete"),
        "ppo-continuous": ("ppo", "box"),
    }


#: The agent names this module serves and their action space kinds.
VARIANTS: dict[str, str] = {name: kind for name, (_, kind) in PPOAgent.variants.items()}
