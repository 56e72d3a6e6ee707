"""The native vector env: equivalence with single envs, Gymnasium's vector API and autoreset,
per-env seeds and tasks, batched forecasts, bad input, and the SB3 adapter.

Equivalence is exact (bit-identical observations, rewards and infos): every sub-environment runs
the same compiled per-system code on its own row, and batching changes no summation order.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector.utils import batch_space

import edgecloud_gym
from edgecloud_gym.core.simulator import METRIC_KEYS, REWARD_PARTS
from edgecloud_gym.envs.vector import AutoresetMode, EdgeCloudVectorEnv
from edgecloud_gym.forecasting import NaiveForecaster
from edgecloud_gym.tasks import HIGH, LOW, MEDIUM

#: Gymnasium 1.0 (the oldest supported): its own vector envs have no autoreset modes yet.
GYMNASIUM_1_0 = not hasattr(gym.vector, "AutoresetMode")

gym.register_envs(edgecloud_gym)

# Every id of the package with a native vector env (the allocation ids and the trace ids).
VECTOR_IDS = sorted(
    spec.id
    for spec in gym.registry.values()
    if str(spec.vector_entry_point).startswith("edgecloud_gym.")
)
SHORT = 7  # episode length of the tests (steps), so a few steps cross autoresets
SEEDS = [11, 5, 42]


def test_every_allocation_id_has_the_native_vector_entry_point():
    assert set(edgecloud_gym.ALLOCATION_IDS) <= set(VECTOR_IDS)


def _assert_info_equal(got: dict[str, Any], want: dict[str, Any], where: str = "info") -> None:
    assert set(got) == set(want), f"{where}: keys differ: {sorted(set(got) ^ set(want))}"
    for key, w in want.items():
        g = got[key]
        if isinstance(w, dict):
            _assert_info_equal(g, w, f"{where}[{key!r}]")
        elif isinstance(w, np.ndarray) and w.dtype == object:
            assert len(g) == len(w), f"{where}[{key!r}]"
            for gi, wi in zip(g, w, strict=True):
                assert np.array_equal(gi, wi), f"{where}[{key!r}]: {gi!r} != {wi!r}"
        else:
            assert np.asarray(g).dtype == np.asarray(w).dtype, f"{where}[{key!r}] dtype"
            assert np.array_equal(g, w), f"{where}[{key!r}]: {g!r} != {w!r}"


def _actions(rng: np.random.Generator, space: gym.Space, n: int) -> np.ndarray:
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(space.n, size=n)
    return rng.random((n, *space.shape))


# ---------------------------------------------------------------------------- equivalence


@pytest.mark.parametrize("env_id", VECTOR_IDS)
def test_vector_env_matches_single_envs_step_for_step(env_id):
    """Sub-env i seeded s_i == a single env seeded s_i, across two NEXT_STEP autoresets."""
    n = len(SEEDS)
    venv = gym.make_vec(env_id, num_envs=n, episode_steps=SHORT)
    singles = [gym.make(env_id, episode_steps=SHORT) for _ in range(n)]
    obs, info = venv.reset(seed=SEEDS)
    for i, env in enumerate(singles):
        o, inf = env.reset(seed=SEEDS[i])
        assert np.array_equal(obs[i], o)
        assert info["task"][i] == inf["task"]
    rng = np.random.default_rng(0)
    tasks_seen = set()
    needs_reset = False
    for _ in range(2 * (SHORT + 1) + 3):
        actions = _actions(rng, venv.single_action_space, n)
        obs, reward, terminated, truncated, info = venv.step(actions)
        assert not terminated.any()
        for i, env in enumerate(singles):
            if needs_reset:  # NEXT_STEP: this step is the reset
                o, inf = env.reset()
                assert reward[i] == 0.0 and not truncated[i]
                assert set(info) == {"task", "_task"}
            else:
                o, r, te, tr, inf = env.step(actions[i])
                assert reward[i] == r and truncated[i] == tr and terminated[i] == te
                for key in METRIC_KEYS:
                    assert info[key][i] == inf[key], key
                for key in REWARD_PARTS:
                    assert info["reward_parts"][key][i] == inf["reward_parts"][key], key
                for key in ("latency_ms_by_server_class", "served_by_server_class"):
                    assert np.array_equal(info[key][i], inf[key]), key
            assert np.array_equal(obs[i], o)
            assert info["task"][i] == inf["task"]
            tasks_seen.add(inf["task"])
        needs_reset = bool(truncated.any())
    if env_id == "EdgeCloud-Random-v0":  # per-env tasks drawn from each env's own generator
        assert len(tasks_seen) > n


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [
        ("EdgeCloud-Random-v0", {}),
        ("EdgeCloud-High-v0", {"action_mode": "continuous", "forecaster": "none"}),
    ],
)
def test_vector_env_matches_sync_vector_env(mode, env_id, kwargs):
    """Same observations, rewards, flags and infos (final_obs, final_info and masks included)
    as Gymnasium's reference SyncVectorEnv over the single env, in both autoreset modes."""
    n = 3
    kwargs = {"episode_steps": SHORT, **kwargs}
    native = gym.make_vec(env_id, num_envs=n, autoreset_mode=mode, **kwargs)
    if GYMNASIUM_1_0 and mode != "NextStep":
        pytest.skip("Gymnasium 1.0's SyncVectorEnv resets on the next step only")
    sync = gym.make_vec(
        env_id,
        num_envs=n,
        vectorization_mode="sync",
        vector_kwargs={} if GYMNASIUM_1_0 else {"autoreset_mode": AutoresetMode(mode)},
        **kwargs,
    )
    if not GYMNASIUM_1_0:  # 1.0 has no autoreset_mode metadata
        assert native.metadata["autoreset_mode"] == sync.metadata["autoreset_mode"]
    assert native.single_observation_space == sync.single_observation_space
    assert native.single_action_space == sync.single_action_space
    a, ia = native.reset(seed=7)
    b, ib = sync.reset(seed=7)
    assert np.array_equal(a, b)
    _assert_info_equal(ia, ib)
    rng = np.random.default_rng(1)
    for _ in range(2 * SHORT + 3):
        actions = _actions(rng, native.single_action_space, n)
        out_a = native.step(actions)
        out_b = sync.step(actions)
        for x, y in zip(out_a[:4], out_b[:4], strict=True):
            assert np.array_equal(x, y)
        _assert_info_equal(out_a[4], out_b[4])


