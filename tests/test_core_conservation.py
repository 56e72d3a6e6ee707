"""Property-based checks of the core: nothing is created or lost, nothing goes negative."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edgecloud_gym import EdgeCloudConfig, Task, train_tasks
from edgecloud_gym.core.simulator import METRIC_KEYS, BatchSimulator

TASKS = [
    *train_tasks(40, seed=11),
    Task(load=3.0, burst_amplitude=2.0),  # far beyond capacity: drops everywhere
    Task(load=0.0),  # no arrivals at all
    Task(capacity_factors=(0, 0, 0, 0, 0, 0, 1)),  # every edge node failed
]
COL = {k: i for i, k in enumerate(METRIC_KEYS)}


@settings(max_examples=40, deadline=None)
@given(
    task_idx=st.integers(0, len(TASKS) - 1),
    seed=st.integers(0, 2**31 - 1),
    mode=st.sampled_from(["discrete", "continuous", "weights"]),
    batch=st.integers(1, 4),
)
def test_conservation_every_step_and_server(task_idx, seed, mode, batch):
    rng = np.random.default_rng(seed)
    tasks = [TASKS[(task_idx + j) % len(TASKS)] for j in range(batch)]
    sim = BatchSimulator(EdgeCloudConfig(), tasks, "naive", mode, episode_steps=30)
    sim.reset([np.random.default_rng(seed + j) for j in range(batch)])
    s = sim.n_servers
    for _ in range(30):
        if mode == "discrete":
            action = rng.integers(sim.actions.n, size=batch)
        elif mode == "continuous":
            action = rng.choice([-1.0, 1.0], size=(batch, s)) * rng.random((batch, s)) ** 0.2
        else:
            action = rng.random((batch, s)) ** 3 + 1e-9  # often near a vertex of the simplex
        shares = sim.shares_from_action(action)
        np.testing.assert_allclose(shares.sum(axis=1), 1.0, rtol=1e-9)
        assert np.all(shares >= -1e-12)
        before = sim.backlog.copy()
        arrivals = sim.workload.arrivals[np.arange(batch), sim.config.warmup_steps + sim.t]
        _, metrics, res = sim.step(shares)

        # per server: inflow = processed + dropped + abandoned + change in backlog
        np.testing.assert_allclose(
            res.inflow,
            res.processed + res.dropped + res.abandoned + (res.backlog - before),
            atol=1e-9,
        )
        # in total: arrivals = inflow + requests lost on the links
        np.testing.assert_allclose(
            res.inflow.sum(axis=1) + res.link_dropped.sum(axis=(1, 2)),
            arrivals.sum(axis=1),
            rtol=1e-12,
        )
        for arr in (res.inflow, res.processed, res.dropped, res.abandoned, res.backlog,
                    res.served, res.link_dropped):  # fmt: skip
            assert np.all(arr >= -1e-9)
        assert np.all((res.late >= 0) & (res.late <= 1))
        assert np.all(res.backlog <= sim.params.buffer + 1e-9)
        assert np.all((res.utilisation >= 0) & (res.utilisation <= 1 + 1e-12))
        assert np.all(res.latency_ms <= sim.config.timeout_ms)
        for key in ("sla_violation_rate", "drop_rate", "utilisation", "utilisation_edge"):
            assert np.all((metrics[:, COL[key]] >= 0) & (metrics[:, COL[key]] <= 1 + 1e-12))
        np.testing.assert_allclose(
            metrics[:, COL["processed"]]
            + metrics[:, COL["dropped"]]
            + metrics[:, COL["abandoned"]],
            metrics[:, COL["arrived"]] - (res.backlog.sum(axis=1) - before.sum(axis=1)),
            atol=1e-9,
        )
