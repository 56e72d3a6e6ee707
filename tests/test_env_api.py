"""The allocation family through Gymnasium: checkers, registration, determinism, rendering."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import edgecloud_gym
from edgecloud_gym import HIGH, LOW, EdgeCloudEnv, test_tasks, train_tasks
from edgecloud_gym.core.simulator import METRIC_KEYS
from edgecloud_gym.registration import allocation_env_ids

INFO_KEYS = {
    "arrived",
    "processed",
    "dropped",
    "backlog",
    "latency_mean_ms",
    "sla_violation_rate",
    "utilisation",
    "energy_j",
    "reward_parts",
}


def test_registry_has_the_family():
    ids = set(allocation_env_ids())
    assert {
        "EdgeCloud-v0",
        "EdgeCloud-Low-v0",
        "EdgeCloud-Medium-v0",
        "EdgeCloud-High-v0",
        "EdgeCloud-Random-v0",
    } <= ids
    for env_id in ids:
        assert gym.make(env_id, forecaster="none").spec.max_episode_steps == 200


@pytest.mark.parametrize("action_mode", ["discrete", "continuous"])
def test_checkers_pass(allocation_id, action_mode):
    env = gym.make(allocation_id, action_mode=action_mode)
    gym_check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(gym.make(allocation_id, action_mode=action_mode).unwrapped, warn=False)


def test_info_keys_and_reward_parts(allocation_id):
    env = gym.make(allocation_id)
    env.reset(seed=3)
    _, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert set(info) >= INFO_KEYS
    assert set(METRIC_KEYS) <= set(info)
    assert sum(info["reward_parts"].values()) == pytest.approx(reward)
    assert not terminated and not truncated


def test_episodes_end_by_truncation_only():
    env = gym.make("EdgeCloud-Medium-v0")
    env.reset(seed=0)
    steps = 0
    while True:
        _, _, terminated, truncated, _ = env.step(0)
        steps += 1
        assert not terminated
        if truncated:
            break
    assert steps == env.spec.max_episode_steps == 200


def _episode_length(env: gym.Env) -> int:
    env.reset(seed=0)
    steps = 1
    while not env.step(0)[3]:
        steps += 1
    return steps


@pytest.mark.parametrize(
    ("kwargs", "length"),
    [
        ({"max_episode_steps": 300}, 300),
        ({"episode_steps": 50}, 50),
        ({"episode_steps": 30, "max_episode_steps": 30}, 30),
        ({}, 200),
    ],
)
def test_one_episode_length_whichever_argument_sets_it(kwargs, length):
    env = gym.make("EdgeCloud-Low-v0", forecaster="none", **kwargs)
    assert env.spec.max_episode_steps == length
    assert _episode_length(env) == length
    again = gym.make(env.spec)  # the spec rebuilds the same env
    assert again.spec.max_episode_steps == length
    assert _episode_length(again) == length


def test_trace_ids_take_max_episode_steps_too():
    env = gym.make("EdgeCloud-Trace-NASA-v0", forecaster="none", max_episode_steps=40)
    assert env.spec.max_episode_steps == 40 and _episode_length(env) == 40


def test_disagreeing_episode_lengths_are_refused():
    with pytest.raises(ValueError, match="episode_steps=50 and max_episode_steps=300 disagree"):
        gym.make("EdgeCloud-Low-v0", forecaster="none", episode_steps=50, max_episode_steps=300)
    with pytest.raises(ValueError, match="episode_steps must be >= 1"):
        gym.make("EdgeCloud-Low-v0", forecaster="none", episode_steps=0)


def _rollout(env_id: str, seed: int, steps: int = 200, **kwargs):
    env = gym.make(env_id, **kwargs)
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(123)
    out = [obs]
    rewards, infos = [], []
    for _ in range(steps):
        obs, r, _, trunc, info = env.step(int(rng.integers(env.action_space.n)))
        out.append(obs)
        rewards.append(r)
        infos.append({k: v for k, v in info.items() if k in METRIC_KEYS})
        if trunc:
            break
    return np.array(out), np.array(rewards), infos


def test_same_seed_same_episode(allocation_id):
    a = _rollout(allocation_id, seed=7)
    b = _rollout(allocation_id, seed=7)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2] == b[2]


def test_different_seeds_different_workloads():
    a = _rollout("EdgeCloud-High-v0", seed=1, steps=20)
    b = _rollout("EdgeCloud-High-v0", seed=2, steps=20)
    assert [i["arrived"] for i in a[2]] != [i["arrived"] for i in b[2]]


def test_fresh_interpreter_import_forms():
    code = (
        "import gymnasium as gym\n"
        "env = gym.make('edgecloud_gym:EdgeCloud-High-v0'); env.reset(seed=0); env.step(0)\n"
        "import edgecloud_gym\n"
        "gym.register_envs(edgecloud_gym)\n"
        "env = gym.make('EdgeCloud-Low-v0'); env.reset(seed=0); env.step(0)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")


def test_plain_gym_make_without_import_fails_clearly():
    code = "import gymnasium as gym\ngym.make('EdgeCloud-High-v0')\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode != 0
    assert "EdgeCloud-High" in out.stderr


def test_set_task_takes_effect_at_reset():
    env = gym.make("EdgeCloud-v0", task=LOW)
    env.reset(seed=0)
    _, _, _, _, low = env.step(0)
    env.unwrapped.set_task(HIGH)
    assert env.unwrapped.task is HIGH
    env.reset(seed=0)
    _, _, _, _, high = env.step(0)
    assert high["arrived"] > 2 * low["arrived"]
    assert high["task"] == "high"


def test_random_id_changes_task_at_reset():
    env = gym.make("EdgeCloud-Random-v0")
    names = set()
    for seed in range(6):
        _, info = env.reset(seed=seed)
        names.add(info["task"])
    assert len(names) > 1
    assert all(name.startswith("train-") for name in names)


def test_task_splits_are_disjoint_and_seeded():
    train, test = train_tasks(50, seed=3), test_tasks(50, seed=3)
    assert not set(train) & set(test)
    assert train == train_tasks(50, seed=3)
    assert train != train_tasks(50, seed=4)
    arrivals = set()
    for task in train[:10] + test[:10]:
        env = EdgeCloudEnv(task=task)
        obs, info = env.reset(seed=0)
        assert info["task"] == task.name
        obs, reward, _, _, info = env.step(0)
        assert env.observation_space.contains(obs) and np.isfinite(reward)
        assert info["task"] == task.name
        arrivals.add(info["arrived"])
    assert len(arrivals) > 10  # same seed, other task: other workloads


def _scenario_rollout(task: str, steps: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrivals and edge utilisation per step, and requests served per server, over ``steps``
    steps of action 0."""
    env = gym.make("EdgeCloud-v0", task=task)
    obs, info = env.reset(seed=0)
    assert info["task"] == task
    arrived, served, util = [], [], []
    for _ in range(steps):
        obs, reward, _, _, info = env.step(0)
        assert env.observation_space.contains(obs) and np.isfinite(reward)
        arrived.append(info["arrived"])
        served.append(np.sum(info["served_by_server_class"], axis=1))
        util.append(info["utilisation_edge"])
    return np.asarray(arrived), np.sum(served, axis=0), np.asarray(util)


