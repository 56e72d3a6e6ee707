"""Bad input raises clear exceptions that name the field."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from edgecloud_gym import EdgeCloudConfig, EdgeCloudEnv, Task, Topology


@pytest.fixture
def discrete_env():
    env = gym.make("EdgeCloud-Medium-v0")
    env.reset(seed=0)
    return env


@pytest.fixture
def weights_env():
    env = EdgeCloudEnv(action_mode="weights")
    env.reset(seed=0)
    return env


@pytest.fixture
def continuous_env():
    env = EdgeCloudEnv(action_mode="continuous")
    env.reset(seed=0)
    return env


@pytest.mark.parametrize("action", [-1, 16, 3.5, "1", None, True, np.array([1, 2])])
def test_bad_discrete_actions(discrete_env, action):
    with pytest.raises(ValueError, match=r"action must be an integer in \[0, 16\)"):
        discrete_env.unwrapped.step(action)


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (np.full(7, np.nan), "finite"),
        (np.array([np.inf] + [0.1] * 6), "finite"),
        (np.full(7, 1.5), r"lie in \[0, 1\]"),
        (np.full(7, -0.1), r"lie in \[0, 1\]"),
        (np.zeros(7), "all zero"),
        (np.ones(6), r"shape \(7,\)"),
        (np.ones((7, 1)), r"shape \(7,\)"),
    ],
)
def test_bad_weights(weights_env, action, message):
    with pytest.raises(ValueError, match=message):
        weights_env.step(action)


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (np.full(7, np.nan), "finite"),
        (np.array([-np.inf] + [0.1] * 6), "finite"),
        (np.ones(6), r"shape \(7,\)"),
    ],
)
def test_bad_continuous_actions(continuous_env, action, message):
    with pytest.raises(ValueError, match=message):
        continuous_env.step(action)


def test_every_point_of_the_continuous_box_is_a_valid_action(continuous_env):
    """The corners, the centre and points outside the box (clipped) all give shares."""
    for action in (-np.ones(7), np.ones(7), np.zeros(7), np.full(7, 5.0), np.eye(7)[3] * -9):
        continuous_env.step(action.astype(np.float32))
        shares = continuous_env.sim.shares[0]
        np.testing.assert_allclose(shares.sum(), 1.0)
        assert np.all(shares >= 0)


def test_step_before_reset():
    with pytest.raises(RuntimeError, match="reset"):
        EdgeCloudEnv().step(0)


def test_misspelt_config_key_suggests():
    with pytest.raises(TypeError, match="Did you mean 'timeout_ms'"):
        EdgeCloudConfig.from_dict({"timout_ms": 500})
    with pytest.raises(TypeError, match="Did you mean 'wan_ms'"):
        gym.make("EdgeCloud-v0", config={"topology": {"wan_msec": 10}})
    with pytest.raises(TypeError, match="Did you mean 'load'"):
        Task.from_dict({"lod": 0.5})


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"edge_cores": (8, 0, 8)}, r"edge_cores\[1\]"),
        ({"edge_cores": (8, -4)}, r"edge_cores\[1\]"),
        ({"cloud_cores": 0}, "cloud_cores"),
        ({"edge_core_ghz": -1.0}, "edge_core_ghz"),
        ({"wan_gbps": 0.0}, "wan_gbps"),
        ({"edge_buffer_s": float("nan")}, "edge_buffer_s"),
        ({"edge_cores": ()}, "at least one edge node"),
        ({"edge_cores": 8}, "sequence"),
        ({"edge_core_max_w": 1.0}, "edge_core_max_w"),
    ],
)
def test_bad_topology(kwargs, field):
    with pytest.raises((ValueError, TypeError), match=field):
        Topology(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"load": -0.1}, "Task.load"),
        ({"diurnal_amplitude": 1.0}, "diurnal_amplitude"),
        ({"burst_period": 5, "burst_duration": 10}, "burst_duration"),
        ({"burst_fraction": 2.0}, "burst_fraction"),
        ({"app_mix": (0.5, 0.6, 0.1)}, "sum to 1"),
        ({"flash_rate": float("inf")}, "flash_rate"),
        ({"burst_period": 2.5}, "burst_period"),
    ],
)
def test_bad_task(kwargs, field):
    with pytest.raises((ValueError, TypeError), match=field):
        Task(**kwargs)


def test_task_incompatible_with_topology():
    with pytest.raises(ValueError, match="node_weights has 2 entries"):
        EdgeCloudEnv(task=Task(node_weights=(1.0, 1.0)))
    with pytest.raises(ValueError, match="capacity_factors"):
        EdgeCloudEnv(task=Task(capacity_factors=(1.0,) * 3))
    with pytest.raises(ValueError, match="all 0"):
        EdgeCloudEnv(task=Task(capacity_factors=(0.0,) * 7))


def test_unknown_names_suggest():
    with pytest.raises(ValueError, match="Did you mean 'high'"):
        EdgeCloudEnv(task="hihg")
    with pytest.raises(ValueError, match="Did you mean 'naive'"):
        EdgeCloudEnv(forecaster="naiv")
    with pytest.raises(ValueError, match="action_mode"):
        EdgeCloudEnv(action_mode="discret")
    with pytest.raises(ValueError, match="render_mode"):
        EdgeCloudEnv(render_mode="humann")
    with pytest.raises(ValueError, match="episode_steps"):
        EdgeCloudEnv(episode_steps=0)


def test_reset_rejects_unknown_options():
    env = EdgeCloudEnv()
    with pytest.raises(ValueError, match="only 'task'"):
        env.reset(seed=0, options={"taks": "low"})
