"""Finite or refused at every boundary: config and task values (random, finite and not), task
weights, offloading data files and forecaster weights."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgecloud_gym import EdgeCloudConfig, EdgeCloudEnv, RewardWeights, Topology
from edgecloud_gym.config import AppClass, Capacity
from edgecloud_gym.forecasting.lstm import (
    DEFAULT_WEIGHTS,
    WeightsMismatchError,
    load_weights,
    save_weights,
)
from edgecloud_gym.offloading.data import load_mumt_data, load_wpmec_data, resolve_data_file
from edgecloud_gym.tasks import Task

_STEPS = 12

#: (part, field) of every scalar a user sets: topology, reward, config, one app class, the task.
FIELDS: list[tuple[str, str]] = (
    [("topology", f.name) for f in dataclasses.fields(Topology)]
    + [("reward", f.name) for f in dataclasses.fields(RewardWeights)]
    + [
        ("config", f.name)
        for f in dataclasses.fields(EdgeCloudConfig)
        if f.name not in ("topology", "apps", "reward", "capacity")
    ]
    + [("capacity", f.name) for f in dataclasses.fields(Capacity)]
    + [("app", f.name) for f in dataclasses.fields(AppClass) if f.name != "name"]
    + [("task", f.name) for f in dataclasses.fields(Task) if f.name not in ("name", "trace")]
)

_SPECIAL = [0.0, -0.0, -1.0, 1e-308, 1e-12, 1e6, 1e12, 1e100, 1e308, -1e308]
_SPECIAL += [math.nan, math.inf, -math.inf]
VALUES = st.one_of(
    st.sampled_from(_SPECIAL),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**12), max_value=10**12),
)


def _build(part: str, field: str, value: object, **companions: object):
    """(config, task) with one value changed (per-node fields get it on every node), and
    ``companions``: fields of the same part that must change with it."""
    config, task = EdgeCloudConfig(), Task(name="t")
    n_edge = config.topology.n_edge
    per_node = {"edge_cores": n_edge, "node_weights": n_edge, "capacity_factors": n_edge + 1}
    if field in per_node:
        value = (value,) * per_node[field]
    if field == "app_mix":
        value = (value, value, value)
    if field in ("event_nodes", "levels", "frequencies"):
        value = (value,)
    changes = {field: value, **companions}
    if part == "topology":
        config = config.replace(topology=dataclasses.replace(config.topology, **changes))
    elif part == "reward":
        config = config.replace(reward=dataclasses.replace(config.reward, **changes))
    elif part == "config":
        config = config.replace(**changes)
    elif part == "capacity":
        config = config.replace(capacity=dataclasses.replace(config.capacity, **changes))
    elif part == "app":
        app = dataclasses.replace(config.apps[0], **changes)
        config = config.replace(apps=(app, *config.apps[1:]))
    else:
        task = task.replace(**changes)
    return config, task


def _play(config: EdgeCloudConfig, task: Task) -> None:
    """A short episode of random actions: every reward and observation must be finite."""
    env = EdgeCloudEnv(task=task, config=config, forecaster="none", episode_steps=_STEPS)
    obs, _ = env.reset(seed=0)
    env.action_space.seed(0)
    assert np.all(np.isfinite(obs))
    for _ in range(_STEPS):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert math.isfinite(reward), info
        assert np.all(np.isfinite(obs))
        if terminated or truncated:
            break
    env.close()


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(field=st.sampled_from(FIELDS), value=VALUES)
def test_random_config_values_are_refused_clearly_or_simulate_finitely(field, value):
    part, name = field
    try:
        config, task = _build(part, name, value)
    except (TypeError, ValueError) as exc:
        assert name in str(exc), str(exc)  # the message names the field
        return
    try:
        _play(config, task)
    except ValueError as exc:  # refused when the env combines the values: still named
        assert name in str(exc) or "Task" in str(exc), str(exc)


def _range_tops() -> list[tuple[str, str, object]]:
    """Every field at the top of its plausible range, read from the messages themselves."""
    tops = []
    for part, name in FIELDS:
        try:
            try:
                _build(part, name, 1e300)
            except TypeError:  # an integer field
                _build(part, name, 10**30)
        except ValueError as exc:
            text = str(exc)
            if "plausible range" not in text:
                continue
            if "must be <=" in text:
                tops.append((part, name, int(text.split("must be <= ")[1].split(",")[0])))
            else:
                tops.append((part, name, float(text.split(", ")[1].split("]")[0])))
    return tops


def test_every_field_has_a_plausible_range():
    bounded = {(part, name) for part, name, _ in _range_tops()}
    unbounded = [f for f in FIELDS if f not in bounded]
    # the remaining fields are bounded by their meaning: fractions, a mix summing to 1
    assert sorted(unbounded) == sorted(
        [
            ("config", "share_step"),
            ("task", "app_mix"),
            ("task", "burst_fraction"),
            ("task", "diurnal_amplitude"),
            ("task", "event_nodes"),  # node indices: checked against the topology
            ("task", "event_phase"),
            ("task", "ramp_phase"),
        ]
    ), unbounded


@pytest.mark.parametrize("top", _range_tops(), ids=lambda t: f"{t[0]}.{t[1]}")
def test_each_field_at_the_top_of_its_range_simulates_finitely(top):
    part, name, value = top
    if name in ("warmup_steps", "day_steps", "burst_period", "burst_duration", "shift_at"):
        value = min(value, 100_000)  # the top is fine, only slow to draw
    # fields bounded by another one move with it
    companions = {
        "edge_core_idle_w": {"edge_core_max_w": value},
        "cloud_core_idle_w": {"cloud_core_max_w": value},
        "obs_window": {"warmup_steps": value},
        "burst_duration": {"burst_period": value},
        "ramp_amplitude": {"ramp_hold": 10},
        "event_amplitude": {"event_duration": 10},
        "event_onset": {"event_duration": value},
    }.get(name, {})
    _play(*_build(part, name, value, **companions))


def test_messages_name_the_field_the_range_and_the_documentation():
    with pytest.raises(ValueError, match=r"RewardWeights.latency must lie in \[0, 1e\+06\]"):
        RewardWeights(latency=1e308)
    with pytest.raises(ValueError, match=r"Topology.edge_core_max_w must lie in \(0, 100000\] W"):
        Topology(edge_core_max_w=1e308)
    with pytest.raises(ValueError, match=r"docs/environment\.md"):
        Topology(edge_cores=(8, 1e9))
    with pytest.raises(ValueError, match="warmup_steps must be <= 1000000"):
        EdgeCloudConfig(warmup_steps=10**9)


def test_all_zero_node_weights_are_refused_like_an_all_zero_app_mix():
    with pytest.raises(ValueError, match="node_weights are all 0"):
        Task(node_weights=(0.0,) * 6)
    with pytest.raises(ValueError, match="app_mix must sum to 1"):
        Task(app_mix=(0.0, 0.0, 0.0))
    Task(node_weights=(0.0,) * 5 + (1.0,))  # one popular node is fine


# ------------------------------------------------------------------------ offloading data


def test_mat_data_out_of_range_is_refused_with_the_row(tmp_path):
    mat = scipy.io.loadmat(str(resolve_data_file("mumt_3x3")))
    sizes = mat["task_size"].astype(np.float64)
    sizes[7] *= 1e300
    bad = tmp_path / "huge.mat"
    data = {k: v for k, v in mat.items() if not k.startswith("__")}
    scipy.io.savemat(str(bad), {**data, "task_size": sizes})
    with pytest.raises(ValueError, match=r"huge.mat: variable 'task_size' must lie in .* row 7"):
        load_mumt_data(bad)
    mat = scipy.io.loadmat(str(resolve_data_file("droo_5")))
    h = mat["input_h"] * 1e300
    bad = tmp_path / "gains.mat"
    data = {k: v for k, v in mat.items() if not k.startswith("__")}
    scipy.io.savemat(str(bad), {**data, "input_h": h})
    with pytest.raises(ValueError, match=r"variable 'input_h' must lie in .* row 0"):
        load_wpmec_data(bad)


# ------------------------------------------------------------------------ forecaster weights


def _weights(tmp_path, change=None):
    """A copy of the shipped LSTM weights (checksum recomputed), after ``change(arrays)``."""
    arrays, meta = load_weights(DEFAULT_WEIGHTS)
    arrays = dict(arrays)
    if change is not None:
        change(arrays)
    path = tmp_path / "lstm.npz"
    keep = {k: v for k, v in meta.items() if k not in ("sha256",)}
    save_weights(path, arrays, keep)
    return path


def test_non_finite_forecaster_weights_are_refused_naming_the_array(tmp_path):
    path = _weights(tmp_path, lambda a: a["head.weight"].fill(np.nan))
    with pytest.raises(WeightsMismatchError, match=r"lstm.npz: array 'head.weight' holds \d+ non"):
        load_weights(path)


def test_damaged_forecaster_files_get_clear_errors(tmp_path):
    path = _weights(tmp_path)
    good = path.read_bytes()
    meta = path.with_suffix(".json")
    for raw, pattern in ((good[: len(good) // 2], "truncated"), (b"", "empty")):
        path.write_bytes(raw)
        with pytest.raises(WeightsMismatchError, match=f"lstm.npz cannot be read.*{pattern}"):
            load_weights(path)
    path.write_bytes(good)
    text = meta.read_text()
    meta.write_text(text[:40])
    with pytest.raises(WeightsMismatchError, match=r"lstm.json of the LSTM weights is not valid"):
        load_weights(path)
    meta.write_text(json.dumps([1, 2]))
    with pytest.raises(WeightsMismatchError, match="must hold a JSON object, got a list"):
        load_weights(path)