# ---------------------------------------------------------------------------- Gymnasium API


@pytest.mark.parametrize("env_id", VECTOR_IDS)
def test_vector_api_spaces_types_and_determinism(env_id):
    n = 4
    venv = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point")
    assert isinstance(venv, EdgeCloudVectorEnv)
    assert venv.num_envs == n
    assert isinstance(venv.metadata["autoreset_mode"], AutoresetMode)
    single = gym.make(env_id)
    assert venv.single_observation_space == single.observation_space
    assert venv.single_action_space == single.action_space
    assert venv.observation_space == batch_space(single.observation_space, n)
    assert venv.action_space == batch_space(single.action_space, n)

    obs, info = venv.reset(seed=3)
    assert obs in venv.observation_space
    again, _ = gym.make_vec(env_id, num_envs=n).reset(seed=3)
    assert np.array_equal(obs, again)  # same seed, same episode
    venv.action_space.seed(0)
    actions = venv.action_space.sample()
    obs2, reward, terminated, truncated, info = venv.step(actions)
    assert obs2 in venv.observation_space
    assert obs2 is not obs and not np.shares_memory(obs, obs2)  # returned data not reused
    assert reward.shape == (n,) and reward.dtype == np.float64
    assert terminated.shape == truncated.shape == (n,)
    assert terminated.dtype == truncated.dtype == np.bool_
    for key in METRIC_KEYS:
        assert info[key].shape == (n,) and info["_" + key].all()
    assert info["reward_parts"]["latency"].shape == (n,)
    np.testing.assert_allclose(
        sum(info["reward_parts"][k] for k in REWARD_PARTS), reward, rtol=1e-12, atol=1e-12
    )


def test_make_vec_passes_kwargs_and_the_time_limit():
    venv = gym.make_vec("EdgeCloud-High-v0", num_envs=2, forecaster="none", max_episode_steps=4)
    assert venv.time_limit == 4 == venv.spec.max_episode_steps
    assert venv.single_observation_space.shape[0] == venv.layout.size
    assert venv.layout.horizon == 0
    venv.reset(seed=0)
    flags = [venv.step(np.zeros(2, dtype=np.int64))[3].all() for _ in range(4)]
    assert flags == [False, False, False, True]


