"""Trace files as a careless user hands them over: outliers, folders, special files, and files
read in chunks (line numbers and results must not depend on the chunking)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

import edgecloud_gym.traces.loading as loading
from edgecloud_gym import EdgeCloudEnv
from edgecloud_gym.tasks import Task
from edgecloud_gym.traces import TraceFormatError, TraceSpec, load_trace


def _write(path: Path, counts, start: int = 0, step: int = 60) -> Path:
    rows = [f"{start + step * i},{c}" for i, c in enumerate(counts)]
    path.write_text("timestamp,requests\n" + "\n".join(rows) + "\n")
    return path


def _spiky(tmp_path: Path) -> Path:
    counts = 20 + np.random.default_rng(0).poisson(30, 1000)
    counts = counts.astype(object)
    counts[417] = "1e12"
    return _write(tmp_path / "spike.csv", counts)


def test_an_outlier_row_is_refused_naming_the_line(tmp_path):
    path = _spiky(tmp_path)
    with pytest.raises(
        TraceFormatError, match=r"spike.csv, line 419, column 'requests': 1 outlier"
    ) as err:
        load_trace(path)
    assert "1e+12 on line 419" in str(err.value) and "outliers='clip'" in str(err.value)


def test_clipping_an_outlier_warns_and_keeps_the_episode_busy(tmp_path):
    path = _spiky(tmp_path)
    with pytest.warns(UserWarning, match=r"1e\+12 on line 419.*clipped"):
        data = load_trace(path, outliers="clip")
    assert data.counts.max() < 1e5
    # the reported failure: with the spike kept, every other interval rescales to ~zero arrivals
    spec = TraceSpec(str(path), outliers="clip", node_noise=0.0, concentration=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = EdgeCloudEnv(task=Task(trace=spec), forecaster="none", episode_steps=50)
        env.reset(seed=1)
        arrived = sum(env.step(0)[4]["arrived"] for _ in range(50))
    assert arrived > 100
    kept = load_trace(path, outlier_factor=None)
    assert kept.counts.max() == 1e12


def test_trace_spec_passes_the_outlier_policy_on(tmp_path):
    path = _spiky(tmp_path)
    with pytest.raises(TraceFormatError, match="outlier"):
        TraceSpec(str(path)).load()
    with pytest.raises(ValueError, match="outliers must be one of"):
        TraceSpec(str(path), outliers="drop")
    with pytest.raises(ValueError, match="outlier_factor must be a number > 1"):
        TraceSpec(str(path), outlier_factor=0.5)


def test_a_folder_and_a_special_file_get_their_own_messages(tmp_path):
    _write(tmp_path / "inside.csv", [1, 2, 3])
    with pytest.raises(IsADirectoryError, match=r"is a folder, not a file.*inside\.csv"):
        load_trace(tmp_path)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        TraceSpec(str(tmp_path)).load()
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(TraceFormatError, match="is a FIFO, not a regular file"):
        load_trace(fifo)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_trace(tmp_path / "absent.csv")


def test_chunked_reading_gives_the_same_trace_and_line_numbers(tmp_path, monkeypatch):
    counts = np.arange(1, 1001) % 37 + 1
    path = _write(tmp_path / "t.csv", counts)
    whole = load_trace(path)
    binned = load_trace(path, resample=True, step_s=600.0)
    monkeypatch.setattr(loading, "_CHUNK_ROWS", 7)
    chunked = load_trace(path)
    assert chunked == whole and np.array_equal(chunked.lines, whole.lines)
    chunked = load_trace(path, resample=True, step_s=600.0)  # bins summed chunk by chunk
    assert chunked == binned and np.array_equal(chunked.lines, binned.lines)
    assert len(binned) == 100 and binned.counts.sum() == counts.sum()
    # a blank line, an ISO timestamp and a bad cell in a later chunk keep exact line numbers
    text = path.read_text().splitlines()
    text.insert(500, "")
    text[800] = "1970-01-01 13:18:00,5"  # the same time as epoch second 47880
    text[900] = f"{60 * 898},x"
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(TraceFormatError, match=r"line 901, column 'requests': count 'x'"):
        load_trace(path)
    text[900] = f"{60 * 898},3"
    path.write_text("\n".join(text) + "\n")
    data = load_trace(path)
    assert len(data) == 1000 and data.lines[-1] == 1002