@pytest.mark.parametrize("name", sorted(edgecloud_gym.SCENARIOS))
def test_scenarios_change_the_system_they_name(name):
    task = edgecloud_gym.SCENARIOS[name]
    base = "low" if name == "shift" else "medium"
    arrived, served, util = _scenario_rollout(name)
    base_arrived, base_served, base_util = _scenario_rollout(base)
    assert not np.array_equal(util, base_util)
    if name in ("degraded-node", "failed-node"):  # same work on less capacity
        assert util.mean() > base_util.mean()
    if name == "failed-node":
        failed = task.capacity_factors.index(0)
        assert served[failed] == 0 and base_served[failed] > 0
    if name == "shift":  # the load triples at step shift_at; the base profile's does not
        at = task.shift_at
        assert arrived[at : at + 50].mean() > 2 * arrived[at - 50 : at].mean()
        assert base_arrived[at : at + 50].mean() < 1.5 * base_arrived[at - 50 : at].mean()


def test_render_modes():
    env = gym.make("EdgeCloud-High-v0", render_mode="ansi")
    env.reset(seed=0)
    env.step(0)
    text = env.render()
    assert "cloud" in text and "edge5" in text
    env = gym.make("EdgeCloud-High-v0", render_mode="rgb_array")
    env.reset(seed=0)
    env.step(0)
    img = env.render()
    assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8
    assert img.std() > 0  # something was drawn


def test_observation_layout_matches_space(allocation_id):
    env = gym.make(allocation_id)
    layout = env.unwrapped.layout
    assert layout.size == env.observation_space.shape[0]
    obs, _ = env.reset(seed=0)
    np.testing.assert_allclose(obs[layout.shares].sum(), 1.0, rtol=1e-6)
    none = gym.make(allocation_id, forecaster="none")
    assert none.unwrapped.layout.horizon == 0
    assert none.observation_space.shape[0] == layout.size - layout.horizon * layout.n_edge


def test_oracle_forecast_block_holds_true_rates():
    env = gym.make("EdgeCloud-High-v0", forecaster="oracle")
    obs, _ = env.reset(seed=0)
    sim = env.unwrapped.sim
    layout = env.unwrapped.layout
    fc = obs[layout.forecast].reshape(layout.n_edge, layout.horizon)
    wl = sim.workload
    truth = wl.rates[0, wl.warmup : wl.warmup + layout.horizon].T / sim.params.obs_mu[0, :-1, None]
    np.testing.assert_allclose(fc, truth, rtol=1e-6)


def test_arrival_window_holds_the_last_steps_of_the_episode_workload():
    """The observation's window is the W steps of arrivals before the current step (step-major,
    times 1 / the node's nominal service rate), through a whole episode and a new one."""
    env = gym.make("EdgeCloud-High-v0", forecaster="none")
    layout = env.unwrapped.layout
    sim = env.unwrapped.sim
    for seed in (0, 1):
        obs, _ = env.reset(seed=seed)
        wl, w = sim.workload, layout.window
        for k in range(sim.episode_steps + 1):
            start = wl.warmup + k - w
            expected = wl.arrivals[0, start : start + w] * (1.0 / sim.params.obs_mu[0, None, :-1])
            np.testing.assert_array_equal(obs[layout.arrivals], expected.astype(np.float32).ravel())
            if k < sim.episode_steps:
                obs, *_ = env.step(k % env.action_space.n)
