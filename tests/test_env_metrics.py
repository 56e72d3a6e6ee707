"""Environment metrics outside the harness: the info wrapper, the SB3 callback, TensorBoard."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import PPO
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from edgecloud_agents.callbacks import EnvMetricsCallback, with_env_metrics
from edgecloud_agents.registry import make_agent
from edgecloud_gym.metrics import EPISODE_METRICS, EpisodeAccumulator
from edgecloud_gym.wrappers import EpisodeMetrics


def _scalar_tags(folder) -> set[str]:
    tags: set[str] = set()
    for events in folder.rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
    return tags


def test_wrapper_puts_the_episode_metrics_into_the_last_info():
    env = EpisodeMetrics(gym.make("EdgeCloud-High-v0", forecaster="none", episode_steps=12))
    raw = gym.make("EdgeCloud-High-v0", forecaster="none", episode_steps=12)
    expected = EpisodeAccumulator()
    for episode in range(2):  # the second episode starts from scratch
        env.reset(seed=episode)
        raw.reset(seed=episode)
        expected.reset()
        done = False
        while not done:
            action = 1 + episode
            _, reward, terminated, truncated, info = env.step(action)
            _, raw_reward, _, _, raw_info = raw.step(action)
            assert reward == raw_reward
            expected.add(raw_reward, raw_info)
            done = terminated or truncated
            assert ("episode_metrics" in info) == done
        assert set(info["episode_metrics"]) == set(EPISODE_METRICS)
        for key, value in expected.result().items():
            assert info["episode_metrics"][key] == pytest.approx(value, nan_ok=True)
    assert info["episode_metrics"]["return"] < 0 and info["episode_metrics"]["arrived"] > 0


def test_wrapper_in_a_sync_vector_env_and_its_errors():
    venv = gym.make_vec(
        "EdgeCloud-Low-v0",
        num_envs=2,
        vectorization_mode="sync",
        wrappers=[EpisodeMetrics],
        forecaster="none",
        episode_steps=3,
    )
    venv.reset(seed=0)
    for _ in range(3):
        *_, infos = venv.step(np.zeros(2, dtype=np.int64))
    assert infos["_episode_metrics"].all()
    assert infos["episode_metrics"]["latency_mean_ms"].shape == (2,)
    with pytest.raises(TypeError, match="allocation env"):
        wrapped = EpisodeMetrics(gym.make("CartPole-v1"))
        wrapped.reset(seed=0)
        wrapped.step(0)
    with pytest.raises(ValueError, match="key"):
        EpisodeMetrics(gym.make("EdgeCloud-Low-v0", forecaster="none"), key="")


def test_make_agent_dqn_with_tensorboard_log_writes_env_tags(tmp_path):
    env = gym.make("EdgeCloud-Low-v0", forecaster="none", episode_steps=10)
    agent = make_agent("dqn", env, seed=0, tensorboard_log=tmp_path, learning_starts=20)
    agent.learn(100)  # ten episodes: SB3's DQN dumps its logs every fourth
    tags = _scalar_tags(tmp_path)
    assert {f"env/{k}" for k in ("latency_mean_ms", "sla_violation_rate", "return")} <= tags
    assert "rollout/exploration_rate" in tags  # SB3's own tags are still there


def test_third_party_ppo_with_the_public_callback(tmp_path):
    env = gym.make(
        "EdgeCloud-High-v0", forecaster="none", action_mode="continuous", episode_steps=16
    )
    callback = EnvMetricsCallback()
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=32, seed=0, tensorboard_log=str(tmp_path))
    model.learn(64, callback=callback)
    assert callback.finished == 4
    assert "env/energy_per_request_j" in _scalar_tags(tmp_path)


def test_env_metrics_are_added_once_and_only_with_tensorboard():
    class Model:
        tensorboard_log = "runs"

    added = with_env_metrics(Model())
    assert isinstance(added, EnvMetricsCallback)
    assert with_env_metrics(Model(), added) is added
    assert with_env_metrics(Model(), [added]) == [added]
    Model.tensorboard_log = None
    assert with_env_metrics(Model(), None) is None
