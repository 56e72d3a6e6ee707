"""Model-predictive control (``mpc``): exact search, forecasts, errors, files."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import edgecloud_gym  # noqa: F401
from edgecloud_agents.heuristics import Static
from edgecloud_agents.mpc import MPCAgent
from edgecloud_agents.registry import load_agent, make_agent
from edgecloud_bench.evaluation import evaluate
from edgecloud_gym.core import dynamics


def _returns(agent, env, seeds):
    return np.array([e["return"] for e in evaluate(agent, env, None, seeds)])


def test_one_step_plan_is_the_best_action_on_the_model():
    env = gym.make("EdgeCloud-High-v0", forecaster="none")
    obs, _ = env.reset(seed=3)
    agent = MPCAgent(env, horizon=1, forecaster="clairvoyant")
    sim = env.unwrapped.sim
    for _ in range(15):
        chosen = agent.predict(obs)
        arrivals = sim.workload.arrivals[:, sim.config.warmup_steps + int(sim.t[0])]
        rewards = []
        for a in range(sim.actions.n):
            shares = sim.actions.apply(sim.shares, np.array([a]))
            rewards.append(
                dynamics.step(sim.params, sim.backlog, shares, arrivals, sim.queue_state).reward[0]
            )
        assert rewards[chosen] == pytest.approx(max(rewards), abs=1e-12)
        # clairvoyant one-step planning gets exactly the reward it planned
        obs, reward, _, _, _ = env.step(chosen)
        assert reward == pytest.approx(max(rewards), abs=1e-12)


def test_true_rates_plan_better_than_naive_forecasts_and_naive_beats_static():
    env = gym.make("EdgeCloud-High-v0", forecaster="none")
    seeds = list(range(4))
    static = _returns(Static(env), env, seeds)
    naive = _returns(MPCAgent(env, forecaster="naive"), env, seeds)
    oracle = _returns(MPCAgent(env, forecaster="oracle"), env, seeds)
    # paired by seed: every episode, and on average by a margin (returns are about -200)
    assert np.all(oracle > naive) and (oracle - naive).mean() > 5.0
    assert np.all(naive > static) and (naive - static).mean() > 5.0


def test_longer_horizon_and_forecasters_act_in_the_action_space():
    env = gym.make("EdgeCloud-Medium-v0", forecaster="none")
    for forecaster in ("ewma", "seasonal", "lstm"):
        agent = MPCAgent(env, horizon=2, forecaster=forecaster)
        obs, _ = env.reset(seed=0)
        for _ in range(5):
            action = agent.predict(obs)
            assert env.action_space.contains(action)
            obs, *_ = env.step(action)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"horizon": 0}, "horizon must be an integer >= 1"),
        ({"horizon": 4}, "use horizon <= 3"),
        ({"forecaster": "prophet"}, "forecaster must be one of"),
        ({"discount": 0.0}, "discount must be in"),
    ],
)
def test_bad_settings_say_the_fix(kwargs, message):
    env = gym.make("EdgeCloud-Low-v0", forecaster="none")
    with pytest.raises(ValueError, match=message):
        MPCAgent(env, **kwargs)


def test_refuses_other_envs_and_batches():
    with pytest.raises(ValueError, match="action_mode='discrete' \\(the default\\) or 'weights'"):
        MPCAgent(gym.make("EdgeCloud-Low-v0", forecaster="none", action_mode="continuous"))
    with pytest.raises(TypeError, match="allocation env"):
        MPCAgent(gym.make("CartPole-v1"))
    env = gym.make("EdgeCloud-Low-v0", forecaster="none")
    obs, _ = env.reset(seed=0)
    with pytest.raises(ValueError, match="one env at a time"):
        MPCAgent(env).predict(np.stack([obs, obs]))


def test_registry_builds_saves_and_loads_it(tmp_path):
    agent = make_agent("mpc", "EdgeCloud-Low-v0", horizon=2, forecaster="oracle")
    assert isinstance(agent, MPCAgent)
    agent.save(tmp_path / "mpc.agent")
    env = gym.make("EdgeCloud-Low-v0", forecaster="none")
    back = load_agent(tmp_path / "mpc.agent", env=env, agent="mpc")
    assert (back.horizon, back.forecaster, back.discount) == (2, "oracle", 1.0)


def test_shares_planner_is_never_worse_on_the_model_than_its_fixed_candidates():
    env = gym.make("EdgeCloud-High-v0", forecaster="none", action_mode="weights")
    obs, _ = env.reset(seed=4)
    agent = MPCAgent(env, forecaster="clairvoyant", samples=16, iterations=2)
    sim = env.unwrapped.sim
    for _ in range(10):
        weights = agent.predict(obs)
        assert env.action_space.contains(weights)
        arrivals = sim.workload.arrivals[:, sim.config.warmup_steps + int(sim.t[0])]
        local = np.append(arrivals[0] / arrivals[0].sum(), 0.0)[None]

        def reward(shares, arrivals=arrivals):
            return dynamics.step(sim.params, sim.backlog, shares, arrivals, sim.queue_state).reward[
                0
            ]

        chosen = reward((weights / weights.sum())[None].astype(np.float64))
        for fixed in (sim.shares, sim.params.static_shares, local):
            assert chosen >= reward(fixed) - 1e-6
        obs, *_ = env.step(weights)


def test_shares_planner_is_seeded():
    def actions(seed):
        # High: overloaded nodes make the sampled plans beat the fixed candidates
        env = gym.make("EdgeCloud-High-v0", forecaster="none", action_mode="weights")
        obs, _ = env.reset(seed=0)
        agent = MPCAgent(env, samples=8, iterations=2, seed=seed)
        out = []
        for _ in range(3):
            out.append(agent.predict(obs))
            obs, *_ = env.step(out[-1])
        return np.array(out)

    np.testing.assert_array_equal(actions(1), actions(1))
    assert not np.array_equal(actions(1), actions(2))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"samples": 2}, "samples must be an integer >= 4"), ({"elite": 0.9}, "elite must be in")],
)
def test_bad_search_settings_say_the_fix(kwargs, message):
    env = gym.make("EdgeCloud-Low-v0", forecaster="none", action_mode="weights")
    with pytest.raises(ValueError, match=message):
        MPCAgent(env, **kwargs)
