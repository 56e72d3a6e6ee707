"""Trace-driven workloads: loading, validation, splits, slices and the trace ids."""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import edgecloud_gym  # noqa: F401  (registers the ids)
from edgecloud_gym.core.workload import sample_workload
from edgecloud_gym.registration import allocation_env_ids
from edgecloud_gym.tasks import Task
from edgecloud_gym.traces import (
    ALIBABA_GENAI,
    NASA_HTTP,
    TraceData,
    TraceFormatError,
    TraceSpec,
    as_trace_spec,
    load_trace,
)
from edgecloud_gym.traces.envs import TRACE_IDS, make_trace_env

TRACE_ENV_IDS = sorted(TRACE_IDS)


def _write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _minutes(n: int, start_hour: int = 0) -> list[str]:
    t0 = datetime(2024, 1, 1, start_hour)
    return [(t0 + timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M") for i in range(n)]


def _csv(tmp_path: Path, counts: np.ndarray, name: str = "t.csv") -> Path:
    """A per-minute trace starting 2024-01-01 00:00."""
    counts = np.asarray(counts)
    if counts.ndim == 1:
        counts = counts[:, None]
    header = "time," + ",".join(f"c{j}" for j in range(counts.shape[1]))
    stamps = _minutes(len(counts))
    rows = [
        s + "," + ",".join(f"{v:g}" for v in row) for s, row in zip(stamps, counts, strict=True)
    ]
    return _write(tmp_path / name, header, rows)


# ---------------------------------------------------------------------- loading


def test_round_trip_plain_and_gzip(tmp_path):
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 50, size=(30, 2)).astype(float)
    path = _csv(tmp_path, counts)
    data = load_trace(path)
    np.testing.assert_array_equal(data.counts, counts)
    assert data.columns == ("c0", "c1") and data.step_s == 60.0
    assert data.segments == ((0, 30),)
    np.testing.assert_array_equal(np.diff(data.times), 60.0)
    gz = tmp_path / "t.csv.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert load_trace(gz) == data.__class__(
        str(gz), data.columns, data.times, data.counts, data.step_s, data.segments
    )
    same = TraceData.from_array(counts, step_s=60, start="2024-01-01 00:00", columns=("c0", "c1"))
    assert same == TraceData(
        "<array>", data.columns, data.times, data.counts, data.step_s, data.segments
    )
    assert load_trace(path, columns=["c1"]).columns == ("c1",)


def test_bundled_traces_match_their_readme():
    nasa = NASA_HTTP.load()
    assert len(nasa) == 84_334 and nasa.counts.sum() == 3_461_610
    assert nasa.step_s == 60.0
    # the July log ends 1995-07-28 13:32; August starts at 08-01 00:00: two segments
    assert nasa.segments == ((0, 39_693), (39_693, 84_334))
    ali = ALIBABA_GENAI.load()
    assert len(ali) == 3_317 and ali.step_s == 600.0
    np.testing.assert_array_equal(
        ali.counts.sum(axis=0), [8234, 4012, 2511, 2114, 2016, 1147, 961, 815]
    )
    assert ali.segments == ((0, 3_317),)


# ---------------------------------------------------------------------- validation

