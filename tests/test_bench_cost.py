"""``edgecloud bench cost``: measured per-step costs and the projection of a suite."""

from __future__ import annotations

import json

import pytest

from edgecloud_bench.cli import main
from edgecloud_bench.cost import AgentCost, project_suite
from edgecloud_bench.suite import Suite

SUITE = """
name: tiny
version: 1
envs: [EdgeCloud-Low-v0, EdgeCloud-High-v0]
seeds: [0, 1, 2]
evaluation:
  episodes: 2
agents:
  static: {}
  dqn:
    budget: 1000
    eval_freq: 500
    eval_episodes: 1
"""


def test_projection_adds_up_budgets_episodes_and_builds():
    import yaml

    suite = Suite.from_dict(yaml.safe_load(SUITE), "tiny")
    costs = {
        "static": AgentCost("static", "EdgeCloud-Low-v0", 0.5, 0.0, 1e-4),
        "dqn": AgentCost("dqn", "EdgeCloud-Low-v0", 2.0, 1e-3, 2e-4),
    }
    out = project_suite(suite, costs)
    assert out["static"]["runs"] == out["dqn"]["runs"] == 6
    # static: build + 2 episodes x 200 steps x 0.1 ms, per run
    assert out["static"]["cpu_s"] == pytest.approx(6 * (0.5 + 2 * 200 * 1e-4))
    # dqn: build + 1000 training steps + (2 final + 2 curve episodes) x 200 steps
    assert out["dqn"]["cpu_s"] == pytest.approx(6 * (2.0 + 1000 * 1e-3 + 4 * 200 * 2e-4))
    assert out["dqn"]["longest_s"] == pytest.approx(2.0 + 1.0 + 0.16)


def test_bench_cost_measures_and_writes_json(tmp_path, capsys):
    suite = tmp_path / "tiny.yml"
    suite.write_text(SUITE)
    out = tmp_path / "cost.json"
    code = main(["bench", "cost", "--suite", str(suite), "--slice-steps", "64",
                 "--warm-steps", "0", "--json", str(out), "--budget", "5000"])  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    assert "| dqn | 6 |" in text and "| static | 6 |" in text
    data = json.loads(out.read_text())
    assert data["costs"]["dqn"]["train_s_per_step"] > 0
    assert data["costs"]["static"]["train_s_per_step"] == 0
    # --budget replaces the learner's budget in the projection: at least 5000 steps a run
    assert data["projection"]["dqn"]["cpu_s"] >= 6 * 5000 * data["costs"]["dqn"]["train_s_per_step"]
    assert data["total_cpu_s"] == pytest.approx(
        sum(r["cpu_s"] for r in data["projection"].values())
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--slice-steps", "0"], "--slice-steps and --workers must be at least 1"),
        (["--budget", "0"], "--budget must be at least 1"),
        (["--suite", "papr"], "Did you mean 'paper'"),
    ],
)
def test_bench_cost_refuses_bad_arguments(args, message, capsys):
    assert main(["bench", "cost", *args]) == 2
    assert message in capsys.readouterr().err