def test_make_vec_episode_steps_alone_sets_the_spec():
    venv = gym.make_vec("EdgeCloud-Low-v0", num_envs=2, forecaster="none", episode_steps=5)
    assert venv.spec.max_episode_steps == 5
    venv.reset(seed=0)
    flags = [venv.step(np.zeros(2, dtype=np.int64))[3].all() for _ in range(5)]
    assert flags == [False] * 4 + [True]


def test_vector_env_refuses_disagreeing_episode_lengths():
    with pytest.raises(ValueError, match="disagree"):
        gym.make_vec("EdgeCloud-Low-v0", num_envs=2, episode_steps=5, max_episode_steps=6)


def test_next_step_autoreset():
    venv = gym.make_vec("EdgeCloud-Low-v0", num_envs=2, episode_steps=3)
    assert venv.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    first, _ = venv.reset(seed=0)
    progress = venv.layout.time.start + 2
    for _ in range(3):
        obs, _, _, truncated, _ = venv.step(np.ones(2, dtype=np.int64))
    assert truncated.all() and np.allclose(obs[:, progress], 1.0)
    obs, reward, terminated, truncated, _ = venv.step(np.ones(2, dtype=np.int64))
    assert not truncated.any() and not terminated.any() and (reward == 0).all()
    assert np.allclose(obs[:, progress], 0.0)
    assert not np.array_equal(obs, first)  # a new episode from the same generators, not a replay
    obs, _, _, truncated, _ = venv.step(np.ones(2, dtype=np.int64))
    assert not truncated.any()


def test_same_step_autoreset():
    venv = gym.make_vec("EdgeCloud-Low-v0", num_envs=2, episode_steps=3, autoreset_mode="SameStep")
    venv.reset(seed=0)
    progress = venv.layout.time.start + 2
    for _ in range(3):
        obs, _, _, truncated, info = venv.step(np.ones(2, dtype=np.int64))
    assert truncated.all()
    assert np.allclose(obs[:, progress], 0.0)  # already the next episode
    assert info["_final_obs"].all() and info["_final_info"].all()
    assert all(np.isclose(o[progress], 1.0) for o in info["final_obs"])
    assert info["final_info"]["arrived"].shape == (2,)
    obs, reward, *_ = venv.step(np.ones(2, dtype=np.int64))
    assert np.allclose(obs[:, progress], 1 / 3) and (reward != 0).all()


def test_disabled_autoreset_requires_reset():
    venv = gym.make_vec("EdgeCloud-Low-v0", num_envs=2, episode_steps=2, autoreset_mode="Disabled")
    venv.reset(seed=0)
    for _ in range(2):
        venv.step(np.zeros(2, dtype=np.int64))
    with pytest.raises(RuntimeError, match="reset"):
        venv.step(np.zeros(2, dtype=np.int64))
    venv.reset()
    venv.step(np.zeros(2, dtype=np.int64))


def test_gymnasium_vector_wrappers_work():
    venv = gym.make_vec("EdgeCloud-Medium-v0", num_envs=3, episode_steps=4)
    venv = gym.wrappers.vector.RecordEpisodeStatistics(
        gym.wrappers.vector.NormalizeObservation(venv)
    )
    venv.reset(seed=0)
    for _ in range(4):
        *_, info = venv.step(np.zeros(3, dtype=np.int64))
    assert info["_episode"].all() and (info["episode"]["l"] == 4).all()


# ---------------------------------------------------------------------------- seeds and tasks


def test_per_env_seeds():
    venv = EdgeCloudVectorEnv(num_envs=3, task="high")
    by_int, _ = venv.reset(seed=10)
    by_list, _ = EdgeCloudVectorEnv(num_envs=3, task="high").reset(seed=[10, 11, 12])
    assert np.array_equal(by_int, by_list)
    assert not np.array_equal(by_int[0], by_int[1])
    partial, _ = venv.reset(seed=[10, None, 12])  # None: env 1 keeps its generator
    assert np.array_equal(partial[0], by_int[0]) and np.array_equal(partial[2], by_int[2])
    assert not np.array_equal(partial[1], by_int[1])
    unseeded = EdgeCloudVectorEnv(num_envs=2, task="high")
    a, _ = unseeded.reset()
    assert not np.array_equal(a[0], a[1])


