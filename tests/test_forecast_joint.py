"""The joint-workload forecaster ("lstm-joint"), its training option and its scoring."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("torch")

import edgecloud_gym  # noqa: F401  # registers the environments
from edgecloud_gym.forecasting import (
    FORECASTERS,
    JointLSTMForecaster,
    LSTMForecaster,
    make_forecaster,
)
from edgecloud_gym.forecasting.joint import (
    onset_window,
    sample_joint_episodes,
    score_joint,
)
from edgecloud_gym.forecasting.lstm import JOINT_WEIGHTS, PAPER_ARCHITECTURE, load_weights
from edgecloud_gym.forecasting.training import TrainConfig, train_lstm
from edgecloud_gym.model_version import MODEL_VERSION
from edgecloud_gym.tasks import JOINT_HIGH

TINY = dict(
    n_tasks=4, val_fraction=0.25, hidden_size=8, num_layers=1, episode_steps=20,
    warmup_steps=16, batch_episodes=2, batches_per_epoch=2, max_epochs=1, val_episodes=2,
)  # fmt: skip


def test_lstm_joint_is_registered_and_forecasts_on_a_joint_env():
    assert "lstm-joint" in FORECASTERS
    model = make_forecaster("lstm-joint")
    assert isinstance(model, LSTMForecaster) and isinstance(model, JointLSTMForecaster)
    assert model.name == "lstm-joint" and model.weights_path == JOINT_WEIGHTS
    env = gym.make("EdgeCloud-Joint-High-v0", forecaster="lstm-joint")
    try:
        obs, _ = env.reset(seed=0)
        assert env.observation_space.contains(obs)
        obs, *_ = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
    finally:
        env.close()
    ep = sample_joint_episodes(JOINT_HIGH, 2, seed_sequence=np.random.SeedSequence(1))
    fc = model.forecast(ep.workload, 5, ep.scale)
    assert fc.shape == (2, ep.workload.steps + 1, 6, 5)
    assert np.all(np.isfinite(fc)) and np.all(fc >= 0)


def test_lstm_joint_weights_record_the_joint_training_config():
    _, meta = load_weights(JOINT_WEIGHTS)
    assert meta["model_version"] == MODEL_VERSION
    assert meta["architecture"] == PAPER_ARCHITECTURE
    cfg = TrainConfig.from_dict(meta["training"])
    assert cfg.joint_fraction == 1.0
    assert cfg == dataclasses.replace(TrainConfig(), joint_fraction=1.0)
    assert meta["training"]["task_source"].startswith("joint presets")
    assert meta["training"]["command"] == "edgecloud forecast train --joint-fraction 1.0"
    assert meta["metrics"]["val_mae"] < meta["metrics"]["val_mae_naive"]


@pytest.mark.parametrize("fraction", [1.0, 0.5])
def test_tiny_joint_training_runs_and_its_config_round_trips(tmp_path, fraction):
    cfg = TrainConfig(**TINY, joint_fraction=fraction)
    out = tmp_path / "joint.npz"
    result = train_lstm(cfg, out=out, progress=False)
    assert len(result.history) == 2 and np.isfinite(result.history[-1]["val_mae"])
    _, meta = load_weights(out, cfg.architecture)
    assert TrainConfig.from_dict(meta["training"]) == cfg
    assert meta["training"]["joint_fraction"] == fraction
    assert "joint presets" in meta["training"]["task_source"]


def test_default_training_config_is_unchanged():
    """The default path draws no joint episode: its config reads as the shipped weights'."""
    cfg = TrainConfig()
    assert cfg.joint_fraction == 0.0 and cfg.joint_count(cfg.batch_episodes) == 0
    _, meta = load_weights()  # the shipped lstm-h5 weights (no joint_fraction recorded)
    assert "joint_fraction" not in meta["training"]
    assert TrainConfig.from_dict(meta["training"]) == cfg
    tiny = train_lstm(TrainConfig(**TINY), progress=False).metadata["training"]
    assert tiny["task_source"].startswith("train_tasks(4, seed=0)")
    assert "--joint-fraction" not in tiny["command"]
    with pytest.raises(ValueError, match="joint_fraction"):
        TrainConfig(joint_fraction=1.5)


def test_onset_windows_cover_the_first_steps_of_the_ramp_and_the_event():
    ep = sample_joint_episodes(JOINT_HIGH, 3, seed_sequence=np.random.SeedSequence(2))
    assert ep.ramp.any() and ep.event.any()
    assert not ep.event[..., 1:].any()  # the event loads node 0 only
    assert np.array_equal(ep.ramp[..., 0], ep.ramp[..., 5])  # the ramp loads every node
    window = onset_window(ep.ramp, 5)
    assert window.sum() % 5 == 0 and not (window & ~ep.ramp).any()
    active = np.array([[False, True, True, True, False, True]])[..., None]
    assert onset_window(active, 2)[0, :, 0].tolist() == [False, True, True, False, False, True]


def test_score_joint_reports_all_targets_and_onsets():
    res = score_joint(("naive", "oracle"), episodes=2, seed=0)
    assert set(res["tasks"]) == {"joint-low", "joint-medium", "joint-high"}
    for block in res["tasks"].values():
        for key in ("all", "ramp_onset", "event_onset"):
            assert len(block["naive"][key]["mae"]) == 5 and block["naive"][key]["targets"] > 0
            assert np.mean(block["oracle"][key]["mae"]) < np.mean(block["naive"][key]["mae"])
