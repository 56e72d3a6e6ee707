"""Capacity levers (active cores with a boot delay, DVFS), the autoscaler and joint control."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edgecloud_gym
from edgecloud_gym import EdgeCloudConfig, EdgeCloudEnv, Task
from edgecloud_gym.config import Capacity
from edgecloud_gym.core.capacity import (
    advance_boot,
    controlled_params,
    initial_capacity_state,
    request_capacity,
)
from edgecloud_gym.core.params import SRV_CORES, SRV_MU, build_params
from edgecloud_gym.core.simulator import METRIC_KEYS, BatchSimulator, model_step
from edgecloud_gym.tasks import get_task

COL = {k: i for i, k in enumerate(METRIC_KEYS)}
JOINT_IDS = [i for i, kw in edgecloud_gym.ALLOCATION_IDS.items() if kw.get("control") == "joint"]
S = 7  # servers of the default topology
K = 3  # application classes
A = 3 * S + 2 * K  # joint vector actions


def _joint(task: str | Task = "joint-high", mode: str = "continuous", **kw) -> EdgeCloudEnv:
    return EdgeCloudEnv(task=task, control="joint", action_mode=mode, forecaster="none", **kw)


def _levels(routing: np.ndarray, level: float, clock: float) -> np.ndarray:
    return np.concatenate([routing, np.full(S, level), np.full(S, clock), np.zeros(2 * K)])


def test_joint_at_full_capacity_is_routing_bit_for_bit():
    """The top level and clock with nothing booting leave the step's rows untouched."""
    joint, routing = (
        _joint("high"),
        EdgeCloudEnv(task="high", action_mode="continuous", forecaster="none", autoscaler=False),
    )
    joint.reset(seed=5)
    routing.reset(seed=5)
    rng = np.random.default_rng(0)
    for _ in range(60):
        a = rng.uniform(-1, 1, S)
        o1, r1, *_, i1 = joint.step(_levels(a, 1.0, 1.0))
        o2, r2, *_, i2 = routing.step(a)
        assert r1 == r2
        np.testing.assert_array_equal(o1[: o2.size], o2)
        assert i1["utilisation"] == i2["utilisation"] == i1["utilisation_installed"]


def test_switching_off_is_immediate_and_booting_takes_boot_steps():
    env = _joint("low")
    boot = env.config.capacity.boot_steps
    env.reset(seed=1)
    layout = env.unwrapped.layout
    zero = np.zeros(S)
    obs, *_, info_low = env.step(_levels(zero, -1.0, 1.0))  # lowest level at once
    np.testing.assert_allclose(obs[layout.active], env.sim.params.level_fraction[:, 0])
    assert np.all(obs[layout.booting] == 0)
    assert info_low["utilisation_installed"] < info_low["utilisation"]
    energy_low = info_low["energy_j"]
    for k in range(boot):  # ask for the top level: the cores boot, serving nothing
        obs, *_, info = env.step(_levels(zero, 1.0, 1.0))
        if k < boot - 1:
            np.testing.assert_allclose(obs[layout.active], env.sim.params.level_fraction[:, 0])
            np.testing.assert_allclose(obs[layout.booting], 1 - env.sim.params.level_fraction[:, 0])
        if k == 0:  # booting cores draw their full-load power
            assert info["energy_j"] > energy_low
    # after boot_steps steps the cores serve
    assert np.all(obs[layout.active] == 1.0) and np.all(obs[layout.booting] == 0.0)


def test_a_lower_request_cancels_a_boot():
    config = EdgeCloudConfig()
    params = build_params(config, [Task()])
    state = initial_capacity_state(1, S, config.capacity)
    low = np.zeros((1, S), dtype=np.int64)
    top = np.full((1, S), 3)
    clock = np.full((1, S), 2)
    request_capacity(state, low, clock, config.capacity)
    request_capacity(state, top, clock, config.capacity)
    assert np.all(state.countdown == config.capacity.boot_steps)
    advance_boot(state)
    request_capacity(state, np.full((1, S), 2), clock, config.capacity)  # fewer: keeps countdown
    assert np.all(state.countdown == config.capacity.boot_steps - 1) and np.all(state.target == 2)
    request_capacity(state, low, clock, config.capacity)  # back to the active level: cancelled
    assert np.all(state.countdown == 0) and np.all(state.target == 0)
    assert np.all(state.booting_cores(params) == 0)


