"""``edgecloud bench sweep``: a tiny sweep writes its files, starts from the shipped values,
resumes, and refuses bad input."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

pytest.importorskip("optuna")

from edgecloud_bench.sweep import SPACES, overrides, run_sweep, shipped_values

TINY = {"budget": 300, "seeds": [0], "episodes": 1, "progress": False}


def test_a_sweep_starts_from_the_shipped_values_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    study = run_sweep("dqn", "EdgeCloud-Low-v0", out, trials=2, **TINY)
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert [r["trial"] for r in rows] == ["0", "1"]
    assert rows[0]["shipped"] == "1" and rows[1]["shipped"] == "0"
    shipped = shipped_values("dqn", "EdgeCloud-Low-v0")
    assert study.trials[0].params == shipped
    assert set(shipped) == set(SPACES["dqn"])
    # the second trial is the sampler's, inside the search space
    lr = float(rows[1]["learning_rate"])
    assert SPACES["dqn"]["learning_rate"][1] <= lr <= SPACES["dqn"]["learning_rate"][2]
    best = yaml.safe_load((out / "best.yml").read_text())
    entry = best["EdgeCloud-Low-v0"]
    assert entry["policy_kwargs"].startswith("dict(net_arch=")
    assert entry["n_timesteps"] == 100000 and entry["env_kwargs"] == {"forecaster": "none"}
    assert (out / "sweep.png").stat().st_size > 0
    # the rules' returns on the same evaluation episodes, for scale
    assert set(study.user_attrs["references"]) == {"static", "local-first"}
    assert "# On the same episodes: static" in (out / "best.yml").read_text()
    # rerunning with more trials adds only the missing ones
    study = run_sweep("dqn", "EdgeCloud-Low-v0", out, trials=3, **TINY)
    assert len(list(csv.DictReader((out / "trials.csv").open()))) == 3
    with pytest.raises(ValueError, match="other settings"):
        run_sweep("dqn", "EdgeCloud-Low-v0", out, trials=3, **{**TINY, "budget": 400})


def test_sweep_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no hyperparameter search space"):
        run_sweep("static", "EdgeCloud-Low-v0", tmp_path / "a", **TINY)
    with pytest.raises(ValueError, match="Did you mean 'dqn'"):
        run_sweep("dqm", "EdgeCloud-Low-v0", tmp_path / "b", **TINY)
    with pytest.raises(ValueError, match="--trials"):
        run_sweep("dqn", "EdgeCloud-Low-v0", tmp_path / "c", trials=0, **TINY)
    with pytest.raises(ValueError, match="--seeds"):
        run_sweep("dqn", "EdgeCloud-Low-v0", tmp_path / "d", **{**TINY, "seeds": [1, 1]})
    assert not any(tmp_path.iterdir())  # nothing written on bad input


def test_ppo_overrides_keep_a_minibatch_inside_a_rollout() -> None:
    values = {"n_steps": 128, "batch_size": 256, "net_arch": "[64, 64]"}
    assert overrides(values) == {
        "n_steps": 128,
        "batch_size": 128,
        "policy_kwargs": "dict(net_arch=[64, 64])",
    }
    assert set(shipped_values("ppo", "EdgeCloud-High-v0")) == set(SPACES["ppo"])
