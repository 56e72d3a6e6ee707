"""The zoo's PPO agents (agents/ppo.py): both action modes train, act in their space, save and
load to the same actions, refuse the wrong action mode, and run through the harness."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgecloud_agents.ppo import PPOAgent
from edgecloud_agents.registry import AGENTS, load_agent, make_agent, make_env_for
from edgecloud_bench.cli import main

TINY = {"n_steps": 64, "batch_size": 32, "n_epochs": 2}


@pytest.mark.parametrize("name", ["ppo", "ppo-continuous"])
def test_ppo_learns_acts_and_round_trips(name, tmp_path):
    env = make_env_for(name, "EdgeCloud-Low-v0")
    assert AGENTS[name].learns and env.unwrapped.sim.forecaster.name == "none"
    agent = make_agent(name, env, seed=1, **TINY).learn(128)
    assert agent.model.num_timesteps == 128
    obs, _ = env.reset(seed=2)
    action = agent.predict(obs)
    assert env.action_space.contains(action if name == "ppo" else np.asarray(action))
    agent.save(tmp_path / "a.zip")
    again = load_agent(tmp_path / "a.zip", env)
    assert isinstance(again, PPOAgent) and again.name == name
    for _ in range(5):  # the same policy after loading
        np.testing.assert_array_equal(
            np.asarray(again.predict(obs)), np.asarray(agent.predict(obs))
        )
        obs, *_ = env.step(agent.predict(obs))
    assert load_agent(tmp_path / "a.zip").predict(obs) is not None  # acting needs no env


def test_ppo_refuses_the_wrong_action_mode():
    env = make_env_for("ppo", "EdgeCloud-Low-v0", action_mode="continuous")
    with pytest.raises(ValueError, match=r"ppo needs a discrete action space.*action_mode"):
        make_agent("ppo", env)
    env = make_env_for("ppo-continuous", "EdgeCloud-Low-v0", action_mode="discrete")
    with pytest.raises(ValueError, match="ppo-continuous needs a box action space"):
        make_agent("ppo-continuous", env)
    with pytest.raises(TypeError, match="unknown PPO hyperparameter 'learning_starts'"):
        make_agent("ppo", "EdgeCloud-Low-v0", learning_starts=10)


def test_ppo_trains_through_the_harness(tmp_path, capsys):
    assert main(["train", "--agent", "ppo-continuous", "--env", "EdgeCloud-Low-v0",
                 "--steps", "512", "--eval-episodes", "1", "--out", str(tmp_path),
                 "--no-tensorboard"]) == 0  # fmt: skip
    (run,) = list(tmp_path.glob("*/run.json"))
    record = json.loads(run.read_text())
    assert record["agent"] == "ppo-continuous"
    assert len(record["learning_curve"]) >= 2
