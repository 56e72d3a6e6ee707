"""The one scores object (edgecloud_bench.scores) and the reports built on it."""

from __future__ import annotations

import math

import pytest

from edgecloud_bench.paper import paper_tables
from edgecloud_bench.report import SUMMARY_METRICS, summary_rows
from edgecloud_bench.scores import HIGHER_IS_BETTER, LOWER_IS_BETTER, Scores, higher_is_better

LOW, HIGH = "EdgeCloud-Low-v0", "EdgeCloud-High-v0"


def _rec(agent: str, env: str, seed: int, latency: float, conv: float | None) -> dict:
    return {
        "spec": {"agent": agent, "env": env, "seed": seed},
        "metrics": {"latency_mean_ms": latency, "convergence_steps": conv},
    }


def _records() -> list[dict]:
    """Two envs, three seeds; dqn never converges on High (convergence_steps None there)."""
    out = []
    for env in (LOW, HIGH):
        for seed in range(3):
            out += [
                _rec("dqn", env, seed, 100.0 + seed, 4000.0 if env == LOW else None),
                _rec("dynamic-allocator", env, seed, 90.0 + seed, 2000.0),
            ]
    return out


def test_every_reported_metric_has_one_direction() -> None:
    assert not HIGHER_IS_BETTER & LOWER_IS_BETTER
    for metric in (*SUMMARY_METRICS, "initial_return", "curve_return", "ratio", "cost"):
        higher_is_better(metric)  # raises for a metric of neither table
    assert higher_is_better("return") and not higher_is_better("latency_mean_ms")
    with pytest.raises(ValueError, match="has no direction"):
        higher_is_better("latency")


def test_a_scope_needs_every_env_for_levels_and_comparisons() -> None:
    scores = Scores(_records())
    ci, n = scores.compare("dynamic-allocator", "dqn", [LOW], "latency_mean_ms")
    assert n == 3 and ci.estimate == pytest.approx(10.0 / 101.0 * 100.0)
    assert scores.compare("dynamic-allocator", "dqn", [LOW], "convergence_steps")[1] == 3
    both = [LOW, HIGH]
    ci, n = scores.compare("dynamic-allocator", "dqn", both, "convergence_steps")
    assert n == 0 and math.isnan(ci.estimate)  # High has no pair: no estimate for Low+High
    ci, n = scores.level("dqn", both, "convergence_steps")
    assert n == 0 and math.isnan(ci.estimate)
    assert scores.level("dynamic-allocator", both, "convergence_steps")[1] == 6


def test_report_and_paper_apply_the_same_rule() -> None:
    records = _records()
    rows = {(r["agent"], r["env"], r["metric"]): r for r in summary_rows(records)}
    assert "vs_dqn_pct" in rows[("dynamic-allocator", LOW, "convergence_steps")]
    assert "vs_dqn_pct" not in rows[("dynamic-allocator", "all", "convergence_steps")]
    assert ("dqn", "all", "convergence_steps") not in rows
    claims = {c["claim"].label: c for c in paper_tables(records)["claims"]}
    conv = claims["convergence steps vs reactive RL"]
    assert conv["n"] == 0 and math.isnan(conv["measured"].estimate)
    latency = claims["average latency vs reactive RL"]
    assert latency["n"] == 6
    assert latency["measured"].estimate == pytest.approx(
        rows[("dynamic-allocator", "all", "latency_mean_ms")]["vs_dqn_pct"]
    )


def test_agents_absent_from_the_runs_are_not_reported() -> None:
    levels = paper_tables(_records())["levels"]
    assert {lv["agent"] for lv in levels} == {"dqn", "dynamic-allocator"}
