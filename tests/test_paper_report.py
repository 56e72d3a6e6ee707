"""The paper report: claims against run files (edgecloud_bench.paper)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecloud_bench.paper import CLAIMS, paper_tables, write_paper_report


def _record(agent: str, env: str, seed: int, latency: float, conv: float | None) -> dict:
    curve = [[0, -300.0 + seed], [500, -250.0], [1000, -240.0 + seed]]
    metrics = {
        "return": -latency,
        "latency_mean_ms": latency,
        "utilisation": 0.4,
        "energy_per_request_j": 1.0,
        "convergence_steps": conv,
    }
    learner = agent not in ("static", "oracle")
    return {
        "spec": {"agent": agent, "env": env, "seed": seed},
        "metrics": metrics,
        "learning_curve": curve if learner else [],
    }


def _records() -> list[dict]:
    rng = np.random.default_rng(0)
    out = []
    for env in ("EdgeCloud-Low-v0", "EdgeCloud-High-v0", "EdgeCloud-Heldout0-v0"):
        for seed in range(5):
            noise = float(rng.normal(0, 0.1))
            out += [
                _record("static", env, seed, 100.0 + noise, None),
                _record("dqn", env, seed, 95.0 + noise, 4000.0),
                _record("dqn-forecast", env, seed, 94.0 + noise, 4000.0),
                _record("maml-dqn", env, seed, 90.0 + noise, 2000.0),
                _record("dynamic-allocator", env, seed, 89.0 + noise, 2000.0),
            ]
    return out


def test_claims_are_measured_as_paired_improvements() -> None:
    tables = paper_tables(_records())
    by = {(c["scope"], c["claim"].label): c for c in tables["claims"]}
    profiles = "profiles (Low, High)"  # named by the profiles the runs have
    latency = by[(profiles, "average latency vs static")]
    assert latency["n"] == 10  # Low and High, 5 seeds each
    assert abs(latency["measured"].estimate - 11.0) < 0.2  # 100 -> 89 ms
    conv = by[(profiles, "convergence steps vs reactive RL")]["measured"]
    assert abs(conv.estimate - 50.0) < 1e-9  # 4000 -> 2000 steps: 50 % fewer
    util = by[(profiles, "resource utilisation vs static")]["measured"]
    assert util.estimate == 0.0
    assert {c["scope"] for c in tables["claims"]} == {profiles, "held-out test tasks"}
    assert len(tables["claims"]) == 2 * len(CLAIMS)


def test_report_files(tmp_path: Path) -> None:
    text = write_paper_report(tmp_path, _records())
    assert "| profiles (Low, High) | average latency vs static | 10..12 % |" in text
    assert "consistent" in text and "not reproduced: no clear difference" in text
    assert (tmp_path / "paper.md").read_text().startswith("# DYNAMIC-ALLOCATOR")
    assert (tmp_path / "paper_claims.png").stat().st_size > 0
    assert (tmp_path / "adaptation_curves.png").stat().st_size > 0


def test_ablation_labels_get_their_own_component_rows():
    from edgecloud_bench.paper import _variant_suffixes

    four = ["dqn", "dqn-forecast", "maml-dqn", "dynamic-allocator"]
    assert _variant_suffixes([*four, "static"]) == [""]
    assert _variant_suffixes([*four, *(a + "-eps0.2" for a in four)]) == ["", "-eps0.2"]
    assert _variant_suffixes([*four, "dqn-eps0.2"]) == [""]  # all four, or no rows
