"""Ray RLlib trains PPO on an allocation id and reports the environment metrics.

RLlib pins its own Gymnasium, so it lives in a separate environment: build it with
``bash scripts/build_rllib_env.sh`` (``.venv-rllib``), or point ``EDGECLOUD_RLLIB_PYTHON`` at the
interpreter of another one; without it the test is skipped.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _rllib_python() -> Path:
    given = os.environ.get("EDGECLOUD_RLLIB_PYTHON")
    python = Path(given) if given else ROOT / ".venv-rllib" / "bin" / "python"
    if not python.exists():
        pytest.skip(
            f"no RLlib environment at {python}: build it with 'bash scripts/build_rllib_env.sh' "
            "or set EDGECLOUD_RLLIB_PYTHON to the python of one"
        )
    return python


@pytest.mark.slow
def test_rllib_ppo_two_iterations_report_env_metrics(tmp_path: Path) -> None:
    """The example, as a user runs it: PPO, two iterations, one remote env runner that makes the
    env by its plain id (no ``edgecloud_gym:`` prefix)."""
    out = tmp_path / "ppo.json"
    cmd = [str(_rllib_python()), str(ROOT / "examples" / "rllib_ppo.py"), "--iterations", "2"]
    cmd += ["--env", "EdgeCloud-Medium-v0", "--env-runners", "1", "--json", str(out)]
    done = subprocess.run(
        cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = json.loads(out.read_text())["iterations"]
    assert [r["iteration"] for r in rows] == [1, 2], done.stdout[-2000:]
    for row in rows:
        assert row["env_steps"] >= 1000
        for key in ("latency_mean_ms", "latency_p95_ms", "sla_violation_rate", "utilisation"):
            assert math.isfinite(row[f"env/{key}"]), key
        assert row["env/latency_mean_ms"] > 0 and 0 < row["env/utilisation"] < 1
        # the callback saw every step of every episode: its return is RLlib's own
        assert row["env/return"] == pytest.approx(row["episode_return_mean"], rel=1e-9)
    assert "iteration 2:" in done.stdout and "latency_mean_ms" in done.stdout


@pytest.mark.slow
def test_rllib_example_refuses_an_unknown_env(tmp_path: Path) -> None:
    cmd = [
        str(_rllib_python()),
        str(ROOT / "examples" / "rllib_ppo.py"),
        "--env",
        "EdgeCloud-Hihg-v0",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2
    assert "Did you mean 'EdgeCloud-High-v0'" in done.stderr