def test_dvfs_scales_capacity_and_dynamic_power():
    config = EdgeCloudConfig()
    params = build_params(config, [Task()])
    state = initial_capacity_state(1, S, config.capacity)
    state.frequency[:] = 0
    slow = controlled_params(params, state, config.capacity)
    f = config.capacity.frequencies[0]
    np.testing.assert_allclose(slow.srv[:, SRV_MU], params.srv[:, SRV_MU] * f)
    np.testing.assert_allclose(slow.dynamic_w, params.dynamic_w * f**3)
    np.testing.assert_array_equal(slow.idle_w, params.idle_w)
    state.frequency[:] = 2
    state.level[:] = 1
    state.target[:] = 1
    half = controlled_params(params, state, config.capacity)
    np.testing.assert_array_equal(half.srv[:, SRV_CORES], params.level_cores[None, :, 1])
    np.testing.assert_allclose(half.idle_w, params.idle_w * params.level_fraction[:, 1])


def test_slower_clock_costs_less_energy_per_request_at_low_load():
    def energy_per_request(clock: float) -> float:
        env = _joint("low")
        env.reset(seed=2)
        e = p = 0.0
        for _ in range(40):
            *_, info = env.step(_levels(np.zeros(S), 1.0, clock))
            e, p = e + info["energy_j"], p + info["processed"]
        return e / p

    assert energy_per_request(-1.0) < energy_per_request(1.0)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), mode=st.sampled_from(["discrete", "continuous"]))
def test_joint_control_conserves_requests(seed, mode):
    rng = np.random.default_rng(seed)
    tasks = [Task(load=rng.uniform(0, 2.5), burst_amplitude=1.0), Task(load=0.5)]
    sim = BatchSimulator(EdgeCloudConfig(), tasks, "none", mode, 30, control="joint")
    sim.reset([np.random.default_rng(seed + j) for j in range(2)])
    for _ in range(30):
        if mode == "discrete":
            action = rng.integers(sim.n_actions, size=2)
        else:
            action = rng.uniform(-1.2, 1.2, size=(2, A))
        shares, control = sim.decode_action(action)
        assert control.capacity.shape == (2, 2, S) and control.classes.shape == (2, 2, K)
        before = sim.backlog.copy()
        arrivals = sim.workload.arrivals[np.arange(2), sim.config.warmup_steps + sim.t]
        obs, _, metrics, res = sim.step_observe(shares, control)
        np.testing.assert_allclose(
            res.inflow,
            res.processed + res.dropped + res.abandoned + (res.backlog - before),
            atol=1e-9,
        )
        # in total: arrivals = inflow + link losses + requests refused by admission control
        np.testing.assert_allclose(
            res.inflow.sum(axis=1)
            + res.link_dropped.sum(axis=(1, 2))
            + metrics[:, COL["rejected"]],
            arrivals.sum(axis=1),
            rtol=1e-9,
        )
        np.testing.assert_allclose(
            res.served.sum(axis=2), res.inflow - res.dropped - res.abandoned, atol=1e-9
        )
        assert np.all((res.utilisation >= 0) & (res.utilisation <= 1 + 1e-12))
        util = metrics[:, COL["utilisation"]]
        assert np.all(metrics[:, COL["utilisation_installed"]] <= util + 1e-12)
        assert np.all(np.isfinite(obs)) and np.all(obs[:, -3 * S :] <= 1.0)
        assert np.all(obs[:, -3 * S :] >= 0.0)


@pytest.mark.parametrize("mode", ["discrete", "continuous"])
def test_single_and_vector_joint_envs_agree(mode):
    n = 3
    venv = gym.make_vec(
        "EdgeCloud-Joint-Medium-v0", num_envs=n, action_mode=mode, forecaster="none"
    )
    envs = [
        gym.make("EdgeCloud-Joint-Medium-v0", action_mode=mode, forecaster="none") for _ in range(n)
    ]
    vobs, _ = venv.reset(seed=[10, 11, 12])
    for j, env in enumerate(envs):
        obs, _ = env.reset(seed=10 + j)
        np.testing.assert_array_equal(obs, vobs[j])
    venv.action_space.seed(0)
    for _ in range(25):
        actions = venv.action_space.sample()
        vobs, vrew, *_ = venv.step(actions)
        for j, env in enumerate(envs):
            obs, rew, *_ = env.step(actions[j])
            np.testing.assert_array_equal(obs, vobs[j])
            assert rew == vrew[j]


