"""The diffusion model of a server's step (edgecloud_gym.validation.diffusion)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad

from edgecloud_gym import AppClass, EdgeCloudConfig, Topology
from edgecloud_gym.validation import simulate_requests
from edgecloud_gym.validation.diffusion import barrier, reflected_tail, step_waits
from edgecloud_gym.validation.theory import erlang_c


def test_exponential_start_is_the_point_law_averaged_over_the_start():
    z = np.array([0.0, 5.0, 20.0, 60.0])
    drift, variance, t, mean = -24.0, 456.0, 0.5, 10.0
    closed = reflected_tail(z, mean, drift, variance, t, "exponential")
    for zi, c in zip(z, closed, strict=True):
        integral = quad(
            lambda x, zi=zi: (
                np.exp(-x / mean) / mean * reflected_tail(np.array([zi]), x, drift, variance, t)[0]
            ),
            0,
            np.inf,
        )[0]
        assert c == pytest.approx(integral, rel=1e-7, abs=1e-12)


def test_barrier_gives_erlang_c_and_the_stationary_law_stays_stationary():
    cores, rho, mean_s = 8, 0.9, 1.0 / 30.0
    mu = 1.0 / mean_s
    drift, variance = (rho - 1) * cores * mu, (rho + 1) * cores * mu
    depth = barrier(cores, rho)
    stationary = variance / (2 * abs(drift))  # mean of the stationary exponential law
    assert np.exp(-depth / stationary) == pytest.approx(erlang_c(cores, rho * cores))
    waits = step_waits(cores, rho, mean_s, stationary, law="exponential")
    assert waits.end_mean == pytest.approx(stationary, rel=1e-3)
    assert waits.p_wait == pytest.approx(erlang_c(cores, rho * cores), rel=1e-3)


def test_one_step_from_empty_waits_what_the_request_level_simulator_waits():
    cores, rho, mean_s = 8, 0.95, 1.0 / 30.0
    topo = Topology(edge_cores=(cores,), edge_core_ghz=2.5, edge_buffer_s=100.0)
    cfg = EdgeCloudConfig(topology=topo, apps=(AppClass("job", 0.1, mean_s * 2.5e3, 1e3),))
    rng = np.random.default_rng(0)
    waits = []
    for _ in range(600):
        log = simulate_requests(cfg, rng.poisson(rho * cores / mean_s, (1, 1)), rng)
        waits.append(log.wait_ms / 1e3)
    sim = np.concatenate(waits)
    model = step_waits(cores, rho, mean_s, 0.0)
    assert model.mean_s == pytest.approx(sim.mean(), rel=0.1)
    assert model.p95_s == pytest.approx(np.quantile(sim, 0.95), rel=0.1)
    assert model.p_wait == pytest.approx((sim > 0).mean(), abs=0.05)


def test_bad_arguments_name_the_fix():
    with pytest.raises(ValueError, match="law must be one of"):
        reflected_tail(np.zeros(1), 0.0, -1.0, 1.0, 1.0, "normal")
    with pytest.raises(ValueError, match="rho must be > 0"):
        barrier(8, 0.0)
