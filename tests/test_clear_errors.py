"""Inputs that used to fail with an unclear error now name the file or argument, what was wrong
and the fix (the other cases of that list are in test_agent_files, test_finite_inputs and
test_trace_files)."""

from __future__ import annotations

import io
import json
import zipfile

import gymnasium as gym
import numpy as np
import pytest

import edgecloud_gym
from edgecloud_agents._io import HEADER_ENTRY, WEIGHTS_ENTRY
from edgecloud_agents.ddlo import DDLO
from edgecloud_agents.registry import load_agent
from edgecloud_gym import EdgeCloudEnv
from edgecloud_gym.envs.vector import EdgeCloudVectorEnv
from edgecloud_gym.offloading import MUMTEnv

gym.register_envs(edgecloud_gym)


def test_an_episode_too_long_for_memory_is_refused_with_the_memory_it_would_need():
    with pytest.raises(
        ValueError,
        match=r"episode_steps=1,000,000,000 exceeds the maximum .* "
        r"at least 109\.9 GiB per env",
    ):
        EdgeCloudEnv(episode_steps=10**9)
    with pytest.raises(ValueError, match="max_episode_steps=2,000,000 exceeds"):
        gym.make("EdgeCloud-Low-v0", forecaster="none", max_episode_steps=2_000_000)
    with pytest.raises(ValueError, match="exceeds the maximum"):
        EdgeCloudVectorEnv(num_envs=2, forecaster="none", episode_steps=10**7)


def test_a_string_action_array_is_refused_with_the_fix():
    env = gym.make("EdgeCloud-Low-v0", forecaster="none", action_mode="continuous")
    env.reset(seed=0)
    with pytest.raises(
        TypeError,
        match=r"action must be a numeric array of shape \(7,\).*"
        r"np\.asarray\(action, dtype=float\)",
    ):
        env.step(np.array(["a"] * 7))
    discrete = gym.make("EdgeCloud-Low-v0", forecaster="none")
    discrete.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must be an integer in \[0, 16\)"):
        discrete.step(np.array(["1"]))


def test_a_dqn_is_refused_an_env_whose_observation_it_could_not_be_loaded_with():
    from edgecloud_agents.registry import make_agent, make_env_for

    with pytest.raises(
        ValueError,
        match=r"'dqn' acts on observations without forecasts.*"
        r"make_env_for\('dqn', env_id\), or use 'dqn-forecast'",
    ):
        make_agent("dqn", make_env_for("dqn-forecast", "EdgeCloud-Low-v0"))
    with pytest.raises(ValueError, match="'dqn-forecast' acts on observations with forecasts"):
        make_agent("dqn-forecast", make_env_for("dqn", "EdgeCloud-Low-v0"))
    # another forecaster of the same observation layout is fine
    env = make_env_for("dqn-forecast", "EdgeCloud-Low-v0", forecaster="naive")
    assert (
        make_agent("dqn-forecast", env, learning_starts=10, buffer_size=100).name == "dqn-forecast"
    )


def test_garbage_weights_never_suggest_unpickling(tmp_path):
    path = tmp_path / "ddlo.zip"
    DDLO(MUMTEnv(), n_nets=2).save(path)
    with zipfile.ZipFile(path) as archive:
        header = archive.read(HEADER_ENTRY)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(HEADER_ENTRY, header)
        archive.writestr(WEIGHTS_ENTRY, b"\x80\x02garbage that is no torch file")
    path.write_bytes(buffer.getvalue())
    with pytest.raises(ValueError) as caught:
        load_agent(path)
    message = str(caught.value)
    assert "ddlo.zip" in message and "not a torch pickle" in message
    assert "weights_only=False" not in message and "Save the agent again" in message
    assert json.loads(header)["agent"] == "ddlo"