@pytest.mark.parametrize("env_id", JOINT_IDS)
def test_joint_ids_pass_check_env_and_are_deterministic(env_id):
    from gymnasium.utils.env_checker import check_env

    for mode in ("discrete", "continuous"):
        env = gym.make(env_id, action_mode=mode, forecaster="none").unwrapped
        check_env(env, skip_render_check=True)
        runs = []
        for _ in range(2):
            env.reset(seed=4)
            env.action_space.seed(4)
            runs.append([env.step(env.action_space.sample())[1] for _ in range(20)])
        assert runs[0] == runs[1]
    assert len(gym.make(env_id).unwrapped.action_names) == 6 * S + 2 + 4 * K


def test_autoscaler_saves_energy_and_raises_utilisation_on_a_light_load():
    def run(autoscaler: bool) -> tuple[float, float]:
        env = EdgeCloudEnv(task="low", forecaster="none", autoscaler=autoscaler)
        env.reset(seed=0)
        e = u = 0.0
        for _ in range(120):
            *_, info = env.step(0)
            e, u = e + info["energy_j"], u + info["utilisation"]
        return e, u

    (e_on, u_on), (e_off, u_off) = run(True), run(False)
    assert e_on < 0.9 * e_off
    assert u_on > 1.2 * u_off


def test_autoscaler_waits_out_its_window_before_scaling_down():
    window = 10
    config = EdgeCloudConfig(capacity=Capacity(stabilisation_steps=window))
    env = EdgeCloudEnv(task="low", config=config, forecaster="none", autoscaler=True)
    env.reset(seed=0)
    active = env.unwrapped.layout.active
    for step in range(window + 2):
        obs, *_ = env.step(0)
        if step < window - 1:
            assert np.all(obs[active] == 1.0), step
    assert np.any(obs[active] < 1.0)


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"control": "jiont"}, ValueError, "control must be one of.*joint"),
        ({"control": "joint", "autoscaler": True}, ValueError, "autoscaler=True is for"),
        ({"autoscaler": "yes"}, TypeError, "autoscaler must be True, False or None"),
    ],
)
def test_bad_control_arguments_are_refused(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        EdgeCloudEnv(task="low", forecaster="none", **kwargs)


def test_bad_joint_actions_are_refused_naming_the_shape():
    env = _joint()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(27,\).*capacity level"):
        env.step(np.zeros(S))
    with pytest.raises(ValueError, match="finite"):
        env.step(np.full(A, np.nan))
    discrete = _joint(mode="discrete")
    discrete.reset(seed=0)
    with pytest.raises(ValueError, match=r"\[0, 56\)"):
        discrete.step(56)
    venv = gym.make_vec("EdgeCloud-Joint-Low-v0", num_envs=2, forecaster="none")
    venv.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        venv.step(np.zeros((2, 3)))


def test_joint_weights_encode_exact_shares_and_levels():
    env = _joint("medium", mode="weights")
    env.reset(seed=3)
    sim = env.unwrapped.sim
    shares = np.array([[0.3, 0.0, 0.1, 0.1, 0.2, 0.2, 0.1]])
    levels = np.array([[0, 1, 2, 3, 0, 1, 3]])
    clocks = np.array([[2, 1, 0, 2, 2, 1, 0]])
    action = sim.encode_joint_weights(shares, levels, clocks)
    got_shares, got = sim.decode_action(action)
    np.testing.assert_allclose(got_shares, shares)
    np.testing.assert_array_equal(got.capacity[:, 0], levels)
    np.testing.assert_array_equal(got.capacity[:, 1], clocks)
    np.testing.assert_array_equal(got.classes, [[[1.0] * K, [0.0] * K]])
    env.step(action[0])
    np.testing.assert_array_equal(sim.capacity.level, np.minimum(levels, 3))
    with pytest.raises(ValueError, match="routing weight"):
        env.step(np.concatenate([np.zeros(S), np.ones(2 * S), np.zeros(2 * K)]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        env.step(np.full(A, 1.5))


def test_requests_beyond_the_levels_are_refused():
    config = EdgeCloudConfig()
    state = initial_capacity_state(1, S, config.capacity)
    clock = np.full((1, S), 2)
    with pytest.raises(ValueError, match=r"capacity levels must lie in 0\.\.3"):
        request_capacity(state, np.full((1, S), 4), clock, config.capacity)
    with pytest.raises(ValueError, match=r"frequency levels must lie in 0\.\.2"):
        request_capacity(state, np.full((1, S), 3), np.full((1, S), -1), config.capacity)


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"levels": (0.5, 0.25, 1.0)}, "increase strictly"),
        ({"levels": (0.25, 0.5)}, "must end at 1.0"),
        ({"levels": (0.0, 1.0)}, "must be > 0"),
        ({"frequencies": ()}, "is empty"),
        ({"boot_steps": -1}, "boot_steps"),
        ({"target_utilisation": 0.0}, "target_utilisation"),
        ({"dvfs_exponent": 9}, "dvfs_exponent"),
    ],
)
def test_bad_capacity_config_is_refused(changes, pattern):
    with pytest.raises(ValueError, match=pattern):
        Capacity(**changes)


