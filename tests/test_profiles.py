"""The profiles matter: Low idles the edge, High overloads nodes in bursts, and a least-loaded
policy beats the static allocation on High."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from edgecloud_agents import LeastLoaded, Static

SEEDS = range(3)


def _episode(env_id: str, agent_cls, seed: int):
    env = gym.make(env_id)
    obs, _ = env.reset(seed=seed)
    agent = agent_cls(env)
    total, infos, max_backlog = 0.0, [], 0.0
    sim = env.unwrapped.sim
    while True:
        obs, reward, _, truncated, info = env.step(agent.predict(obs))
        total += reward
        infos.append(info)
        max_backlog = max(max_backlog, float(sim.backlog[0, :-1].max()))
        if truncated:
            return total, infos, max_backlog


def _mean(infos, key):
    return float(np.mean([i[key] for i in infos]))


def test_low_leaves_edge_mostly_idle_under_static():
    """Low's work fills little of the installed capacity; the autoscaler switches the idle
    cores off, so utilisation over active capacity is well above it."""
    for seed in SEEDS:
        _, infos, _ = _episode("EdgeCloud-Low-v0", Static, seed)
        assert _mean(infos, "utilisation_installed") < 0.2
        assert _mean(infos, "utilisation_edge") > 1.5 * _mean(infos, "utilisation_installed")


def test_high_overloads_nodes_under_static():
    low_sla, high_sla = [], []
    for seed in SEEDS:
        _, low, _ = _episode("EdgeCloud-Low-v0", Static, seed)
        _, high, backlog = _episode("EdgeCloud-High-v0", Static, seed)
        assert backlog > 0  # queues build up at some edge node
        assert sum(i["dropped"] for i in high) > 0  # and buffers overflow during bursts
        low_sla.append(_mean(low, "sla_violation_rate"))
        high_sla.append(_mean(high, "sla_violation_rate"))
    assert np.mean(high_sla) > np.mean(low_sla)


@pytest.mark.parametrize("env_id", ["EdgeCloud-High-v0"])
def test_least_loaded_beats_static_on_high(env_id):
    static = [_episode(env_id, Static, s)[0] for s in SEEDS]
    least = [_episode(env_id, LeastLoaded, s)[0] for s in SEEDS]
    assert np.mean(least) > np.mean(static)
