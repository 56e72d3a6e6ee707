"""Forecastable structure of the synthetic workload: the daily ramp and the scheduled events.

Both are off by default and then draw nothing, so every existing task keeps its arrivals bit for
bit; on, the ramp sits at its phase of every day and each day's event starts at its phase within
the jitter, drawn from the episode's own generator.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from edgecloud_gym.core import workload
from edgecloud_gym.core._jit import HAVE_NUMBA
from edgecloud_gym.core.workload import sample_workload, sample_workloads
from edgecloud_gym.tasks import (
    HIGH,
    JOINT_HIGH,
    JOINT_LOW,
    JOINT_MEDIUM,
    JOINT_PRESETS,
    LOW,
    MEDIUM,
    Task,
    get_task,
    test_tasks,
    train_tasks,
)

MU = np.array([240.0, 240.0, 480.0, 120.0, 360.0, 240.0])
DAY = 200
KW = {"steps": 200, "warmup": 64, "horizon": 5, "day_steps": DAY}

#: The new fields, each at a value that is not its default but leaves its component off (both
#: amplitudes 0): nothing may be drawn or computed differently.
OFF_BUT_SET = {
    "ramp_amplitude": 0.0,
    "ramp_phase": 0.4,
    "ramp_rise": 3,
    "ramp_hold": 12,
    "event_amplitude": 0.0,
    "event_phase": 0.55,
    "event_jitter": 5.0,
    "event_onset": 2,
    "event_duration": 15,
    "event_nodes": (1, 2),
}

#: A task whose rate is the base rate plus the structure alone (no diurnal swing, bursts or
#: flash crowds), so the structure can be read off the rates exactly.
PLAIN = Task(name="plain", load=0.5, diurnal_amplitude=0.0, burst_period=0, flash_rate=0.0)


def _digest(tasks: list[Task], seeds: tuple[int, ...]) -> str:
    h = hashlib.sha256()
    for task in tasks:
        for seed in seeds:
            wl = sample_workload(task, MU, rng=np.random.default_rng(seed), **KW)
            h.update(wl.arrivals.astype(np.int64).tobytes())
            h.update(np.round(wl.phase * DAY).astype(np.int64).tobytes())
    return h.hexdigest()[:16]


# ------------------------------------------------------------------------ defaults off


def test_existing_streams_did_not_move():
    """The checksum of these tasks' arrivals and phases, computed by the sampler as it was before
    the ramp and events existed: any change of an existing stream fails here."""
    tasks = [
        LOW,
        MEDIUM,
        HIGH,
        get_task("flash-crowds"),
        get_task("shift"),
        get_task("hotspot"),
        get_task("failed-node"),
        *train_tasks(3, seed=7),
        *test_tasks(2, seed=7),
    ]
    assert _digest(tasks, (0, 1, 2)) == "97aa9245f733a837"


@pytest.mark.parametrize("task", [LOW, HIGH], ids=["low", "high"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_components_that_are_off_change_nothing(task, seed):
    """Both amplitudes 0 with every other new field set: the same rates, arrivals and phases,
    and the generator ends in the same state."""
    rng_a, rng_b = np.random.default_rng(seed), np.random.default_rng(seed)
    a = sample_workload(task, MU, rng=rng_a, **KW)
    b = sample_workload(task.replace(**OFF_BUT_SET), MU, rng=rng_b, **KW)
    for field in ("rates", "arrivals", "phase"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert rng_a.bit_generator.state == rng_b.bit_generator.state


def test_new_fields_default_to_off():
    task = Task()
    assert not task.has_ramp and not task.has_event
    assert (task.ramp_amplitude, task.ramp_phase, task.ramp_rise, task.ramp_hold) == (0, 0, 0, 0)
    assert (task.event_amplitude, task.event_phase, task.event_jitter) == (0, 0, 0)
    assert (task.event_onset, task.event_duration, task.event_nodes) == (0, 0, None)
    for task in (LOW, MEDIUM, HIGH, *train_tasks(5), *test_tasks(3)):
        assert not task.has_ramp and not task.has_event


# ------------------------------------------------------------------------ the ramp


def test_the_ramp_follows_its_trapezoid_at_its_phase():
    """Without other components the rate is exactly base * (1 + A g(u)) at every day step."""
    task = PLAIN.replace(ramp_amplitude=0.6, ramp_phase=0.9, ramp_rise=4, ramp_hold=10)
    wl = sample_workload(task, MU, rng=np.random.default_rng(3), **KW)
    day = np.round(wl.phase[0] * DAY).astype(int)
    u = (day - 0.9 * DAY) % DAY  # the ramp wraps around the day's end here
    g = np.clip(np.minimum(u / 4, (18 - u) / 4), 0.0, 1.0)
    base = 0.5 * MU
    np.testing.assert_allclose(wl.rates[0], base * (1 + 0.6 * g)[:, None], rtol=1e-12)


def test_the_mean_rate_rises_within_ramp_rise_steps_at_ramp_phase():
    """Over many seeds of a noisy profile (bursts, flash crowds, diurnal swing), the arrivals
    aligned by phase, relative to the same episodes without the ramp: flat before the phase,
    at full height ``ramp_rise`` steps later, and back after the fall."""
    rise, hold, amp, at = 3, 20, 0.5, 0.3
    ramp = MEDIUM.replace(ramp_amplitude=amp, ramp_phase=at, ramp_rise=rise, ramp_hold=hold)
    n = 300
    mu = np.tile(MU, (n, 1))
    on = sample_workloads([ramp] * n, mu, rngs=[np.random.default_rng(s) for s in range(n)], **KW)
    off = sample_workloads(
        [MEDIUM] * n, mu, rngs=[np.random.default_rng(s) for s in range(n)], **KW
    )
    np.testing.assert_array_equal(on.phase, off.phase)  # the ramp draws nothing
    day = np.round(on.phase * DAY).astype(int).ravel() % DAY
    per_day = np.bincount(day, minlength=DAY)

    def mean_by_day(x: np.ndarray) -> np.ndarray:
        return np.bincount(day, x.sum(-1).ravel(), minlength=DAY) / per_day

    ratio = mean_by_day(on.arrivals) / mean_by_day(off.arrivals)
    start = int(at * DAY)
    assert np.all(np.abs(ratio[start - 10 : start + 1] - 1) < 0.02), ratio[start - 10 : start + 1]
    assert ratio[start + 1] < 1 + amp * 0.5  # still rising one step in
    top = ratio[start + rise : start + rise + hold]
    assert np.all(np.abs(top - (1 + amp)) < 0.03), top
    after = start + 2 * rise + hold
    assert np.all(np.abs(ratio[after : after + 10] - 1) < 0.02), ratio[after : after + 10]


# ------------------------------------------------------------------------ the events


def _event_starts(task: Task, seeds: range, steps: int = 600) -> tuple[np.ndarray, list]:
    """The day step at which each event of each seed's episode starts (node 1's rate leaves its
    base), for the events that lie wholly inside the window; and the list of episodes."""
    kw = {**KW, "steps": steps}
    starts, episodes = [], []
    for seed in seeds:
        wl = sample_workload(task, MU, rng=np.random.default_rng(seed), **kw)
        episodes.append(wl)
        extra = wl.rates[0, :, 1] - task.load * MU[1]
        on = extra > 1e-9
        begins = np.flatnonzero(on[1:] & ~on[:-1]) + 1
        ends = np.flatnonzero(~on[1:] & on[:-1]) + 1
        for b in begins:
            if ends[ends > b].size:
                assert ends[ends > b][0] - b == task.event_duration  # event_onset 0 here
                starts.append(wl.phase[0, b] * DAY)
    return np.array(starts), episodes


def test_the_event_repeats_each_day_at_its_phase_within_the_jitter():
    jitter, phase = 6.0, 0.4
    task = PLAIN.replace(
        event_amplitude=1.5,
        event_phase=phase,
        event_jitter=jitter,
        event_duration=12,
        event_nodes=(1,),
    )
    starts, episodes = _event_starts(task, range(60))
    # an episode of 600 + 69 steps holds three or four whole events, one per day
    assert len(starts) >= 3 * 60
    centre = phase * DAY
    assert np.all(starts >= np.floor(centre - jitter)) and np.all(starts <= centre + jitter + 1)
    assert abs(starts.mean() - (centre + 0.5)) < 1.0  # the first whole step after U(-J, J)
    assert starts.std() > jitter / np.sqrt(3) * 0.7  # spread over the window, not fixed
    for wl in episodes:  # only node 1 is loaded, by the full amplitude at most
        np.testing.assert_array_equal(
            wl.rates[0][:, [0, 2, 3, 4, 5]],
            np.broadcast_to(task.load * MU[[0, 2, 3, 4, 5]], (wl.length, 5)),
        )
        assert wl.rates[0, :, 1].max() <= task.load * MU[1] * (1 + 1.5) + 1e-9


def test_the_event_onset_is_linear_and_the_default_node_is_node_0():
    task = PLAIN.replace(event_amplitude=2.0, event_phase=0.5, event_onset=4, event_duration=10)
    wl = sample_workload(task, MU, rng=np.random.default_rng(0), **{**KW, "steps": 400})
    extra = wl.rates[0, :, 0] / (task.load * MU[0]) - 1
    day = np.round(wl.phase[0] * DAY).astype(int)
    first = np.flatnonzero(day == 100)[0]  # no jitter: the event starts at phase 0.5 exactly
    np.testing.assert_allclose(
        extra[first : first + 11], 2.0 * np.array([0, 0.25, 0.5, 0.75, 1, 1, 1, 1, 1, 1, 0])
    )
    assert np.all(wl.rates[0, :, 1:] == task.load * MU[1:])


def test_the_jitter_comes_from_the_episode_generator():
    task = JOINT_MEDIUM
    a = sample_workload(task, MU, rng=np.random.default_rng(11), **KW)
    b = sample_workload(task, MU, rng=np.random.default_rng(11), **KW)
    np.testing.assert_array_equal(a.arrivals, b.arrivals)
    np.testing.assert_array_equal(a.rates, b.rates)
    plain = PLAIN.replace(
        event_amplitude=1.0,
        event_phase=0.3,
        event_jitter=8.0,
        event_duration=10,
        event_nodes=(1,),
    )
    firsts = [_event_starts(plain, range(s, s + 1))[0] for s in range(8)]
    assert len({tuple(f) for f in firsts}) > 4  # different seeds, different jitters
    assert all(len(set(f)) > 1 for f in firsts)  # and a new jitter every day
    for seed in range(8):  # without jitter no draw: every day's event starts on its phase
        fixed = _event_starts(plain.replace(event_jitter=0.0), range(seed, seed + 1))[0]
        assert len(fixed) >= 3 and np.allclose(fixed, 60.0)


def test_a_batch_of_structured_tasks_draws_what_each_draws_alone():
    """Batched state arrays, one system at a time and a single draw agree draw for draw."""
    tasks = [JOINT_LOW, JOINT_HIGH, HIGH, JOINT_MEDIUM.replace(event_nodes=(2, 5), event_jitter=9)]
    mu = MU * np.linspace(0.5, 2.0, len(tasks))[:, None]
    seeds = [40 + j for j in range(len(tasks))]
    batch = sample_workloads(tasks, mu, rngs=[np.random.default_rng(s) for s in seeds], **KW)
    real = workload.is_pcg64
    workload.is_pcg64 = lambda _: False  # the path of other bit generators: a Generator each
    try:
        one_by_one = sample_workloads(
            tasks, mu, rngs=[np.random.default_rng(s) for s in seeds], **KW
        )
    finally:
        workload.is_pcg64 = real
    for j, task in enumerate(tasks):
        rng = np.random.default_rng(seeds[j])
        alone = sample_workload(task, mu[j], rng=rng, **KW)
        for field in ("rates", "arrivals", "phase"):
            np.testing.assert_array_equal(getattr(batch, field)[j], getattr(alone, field)[0])
            np.testing.assert_array_equal(getattr(one_by_one, field)[j], getattr(alone, field)[0])


def test_the_sampler_stays_compiled():
    if not HAVE_NUMBA:
        pytest.skip("numba is not installed")
    for kernel in (workload._sample_rows, workload._sample_one, workload._event_level):
        assert hasattr(kernel, "signatures"), kernel


# ------------------------------------------------------------------------ presets


def test_joint_presets_are_the_profiles_with_ramp_and_event():
    for name, task, base in (
        ("joint-low", JOINT_LOW, LOW),
        ("joint-medium", JOINT_MEDIUM, MEDIUM),
        ("joint-high", JOINT_HIGH, HIGH),
    ):
        assert get_task(name) is task and JOINT_PRESETS[name] is task
        assert task.has_ramp and task.has_event
        assert task.ramp_rise < 5  # faster than a server boots
        same = {k: v for k, v in base.to_dict().items() if not k.startswith(("ramp_", "event_"))}
        assert {k: task.to_dict()[k] for k in same} == {**same, "name": name}


def test_joint_high_peak_demand_stays_below_edge_and_cloud_capacity():
    """The day's peak of the mean total demand of joint-high overflows the edge (3360 requests
    per step in the default topology) but stays well below edge + cloud (9120)."""
    mu = np.array([240.0, 240.0, 480.0, 480.0, 960.0, 960.0])
    n = 200
    wl = sample_workloads(
        [JOINT_HIGH] * n,
        np.tile(mu, (n, 1)),
        rngs=[np.random.default_rng(s) for s in range(n)],
        **KW,
    )
    total = wl.rates.sum(-1).ravel()
    day = np.round(wl.phase * DAY).astype(int).ravel() % DAY
    mean_by_day = np.bincount(day, total, DAY) / np.bincount(day, None, DAY)
    assert 3360 < mean_by_day.max() < 0.7 * 9120
    assert np.percentile(total, 99) < 9120


# ------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("changes", "error", "pattern"),
    [
        ({"ramp_amplitude": -0.1}, ValueError, r"Task\.ramp_amplitude must lie in \[0, 1000\]"),
        ({"event_amplitude": -1}, ValueError, r"Task\.event_amplitude must lie in \[0, 1000\]"),
        ({"ramp_phase": 1.0}, ValueError, r"Task\.ramp_phase must lie in \[0, 1\)"),
        ({"event_phase": -0.2}, ValueError, r"Task\.event_phase must lie in \[0, 1\)"),
        ({"event_jitter": -1.0}, ValueError, r"Task\.event_jitter must lie in"),
        ({"ramp_rise": 2.5}, TypeError, r"Task\.ramp_rise must be an integer"),
        ({"event_duration": -3}, ValueError, r"Task\.event_duration must be >= 0"),
        ({"ramp_amplitude": 0.5}, ValueError, r"ramp_rise and ramp_hold are 0.*ramp_amplitude=0"),
        ({"event_amplitude": 1.0}, ValueError, r"event_duration is 0.*event_amplitude=0"),
        ({"event_onset": 5, "event_duration": 3}, ValueError, r"event_onset \(5\) must not exceed"),
        ({"event_nodes": ()}, ValueError, r"Task\.event_nodes is empty"),
        ({"event_nodes": (1, 1)}, ValueError, r"Task\.event_nodes names a node twice"),
        ({"event_nodes": (-1,)}, ValueError, r"Task\.event_nodes\[0\] must be >= 0"),
        ({"event_nodes": 2}, TypeError, r"Task\.event_nodes must be a sequence.*\(0,\)"),
        ({"event_nodes": "0"}, TypeError, r"Task\.event_nodes must be a sequence"),
        ({"event_nodes": (0.5,)}, TypeError, r"Task\.event_nodes\[0\] must be an integer"),
    ],
)
def test_bad_fields_are_refused_naming_the_field(changes, error, pattern):
    with pytest.raises(error, match=pattern):
        Task(**changes)


def test_node_indices_beyond_the_topology_are_refused():
    task = MEDIUM.replace(event_amplitude=1.0, event_duration=5, event_nodes=(0, 6))
    with pytest.raises(ValueError, match=r"event_nodes \(0, 6\) names node 6 .* 6 edge nodes"):
        task.check_compatible(6, 3)
    task.check_compatible(7, 3)
    with pytest.raises(ValueError, match="event_nodes"):
        sample_workload(task, MU, rng=np.random.default_rng(0), **KW)


def test_structure_longer_than_a_day_is_refused_at_sampling():
    ramp = PLAIN.replace(ramp_amplitude=0.5, ramp_rise=60, ramp_hold=100)
    with pytest.raises(ValueError, match=r"ramp lasts .* = 220 steps, more than a day \(200"):
        sample_workload(ramp, MU, rng=np.random.default_rng(0), **KW)
    sample_workload(ramp, MU, rng=np.random.default_rng(0), **{**KW, "day_steps": 220})
    event = PLAIN.replace(event_amplitude=1.0, event_duration=150, event_jitter=30)
    with pytest.raises(ValueError, match=r"event_duration \+ 2 \* event_jitter = 210 steps"):
        sample_workload(event, MU, rng=np.random.default_rng(0), **KW)


def test_dict_round_trip_keeps_the_structure():
    for task in (*JOINT_PRESETS.values(), Task(**OFF_BUT_SET), HIGH):
        data = json.loads(json.dumps(task.to_dict()))
        back = Task.from_dict(data)
        assert back == task and hash(back) == hash(task)
        assert isinstance(back.event_nodes, (tuple, type(None)))
    with pytest.raises(TypeError, match="Did you mean 'event_nodes'"):
        Task.from_dict({"event_node": [0]})


def test_an_environment_plays_a_joint_preset_and_refuses_a_missing_node():
    from edgecloud_gym import EdgeCloudEnv

    env = EdgeCloudEnv(task=JOINT_HIGH, forecaster="none", episode_steps=10)
    obs, _ = env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(10):
        obs, reward, *_ = env.step(env.action_space.sample())
        assert np.isfinite(reward) and np.all(np.isfinite(obs))
    env.close()
    with pytest.raises(ValueError, match=r"event_nodes \(9,\) names node 9"):
        EdgeCloudEnv(task=JOINT_HIGH.replace(event_nodes=(9,)), forecaster="none")
