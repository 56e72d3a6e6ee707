"""The agent zoo: the protocol on every allocation id, save/load, the oracle's bound, bad input."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import edgecloud_gym
from edgecloud_agents import Agent
from edgecloud_agents.dqn import DQNAgent, load_hyperparams
from edgecloud_agents.lp_bound import BOUNDED_MODEL
from edgecloud_agents.oracle import EpisodeLP, Oracle, oracle_bound, solve_episode
from edgecloud_agents.registry import AGENTS, agent_names, load_agent, make_agent, make_env_for
from edgecloud_gym import EdgeCloudConfig, EdgeCloudEnv, RewardWeights, Topology
from edgecloud_gym.core.dynamics import METRIC_COLUMNS
from edgecloud_gym.model_version import MODEL_VERSION

ALLOCATION_AGENTS = agent_names("allocation")
#: The zoo's allocation agents act on the shares: the ids with routing control.
ROUTING_IDS = [i for i, kw in edgecloud_gym.ALLOCATION_IDS.items() if kw.get("control") != "joint"]

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
        backhaul[t] = metrics[0, METRIC_COLUMNS["backhaul_requests"]]
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


@pytest.mark.skipif(
    MODEL_VERSION != BOUNDED_MODEL,
    reason="the episode LP relaxes model v0; since model v1 it is not a bound (docs/lp_bound.md)",
)
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


@pytest.mark.skipif(
    MODEL_VERSION != BOUNDED_MODEL,
    reason="the episode LP relaxes model v0; since model v1 it is not a bound (docs/lp_bound.md)",
)
def test_oracle_is_near_its_bound_where_queues_stay_short():
    """On the Low profile the relaxations barely bind: the Oracle agent's return is within 1 %
    of the bound (a looser LP, or shares that don't realise the plan, would show here)."""
    env = gym.make("EdgeCloud-Low-v0", action_mode="weights", forecaster="none")
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
    with pytest.raises(ValueError, match="action_mode='weights'"):
        Oracle(gym.make("EdgeCloud-Low-v0", forecaster="none"))
    env = gym.make("EdgeCloud-Low-v0", action_mode="weights", forecaster="none")
    agent = Oracle(env)
    obs, _ = env.reset(seed=0)
    d = obs.shape[0]
    with pytest.raises(ValueError, match=rf"shape \({d},\) or \(B, {d}\), got \({d - 1},\)"):
        agent.predict(obs[:-1])
    other = gym.make("EdgeCloud-Low-v0", action_mode="weights", forecaster="none")
    foreign, _ = other.reset(seed=99)
    with pytest.raises(ValueError, match="not the current observation"):
        agent.predict(foreign)
    with pytest.raises(TypeError, match="EdgeCloud allocation env"):
        oracle_bound(gym.make("CartPole-v1"))


def test_oracle_needs_a_reset_episode():
    env = EdgeCloudEnv(task="low", forecaster="none", action_mode="weights")
    with pytest.raises(RuntimeError, match="reset"):
        oracle_bound(env)
    assert edgecloud_gym.ALLOCATION_IDS  # the ids the zoo tests loop over


# ---------------------------------------------------------------------------- the zoo

TINY_DQN = {"learning_starts": 100, "buffer_size": 2_000}
TINY_PPO = {"n_steps": 64, "batch_size": 32, "n_epochs": 2}


def _make(name: str, env_id: str, seed: int = 0):
    """An agent of the zoo and its env; the DQN with forecasts uses the naive forecaster here
    (fast, and independent of the shipped LSTM weights, tested elsewhere)."""
    env_kwargs = {"forecaster": "naive"} if name == "dqn-forecast" else {}
    env = make_env_for(name, env_id, seed, **env_kwargs)
    kwargs = {}
    if AGENTS[name].learns:
        kwargs = dict(TINY_PPO) if name.startswith("ppo") else dict(TINY_DQN)
    return make_agent(name, env, seed=seed, **kwargs), env


def _play(agent, env, seed: int) -> float:
    obs, _ = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(agent.predict(obs))
        total += reward
        done = terminated or truncated
    return total


@pytest.mark.parametrize("env_id", sorted(ROUTING_IDS))
@pytest.mark.parametrize("name", ALLOCATION_AGENTS)
def test_every_agent_meets_the_protocol(name, env_id, tmp_path):
    agent, env = _make(name, env_id)
    assert isinstance(agent, Agent)
    assert agent.name == name
    assert agent.learn(300) is agent
    obs, _ = env.reset(seed=5)
    single = agent.predict(obs)
    assert env.action_space.contains(np.asarray(single, dtype=env.action_space.dtype))
    if name not in ("oracle", "mpc", "mpc-clairvoyant"):  # the planners act on their env's state
        batch = agent.predict(np.stack([obs, obs, obs]))
        assert np.asarray(batch).shape[0] == 3
    env.step(single)
    path = tmp_path / "agent.zip"
    agent.save(path)
    assert load_agent(path, env).name == name


@pytest.mark.parametrize("name", ALLOCATION_AGENTS)
def test_save_load_round_trip_acts_identically(name, tmp_path):
    agent, env = _make(name, "EdgeCloud-High-v0", seed=2)
    agent.learn(300)
    path = tmp_path / "agent.zip"
    agent.save(path)
    loaded = load_agent(path, env)
    again, _ = _make(name, "EdgeCloud-High-v0", seed=2)  # a random agent restarts its stream
    reference = load_agent(path, env) if name == "random" else agent
    obs, _ = env.reset(seed=11)
    done = False
    while not done:
        a, b = reference.predict(obs), loaded.predict(obs)
        np.testing.assert_array_equal(a, b)
        obs, _, _, done, _ = env.step(a)
    assert again.name == loaded.name


def test_dqn_has_the_papers_q_network_and_the_files_hyperparameters():
    agent, _ = _make("dqn", "EdgeCloud-Low-v0")
    linear = [m for m in agent.model.q_net.q_net if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linear[:-1]] == [128, 128, 128]
    assert (
        agent.model.target_update_interval
        == load_hyperparams("EdgeCloud-Low-v0")["target_update_interval"]
    )
    assert agent.model.learning_starts == TINY_DQN["learning_starts"]  # the override
    assert agent.model.q_net_target is not None


def test_dqn_variants_differ_only_in_the_forecaster():
    for env_id in [*edgecloud_gym.ALLOCATION_IDS, "default"]:
        plain = load_hyperparams(env_id, "dqn")
        forecast = load_hyperparams(env_id, "dqn-forecast")
        assert plain.pop("env_kwargs") == {"forecaster": "none"}
        assert forecast.pop("env_kwargs")["forecaster"] not in ("none", None)
        assert plain == forecast
    assert make_env_for("dqn", "EdgeCloud-Low-v0").unwrapped.sim.horizon == 0
    assert make_env_for("dqn-forecast", "EdgeCloud-Low-v0").unwrapped.sim.horizon > 0


def test_dqn_learns_on_the_native_vector_env():
    agent = make_agent("dqn", "EdgeCloud-Low-v0", n_envs=3, **TINY_DQN)
    assert agent.model.n_envs == 3
    agent.learn(300)
    assert agent.model.num_timesteps >= 300


def test_dqn_passes_callbacks_and_writes_tensorboard(tmp_path):
    from stable_baselines3.common.callbacks import BaseCallback

    class Count(BaseCallback):
        calls = 0

        def _on_step(self) -> bool:
            Count.calls += 1
            return True

    env = make_env_for("dqn", "EdgeCloud-Low-v0")
    agent = make_agent("dqn", env, tensorboard_log=tmp_path, **TINY_DQN)
    agent.learn(250, callback=Count(), tb_log_name="run")
    assert Count.calls >= 250  # SB3 collects train_freq steps at a time
    assert list(tmp_path.glob("run_1/events.out.tfevents.*"))


SEEDS_AND_TASKS = [
    ("EdgeCloud-Low-v0", 0),
    ("EdgeCloud-Medium-v0", 1),
    ("EdgeCloud-High-v0", 2),
    ("EdgeCloud-Random-v0", 3),
]


@pytest.mark.skipif(
    MODEL_VERSION != BOUNDED_MODEL,
    reason="the episode LP relaxes model v0; since model v1 it is not a bound (docs/lp_bound.md)",
)
@pytest.mark.parametrize(("env_id", "seed"), SEEDS_AND_TASKS)
def test_no_agent_beats_the_oracle_bound(env_id, seed):
    """Every agent of the zoo, the Oracle and a tiny DQN included, on the same seeds and tasks."""
    bound = None
    returns = {}
    for name in ALLOCATION_AGENTS:
        agent, env = _make(name, env_id, seed)
        agent.learn(300)
        returns[name] = _play(agent, env, seed)
        here = oracle_bound(env)  # the same episode in every agent's env
        assert bound is None or here == pytest.approx(bound, rel=1e-9)
        bound = here
    assert all(np.isfinite(list(returns.values())))
    beaten = {k: v for k, v in returns.items() if v > bound + 1e-6 * abs(bound)}
    assert not beaten, f"bound {bound:.3f} beaten by {beaten}"
    assert returns["oracle"] >= returns["static"]


# ---------------------------------------------------------------------------- bad input


def test_unknown_names_suggest_the_closest():
    with pytest.raises(ValueError, match="Did you mean 'least-loaded'"):
        make_agent("least-loded", "EdgeCloud-Low-v0")
    with pytest.raises(ValueError, match="Did you mean 'dqn-forecast'"):
        make_env_for("dqn-forcast", "EdgeCloud-Low-v0")
    with pytest.raises(ValueError, match="Did you mean 'EdgeCloud-High-v0'"):
        make_env_for("dqn", "EdgeCloud-Hihg-v0")
    with pytest.raises(TypeError, match="Did you mean 'learning_rate'"):
        make_agent("dqn", "EdgeCloud-Low-v0", learnig_rate=1e-3)
    with pytest.raises(ValueError, match="n_envs must be a positive integer"):
        make_agent("dqn", "EdgeCloud-Low-v0", n_envs=0)
    with pytest.raises(TypeError, match="takes no parameters"):
        make_agent("oracle", "EdgeCloud-Low-v0", horizon=3)


@pytest.mark.parametrize("name", ["static", "dqn"])
def test_wrong_observation_shapes_are_refused(name):
    agent, env = _make(name, "EdgeCloud-Low-v0")
    d = env.observation_space.shape[0]
    for bad in (np.zeros(d + 1), np.zeros((2, d - 1)), np.zeros((1, 2, d))):
        with pytest.raises(ValueError, match=rf"shape \({d},\) or \(B, {d}\)"):
            agent.predict(bad)


def test_dqn_refuses_bad_budgets_and_non_discrete_envs():
    agent, _ = _make("dqn", "EdgeCloud-Low-v0")
    for bad in (0, -5, 2.5, True):
        with pytest.raises(ValueError, match="total_timesteps must be a positive integer"):
            agent.learn(bad)
    continuous = make_env_for("oracle", "EdgeCloud-Low-v0")
    with pytest.raises(ValueError, match="action_mode='discrete'"):
        DQNAgent(continuous)


def test_hyperparameter_files_refuse_unsupported_and_bad_entries(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("default:\n  policy: MlpPolicy\n  normalize: true\n")
    env = make_env_for("dqn", "EdgeCloud-Low-v0")
    with pytest.raises(ValueError, match="'normalize' is not supported"):
        DQNAgent(env, hyperparams=load_hyperparams("x", path=bad))
    bad.write_text("default:\n  policy_kwargs: \"__import__('os').system('true')\"\n")
    with pytest.raises(ValueError, match="must read 'dict"):
        load_hyperparams("x", path=bad)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_hyperparams("x", path=tmp_path / "absent.yml")
