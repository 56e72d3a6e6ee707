"""Joint control: MPC over shares, capacity and DVFS; the autoscaled rules; ``bench joint``."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import edgecloud_gym
from edgecloud_agents.mpc import MPCAgent
from edgecloud_agents.registry import load_agent, make_agent, make_env_for
from edgecloud_bench.evaluation import evaluate
from edgecloud_gym.core import dynamics
from edgecloud_gym.core.capacity import (
    CapacityState,
    advance_boot,
    controlled_params,
    request_capacity,
)

JOINT_IDS = [i for i, kw in edgecloud_gym.ALLOCATION_IDS.items() if kw.get("control") == "joint"]


def _joint_env(env_id: str = "EdgeCloud-Joint-High-v0", seed: int = 0, **kwargs):
    env = gym.make(env_id, forecaster="none", action_mode="weights", **kwargs)
    obs, _ = env.reset(seed=seed)
    return env, obs


def _keep_value(sim, arrivals: np.ndarray) -> float:
    """Model return of keeping the current shares and levels over the planned arrivals (H, N),
    by the env's step sequence on copies of its state."""
    cap = sim.config.capacity
    state = CapacityState(*(x.copy() for x in sim.capacity))
    levels, clocks = state.target.copy(), state.frequency.copy()
    backlog, queue, total = sim.backlog, sim.queue_state, 0.0
    for h in range(arrivals.shape[0]):
        request_capacity(state, levels, clocks, cap)
        p = controlled_params(sim.params, state, cap)
        res = dynamics.step(p, backlog, sim.shares, arrivals[h][None], queue)
        advance_boot(state)
        total += float(res.reward[0])
        backlog, queue = res.backlog, res.queue_state
    return total


def test_joint_mpc_acts_in_the_action_space_and_is_seeded():
    def actions(seed):
        env, obs = _joint_env()
        agent = MPCAgent(env, horizon=3, samples=8, iterations=2, seed=seed)
        out = []
        for _ in range(4):
            out.append(agent.predict(obs))
            assert env.action_space.contains(out[-1])
            obs, *_ = env.step(out[-1])
        return np.array(out)

    np.testing.assert_array_equal(actions(1), actions(1))
    assert not np.array_equal(actions(1), actions(2))


def test_joint_plan_is_never_worse_on_the_model_than_keeping_the_levels():
    env, obs = _joint_env(seed=4)
    sim = env.unwrapped.sim
    agent = MPCAgent(env, horizon=6, forecaster="clairvoyant", samples=8, iterations=2)
    changed = False
    for _ in range(12):
        k = sim.config.warmup_steps + int(sim.t[0])
        arrivals = sim.workload.arrivals[0, k : k + 6]
        before = sim.capacity.target.copy()
        weights = agent.predict(obs)
        keep = _keep_value(sim, arrivals)
        assert agent.fixed_values["current/keep"] == pytest.approx(keep, rel=1e-12, abs=1e-12)
        assert agent.plan_value >= keep - 1e-9
        assert agent.plan_value >= max(agent.fixed_values.values()) - 1e-12
        obs, *_ = env.step(weights)
        changed |= not np.array_equal(sim.capacity.target, before)
    assert changed  # the plan does move the levels


def test_joint_mpc_pays_the_boot_delay_in_its_plan():
    """Clairvoyant one-step plans never boot cores (they pay and cannot serve within one step)."""
    env, obs = _joint_env("EdgeCloud-Joint-Medium-v0", seed=1)
    sim = env.unwrapped.sim
    agent = MPCAgent(env, horizon=1, forecaster="clairvoyant", samples=8, iterations=2)
    for _ in range(20):
        level = sim.capacity.level.copy()
        obs, *_ = env.step(agent.predict(obs))
        assert np.all(sim.capacity.target <= level)


@pytest.mark.parametrize("mode", ["discrete", "continuous"])
def test_joint_mpc_needs_the_weights_mode(mode):
    env = gym.make("EdgeCloud-Joint-Low-v0", forecaster="none", action_mode=mode)
    with pytest.raises(ValueError, match="action_mode='weights'"):
        MPCAgent(env)


def test_registry_gives_the_joint_agents_weights_envs(tmp_path):
    env = make_env_for("mpc", "EdgeCloud-Joint-Low-v0")
    assert env.unwrapped.sim.action_mode == "weights"
    agent = make_agent("mpc", env, horizon=2, samples=4, iterations=1)
    assert agent.joint
    agent.save(tmp_path / "mpc.agent")
    assert load_agent(tmp_path / "mpc.agent", env).joint
    assert make_env_for("mpc", "EdgeCloud-Low-v0").unwrapped.sim.action_mode == "discrete"
    routing = make_env_for("autoscale", "EdgeCloud-Low-v0").unwrapped.sim
    assert routing.autoscaler and routing.action_mode == "weights"