def test_capacity_config_from_a_mapping():
    config = EdgeCloudConfig.from_dict({"capacity": {"boot_steps": 2, "levels": [0.5, 1.0]}})
    assert config.capacity.boot_steps == 2 and config.capacity.levels == (0.5, 1.0)
    with pytest.raises(TypeError, match="boot_step"):
        EdgeCloudConfig.from_dict({"capacity": {"boot_step": 2}})


def _class_action(bias: np.ndarray, shed: np.ndarray) -> np.ndarray:
    return np.concatenate([np.zeros(S), np.ones(2 * S), bias, shed])


def test_cloud_bias_keeps_a_class_at_the_edge_or_sends_it_to_the_cloud():
    def cloud_fraction(bias: float) -> np.ndarray:
        env = _joint("medium")
        env.reset(seed=7)
        served = np.zeros((S, K))
        for _ in range(30):
            *_, info = env.step(_class_action(np.array([bias, 0.0, 0.0]), np.zeros(K)))
            served += info["served_by_server_class"]
        return served[-1] / served.sum(axis=0)  # per class, the cloud's part

    edge, neutral, cloud = cloud_fraction(-1.0), cloud_fraction(0.0), cloud_fraction(1.0)
    assert edge[0] < 0.5 * neutral[0] and cloud[0] > 1.5 * neutral[0]
    np.testing.assert_allclose(edge[1:], neutral[1:], rtol=0.3)  # the other classes follow x


def test_shedding_is_counted_and_never_beats_serving_on_time():
    env = _joint("low")
    env.reset(seed=3)
    *_, served = env.step(_class_action(np.zeros(K), np.zeros(K)))
    env.reset(seed=3)
    _, r_shed, *_, shed = env.step(_class_action(np.zeros(K), np.array([1.0, 0.0, 0.0])))
    mix = env.task.app_mix or (1 / 3,) * 3
    assert shed["rejected"] == pytest.approx(shed["arrived"] * mix[0], rel=1e-9)
    assert shed["reward_parts"]["rejected"] < 0 and served["reward_parts"]["rejected"] == 0
    assert shed["processed"] < served["processed"]
    env.reset(seed=3)
    _, r_served, *_ = env.step(_class_action(np.zeros(K), np.zeros(K)))
    assert r_served > r_shed  # at low load every class meets its deadline: serving wins


def test_class_levers_persist_in_discrete_mode_and_show_in_the_observation():
    env = _joint("low", mode="discrete")
    env.reset(seed=0)
    names = env.unwrapped.action_names
    layout = env.unwrapped.layout
    obs, *_ = env.step(names.index("shed-more-iot"))
    obs, *_ = env.step(names.index("cloud-first-ar_vr"))
    np.testing.assert_allclose(obs[layout.shed], [0.0, 0.0, 0.25])
    np.testing.assert_allclose(obs[layout.cloud_bias], [0.5, 0.0, 0.0])
    obs, *_ = env.step(0)  # hold: both stay
    np.testing.assert_allclose(obs[layout.shed], [0.0, 0.0, 0.25])


