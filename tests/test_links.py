"""The FIFO link model (``edgecloud_gym.core.links``): limits, a queue simulation, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from edgecloud_bench import cli, ns3_link
from edgecloud_bench import validate_network as vn
from edgecloud_gym.config import DEFAULT_APPS
from edgecloud_gym.core import links
from edgecloud_gym.core.links import (
    PACKET_OVERHEAD_BYTES,
    UDP_PAYLOAD_BYTES,
    delay_quantile,
    fifo_link_batch,
    link_performance,
    wire_mbit,
)

DATA = np.array([a.data_mbit for a in DEFAULT_APPS])  # Mbit: 1.6, 4.0, 0.08
WIRE = np.array([wire_mbit(float(d)) for d in DATA])
BUFFER_BYTES = 7_500_000  # 60 ms at 1 Gbit/s
BUFFER_MS = 60.0


def rates_at(load: float, mix: np.ndarray | None = None) -> np.ndarray:
    """Per-class rates (requests/s) giving ``load`` on a 1 Gbit/s link."""
    mix = np.full(3, 1 / 3) if mix is None else mix
    return mix * load * 1e3 / float(mix @ WIRE)


def queue_sim(load: float, buffer_ms: float, n: int, seed: int) -> np.ndarray:
    """Delays (ms, NaN = dropped) of ``n`` Poisson requests on the request-level FIFO queue."""
    rng = np.random.default_rng(seed)
    rates = rates_at(load)
    send = np.cumsum(rng.exponential(1e3 / rates.sum(), n))
    classes = rng.choice(3, size=n, p=rates / rates.sum())
    return vn.simulate_fifo_link(send, WIRE[classes], buffer_ms, 30.0)


def test_wire_size_counts_headers_of_each_packet():
    # 200,000 B of AR/VR payload: 136 datagrams of <= 1472 B, each with 30 B of headers.
    assert UDP_PAYLOAD_BYTES == 1472 and PACKET_OVERHEAD_BYTES == 30
    assert wire_mbit(1.6) == pytest.approx(1.6 + 136 * 30 * 8 / 1e6)
    assert wire_mbit(4.0) == pytest.approx(4.0 + 340 * 30 * 8 / 1e6)
    assert wire_mbit(0.08) == pytest.approx(0.08 + 7 * 30 * 8 / 1e6)
    assert wire_mbit(1472 * 8 / 1e6) == pytest.approx(1500 * 8 / 1e6 + 2 * 8 / 1e6)


def test_light_load_is_propagation_plus_transmission():
    perf = link_performance(rates_at(1e-6), DATA, propagation_ms=30.0)
    np.testing.assert_allclose(perf.delay_ms[0], 30.0 + WIRE, rtol=1e-6)
    assert perf.drop_fraction[0] < 1e-12
    assert perf.carried_gbps[0] == pytest.approx(1e-6, rel=1e-3)
    idle = link_performance(np.zeros(3), DATA, propagation_ms=5.0)
    np.testing.assert_allclose(idle.delay_ms[0], 5.0 + WIRE)
    assert idle.carried_gbps[0] == 0.0 and idle.drop_fraction[0] == 0.0


@pytest.mark.parametrize("load", [0.3, 0.8, 0.95])
def test_large_buffer_gives_the_pollaczek_khinchine_mean(load):
    rates = rates_at(load) * 1e-3  # requests/ms
    wait = rates.sum() * (rates @ WIRE**2 / rates.sum()) / (2 * (1 - load))  # λE[S²]/(2(1-ρ))
    perf = link_performance(rates_at(load), DATA, buffer_bytes=1e15)
    np.testing.assert_allclose(perf.delay_ms[0], 30.0 + WIRE + wait, rtol=1e-9)


@pytest.mark.parametrize(("load", "buffer_ms"), [(0.5, 1e9), (0.8, 1e9), (0.9, 1e9), (0.9, 60.0)])
def test_mean_and_p95_match_a_simulation_of_the_same_queue(load, buffer_ms):
    delay = queue_sim(load, buffer_ms, 2_000_000, seed=1)
    ok = delay[~np.isnan(delay)]
    perf = link_performance(rates_at(load), DATA, buffer_bytes=buffer_ms * 1e6 / 8)
    # Waiting time alone (delay less propagation and transmission) within a few %.
    sim_wait = ok.mean() - 30.0 - float(WIRE.mean())
    model_wait = perf.mean_delay_ms[0] - 30.0 - float(WIRE.mean())
    assert model_wait == pytest.approx(sim_wait, rel=0.05)
    assert perf.p95_delay_ms[0] == pytest.approx(np.percentile(ok, 95), rel=0.03)


@pytest.mark.parametrize("load", [0.95, 0.99, 1.2])
def test_drops_at_a_finite_buffer_match_the_simulation(load):
    delay = queue_sim(load, BUFFER_MS, 400_000, seed=2)
    perf = link_performance(rates_at(load), DATA, buffer_bytes=BUFFER_BYTES)
    assert perf.drop_fraction[0] == pytest.approx(np.isnan(delay).mean(), rel=0.1)
    assert perf.mean_delay_ms[0] == pytest.approx(np.nanmean(delay), rel=0.02)


@pytest.mark.parametrize("load", [1.0, 1.5, 3.0, 100.0, 1e5])
def test_overload_bounds_delay_and_drops_the_excess(load):
    perf = link_performance(rates_at(load), DATA, buffer_bytes=BUFFER_BYTES, tail_ms=1e9)
    assert np.all(np.isfinite(perf.delay_ms))
    assert np.all(perf.delay_ms <= 30.0 + BUFFER_MS + 1e-9)
    assert perf.carried_gbps[0] <= 1.0
    # Bits lost are the excess over the carried rate; requests lose at least that share.
    assert perf.bit_loss[0] == pytest.approx(1 - perf.carried_gbps[0] / load, abs=1e-12)
    assert perf.drop_fraction[0] >= perf.bit_loss[0] - 0.05
    if load >= 1.5:
        assert perf.carried_gbps[0] == pytest.approx(1.0, abs=1e-3)
        assert perf.bit_loss[0] == pytest.approx(1 - 1 / load, abs=1e-3)


def test_monotone_in_load():
    grid = np.linspace(0.01, 3.0, 300)
    rates = np.stack([rates_at(x) for x in grid])
    perf = link_performance(rates, DATA, buffer_bytes=BUFFER_BYTES, tail_ms=[40.0, 60.0, 35.0])
    for series in (
        perf.mean_delay_ms,
        perf.p95_delay_ms,
        perf.drop_fraction,
        perf.carried_gbps,
        perf.bit_loss,
        *perf.delay_ms.T,
        *perf.p_drop.T,
        *perf.p_late.T,
    ):
        assert np.all(np.diff(series) >= -1e-9)
    np.testing.assert_allclose(perf.load, grid)


def test_tail_probability_and_quantile_agree():
    rates = rates_at(0.9)
    q95 = delay_quantile(0.95, rates, WIRE, 1.0, 30.0, BUFFER_MS)
    perf = link_performance(rates, DATA, buffer_bytes=BUFFER_BYTES, tail_ms=q95)
    delivered = rates * (1 - perf.p_drop[0])
    assert delivered @ perf.p_late[0] / delivered.sum() == pytest.approx(0.05, abs=1e-9)
    assert perf.p95_delay_ms[0] == pytest.approx(q95)


def test_batched_use_equals_one_link_at_a_time():
    rng = np.random.default_rng(0)
    rates = rng.uniform(0, 400, (6, 3))
    bw = np.array([1.0, 0.5, 10.0, 1.0, 2.0, 1.0])
    prop = np.array([30.0, 2.0, 0.0, 30.0, 5.0, 1.0])
    buf = np.array([7.5e6, 1e6, 1e7, 3e6, 5e6, 1e9])
    batch = link_performance(rates, DATA, bandwidth_gbps=bw, propagation_ms=prop, buffer_bytes=buf)
    for b in range(6):
        one = link_performance(
            rates[b], DATA, bandwidth_gbps=bw[b], propagation_ms=prop[b], buffer_bytes=buf[b]
        )
        for field in ("delay_ms", "p_drop", "carried_gbps", "mean_delay_ms", "p95_delay_ms"):
            np.testing.assert_array_equal(getattr(batch, field)[b], getattr(one, field)[0])
    # The compiled kernel writes the same numbers into caller-owned arrays.
    out = [np.empty((6, 3)), np.empty((6, 3)), np.empty((6, 3)), np.empty(6)]
    fifo_link_batch(rates, WIRE, bw, prop, buf * 8 / (bw * 1e6), np.full(3, np.inf), *out)
    np.testing.assert_array_equal(out[0], batch.delay_ms)
    np.testing.assert_array_equal(out[3], batch.carried_gbps)


def test_request_larger_than_the_buffer_is_always_dropped():
    perf = link_performance(rates_at(0.1), DATA, buffer_bytes=300_000)  # 2.4 ms < video's 4.08
    assert perf.p_drop[0, 1] == 1.0
    assert perf.p_drop[0, 0] < 1.0 and perf.p_drop[0, 2] < 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rates_per_s": [-1.0, 0, 0]}, "rates_per_s must be >= 0"),
        ({"rates_per_s": [np.nan, 0, 0]}, "rates_per_s must be finite"),
        ({"rates_per_s": np.ones((2, 2, 3))}, r"rates_per_s must have shape \(K,\) or \(B, K\)"),
        ({"data_mbit": [1.0, 2.0]}, r"data_mbit must have shape \(3,\)"),
        ({"data_mbit": [1.0, 0.0, 1.0]}, "data_mbit must be > 0"),
        ({"bandwidth_gbps": 0.0}, "bandwidth_gbps must be > 0"),
        ({"bandwidth_gbps": [1.0, 1.0]}, r"bandwidth_gbps must be a number or have shape \(1,\)"),
        ({"propagation_ms": -1.0}, "propagation_ms must be >= 0"),
        ({"buffer_bytes": -5.0}, "buffer_bytes must be >= 0"),
        ({"buffer_bytes": math.inf}, "buffer_bytes must be finite"),
        ({"tail_ms": [1.0, 2.0]}, r"tail_ms must be a number or have shape \(3,\)"),
    ],
)
def test_bad_inputs_name_the_argument(kwargs, message):
    args = {"rates_per_s": rates_at(0.5), "data_mbit": DATA, **kwargs}
    with pytest.raises(ValueError, match=message):
        link_performance(**args)


def test_buffer_bytes_to_ms():
    assert links.buffer_bytes_to_ms(7_500_000, 1.0) == pytest.approx(60.0)
    with pytest.raises(ValueError, match="bandwidth_gbps must be > 0"):
        links.buffer_bytes_to_ms(1.0, 0.0)


def test_validate_network_without_ns3_says_how_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "ns", None)
    monkeypatch.setattr(ns3_link, "_SCENARIO_CLASS", None)
    out = tmp_path / "out"
    assert cli.main(["validate", "network", "--out", str(out), "--loads", "0.3"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'edgecloud-gym[ns3]'" in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--loads", "0.3,abc"], "comma-separated numbers"),
        (["--loads", "0,0.5"], r"\(0, 1.5\]"),
        (["--seconds", "-1"], "--seconds must be > 0"),
        (["--queue-bytes", "100"], "--queue-bytes must hold at least one full-size packet"),
    ],
)
def test_validate_network_rejects_bad_arguments(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert cli.main(["validate", "network", "--out", str(out), *args]) == 2
    assert __import__("re").search(message, capsys.readouterr().err)
    assert not out.exists()


def test_validate_network_refuses_a_file_as_output_folder(tmp_path, capsys):
    out = tmp_path / "network.md"
    out.write_text("keep me")
    assert cli.main(["validate", "network", "--out", str(out)]) == 2
    assert "--out must be a folder" in capsys.readouterr().err
    assert out.read_text() == "keep me"


@pytest.mark.slow
def test_validate_network_runs_ns3_on_two_loads(tmp_path, capsys):
    if not vn.ns3_available():
        pytest.skip("ns-3's Python bindings are not installed: pip install 'edgecloud-gym[ns3]'")
    out = tmp_path / "validation"
    argv = ["validate", "network", "--out", str(out), "--loads", "0.3,0.8", "--seconds", "2"]
    assert cli.main(argv) == 0
    assert "load 0.80" in capsys.readouterr().out
    result = json.loads((out / "network.json").read_text())
    assert {p.name for p in out.iterdir()} == {f"network.{e}" for e in ("md", "csv", "json", "png")}
    for row in result["rows"]:
        # The packet-level run is the request-level queue on the same arrivals, to rounding.
        assert row["ns3"]["mean_ms"] == pytest.approx(row["queue"]["mean_ms"], rel=1e-3)
        assert row["ns3"]["drop_fraction"] == row["queue"]["drop_fraction"]
        assert abs(row["gap_mean"]) <= 0.10
        assert set(row["by_class"]) == {a.name for a in DEFAULT_APPS}
    assert "Per class" in (out / "network.md").read_text()