@pytest.mark.parametrize("name", ["autoscale", "local-first-autoscale"])
@pytest.mark.parametrize("env_id", JOINT_IDS)
def test_autoscaled_rules_play_the_joint_ids(name, env_id, tmp_path):
    env = make_env_for(name, env_id, episode_steps=40)
    agent = make_agent(name, env)
    obs, _ = env.reset(seed=0)
    done = False
    while not done:
        action = agent.predict(obs)
        assert env.action_space.contains(action)
        s = env.unwrapped.sim.n_servers
        assert np.all(action[2 * s : 3 * s] == 1.0)  # nominal clock
        obs, _, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
    agent.save(tmp_path / "a.agent")
    assert load_agent(tmp_path / "a.agent", env).name == name


@pytest.mark.parametrize("name", ["autoscale", "local-first-autoscale"])
def test_autoscaled_rules_match_the_built_in_autoscaler(name):
    """The agent's autoscaler in joint control plays what the env's own one plays."""
    env = make_env_for(name, "EdgeCloud-Joint-High-v0", episode_steps=80)
    # the env's target, not the tuned one the joint id ships; the same threshold on both sides
    params = {"target_utilisation": 0.7} | ({"threshold": 0.7} if name != "autoscale" else {})
    ours = evaluate(make_agent(name, env, **params), env, None, [3])[0]
    builtin = gym.make(
        "EdgeCloud-v0",
        task="joint-high",
        autoscaler=True,
        action_mode="weights",
        forecaster="none",
        episode_steps=80,
    )
    routing = {k: v for k, v in params.items() if k != "target_utilisation"}
    theirs = evaluate(make_agent(name, builtin, **routing), builtin, None, [3])[0]
    assert ours["return"] == pytest.approx(theirs["return"], rel=1e-12)
    assert ours["utilisation"] < 1.0 and ours["utilisation_installed"] < ours["utilisation"]


def test_bench_joint_writes_its_page_on_a_tiny_run(tmp_path):
    from edgecloud_bench.joint import run_joint, write_joint

    envs = ("EdgeCloud-Joint-Low-v0", "EdgeCloud-Joint-High-v0")
    data = run_joint(envs, [0], samples=4, iterations=1, episode_steps=8, progress=False)
    assert data["horizon"] == 8
    text = write_joint(tmp_path, data, "tiny")
    assert (tmp_path / "joint.md").read_text() == text
    for part in ("## EdgeCloud-Joint-High-v0", "(a) Levers matter", "(b) Planning matters",
                 "(c) Forecasts matter", "mpc-clairvoyant`*`", "## Bound"):  # fmt: skip
        assert part in text
    rows = (tmp_path / "joint.csv").read_text().splitlines()
    assert rows[0].startswith("env,policy,seed,return")
    assert len(rows) == 1 + 2 * 9  # two profiles, eight policies and the bound, one episode each
    # the bound is above every policy's return on its episode (run_joint raises otherwise)
    for env_id in envs:
        bound = data["bounds"][env_id][0]
        assert all(r["episodes"][0]["return"] <= bound for r in data["runs"][env_id].values())


def test_the_joint_bound_holds_step_by_step():
    """The joint-control relaxation (each class split alone, rejection as a way out) bounds every
    step of random moves, the autoscaled rules and clairvoyant MPC, on a loaded profile."""
    from edgecloud_agents.step_bound import step_bound

    env_id = "EdgeCloud-Joint-High-v0"
    rng = np.random.default_rng(0)
    discrete = gym.make(env_id, forecaster="none", episode_steps=40)
    weights = gym.make(env_id, forecaster="none", action_mode="weights", episode_steps=40)
    policies = {
        "random": (discrete, lambda obs: int(rng.integers(discrete.action_space.n))),
        "local-first-autoscale": (weights, make_agent("local-first-autoscale", weights).predict),
        "mpc-clairvoyant": (weights, make_agent("mpc-clairvoyant", weights, samples=16).predict),
    }
    for name, (env, policy) in policies.items():
        obs, _ = env.reset(seed=2)
        bound = step_bound(env, cells=200)
        rewards = []
        done = False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(policy(obs))
            rewards.append(reward)
            done = terminated or truncated
        excess = np.array(rewards) - bound.per_step
        assert excess.max() <= 1e-9, (name, int(excess.argmax()), excess.max())


def test_bench_joint_refuses_routing_ids(tmp_path, capsys):
    from edgecloud_bench.cli import main

    assert main(["bench", "joint", "--out", str(tmp_path), "--env", "EdgeCloud-Low-v0"]) == 2
    assert "not a joint-control id" in capsys.readouterr().err


def test_the_joint_control_example_runs_and_refuses_a_routing_id(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "joint_control.py"
    spec = importlib.util.spec_from_file_location("joint_control_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    assert example.main(["--env", "EdgeCloud-Joint-Low-v0", "--episodes", "1", "--steps", "6"]) == 0
    out = capsys.readouterr().out
    assert "local-first-autoscale" in out and "utilisation_installed" in out
    with pytest.raises(SystemExit):
        example.main(["--env", "EdgeCloud-High-v0"])
    assert "joint-control id" in capsys.readouterr().err