def test_bad_class_levers_are_refused():
    sim = BatchSimulator(EdgeCloudConfig(), [Task()], "none", "continuous", 10, control="joint")
    sim.reset([np.random.default_rng(0)])
    shares, control = sim.decode_action(np.zeros((1, A)))
    bad = control._replace(classes=np.array([[[1.5, 1.0, 1.0], [0.0, 0.0, 0.0]]]))
    with pytest.raises(ValueError, match=r"admitted fractions must lie in \[0, 1\]"):
        sim.step(shares, bad)
    with pytest.raises(ValueError, match=r"shape \(1, 2, 3\)"):
        sim.step(shares, control._replace(classes=np.zeros((1, 3))))


@pytest.mark.parametrize(("algo", "mode"), [("DQN", "discrete"), ("PPO", "continuous")])
def test_sb3_learns_a_few_steps_on_a_joint_id_through_the_native_adapter(algo, mode):
    import stable_baselines3

    from edgecloud_agents.sb3_vec import make_sb3_vec_env

    venv = make_sb3_vec_env(
        "EdgeCloud-Joint-Low-v0", n_envs=2, seed=0, action_mode=mode, forecaster="none"
    )
    cls = getattr(stable_baselines3, algo)
    kwargs = {"learning_starts": 8, "buffer_size": 256} if algo == "DQN" else {"n_steps": 16}
    model = cls("MlpPolicy", venv, seed=0, batch_size=8, **kwargs).learn(64)
    action, _ = model.predict(venv.reset(), deterministic=True)
    assert venv.action_space.contains(action[0])
    venv.close()


def test_fractional_capacity_requests_are_refused_not_truncated():
    sim = BatchSimulator(EdgeCloudConfig(), [Task()], "none", "continuous", 10, control="joint")
    sim.reset([np.random.default_rng(0)])
    shares = sim.params.static_shares.copy()
    request = np.full((1, 2, S), 2.0)
    sim.step(shares, request)  # whole numbers in a float array are fine
    assert np.all(sim.capacity.frequency == 2)
    request[0, 0, 3] = 1.5
    with pytest.raises(ValueError, match="whole level indices"):
        sim.step(shares, request)


def test_registered_routing_ids_run_the_autoscaler_by_default():
    """Model version 2: the routing ids' default is the built-in autoscaler (their observation
    ends with the capacity columns), joint ids have none, and autoscaler=False is v1's fixed
    capacity."""
    env = gym.make("EdgeCloud-Low-v0", forecaster="none").unwrapped
    assert env.sim.autoscaler and env.sim.dynamic_capacity
    assert not gym.make("EdgeCloud-Joint-Low-v0", forecaster="none").unwrapped.sim.autoscaler
    fixed = EdgeCloudEnv(task="low", forecaster="none", autoscaler=False)
    assert fixed.observation_space.shape[0] == env.observation_space.shape[0] - 3 * S
    env.reset(seed=0)
    for _ in range(40):
        obs, *_, info = env.step(0)
    active = obs[-3 * S : -2 * S]
    assert active.min() < 1.0  # Low's lightly loaded edge nodes were scaled down
    assert info["utilisation_installed"] < info["utilisation"]


@pytest.mark.parametrize("control", ["routing", "joint"])
def test_model_step_is_the_simulators_step(control):
    """model_step on copied state (what mpc rolls out) gives the simulator's rewards and
    capacity state bit for bit, with the autoscaler in routing control and with level requests
    in joint control."""
    sim = BatchSimulator(EdgeCloudConfig(), [get_task("high")] * 2, "none", "weights", 60,
                         control=control)  # fmt: skip
    sim.reset([np.random.default_rng(1), np.random.default_rng(2)])
    state = type(sim.capacity)(*(x.copy() for x in sim.capacity))
    backlog, queue = sim.backlog.copy(), sim.queue_state.copy()
    rng = np.random.default_rng(3)
    for t in range(60):
        shares = rng.dirichlet(np.ones(S), size=2)
        arrivals = sim.workload.arrivals[:, sim.config.warmup_steps + t].copy()
        request = None
        if control == "joint":
            request = np.stack([rng.integers(0, 4, (2, S)), rng.integers(0, 3, (2, S))], axis=1)
        res = model_step(sim.params, sim.config.capacity, state, backlog, shares, arrivals,
                         queue, request=request, autoscaler=sim.autoscaler)  # fmt: skip
        reward, *_ = sim.step(shares, request)
        np.testing.assert_array_equal(res.reward, reward)
        for mine, theirs in zip(state, sim.capacity, strict=True):
            np.testing.assert_array_equal(mine, theirs)
        backlog, queue = res.backlog, res.queue_state
