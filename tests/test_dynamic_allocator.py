"""Meta-training of the Q-network and the DYNAMIC-ALLOCATOR agent built on it."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import DQN

import edgecloud_gym
from edgecloud_agents.base import MetaAgent
from edgecloud_agents.dynamic_allocator import DynamicAllocator, apply_meta_init
from edgecloud_agents.meta_dqn import (
    MetaTrainConfig,
    MetaTrainer,
    load_meta_init,
    save_meta_init,
)

gym.register_envs(edgecloud_gym)

TINY = {
    "n_train_tasks": 3,
    "include_presets": False,
    "meta_batch": 2,
    "inner_steps": 1,
    "batch_size": 16,
    "episode_steps": 40,
    "warmup_episodes": 1,
    "buffer_episodes": 2,
}


def _trainer(forecaster: str = "lstm", **changes: object) -> MetaTrainer:
    return MetaTrainer(MetaTrainConfig(forecaster=forecaster, **{**TINY, **changes}), eval_tasks=1)


@pytest.fixture(scope="module")
def lstm_init(tmp_path_factory: pytest.TempPathFactory) -> Path:
    trainer = _trainer().train(3, eval_every=0)
    path = tmp_path_factory.mktemp("meta") / "meta_init.pt"
    save_meta_init(trainer.meta_init(), path)
    return path


def _obs(env: gym.Env, n: int = 32) -> np.ndarray:
    obs, _ = env.reset(seed=3)
    rows = [obs]
    for k in range(n - 1):
        obs, *_ = env.step(k % env.action_space.n)
        rows.append(obs)
    return np.stack(rows)


# --------------------------------------------------------------------------- meta-training


def test_meta_training_is_resumable_exactly(tmp_path: Path) -> None:
    straight = _trainer(forecaster="none").train(4, eval_every=0)

    first = _trainer(forecaster="none").train(2, checkpoint=tmp_path / "ckpt.pt", eval_every=0)
    resumed = _trainer(forecaster="none")
    resumed.load_checkpoint(tmp_path / "ckpt.pt")
    assert resumed.step == first.step == 2
    resumed.train(4, eval_every=0)

    for (name, a), b in zip(
        straight.net.state_dict().items(), resumed.net.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    assert straight.env_steps == resumed.env_steps


def test_checkpoint_of_other_settings_is_refused(tmp_path: Path) -> None:
    _trainer(forecaster="none").train(1, checkpoint=tmp_path / "ckpt.pt", eval_every=0)
    other = _trainer(forecaster="none", inner_lr=0.05)
    with pytest.raises(ValueError, match=r"other settings.*inner_lr.*--no-resume"):
        other.load_checkpoint(tmp_path / "ckpt.pt")


def test_meta_training_logs_finite_losses_and_the_evaluation() -> None:
    trainer = _trainer(forecaster="none")
    trainer.warmup()
    values = trainer.outer_step()
    for key in ("pre_adaptation", "post_adaptation"):
        assert np.isfinite(values[f"meta/query_loss_{key}"])
    evaluation = trainer.evaluate()
    assert set(evaluation) == {
        "meta/eval_return_train_meta",
        "meta/eval_return_train_static",
        "meta/eval_return_test_meta",
        "meta/eval_return_test_static",
    }


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"meta_batch": 10}, "exceeds the task pool"),
        ({"batch_size": 64}, "distinct transitions"),
        ({"gamma": 1.5}, r"gamma must lie in \[0.0, 1.0\]"),
        ({"epsilon": (0.5, 0.1)}, "low <= high"),
        ({"net_arch": (128, 0)}, "positive layer widths"),
    ],
)
def test_bad_meta_training_settings(changes: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MetaTrainConfig(**{**TINY, **changes})


def test_unknown_setting_suggests_the_near_miss() -> None:
    with pytest.raises(TypeError, match="Did you mean 'inner_lr'"):
        MetaTrainConfig.from_dict({"inner_rl": 0.1})


# --------------------------------------------------------------------------- meta-init in SB3


def test_meta_init_round_trips_into_sb3_dqn_and_acts_identically(lstm_init: Path) -> None:
    init = load_meta_init(lstm_init)
    env = gym.make("EdgeCloud-Low-v0", forecaster="lstm")
    agent = DynamicAllocator(env, meta_init=lstm_init, seed=0)
    obs = _obs(env)
    with torch.no_grad():
        expected = init.network()(torch.from_numpy(obs)).argmax(dim=1).numpy()
    np.testing.assert_array_equal(agent.predict(obs), expected)
    for net in (agent.model.policy.q_net.q_net, agent.model.policy.q_net_target.q_net):
        for key, value in net.state_dict().items():
            torch.testing.assert_close(value, init.state_dict[key], rtol=0, atol=0)


def test_saved_agent_loads_and_acts_identically(lstm_init: Path, tmp_path: Path) -> None:
    env = gym.make("EdgeCloud-Low-v0", forecaster="lstm")
    agent = DynamicAllocator(env, meta_init=lstm_init, seed=0, learning_starts=10)
    agent.learn(60)
    agent.save(tmp_path / "agent.zip")
    loaded = DynamicAllocator.load(tmp_path / "agent.zip")
    obs = _obs(env)
    np.testing.assert_array_equal(loaded.predict(obs), agent.predict(obs))
    assert loaded.name == "dynamic-allocator"
    assert loaded.meta_init.state_dict.keys() == agent.meta_init.state_dict.keys()


def test_adapt_returns_a_new_agent_from_the_meta_init(lstm_init: Path) -> None:
    env = gym.make("EdgeCloud-Low-v0", forecaster="lstm")
    agent = DynamicAllocator(env, meta_init=lstm_init, seed=0, learning_starts=10, train_freq=1)
    assert isinstance(agent, MetaAgent)
    before = {k: v.clone() for k, v in agent.model.policy.q_net.state_dict().items()}
    adapted = agent.adapt(gym.make("EdgeCloud-High-v0", forecaster="lstm"), 80)
    assert adapted is not agent
    after = agent.model.policy.q_net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    changed = adapted.model.policy.q_net.state_dict()
    assert any(not torch.equal(before[k], changed[k]) for k in before)


# --------------------------------------------------------------------------- bad inputs


def test_meta_init_of_another_forecaster_is_refused(lstm_init: Path, tmp_path: Path) -> None:
    naive_env = gym.make("EdgeCloud-Low-v0", forecaster="naive")  # same size, other forecaster
    with pytest.raises(ValueError, match=r"forecaster 'lstm'.*forecaster='lstm'"):
        DynamicAllocator(naive_env, meta_init=lstm_init)
    with pytest.raises(ValueError, match="meta-trained with 'lstm'"):
        DynamicAllocator(
            gym.make("EdgeCloud-Low-v0", forecaster="none"), name="maml-dqn", meta_init=lstm_init
        )


def test_incompatible_networks_are_refused(lstm_init: Path) -> None:
    init = load_meta_init(lstm_init)
    small = DQN("MlpPolicy", gym.make("EdgeCloud-Low-v0"), policy_kwargs={"net_arch": [64, 64]})
    with pytest.raises(ValueError, match=r"net_arch=\[128, 128, 128\]"):
        apply_meta_init(small, init)
    no_forecast = DQN(
        "MlpPolicy",
        gym.make("EdgeCloud-Low-v0", forecaster="none"),
        policy_kwargs={"net_arch": [128, 128, 128]},
    )
    with pytest.raises(ValueError, match=r"observations of size 112.*size 82"):
        apply_meta_init(no_forecast, init)
    tanh = DQN(
        "MlpPolicy",
        gym.make("EdgeCloud-Low-v0"),
        policy_kwargs={"net_arch": [128, 128, 128], "activation_fn": torch.nn.Tanh},
    )
    with pytest.raises(ValueError, match="ReLU"):
        apply_meta_init(tanh, init)


def test_wrong_observation_size_is_a_clear_error(lstm_init: Path) -> None:
    agent = DynamicAllocator(gym.make("EdgeCloud-Low-v0", forecaster="lstm"), meta_init=lstm_init)
    with pytest.raises(ValueError, match=r"shape \(112,\)"):
        agent.predict(np.zeros(82, dtype=np.float32))


def test_foreign_files_are_refused(tmp_path: Path) -> None:
    trainer = _trainer(forecaster="none")
    trainer.save_checkpoint(tmp_path / "ckpt.pt")
    with pytest.raises(ValueError, match="a checkpoint"):
        load_meta_init(tmp_path / "ckpt.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="not a torch pickle"):
        load_meta_init(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError, match="edgecloud meta-train"):
        load_meta_init(tmp_path / "missing.pt")


# --------------------------------------------------------------------------- command line


def test_meta_train_command_writes_and_resumes(tmp_path: Path) -> None:
    from edgecloud_bench.cli import main

    args = ["meta-train", "--out", str(tmp_path), "--forecaster", "none", "--tasks", "2"]
    args += ["--meta-batch", "2", "--eval-every", "1", "--checkpoint-every", "1", "--no-progress"]
    assert main([*args, "--steps", "1"]) == 0
    assert {"checkpoint.pt", "meta_init.pt", "config.json", "tb"} <= {
        p.name for p in tmp_path.iterdir()
    }
    assert main([*args, "--steps", "2"]) == 0
    init = load_meta_init(tmp_path / "meta_init.pt")
    assert init.metadata["outer_steps"] == 2 and init.forecaster == "none"
    assert main([*args, "--steps", "2", "--inner-lr", "0.5"]) == 2  # other settings: refused
