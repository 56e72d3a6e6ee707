"""The offloading environments: API conformance, determinism, replay of published optima."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from edgecloud_gym.offloading import (
    OFFLOADING_ENV_IDS,
    DiscreteDecisionWrapper,
    EdgeCloudOffloadEnv,
    EdgeCloudTask,
    MUMTEnv,
    MUMTTask,
    WPMECEnv,
    WPMECTask,
    load_mumt_data,
    load_wpmec_data,
    offloading_train_tasks,
    register_offloading_envs,
)

register_offloading_envs()
register_offloading_envs()  # idempotent

# Observations are unbounded above (task sizes, fading channel gains), which the checker flags.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*Box observation space maximum value is infinity",
    "ignore:.*is different from the unwrapped version",
)

ENV_IDS = sorted(OFFLOADING_ENV_IDS)


def make(env_id: str, **kwargs) -> gym.Env:
    return gym.make(env_id, disable_env_checker=True, **kwargs)


def test_registration_is_idempotent_and_lazy():
    for env_id in ENV_IDS:
        spec = gym.spec(env_id)
        assert isinstance(spec.entry_point, str)
        assert spec.max_episode_steps == 100


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_gymnasium_check_env(env_id):
    env = make(env_id)
    gym_check_env(env.unwrapped, skip_render_check=True)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_sb3_check_env(env_id):
    sb3_check_env(make(env_id).unwrapped, warn=False)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_discrete_wrapper_passes_both_checkers(env_id):
    env = DiscreteDecisionWrapper(make(env_id).unwrapped)
    gym_check_env(env, skip_render_check=True)
    sb3_check_env(env, warn=False)


def _rollout(env: gym.Env, seed: int, steps: int = 15):
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    frames, rewards = [obs], []
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert not terminated and not truncated
        frames.append(obs)
        rewards.append(reward)
        assert 0 < info["ratio"] <= 1 + 1e-12
    return np.array(frames), np.array(rewards)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_gives_same_frames(env_id):
    f1, r1 = _rollout(make(env_id), seed=7)
    f2, r2 = _rollout(make(env_id), seed=7)
    f3, _ = _rollout(make(env_id), seed=8)
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_array_equal(r1, r2)
    assert not np.array_equal(f1, f3)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_episodes_are_truncated_at_max_episode_steps(env_id):
    env = make(env_id, max_episode_steps=3)
    env.reset(seed=0)
    flags = [env.step(env.action_space.sample())[3] for _ in range(3)]
    assert flags == [False, False, True]


def test_mumt_replay_with_published_decision_gives_ratio_one():
    data = load_mumt_data()
    env = MUMTEnv(data_file="mumt_3x3")
    obs, info = env.reset(seed=0, options={"row": 100})
    assert info["frame"] == 100
    for row in range(100, 160):
        np.testing.assert_array_equal(obs, data.task_sizes_mb[row].reshape(-1))
        obs, reward, _, _, info = env.step(data.decision[row].reshape(-1))
        assert info["frame"] == row
        assert info["ratio"] == pytest.approx(1.0, rel=1e-12)
        assert info["optimal"] == pytest.approx(info["published"], rel=1e-12)
        assert reward == pytest.approx(-data.cost[row], rel=1e-12)


@pytest.mark.parametrize("n", [5, 6, 7, 8, 9])
def test_wpmec_replay_with_published_mode_gives_ratio_one(n):
    data = load_wpmec_data(n)
    env = WPMECEnv(data_file=n)
    obs, _ = env.reset(seed=0)
    for row in range(10):
        np.testing.assert_allclose(obs, (data.h[row] * 1e6).astype(np.float32))
        obs, reward, _, _, info = env.step(data.mode[row])
        assert info["ratio"] == pytest.approx(1.0, rel=1e-9)
        assert info["optimal"] == pytest.approx(info["published"], rel=1e-4)
        assert reward == pytest.approx(data.rate[row] * 1e-6, rel=1e-4)
        assert info["a"] + info["tau"].sum() == pytest.approx(1.0)


def test_edgecloud_env_without_cloud_reduces_exactly_to_mumt():
    ec = EdgeCloudOffloadEnv(task=EdgeCloudTask(cloud_enabled=False))
    mumt = MUMTEnv()
    assert ec.action_space.nvec.tolist() == [2] * 9
    o1, _ = ec.reset(seed=3)
    o2, _ = mumt.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(50):
        np.testing.assert_array_equal(o1, o2)
        action = rng.integers(0, 2, size=9)
        o1, r1, _, _, i1 = ec.step(action)
        o2, r2, _, _, i2 = mumt.step(action)
        assert r1 == r2
        assert i1["optimal"] == i2["optimal"] and i1["ratio"] == i2["ratio"]
        np.testing.assert_array_equal(i1["optimal_decision"], i2["optimal_decision"])


def test_edgecloud_oracle_decision_is_optimal_in_the_env():
    env = EdgeCloudOffloadEnv()
    for seed in range(10):
        env.reset(seed=seed)
        probe = env.step(np.zeros(9, dtype=np.int8))[4]
        env.reset(seed=seed)
        info = env.step(probe["optimal_decision"])[4]
        assert info["ratio"] == pytest.approx(1.0, rel=1e-12)
        assert info["cost"] == pytest.approx(probe["optimal"], rel=1e-12)


def test_set_task_changes_frames_and_keeps_spaces():
    env = MUMTEnv()
    env.reset(seed=0)
    env.set_task(MUMTTask(size_low_mb=100, size_high_mb=101))
    obs = env.step(np.zeros(9, dtype=np.int8))[0]
    assert np.all(obs >= 100)
    with pytest.raises(ValueError, match="must keep n_users"):
        env.set_task(MUMTTask(n_users=2))
    with pytest.raises(ValueError, match="no cloud place"):
        MUMTEnv(task=EdgeCloudTask())
    wp = WPMECEnv()
    wp.reset(seed=0)
    task = WPMECTask(active=(False,) + (True,) * 9)
    wp.set_task(task)
    assert wp.step(np.zeros(10, dtype=np.int8))[0][0] == 0.0
    with pytest.raises(ValueError, match="n_devices"):
        wp.set_task(WPMECTask(n_devices=4))


@pytest.mark.parametrize("family", ["mumt", "edgecloud", "wpmec"])
def test_every_train_task_runs(family):
    env = {"mumt": MUMTEnv, "edgecloud": EdgeCloudOffloadEnv, "wpmec": WPMECEnv}[family]()
    env.reset(seed=0)
    for task in offloading_train_tasks(family, 5):
        env.unwrapped.set_task(task)
        info = env.step(env.action_space.sample())[4]
        assert 0 < info["ratio"] <= 1 + 1e-12


@pytest.mark.parametrize(
    ("action", "match"),
    [(np.ones(8), "shape"), (np.full(9, 2), "binary"), (np.full(9, -1), "binary")],
)
def test_bad_actions_raise(action, match):
    env = MUMTEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(action)


def test_bad_constructor_arguments_raise():
    with pytest.raises(ValueError, match="Did you mean 'enumerate'"):
        WPMECEnv(optimum="enumarate")
    with pytest.raises(ValueError, match="must match the data file"):
        WPMECEnv(task=WPMECTask(n_devices=10), data_file=5)
    with pytest.raises(FileNotFoundError, match="Did you mean 'mumt_3x3'"):
        MUMTEnv(data_file="mumt3x3")
    with pytest.raises(TypeError, match="task must be a WPMECTask"):
        WPMECEnv(task=MUMTTask())
    with pytest.raises(ValueError, match="reward_scale must be > 0"):
        MUMTEnv(reward_scale=0)
    with pytest.raises(ValueError, match="unknown key 'rwo'"):
        MUMTEnv(data_file="mumt_3x3").reset(options={"rwo": 1})
    with pytest.raises(ValueError, match="needs an env built with data_file"):
        MUMTEnv().reset(options={"row": 1})


def test_wpmec_without_oracle_reports_nan():
    env = WPMECEnv(optimum="none")
    env.reset(seed=0)
    info = env.step(np.ones(10, dtype=np.int8))[4]
    assert np.isnan(info["optimal"]) and np.isnan(info["ratio"])
    assert info["rate"] > 0


def test_discrete_wrapper_numbering_round_trips():
    env = DiscreteDecisionWrapper(EdgeCloudOffloadEnv())
    assert env.action_space.n == 3**9
    decisions = env.decisions()
    for k in (0, 1, 5, 19682):
        np.testing.assert_array_equal(env.action(k), decisions[k])
        assert env.decision_to_action(decisions[k]) == k
    with pytest.raises(ValueError, match="integer in"):
        env.action(3**9)
    with pytest.raises(ValueError, match="exceed max_actions"):
        DiscreteDecisionWrapper(WPMECEnv(task=WPMECTask(n_devices=20)))


def test_former_names_are_deprecated_aliases() -> None:
    import edgecloud_gym.offloading as offloading

    for old, new in (
        ("EdgeCloudEnv", EdgeCloudOffloadEnv),
        ("train_tasks", offloading_train_tasks),
        ("test_tasks", offloading.offloading_test_tasks),
        ("wpmec_oracle", offloading.wpmec_optimum),
        ("OffloadOracleResult", offloading.OffloadOptimum),
    ):
        with pytest.warns(DeprecationWarning, match=f"offloading.{old} is deprecated"):
            assert getattr(offloading, old) is new
    with pytest.raises(AttributeError, match="no attribute 'EdgeCloudEnvv'"):
        offloading.EdgeCloudEnvv  # noqa: B018
    with pytest.warns(DeprecationWarning, match="pass optimum="):
        assert WPMECEnv(oracle="none").optimum == "none"