def test_per_env_tasks():
    venv = EdgeCloudVectorEnv(num_envs=3, task=[LOW, "medium", HIGH], episode_steps=5)
    _, info = venv.reset(seed=0)
    assert list(info["task"]) == ["low", "medium", "high"]
    venv.set_task("high")
    _, info = venv.reset()
    assert list(info["task"]) == ["high"] * 3
    _, info = venv.reset(options={"task": [MEDIUM, LOW, LOW]})
    assert list(info["task"]) == ["medium", "low", "low"]
    assert venv.tasks == (MEDIUM, LOW, LOW)


class _CountingForecaster(NaiveForecaster):
    def __init__(self) -> None:
        self.batches: list[int] = []

    def forecast(self, workload, horizon, scale):
        self.batches.append(workload.arrivals.shape[0])
        return super().forecast(workload, horizon, scale)


def test_forecaster_runs_once_per_reset_for_all_envs():
    fc = _CountingForecaster()
    venv = EdgeCloudVectorEnv(num_envs=5, forecaster=fc, episode_steps=3)
    venv.reset(seed=0)
    for _ in range(4):  # three steps, then the NEXT_STEP autoreset
        venv.step(np.zeros(5, dtype=np.int64))
    assert fc.batches == [5, 5]


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("num_envs", "error"), [(0, ValueError), (-3, ValueError), (2.0, TypeError)]
)
def test_bad_num_envs(num_envs, error):
    with pytest.raises(error, match="num_envs"):
        gym.make_vec(
            "EdgeCloud-High-v0", num_envs=num_envs, vectorization_mode="vector_entry_point"
        )


@pytest.mark.parametrize(
    ("actions", "error", "message"),
    [
        (np.zeros(2, dtype=np.int64), ValueError, r"shape \(3,\)"),
        (np.zeros((3, 1), dtype=np.int64), ValueError, r"shape \(3,\)"),
        (np.zeros(3), TypeError, "integers"),
        (np.array([0, 16, 1]), ValueError, r"\[0, 16\).*sub-environment 1"),
        (np.array([0, 1, -1]), ValueError, "sub-environment 2"),
    ],
)
def test_bad_discrete_actions(actions, error, message):
    venv = gym.make_vec("EdgeCloud-High-v0", num_envs=3)
    venv.reset(seed=0)
    with pytest.raises(error, match=message):
        venv.step(actions)


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        (np.ones((3, 6)), r"shape \(3, 7\)"),
        (np.ones(7), r"shape \(3, 7\)"),
        (np.array([[0.5] * 7, [np.nan] * 7, [0.5] * 7]), "finite.*sub-environment 1"),
        (np.array([[0.5] * 7, [0.5] * 7, [np.inf] + [0.5] * 6]), "finite.*sub-environment 2"),
        (np.full((3, 7), 1.5), r"\[0, 1\].*sub-environment 0"),
        (np.array([[0.5] * 7, [0.0] * 7, [0.5] * 7]), "sub-environment 1 are all zero"),
    ],
)
def test_bad_weights(actions, message):
    venv = gym.make_vec("EdgeCloud-High-v0", num_envs=3, action_mode="weights")
    venv.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        venv.step(actions)


def test_bad_arguments():
    with pytest.raises(RuntimeError, match="reset"):
        EdgeCloudVectorEnv(num_envs=2).step(np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match="Did you mean 'SameStep'"):
        EdgeCloudVectorEnv(num_envs=2, autoreset_mode="SameStpe")
    with pytest.raises(ValueError, match="list of 3"):
        EdgeCloudVectorEnv(num_envs=2, task=["low", "low", "high"])
    with pytest.raises(ValueError, match="node_weights"):
        EdgeCloudVectorEnv(num_envs=2, task=MEDIUM.replace(node_weights=(1.0, 2.0)))
    with pytest.raises(ValueError, match="render_mode"):
        EdgeCloudVectorEnv(num_envs=2, render_mode="ansi")
    with pytest.raises(ValueError, match="max_episode_steps"):
        EdgeCloudVectorEnv(num_envs=2, max_episode_steps=0)
    venv = EdgeCloudVectorEnv(num_envs=2)
    with pytest.raises(ValueError, match="2 seeds"):
        venv.reset(seed=[1, 2, 3])
    with pytest.raises(ValueError, match="non-negative"):
        venv.reset(seed=[1, -2])
    with pytest.raises(ValueError, match="only 'task'"):
        venv.reset(options={"reset_mask": np.ones(2, dtype=bool)})