BAD_FILES = [
    # (header, rows, kwargs, message, line, column)
    ("", [], {}, "empty", None, None),
    ("time,c0", [], {}, "no data rows", None, None),
    ("time,c0", ["2024-01-01 00:00,1", ",2"], {}, "missing timestamp", 3, "time"),
    ("time,c0", ["2024-01-01 00:00,1", "yesterday,2"], {}, "cannot parse timestamp", 3, "time"),
    (
        "time,c0",
        ["2024-01-01 00:01,1", "2024-01-01 00:00,2"],
        {},
        "time goes backwards",
        3,
        "time",
    ),
    (
        "time,c0",
        ["2024-01-01 00:00,1", "2024-01-01 00:01,1", "2024-01-01 00:01,2"],
        {},
        "duplicated time",
        4,
        "time",
    ),
    (
        "time,c0",
        ["2024-01-01 00:00,1", "2024-01-01 00:01,1", "2024-01-01 00:02,1", "2024-01-01 00:02:30,1"],
        {},
        "irregular step",
        5,
        "time",
    ),
    ("time,c0", ["2024-01-01 00:00,1", "2024-01-01 00:01,nan"], {}, "NaN", 3, "c0"),
    ("time,c0", ["2024-01-01 00:00,1", "2024-01-01 00:01,-3"], {}, "negative", 3, "c0"),
    ("time,c0", ["2024-01-01 00:00,1", "2024-01-01 00:01,abc"], {}, "not a number", 3, "c0"),
    ("time,c0", ["2024-01-01 00:00,1", "2024-01-01 00:01,inf"], {}, "finite", 3, "c0"),
    ("time,c0", ["2024-01-01 00:00,1", "2024-01-01 00:01,"], {}, "missing count", 3, "c0"),
    ("time,c0", ["2024-01-01 00:00,1", "2024-01-01 00:01,1,2"], {}, "3 fields", 3, None),
    (
        "time,requests",
        ["2024-01-01 00:00,1"],
        {"columns": ["requets"]},
        "Did you mean 'requests'",
        1,
        None,
    ),
    (
        "time,c0",
        ["2024-01-01 00:00,1", "2024-01-01 00:01,1", "2024-01-01 00:05,1"],
        {"on_gap": "error"},
        "gap in time",
        4,
        "time",
    ),
]


@pytest.mark.parametrize(("header", "rows", "kwargs", "message", "line", "column"), BAD_FILES)
def test_validation_errors_name_file_line_and_column(
    tmp_path, header, rows, kwargs, message, line, column
):
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([header, *rows]) + ("\n" if header else ""))
    with pytest.raises(TraceFormatError, match=message) as info:
        load_trace(path, **kwargs)
    err = info.value
    assert err.file == str(path) and str(path) in str(err)
    assert err.line == line
    assert err.column == column
    if line is not None:
        assert f"line {line}" in str(err)


def test_irregular_steps_resample_into_bins(tmp_path):
    stamps = [
        "2024-01-01 00:00:00",
        "2024-01-01 00:00:50",
        "2024-01-01 00:01:10",
        "2024-01-01 00:03:00",
    ]
    path = _write(tmp_path / "irr.csv", "time,c0", [f"{s},{i + 1}" for i, s in enumerate(stamps)])
    with pytest.raises(TraceFormatError, match="resample=True"):
        load_trace(path, step_s=60)
    data = load_trace(path, step_s=60, resample=True)
    np.testing.assert_array_equal(data.counts[:, 0], [3, 3, 0, 4])  # bins of 60 s, empty -> 0
    np.testing.assert_array_equal(np.diff(data.times), 60.0)


def test_gaps_split_or_zero_fill(tmp_path):
    path = _write(
        tmp_path / "gap.csv",
        "time,c0",
        ["2024-01-01 00:00,1", "2024-01-01 00:01,2", "2024-01-01 00:04,3", "2024-01-01 00:05,4"],
    )
    split = load_trace(path)
    assert split.segments == ((0, 2), (2, 4))
    zero = load_trace(path, on_gap="zero")
    np.testing.assert_array_equal(zero.counts[:, 0], [1, 2, 0, 0, 3, 4])
    assert zero.segments == ((0, 6),)


def test_missing_file_and_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_trace(tmp_path / "nope.csv")
    with pytest.raises(FileNotFoundError, match="Did you mean 'nasa'"):
        TraceSpec("nasaa").load()
    with pytest.raises(ValueError, match="on_gap"):
        load_trace(_csv(tmp_path, np.ones(3)), on_gap="skip")
    with pytest.raises(ValueError, match="Did you mean 'per-node'"):
        TraceSpec("nasa", mapping="per_node")
    with pytest.raises(ValueError, match="train_fraction"):
        TraceSpec("nasa", train_fraction=1.0)
    with pytest.raises(TypeError, match="unknown key 'splt'"):
        TraceSpec.from_dict({"source": "nasa", "splt": "test"})


