"""The per-step relaxation bound (agents/step_bound.py): it holds step by step on env
trajectories, its decomposition is the env's reward, and it is refused where it doesn't apply."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import edgecloud_gym  # noqa: F401 - registers the ids
from edgecloud_agents.registry import make_agent
from edgecloud_agents.step_bound import _one_system, _step_cost, _tables, step_bound
from edgecloud_gym import EdgeCloudEnv

CELLS = 300  # coarser than the default: a looser bound, still a bound, and fast


def _rewards(env, policy, seed):
    obs, _ = env.reset(seed=seed)
    bound = step_bound(env, cells=CELLS)
    rewards = []
    while True:
        obs, reward, terminated, truncated, _ = env.step(policy(obs))
        rewards.append(reward)
        if terminated or truncated:
            return np.array(rewards), bound


@pytest.mark.parametrize(
    ("task", "autoscaler"), [("high", None), ("low", None), ("high", False), ("flash-crowds", None)]
)
def test_no_step_of_any_policy_beats_its_bound(task, autoscaler):
    """Random shares, static and the tuned local-first rule: every step's reward is at most the
    bound's for that step, from whatever state the policy left (the relaxation's point)."""
    env = EdgeCloudEnv(task=task, forecaster="none", action_mode="weights",
                       autoscaler=autoscaler, episode_steps=80)  # fmt: skip
    rng = np.random.default_rng(0)
    rule = make_agent("local-first", env)
    static = env.sim.params.static_shares[0].astype(np.float32)
    policies = {
        "random": lambda obs: rng.dirichlet(np.full(7, 0.3)).astype(np.float32),
        "static": lambda obs: static,
        "local-first": rule.predict,
    }
    for name, policy in policies.items():
        rewards, bound = _rewards(env, policy, seed=3)
        assert bound.per_step.shape == rewards.shape
        excess = rewards - bound.per_step
        assert excess.max() <= 1e-9, (name, int(excess.argmax()), excess.max())
        assert bound.total == pytest.approx(bound.per_step.sum())


def test_mpc_and_discrete_moves_stay_below_the_bound():
    env = gym.make("EdgeCloud-High-v0", forecaster="none", episode_steps=60)
    agent = make_agent("mpc-clairvoyant", env)
    rewards, bound = _rewards(env, agent.predict, seed=1)
    assert np.all(rewards <= bound.per_step + 1e-9)
    assert rewards.sum() <= bound.total


def test_the_tables_add_up_to_the_envs_reward():
    """A first step (empty queues, every core on) that keeps each node's arrivals local is one
    point of the relaxation: the servers' tabulated costs at their inflows add up to the env's
    reward, so the decomposition is the reward's."""
    env = EdgeCloudEnv(task="medium", forecaster="none", action_mode="weights", autoscaler=False)
    env.reset(seed=2)
    sim = env.sim
    params = _one_system(sim.params, 0)
    arrivals = sim.workload.arrivals[0, sim.config.warmup_steps]
    _, reward, *_ = env.step(np.append(arrivals / arrivals.sum(), 0.0).astype(np.float32))
    grid = np.append(np.sort(arrivals), arrivals.max() + 1.0)
    tables = _tables(sim, params, grid)
    c = params.consts
    w_lat, w_sla, w_drop = c[2] / 100.0, c[3], c[4]
    w_e = c[5] / params.scal[0, 2]
    total = arrivals.sum()
    cost = 0.0
    for j, a in enumerate([*arrivals, 0.0]):
        i = int(np.searchsorted(grid, a)) if a > 0 else None
        if i is None:  # the cloud, idle
            zero = _tables(sim, params, np.array([0.0, 1.0]))
            cost += w_e * zero.energy[j, 0, 0]
            continue
        cost += (w_lat * tables.latency_sum[j, 0, i] + w_sla * tables.late[j, 0, i]
                 + w_drop * tables.failed[j, 0, i]) / total + w_e * tables.energy[j, 0, i]  # fmt: skip
    assert -cost == pytest.approx(reward, rel=1e-7)  # float32 shares move a few requests


def test_one_step_bound_is_at_least_the_best_of_many_actions():
    """The relaxed step's value is at least what any of many share vectors gets from the same
    empty first state."""
    env = EdgeCloudEnv(task="high", forecaster="none", action_mode="weights")
    env.reset(seed=5)
    sim = env.sim
    params = _one_system(sim.params, 0)
    arrivals = sim.workload.arrivals[0, sim.config.warmup_steps]
    tables = _tables(sim, params, np.linspace(0.0, arrivals.sum(), 2001))
    bound = -_step_cost(tables, params, arrivals, CELLS)
    rng = np.random.default_rng(0)
    best = -np.inf
    for _ in range(40):
        env.reset(seed=5)
        _, reward, *_ = env.step(rng.dirichlet(np.ones(7)).astype(np.float32))
        best = max(best, reward)
    assert best <= bound


def test_low_bound_is_tight():
    """On Low, where queues stay short, the bound is within 10 % of clairvoyant MPC (a looser
    bound would mean a relaxation gone slack)."""
    env = gym.make("EdgeCloud-Low-v0", forecaster="none", episode_steps=60)
    agent = make_agent("mpc-clairvoyant", env)
    rewards, bound = _rewards(env, agent.predict, seed=0)
    assert bound.total >= rewards.sum()
    assert bound.total - rewards.sum() <= 0.10 * abs(rewards.sum())


def test_bad_requests_are_refused():
    env = gym.make("EdgeCloud-Low-v0", forecaster="none")
    with pytest.raises(ValueError, match="reset the env"):
        step_bound(env)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="cells must be"):
        step_bound(env, cells=2)
    vec = gym.make_vec("EdgeCloud-Low-v0", num_envs=2, vectorization_mode="vector_entry_point",
                       forecaster="none")  # fmt: skip
    vec.reset(seed=0)
    with pytest.raises(ValueError, match="pass index="):
        step_bound(vec)
    assert step_bound(vec, index=1, cells=CELLS).per_step.shape == (200,)