# ---------------------------------------------------------------------------- SB3 adapter

sb3 = pytest.importorskip("stable_baselines3")


def test_sb3_adapter_follows_sb3_semantics():
    from edgecloud_agents.sb3_vec import SB3VecEnvAdapter, make_sb3_vec_env

    venv = make_sb3_vec_env("EdgeCloud-High-v0", n_envs=3, seed=5, monitor=False, episode_steps=3)
    assert isinstance(venv, SB3VecEnvAdapter)
    obs = venv.reset()
    ref, _ = gym.make_vec("EdgeCloud-High-v0", num_envs=3, episode_steps=3).reset(seed=5)
    assert np.array_equal(obs, ref)  # SB3's seed() reaches the sub-envs (5, 6, 7)
    assert venv.reset_infos[0]["task"] == "high"
    progress = venv.venv.layout.time.start + 2
    for _ in range(3):
        venv.step_async(np.array([1, 2, 3]))
        obs, rewards, dones, infos = venv.step_wait()
        assert rewards.dtype == np.float32 and len(infos) == 3
        assert isinstance(infos[0]["arrived"], float)
        assert infos[1]["reward_parts"].keys() == set(REWARD_PARTS)
    assert dones.all()
    assert all(info["TimeLimit.truncated"] for info in infos)
    assert all(np.isclose(info["terminal_observation"][progress], 1.0) for info in infos)
    assert np.allclose(obs[:, progress], 0.0)
    assert venv.get_attr("render_mode") == [None] * 3
    assert venv.env_is_wrapped(gym.Wrapper) == [False] * 3
    venv.env_method("set_task", "low")
    venv.reset()
    assert venv.reset_infos[2]["task"] == "low"
    with pytest.raises(ValueError, match="indices=None"):
        venv.env_method("set_task", "low", indices=[0])
    with pytest.raises(ValueError, match="SameStep"):
        SB3VecEnvAdapter(gym.make_vec("EdgeCloud-High-v0", num_envs=2))


def test_sb3_dqn_trains_on_the_native_vector_env():
    from stable_baselines3 import DQN

    from edgecloud_agents.sb3_vec import make_sb3_vec_env

    venv = make_sb3_vec_env(
        "EdgeCloud-High-v0", n_envs=4, seed=0, episode_steps=20, forecaster="none"
    )
    model = DQN(
        "MlpPolicy",
        venv,
        learning_starts=40,
        buffer_size=1_000,
        batch_size=32,
        train_freq=4,
        policy_kwargs={"net_arch": [32, 32]},
        seed=0,
    )
    before = [p.detach().clone() for p in model.q_net.parameters()]
    model.learn(total_timesteps=300)
    assert model.num_timesteps >= 300
    assert len(model.ep_info_buffer) >= 4  # episodes ended and were reported by VecMonitor
    assert model.replay_buffer.timeouts[: model.replay_buffer.size()].any()
    after = list(model.q_net.parameters())
    assert any(not np.allclose(a.detach(), b) for a, b in zip(after, before, strict=True))


def test_parallel_workload_sampling_is_deterministic(monkeypatch):
    """Large resets draw workloads on threads; each env's draws come from its own generator,
    so the episodes are those of a serial reset (and of single envs with the same seeds)."""
    from edgecloud_gym import _threads

    n = 80  # above the size where the reset goes parallel
    monkeypatch.setattr(_threads, "THREADS", 4)
    parallel, _ = EdgeCloudVectorEnv(num_envs=n, task="high", forecaster="none").reset(seed=3)
    monkeypatch.setattr(_threads, "THREADS", 1)
    serial, _ = EdgeCloudVectorEnv(num_envs=n, task="high", forecaster="none").reset(seed=3)
    assert np.array_equal(parallel, serial)
    last, _ = gym.make("EdgeCloud-High-v0", forecaster="none").reset(seed=3 + n - 1)
    assert np.array_equal(parallel[-1], last)