def test_file_too_short_for_one_episode(tmp_path):
    path = _csv(tmp_path, np.ones(200))
    # 70 % of 200 rows = 140 train rows < 64 warm-up + 200 steps + 5 horizon
    with pytest.raises(TraceFormatError, match="too short for one episode") as info:
        make_trace_env(trace=str(path), forecaster="naive")
    assert str(path) in str(info.value)
    env = make_trace_env(trace=str(path), forecaster="naive", episode_steps=50)
    env.reset(seed=0)


def test_per_node_mapping_needs_a_column_per_node(tmp_path):
    path = _csv(tmp_path, np.ones((400, 2)))
    with pytest.raises(ValueError, match="one count column per edge node"):
        make_trace_env(trace={"source": str(path), "mapping": "per-node"}, forecaster="naive")


def test_series_without_train_requests_is_rejected(tmp_path):
    counts = np.r_[np.zeros(300), np.ones(100)]
    with pytest.raises(TraceFormatError, match="no request in the train split"):
        make_trace_env(trace=str(_csv(tmp_path, counts)), forecaster="naive", episode_steps=20)


# ---------------------------------------------------------------------- splits and slices


def _marker_spec(tmp_path: Path, rows: int = 1000, **changes) -> TraceSpec:
    """Train rows hold 1..10 requests, test rows 1000: any test data in a slice shows."""
    cut = int(0.7 * rows)
    counts = np.r_[np.arange(cut) % 10 + 1, np.full(rows - cut, 1000)].astype(float)
    fields = {"concentration": None, "node_noise": 0.0, "arrivals": "deterministic", **changes}
    return TraceSpec(str(_csv(tmp_path, counts)), **fields)


def test_no_test_period_data_in_training_slices(tmp_path):
    spec = _marker_spec(tmp_path)
    length = 64 + 200 + 5
    cut = 700
    train = spec.offsets(length, "train")
    assert train.max() + spec.rows_needed(length) <= cut
    assert spec.offsets(length, "test").min() >= cut
    rng = np.random.default_rng(0)
    for _ in range(200):
        piece = spec.sample(6, length, rng)
        assert piece.offset + piece.rows <= cut
        assert piece.shape.max() < 100  # a test-period row would be ~180x the train mean
    # and through the environment, with Poisson arrivals
    env = make_trace_env(trace=spec.replace(arrivals="poisson"), forecaster="naive")
    mu = env.unwrapped.sim.params.obs_mu[0, :-1]
    for seed in range(20):
        env.reset(seed=seed)
        wl = env.unwrapped.sim.workload
        assert (wl.rates[0] / mu).max() < 100 * 0.6
    test = spec.replace(split="test")
    piece = test.sample(6, length, rng)
    assert piece.offset >= cut and piece.shape.min() > 100


def test_slices_never_cross_a_gap_or_an_excluded_interval(tmp_path):
    stamps = _minutes(300) + _minutes(300, start_hour=6)  # 00:00-04:59, then 06:00-10:59
    rows = [f"{s},{5}" for s in stamps]
    path = _write(tmp_path / "gaps.csv", "time,c0", rows)
    spec = TraceSpec(str(path), exclude=(("2024-01-01 01:00", "2024-01-01 01:30"),))
    data = spec.load()
    assert data.segments == ((0, 300), (300, 600))
    length = 40
    offsets = spec.offsets(length, "train")  # train = first 420 rows
    for o in offsets:
        window = data.times[o : o + length]
        assert np.all(np.diff(window) == 60)  # no gap inside
        excluded = (window >= data.times[60]) & (window < data.times[90])
        assert not excluded.any()
    assert spec.runs("train") == ((0, 60), (90, 300), (300, 420))


def test_nasa_outage_and_july_gap_are_never_in_an_episode():
    data = NASA_HTTP.load()
    lo = np.searchsorted(data.times, data.times[39_693 + 14 * 60 + 52])  # 1995-08-01 14:52
    hi = np.searchsorted(data.times, data.times[lo] + (37 * 60 + 45) * 60)  # 08-03 04:37
    outage = np.zeros(len(data), dtype=bool)
    outage[lo:hi] = True
    assert data.counts[lo + 1 : hi - 1, 0].sum() == 0  # the zero run of the outage
    for split in ("train", "test"):
        for a, b in NASA_HTTP.runs(split):
            assert not outage[a:b].any()
            assert not (a < 39_693 < b)  # no run spans the July -> August jump


