"""Continuous mode: a symmetric box in which every point is an allocation, driven by SB3."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import A2C, PPO

from edgecloud_gym import EdgeCloudEnv
from edgecloud_gym.core.actions import CONTINUOUS_TEMPERATURE, softmax_shares


def test_centre_of_the_box_is_the_static_allocation():
    env = EdgeCloudEnv(action_mode="continuous", forecaster="none")
    env.reset(seed=0)
    static = env.sim.params.static_shares.copy()
    env.step(np.zeros(env.action_space.shape, dtype=np.float32))
    np.testing.assert_allclose(env.sim.shares, static)
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (env.sim.n_servers,), np.float32)


def test_each_server_can_take_almost_all_the_workload():
    """A corner of the box puts over 98 % of the workload on its server, even the smallest."""
    static = EdgeCloudEnv(action_mode="continuous", forecaster="none").sim.params.static_shares
    s = static.shape[1]
    corners = 2.0 * np.eye(s) - 1.0  # +1 for one server, -1 for the others
    shares = softmax_shares(corners, np.repeat(static, s, axis=0))
    assert np.diag(shares).min() > 0.98


def test_mapping_is_monotone_and_clipped():
    static = np.array([[0.1, 0.2, 0.7]])
    a = np.array([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [1.0, 0.0, 0.0], [7.0, 0.0, 0.0]])
    shares = softmax_shares(a, np.repeat(static, 4, axis=0))
    assert shares[0, 0] < shares[1, 0] < shares[2, 0]
    np.testing.assert_allclose(shares[3], shares[2])  # outside the box: clipped
    expected = static[0] * np.exp(a[1] / CONTINUOUS_TEMPERATURE)
    np.testing.assert_allclose(shares[1], expected / expected.sum())


def test_a_server_without_capacity_gets_no_share():
    static = np.array([[0.0, 0.3, 0.7]])
    shares = softmax_shares(np.array([[1.0, -1.0, -1.0]]), static)
    assert shares[0, 0] == 0.0
    np.testing.assert_allclose(shares.sum(), 1.0)


def test_vector_env_maps_each_row_as_the_single_env():
    venv = gym.make_vec("EdgeCloud-High-v0", num_envs=3, action_mode="continuous")
    single = gym.make("EdgeCloud-High-v0", action_mode="continuous")
    venv.reset(seed=5)
    single.reset(seed=6)  # sub-environment 1 has seed 5 + 1
    actions = np.random.default_rng(0).uniform(-1, 1, size=(3, 7)).astype(np.float32)
    obs, reward, *_ = venv.step(actions)
    obs1, reward1, *_ = single.step(actions[1])
    np.testing.assert_array_equal(obs[1], obs1)
    assert reward[1] == reward1


def _train(algo: type, env_id: str, steps: int, **kwargs) -> None:
    env = gym.make(env_id, action_mode="continuous", **kwargs)
    model = algo("MlpPolicy", env, seed=0, device="cpu", n_steps=64 if algo is PPO else 8)
    model.learn(steps)


def test_ppo_trains_in_continuous_mode():
    """Gaussian samples that SB3 clips to the box never make an invalid action."""
    _train(PPO, "EdgeCloud-High-v0", 640, forecaster="none")


@pytest.mark.slow
@pytest.mark.parametrize("algo", [PPO, A2C])
def test_sb3_trains_5000_steps_in_continuous_mode(allocation_id, algo):
    _train(algo, allocation_id, 5_000)