def test_threads_change_no_number(monkeypatch):
    """Large batches split the step kernel, the observation pass and the LSTM's chunks over the
    thread pool; every row is computed on its own, so one thread gives bit-identical results."""
    from edgecloud_gym import _threads

    n = 530  # above the step's split size, 3,180 LSTM sequences (50 chunks)
    actions = np.random.default_rng(0).integers(16, size=(3, n))
    runs = []
    for threads in (3, 1):
        monkeypatch.setattr(_threads, "THREADS", threads)
        env = EdgeCloudVectorEnv(num_envs=n, task="high")  # the default forecaster, lstm
        obs, _ = env.reset(seed=11)
        steps = [env.step(a) for a in actions]
        runs.append((obs, [(o, r, i["latency_mean_ms"]) for o, r, _, _, i in steps]))
    (obs_a, steps_a), (obs_b, steps_b) = runs
    assert np.array_equal(obs_a, obs_b)
    for (oa, ra, la), (ob, rb, lb) in zip(steps_a, steps_b, strict=True):
        assert np.array_equal(oa, ob) and np.array_equal(ra, rb) and np.array_equal(la, lb)


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_bad_thread_count_is_refused(monkeypatch, value):
    from edgecloud_gym import _threads

    monkeypatch.setenv("EDGECLOUD_THREADS", value)
    with pytest.raises(ValueError, match="EDGECLOUD_THREADS must be a positive number"):
        _threads._threads_from_env()
    monkeypatch.setenv("EDGECLOUD_THREADS", "3")
    assert _threads._threads_from_env() == 3


def test_run_in_chunks_covers_rows_and_hands_back_errors(monkeypatch):
    """Chunks cover every row once; a worker's error reaches the caller and the workers stay
    usable; a nested call (from inside a chunk) runs in its own thread instead of waiting."""
    from edgecloud_gym import _threads

    monkeypatch.setattr(_threads, "THREADS", 3)
    seen = np.zeros(100, dtype=int)

    def mark(lo: int, hi: int) -> None:
        seen[lo:hi] += 1

    _threads.run_in_chunks(mark, 100, 10)
    assert (seen == 1).all()

    def fail_first(lo: int, hi: int) -> None:
        if lo == 0:
            raise RuntimeError("chunk 0 failed")

    with pytest.raises(RuntimeError, match="chunk 0 failed"):
        _threads.run_in_chunks(fail_first, 100, 10)
    nested = []
    _threads.run_in_chunks(
        lambda lo, hi: nested.append(_threads.run_in_chunks(mark, 50, 5)), 30, 10
    )
    # the first split of the lambda: row 0 alone, then 3 chunks, each with its nested call
    assert len(nested) == 4 and (seen[:50] == 5).all()


def test_run_in_chunks_deals_blocks_to_free_threads(monkeypatch):
    """With ``block``, every row is worked once, in chunks of ``block`` rows (the last shorter);
    an error reaches the caller and stops the dealing; the workers stay usable."""
    import threading

    from edgecloud_gym import _threads

    monkeypatch.setattr(_threads, "THREADS", 3)
    seen = np.zeros(100, dtype=int)
    chunks: list[tuple[int, int]] = []
    names: set[str] = set()
    guard = threading.Lock()

    def mark(lo: int, hi: int) -> None:
        with guard:
            seen[lo:hi] += 1
            chunks.append((lo, hi))
            names.add(threading.current_thread().name)

    # the first split of a function computes row 0 alone first (numba's first calls in one
    # thread), then deals the rest
    _threads.run_in_chunks(mark, 100, 10, block=7)
    assert (seen == 1).all()
    assert chunks[0] == (0, 1)
    assert sorted(chunks[1:]) == [(lo, min(lo + 7, 100)) for lo in range(1, 100, 7)]
    seen[:] = 0
    chunks.clear()
    _threads.run_in_chunks(mark, 100, 10, block=7)
    assert (seen == 1).all()
    assert sorted(chunks) == [(lo, min(lo + 7, 100)) for lo in range(0, 100, 7)]
    assert "MainThread" in names

    def fail(lo: int, hi: int) -> None:
        raise RuntimeError(f"chunk at {lo} failed")

    with pytest.raises(RuntimeError, match=r"chunk at \d+ failed"):
        _threads.run_in_chunks(fail, 100, 10, block=7)
    seen[:] = 0
    _threads.run_in_chunks(mark, 100, 10, block=30)
    assert (seen == 1).all()