def test_same_seed_same_slices_different_seed_different():
    for spec in (NASA_HTTP, ALIBABA_GENAI):
        a = spec.sample(6, 269, np.random.default_rng(5))
        b = spec.sample(6, 269, np.random.default_rng(5))
        c = spec.sample(6, 269, np.random.default_rng(6))
        assert a.offset == b.offset
        np.testing.assert_array_equal(a.shape, b.shape)
        np.testing.assert_array_equal(a.phase, b.phase)
        assert a.offset != c.offset
    task = Task(name="t", load=0.6, trace="nasa")
    mu = np.full(6, 100.0)
    kw = {"steps": 200, "warmup": 64, "horizon": 5, "day_steps": 200}
    w1 = sample_workload(task, mu, rng=np.random.default_rng(1), **kw)
    w2 = sample_workload(task, mu, rng=np.random.default_rng(1), **kw)
    np.testing.assert_array_equal(w1.arrivals, w2.arrivals)
    np.testing.assert_array_equal(w1.phase, w2.phase)


def test_rescaling_hits_the_target_load(tmp_path):
    spec = TraceSpec(
        str(_csv(tmp_path, np.full(500, 7.0))),
        arrivals="deterministic",
        node_noise=0.0,
        concentration=None,
    )
    task = Task(name="t", load=0.45, node_weights=(1, 1, 1, 2, 1, 1), trace=spec)
    mu = np.array([10.0, 20, 30, 40, 50, 60])
    wl = sample_workload(
        task, mu, steps=50, warmup=10, horizon=5, day_steps=200, rng=np.random.default_rng(0)
    )
    np.testing.assert_allclose(
        wl.arrivals[0], np.broadcast_to(0.45 * mu * task.node_weights, (65, 6))
    )
    # time of day comes from the trace's timestamps (per-minute rows, time-compressed)
    assert np.allclose(np.diff(wl.phase[0]), 60 / 86400)


def test_spatial_split_keeps_the_mean_and_steps_per_sample_interpolates(tmp_path):
    ramp = np.arange(1, 501, dtype=float)
    spec = TraceSpec(str(_csv(tmp_path, ramp)), node_noise=0.0, concentration=5.0)
    piece = spec.sample(6, 100, np.random.default_rng(3))
    shares = piece.shape[0] / piece.shape[0].sum()
    np.testing.assert_allclose(
        piece.shape / piece.shape.sum(axis=1, keepdims=True), np.tile(shares, (100, 1))
    )
    slow = spec.replace(steps_per_sample=4, concentration=None)
    piece = slow.sample(1, 9, np.random.default_rng(0))  # 9 steps cover rows o..o+2
    assert piece.rows == 3
    x = piece.shape[:, 0] * ramp[:350].mean()
    np.testing.assert_allclose(x, piece.offset + 1 + np.arange(9) / 4)
    noisy = spec.replace(node_noise=0.3, concentration=None)
    draws = np.stack([noisy.sample(6, 50, np.random.default_rng(s)).shape for s in range(40)])
    base = np.stack(
        [
            spec.replace(concentration=None).sample(6, 50, np.random.default_rng(s)).shape
            for s in range(40)
        ]
    )
    assert abs((draws / base).mean() - 1.0) < 0.02  # mean-one noise


# ---------------------------------------------------------------------- tasks and envs


def test_task_with_trace_is_hashable_and_round_trips():
    task = Task(name="x", load=0.5, trace="nasa")
    assert task.trace == NASA_HTTP
    assert hash(task) == hash(Task(name="x", load=0.5, trace=NASA_HTTP))
    assert Task.from_dict(task.to_dict()) == task
    test = Task.from_dict({"name": "y", "trace": {"source": "nasa", "split": "test"}})
    assert test.trace.exclude == NASA_HTTP.exclude and test.trace.split == "test"
    assert as_trace_spec("alibaba") is ALIBABA_GENAI
    with pytest.raises(TypeError, match="trace must be"):
        Task(trace=3)


