"""The agent zoo: the protocol on every allocation id, save/load, the oracle's bound, bad input."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import edgecloud_gym
from edgecloud_agents.oracle import EpisodeLP, Oracle, oracle_bound, solve_episode
from edgecloud_gym import EdgeCloudConfig, EdgeCloudEnv, RewardWeights, Topology

# ---------------------------------------------------------------------------- helpers


def _rollout(sim, rng: np.random.Generator, kind: str):
    """Play one episode of the simulator with a random share policy; return the env's cost and
    the per-step arrays the oracle LP's point needs."""
    steps, s = sim.episode_steps, sim.n_servers
    rec = {k: np.zeros((steps, s)) for k in ("inflow", "processed", "dropped", "backlog")}
    backhaul = np.zeros(steps)
    cost = 0.0
    x = sim.params.static_shares.copy()
    for t in range(steps):
        if kind == "uniform":
            x = rng.random((1, s)) + 1e-9
        elif kind == "sparse":  # mostly one server: heavy queues and drops
            x = np.eye(s)[[rng.integers(s)]] * 0.98 + 0.02 / s
        elif kind == "walk":
            x = np.abs(x + rng.normal(0.0, 0.05, (1, s))) + 1e-6
        x = x / x.sum()
        reward, metrics, res = sim.step(x)
        cost -= float(reward[0])
        for key in rec:
            rec[key][t] = getattr(res, key)[0]
        backhaul[t] = metrics[0, 11]
    return cost, rec, backhaul


RELAXATION_CASES = {
    "default-high": ({}, "high"),
    "default-failed-node": ({}, "failed-node"),
    "default-flash": ({}, "flash-crowds"),
    "one-node": ({"topology": Topology(edge_cores=(8,))}, "high"),
    "two-nodes-tight": (
        {"topology": Topology(edge_cores=(4, 16), cloud_cores=20, wan_gbps=0.2, backhaul_gbps=0.3)},
        "high",
    ),
    "short-timeout": ({"timeout_ms": 120.0}, "high"),
    "sla-and-energy-heavy": (
        {"reward": RewardWeights(latency=0.2, sla=5.0, drops=0.5, energy=3.0)},
        "medium",
    ),
}


# ---------------------------------------------------------------------------- oracle


@pytest.mark.parametrize("case", sorted(RELAXATION_CASES))
@pytest.mark.parametrize("kind", ["uniform", "sparse", "walk"])
def test_oracle_relaxation_holds_on_env_trajectories(case, kind):
    """Every env trajectory is a feasible LP point whose LP cost is at most the env's cost,
    and the LP optimum is at most that: the bound's two halves, checked separately."""
    config, task = RELAXATION_CASES[case]
    env = EdgeCloudEnv(
        task=task, config=EdgeCloudConfig(**config), forecaster="none", episode_steps=60
    )
    for seed in range(2):
        env.reset(seed=seed)
        lp = EpisodeLP(env.sim)
        optimum, _ = lp.solve()
        cost, rec, backhaul = _rollout(env.sim, np.random.default_rng(seed), kind)
        x = lp.point(rec["inflow"], rec["processed"], rec["dropped"], rec["backlog"], backhaul)
        flat = x.ravel()
        tol = 1e-6 * max(1.0, np.abs(lp.b_eq).max())
        assert np.abs(lp.A_eq @ flat - lp.b_eq).max() <= tol
        assert (lp.A_ub @ flat - lp.b_ub).max() <= tol
        assert np.all(flat >= lp.bounds[:, 0] - tol) and np.all(flat <= lp.bounds[:, 1] + tol)
        relaxed = lp.cost_of(x)
        assert relaxed <= cost + 1e-9 * abs(cost)
        assert optimum <= relaxed + 1e-6 * abs(relaxed)


def test_oracle_is_near_its_bound_where_queues_stay_short():
    """On the Low profile the relaxations barely bind: the Oracle agent's return is within 1 %
    of the bound (a looser LP, or shares that don't realise the plan, would show here)."""
    env = gym.make("EdgeCloud-Low-v0", action_mode="continuous", forecaster="none")
    agent = Oracle(env)
    obs, _ = env.reset(seed=4)
    bound = oracle_bound(env)
    total, done = 0.0, False
    while not done:
        obs, reward, _, done, _ = env.step(agent.predict(obs))
        total += reward
    assert total <= bound + 1e-6 * abs(bound)
    assert total >= bound - 0.01 * abs(bound)


def test_oracle_plan_is_deterministic_and_fast():
    env = gym.make("EdgeCloud-High-v0", forecaster="none")
    env.reset(seed=1)
    a, b = solve_episode(env), solve_episode(env)
    assert a.value == b.value and np.array_equal(a.shares, b.shares)
    assert a.shares.shape == (200, 7)
    np.testing.assert_allclose(a.shares.sum(axis=1), 1.0)
    assert a.solve_s < 10.0


def test_oracle_bound_of_a_batch_needs_an_index():
    from edgecloud_gym.core.simulator import BatchSimulator
    from edgecloud_gym.tasks import HIGH, LOW

    sim = BatchSimulator(EdgeCloudConfig(), [LOW, HIGH], forecaster="none", episode_steps=30)
    sim.reset([np.random.default_rng(0), np.random.default_rng(1)])
    with pytest.raises(ValueError, match="index="):
        oracle_bound(sim)
    assert oracle_bound(sim, index=1) < oracle_bound(sim, index=0)


def test_oracle_rejects_discrete_envs_and_foreign_observations():
    with pytest.raises(ValueError, match="action_mode='continuous'"):
        Oracle(gym.make("EdgeCloud-Low-v0", forecaster="none"))
    env = gym.make("EdgeCloud-Low-v0", action_mode="continuous", forecaster="none")
    agent = Oracle(env)
    obs, _ = env.reset(seed=0)
    d = obs.shape[0]
    with pytest.raises(ValueError, match=rf"shape \({d},\) or \(B, {d}\), got \({d - 1},\)"):
        agent.predict(obs[:-1])
    other = gym.make("EdgeCloud-Low-v0", action_mode="continuous", forecaster="none")
    foreign, _ = other.reset(seed=99)
    with pytest.raises(ValueError, match="not the current observation"):
        agent.predict(foreign)
    with pytest.raises(TypeError, match="EdgeCloud allocation env"):
        oracle_bound(gym.make("CartPole-v1"))


def test_oracle_needs_a_reset_episode():
    env = EdgeCloudEnv(task="low", forecaster="none", action_mode="continuous")
    with pytest.raises(RuntimeError, match="reset"):
        oracle_bound(env)
    assert edgecloud_gym.ALLOCATION_IDS  # the ids the zoo tests loop over
