"""Workload sampling: batched draws equal single draws, realisations are stable, bad input."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from edgecloud_gym.core.workload import sample_workload, sample_workloads
from edgecloud_gym.tasks import (
    HIGH,
    LOW,
    MEDIUM,
    SCENARIOS,
    Task,
    get_task,
    test_tasks,
    train_tasks,
)

MU = np.array([240.0, 240.0, 480.0, 120.0, 360.0, 240.0])
KW = {"steps": 200, "warmup": 64, "horizon": 5, "day_steps": 200}


def _mixed_tasks() -> list[Task]:
    """Every kind of synthetic task side by side: presets, scenarios (shift, hotspot, failed
    node, heavy flash crowds), and drawn train and test tasks (bursts of other periods)."""
    return [LOW, MEDIUM, HIGH, *SCENARIOS.values(), *train_tasks(12, seed=3), *test_tasks(4)]


def test_a_batch_draws_what_each_system_draws_alone():
    """System j of a batch gets bit for bit the episode a batch of one draws from the same
    generator, however the tasks of the other systems differ."""
    tasks = _mixed_tasks()
    mu = MU * np.linspace(0.5, 2.0, len(tasks))[:, None]
    batch = sample_workloads(
        tasks, mu, rngs=[np.random.default_rng(100 + j) for j in range(len(tasks))], **KW
    )
    for j, task in enumerate(tasks):
        alone = sample_workload(task, mu[j], rng=np.random.default_rng(100 + j), **KW)
        for field in ("rates", "arrivals", "phase"):
            np.testing.assert_array_equal(getattr(batch, field)[j], getattr(alone, field)[0])


@pytest.mark.parametrize(
    ("name", "seed", "digest"),
    [
        ("high", 0, "3a6b625e4256023a"),
        ("low", 1, "8624639ad6932d79"),
        ("train-0-5", 2, "b72a95e3fd9e49f1"),
        ("flash-crowds", 3, "42fa688e0716b911"),
        ("shift", 4, "9a9bafefc6ebe6f4"),
    ],
)
def test_seeded_realisations_do_not_change(name, seed, digest):
    """The arrivals a seed gives are part of every committed result: a change of the draw order
    or of the rate arithmetic fails here (then rerun the results that depend on them)."""
    task = train_tasks(8)[5] if name == "train-0-5" else get_task(name)
    wl = sample_workload(task, MU, rng=np.random.default_rng(seed), **KW)
    assert hashlib.sha256(wl.arrivals.astype(np.int64).tobytes()).hexdigest()[:16] == digest


def test_sample_workloads_rejects_mismatched_inputs():
    rngs = [np.random.default_rng(0), np.random.default_rng(1)]
    with pytest.raises(ValueError, match="one task and one generator per system"):
        sample_workloads([LOW], np.stack([MU, MU]), rngs=rngs, **KW)
    with pytest.raises(ValueError, match="one task and one generator per system"):
        sample_workloads([LOW, LOW], np.stack([MU, MU]), rngs=rngs[:1], **KW)