def test_trace_ids_are_in_the_registry_loop():
    assert set(TRACE_ENV_IDS) <= set(allocation_env_ids())
    for env_id in TRACE_ENV_IDS:
        assert gym.make(env_id, forecaster="none").spec.max_episode_steps == 200


@pytest.mark.parametrize("env_id", TRACE_ENV_IDS)
def test_trace_ids_pass_the_checkers(env_id):
    env = gym.make(env_id, forecaster="naive", split="test")
    gym_check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(gym.make(env_id, forecaster="naive").unwrapped, warn=False)


def test_user_file_through_the_generic_id(tmp_path):
    rng = np.random.default_rng(1)
    counts = rng.poisson(20 + 10 * np.sin(np.arange(1000) / 50), size=(3, 1000)).T
    path = _csv(tmp_path, counts)
    env = gym.make("EdgeCloud-Trace-v0", trace=str(path), forecaster="naive", load=0.5)
    assert env.unwrapped.task.trace.path == str(path)
    assert env.unwrapped.task.name == "trace-t-train" and env.unwrapped.task.load == 0.5
    gym_check_env(env.unwrapped, skip_render_check=True)
    env.reset(seed=0)
    total = 0.0
    for _ in range(10):
        _, _, _, _, info = env.step(0)
        total += info["arrived"]
    assert total > 0
    per_node = gym.make(
        "EdgeCloud-Trace-v0",
        trace={"source": str(path), "mapping": "per-node"},
        forecaster="naive",
        config={"topology": {"edge_cores": (8, 16, 32)}},
    )
    per_node.reset(seed=0)


def test_vector_env_of_a_trace_id():
    pytest.importorskip("edgecloud_gym.envs.vector")
    envs = gym.make_vec(
        "EdgeCloud-Trace-NASA-v0",
        num_envs=3,
        vectorization_mode="vector_entry_point",
        forecaster="naive",
    )
    obs, _ = envs.reset(seed=0)
    assert obs.shape[0] == 3
    obs, *_ = envs.step(np.zeros(3, dtype=np.int64))
    assert np.all(np.isfinite(obs))


# ---------------------------------------------------------------------- forecasting on traces


def test_split_workload_tiles_only_the_split(tmp_path):
    from edgecloud_gym.traces.forecasting import split_workload

    spec = _marker_spec(tmp_path)
    wl = split_workload(spec, "train", scale=np.array([50.0]), load=0.5, steps=100, warmup=20)
    assert wl.arrivals.shape == (6, 125, 1)  # 700 train rows: starts 0, 100, ..., 500
    assert wl.arrivals.max() <= 10 / 5.5 * 0.5 * 50 + 1e-9  # train rows hold 1..10, mean 5.5
    test = split_workload(spec, "test", scale=np.array([50.0]), steps=100, warmup=20)
    np.testing.assert_allclose(test.arrivals, 1000 / 5.5 * 0.6 * 50)  # test rows only
    np.testing.assert_array_equal(test.rates, test.arrivals)


def test_finetuning_never_reads_the_test_period(tmp_path):
    pytest.importorskip("torch")
    from edgecloud_gym.traces.forecasting import FinetuneConfig, finetune_lstm

    rng = np.random.default_rng(0)
    train = rng.poisson(30 + 20 * np.sin(np.arange(1400) / 40)).astype(float)
    cfg = FinetuneConfig(steps=50, warmup=20, batch_windows=4, batches_per_epoch=2, max_epochs=1)
    a = TraceSpec(str(_csv(tmp_path, np.r_[train, np.full(600, 5.0)], "a.csv")))
    b = TraceSpec(str(_csv(tmp_path, np.r_[train, rng.poisson(90, 600)], "b.csv")))
    wa, meta = finetune_lstm(a, cfg, out=tmp_path / "a.npz")
    wb, _ = finetune_lstm(b, cfg)
    for name in wa:
        np.testing.assert_array_equal(wa[name], wb[name])
    assert max(stop for _, stop in meta["finetune"]["train_rows"]) <= 1400
    assert (tmp_path / "a.npz").is_file() and (tmp_path / "a.json").is_file()
