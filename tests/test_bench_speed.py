"""The speed benchmarks run end to end with tiny budgets and report what they claim to."""

from __future__ import annotations

import pytest

from edgecloud_bench.throughput import run_throughput
from edgecloud_gym import ALLOCATION_IDS


def test_throughput_reports_paired_cost_ratios():
    result = run_throughput(steps=30, repeats=2, forecasters=("none", "naive"))
    rows = result["single_env"]
    assert {r["env_id"] for r in rows} == set(ALLOCATION_IDS)
    for r in rows:
        assert len(r["round_seconds"]) == 2 and r["steps_per_s"] > 0
        if r["forecaster"] == "none":
            assert r["cost_vs_forecast_off"] == 1.0  # its own time over itself, round by round
        else:
            assert r["cost_vs_forecast_off"] > 0


def test_forecast_speed_times_both_precisions():
    pytest.importorskip("torch")
    from edgecloud_bench.forecast_speed import run

    out = run(batches=(1, 2), calls=2)
    assert out["auto_resolves_to"] in ("float32", "bfloat16")
    rows = {(r["episodes"], r["precision"]): r for r in out["rows"]}
    assert set(rows) == {(b, p) for b in (1, 2) for p in ("float32", "bfloat16")}
    assert rows[1, "float32"]["max_rel_diff"] == 0.0
    assert 0 < rows[2, "bfloat16"]["mean_rel_diff"] < 1e-3


def test_vector_throughput_reports_best_and_median_runs(tmp_path, capsys):
    from edgecloud_bench.vector_throughput import plot_vector, print_vector, run_vector_throughput

    result = run_vector_throughput(
        num_envs=(1, 4),
        node_counts=(6, 12),
        node_batch=4,
        dqn_timesteps=0,
        memory_envs=8,
        repeats=2,
        lstm_envs=4,
    )
    rows = result["native"]
    assert [(r["num_envs"], r["forecaster"]) for r in rows] == [
        (1, "none"),
        (4, "none"),
        (4, "lstm"),
    ]
    for r in [*rows, result["sync"]]:
        assert 0 < r["median_steps_per_s"] <= r["steps_per_s"]
    lstm = rows[-1]
    # the forecaster's pass alone, timed next to the row: a part of the row's time
    assert 0 < lstm["forecaster_us_per_env_step"] <= lstm["forecaster_median_us_per_env_step"]
    assert 0 < lstm["forecaster_share"] < 1
    assert {(r["n_edge"], r["num_envs"]) for r in result["nodes"]} == {
        (n, b) for n in (6, 12) for b in (1, 4)
    }
    assert all(m["state_mb"] > 0 for m in result["memory"])
    print_vector(result)
    printed = capsys.readouterr().out
    assert "median" in printed and "LSTM forecaster alone at reset, 4 episodes" in printed
    plot_vector(result, tmp_path / "vector.png")
    assert (tmp_path / "vector.png").stat().st_size > 0
