"""The request-level reference simulator and ``edgecloud validate model``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgecloud_gym import AppClass, EdgeCloudConfig, Topology
from edgecloud_gym.validation import simulate_requests
from edgecloud_gym.validation.des import ABANDONED, DROPPED, SERVED
from edgecloud_gym.validation.theory import erlang_c


def _one_class_config(**topology) -> EdgeCloudConfig:
    topo = Topology(edge_cores=(8,), edge_core_ghz=2.5, **topology)
    return EdgeCloudConfig(topology=topo, apps=(AppClass("job", 0.1, 50.0, 100.0),))


def test_stationary_mmc_wait_matcheserlang_c():
    # 8 cores, mean service 50 Mcycles / 2.5 GHz = 20 ms: 400 requests/s at full load.
    cfg = _one_class_config(edge_buffer_s=100.0)
    rho, steps = 0.85, 2000
    rng = np.random.default_rng(1)
    arrivals = rng.poisson(rho * 400.0, size=(steps, 1))
    log = simulate_requests(cfg, arrivals, rng, patience_ms=1e12)
    later = (log.step >= 100) & (log.outcome == SERVED)  # past the warm-up from empty
    mu_ms = 1.0 / 20.0
    expected = erlang_c(8, rho * 8) / (8 * mu_ms * (1.0 - rho))  # ms
    assert log.wait_ms[later].mean() == pytest.approx(expected, rel=0.08)
    waited = (log.wait_ms[later] > 0).mean()
    assert waited == pytest.approx(erlang_c(8, rho * 8), abs=0.03)


def test_every_request_has_one_outcome_and_buffers_and_patience_act():
    cfg = _one_class_config(edge_buffer_s=0.05)  # ~20 requests of queue
    rng = np.random.default_rng(2)
    arrivals = rng.poisson(800.0, size=(20, 1))  # twice the capacity
    log = simulate_requests(cfg, arrivals, rng, patience_ms=30.0)
    assert log.step.size == arrivals.sum()
    counts = np.bincount(log.outcome, minlength=3)
    assert counts.sum() == arrivals.sum()
    assert counts[DROPPED] > 0 and counts[ABANDONED] > 0 and counts[SERVED] > 0
    served = log.outcome == SERVED
    assert np.all(log.wait_ms[served] <= 30.0 + 1e-9)
    assert np.all(np.isnan(log.latency_ms[~served]))
    gone = log.outcome == ABANDONED
    assert np.allclose(log.departure_ms[gone] - log.arrival_ms[gone], 30.0 + 5.0)  # + access


def test_routes_follow_the_flows_and_paths_add_up():
    cfg = EdgeCloudConfig()
    n = cfg.topology.n_edge
    rng = np.random.default_rng(3)
    arrivals = np.full((30, n), 50.0)
    flows = np.zeros((30, n, n + 1))
    flows[:, :, 0] = 1.0  # a quarter to edge 0, three quarters to the cloud
    flows[:, :, n] = 3.0
    log = simulate_requests(cfg, arrivals, rng, flows=flows)
    to_cloud = (log.server == n).mean()
    assert to_cloud == pytest.approx(0.75, abs=0.02)
    assert set(np.unique(log.server)) == {0, n}
    served = log.outcome == SERVED
    # latency = path + wait + service: never below the request path
    cloud = served & (log.server == n) & (log.app == 0)
    floor = cfg.topology.access_ms + cfg.topology.wan_ms + cfg.apps[0].data_mbit / 1.0
    assert log.latency_ms[cloud].min() >= floor


def test_same_generator_same_log_and_initial_backlog():
    cfg = EdgeCloudConfig()
    arrivals = np.full((5, cfg.topology.n_edge), 20.0)
    a = simulate_requests(cfg, arrivals, np.random.default_rng(4), initial_backlog=[50] * 7)
    b = simulate_requests(cfg, arrivals, np.random.default_rng(4), initial_backlog=[50] * 7)
    np.testing.assert_array_equal(a.latency_ms, b.latency_ms)
    assert (a.step == -1).sum() == 350
    # requests present at the start are served before the first arrivals at their server
    first = a.step >= 0
    assert a.wait_ms[first & (a.server == 0)].max() > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"arrivals": np.ones((3, 2))}, "arrivals must have shape"),
        ({"arrivals": np.full((3, 6), 0.5)}, "whole, non-negative"),
        ({"mix": [1.0, 0.0]}, "mix must be 3"),
        ({"flows": np.ones((3, 6, 3))}, "flows must be non-negative with shape"),
        ({"initial_backlog": [1, 2]}, "initial_backlog must be 7"),
        ({"capacity_factors": [-1.0] * 7}, "capacity_factors must be 7"),
    ],
)
def test_bad_inputs_name_the_argument(kwargs, message):
    args = {"arrivals": np.ones((3, 6))} | kwargs
    with pytest.raises(ValueError, match=message):
        simulate_requests(EdgeCloudConfig(), rng=np.random.default_rng(0), **args)


def test_failed_server_drops_everything():
    cfg = EdgeCloudConfig()
    arrivals = np.full((3, 6), 10.0)
    log = simulate_requests(
        cfg, arrivals, np.random.default_rng(5), capacity_factors=[0, 1, 1, 1, 1, 1, 1]
    )
    assert np.all(log.outcome[log.server == 0] == DROPPED)


def test_validate_model_command_writes_its_table(tmp_path):
    from edgecloud_bench.cli import main

    assert main(["validate", "model", "--out", str(tmp_path), "--steps", "3",
                 "--replications", "2"]) == 0  # fmt: skip
    for name in ("model.md", "model.csv", "model.json", "model_latency.png"):
        assert (tmp_path / name).stat().st_size > 0
    text = (tmp_path / "model.md").read_text()
    assert "| steady | 0.5 | edge 8 cores | ar_vr |" in text
    assert "1-s step from empty" in text
    assert not math.isnan(float(text.split("within 10 %: ")[1].split(" of")[0]))


def test_validate_model_refuses_bad_arguments(tmp_path, capsys):
    from edgecloud_bench.cli import main

    assert main(["validate", "model", "--out", str(tmp_path), "--steps", "0"]) == 2
    assert "--steps, --replications and --steady-replications must be at least 1" in (
        capsys.readouterr().err
    )
    assert main(["validate", "model", "--out", str(tmp_path), "--steady-replications", "0"]) == 2
    assert not any(tmp_path.iterdir())


def test_erlang_c_closed_form_and_its_domain():
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # M/M/1: P(wait) = rho
    assert erlang_c(2, 1.0) == pytest.approx(1.0 / 3.0)  # (a^2/2)(2/(2-a)) / (1 + a + that), a=1
    with pytest.raises(ValueError, match="stationary queue"):
        erlang_c(4, 4.0)


def test_every_class_can_meet_its_deadline_somewhere_and_the_table_says_where(tmp_path, capsys):
    from edgecloud_bench.cli import main
    from edgecloud_gym.core.links import wire_mbit
    from edgecloud_gym.validation.feasibility import feasibility_table

    rows = {(r.app, r.placement): r for r in feasibility_table()}
    cloud = rows[("ar_vr", "cloud")]
    # round trip: 5 ms access + 30 ms WAN + 1.6 Mbit (and headers) at 1 Gbit/s + 40 Mcycles /
    # 3 GHz + 30 ms WAN + 0.08 Mbit (and headers) + 5 ms access = 85.0 ms, within 100 ms
    expected = 5 + 30 + wire_mbit(1.6) + 40 / 3 + 30 + wire_mbit(0.08) + 5
    assert cloud.latency_ms == pytest.approx(expected)
    assert cloud.feasible
    for app in ("ar_vr", "video", "iot"):  # no class is late everywhere by construction
        assert any(r.feasible for (a, _), r in rows.items() if a == app)
    # a tighter deadline makes the cloud infeasible, and the table says so
    from dataclasses import replace

    from edgecloud_gym import EdgeCloudConfig

    tight = EdgeCloudConfig()
    tight = tight.replace(apps=(replace(tight.apps[0], deadline_ms=60.0), *tight.apps[1:]))
    tight_rows = {(r.app, r.placement): r for r in feasibility_table(tight)}
    assert not tight_rows[("ar_vr", "cloud")].feasible
    assert tight_rows[("ar_vr", "own edge node")].feasible
    assert main(["validate", "feasibility", "--out", str(tmp_path)]) == 0
    assert "| ar_vr | cloud | 71.7 | 13.3 | 85.0 | 100 | yes |" in capsys.readouterr().out
    assert (tmp_path / "feasibility.md").is_file()
