"""The speed benchmarks run end to end with tiny budgets and report what they claim to."""

from __future__ import annotations

import numpy as np
import pytest

from edgecloud_bench.throughput import _print, run_throughput
from edgecloud_gym import ALLOCATION_IDS


def test_throughput_reports_best_rounds_and_paired_cost_ratios(capsys):
    result = run_throughput(steps=30, repeats=2, forecasters=("none", "naive"))
    rows = result["single_env"]
    assert [(r["env_id"], r["forecaster"]) for r in rows] == [
        (env_id, fc) for env_id in ALLOCATION_IDS for fc in ("none", "naive")
    ]
    off = {r["env_id"]: np.asarray(r["round_seconds"]) for r in rows if r["forecaster"] == "none"}
    for r in rows:
        seconds = np.asarray(r["round_seconds"])
        assert seconds.shape == (2,)
        # the best round, and the median of the round-by-round ratios to the same id's "none"
        assert r["steps_per_s"] == pytest.approx(30 / seconds.min())
        assert r["us_per_step"] == pytest.approx(1e6 / r["steps_per_s"])
        assert r["ratio_to_cartpole"] == pytest.approx(
            r["steps_per_s"] / result["cartpole_steps_per_s"]
        )
        paired = float(np.median(seconds / off[r["env_id"]]))
        assert r["cost_vs_forecast_off"] == pytest.approx(paired)
    _print(result)
    printed = capsys.readouterr().out.splitlines()
    for r, line in zip(rows, printed[2:], strict=True):
        assert line.split()[:3] == [r["env_id"], r["forecaster"], f"{r['steps_per_s']:,.0f}"]


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
    for r in rows:  # every row's best and median run, as measured
        assert f"{r['steps_per_s']:>14,.0f}{r['median_steps_per_s']:>12,.0f}" in printed
    assert f"{lstm['forecaster_us_per_env_step']:.2f} us per env-step" in printed
    plot_vector(result, tmp_path / "vector.png")
    assert (tmp_path / "vector.png").stat().st_size > 0


@pytest.mark.slow  # compiles five copies of the step kernel (about a minute)
def test_kernel_cost_times_every_variant_and_restores_the_helpers(capsys):
    from edgecloud_bench.kernel_cost import VARIANTS, main
    from edgecloud_gym.core import dynamics

    helpers = {p: getattr(dynamics, p) for parts in VARIANTS.values() for p in parts}
    assert main(["--systems", "4", "--rounds", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line for line in lines if line.startswith(tuple(VARIANTS))]
    assert len(rows) == len(VARIANTS) and all(float(r.split()[-2 if "without" in r else -1]) > 0
                                              for r in rows)  # fmt: skip
    # the env's own kernel still uses the real helpers afterwards
    assert all(getattr(dynamics, p) is f for p, f in helpers.items())
