"""Tests of the offloading learners (DDLO, DROO, DMRO, DQN baseline) with tiny budgets."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edgecloud_agents.base import Agent
from edgecloud_agents.ddlo import DDLO
from edgecloud_agents.droo import DROO, order_preserving_quantise
from edgecloud_agents.offloading import OffloadingCritic, ParallelMLP, frame_ratio
from edgecloud_agents.registry import (
    AGENTS,
    agent_names,
    load_agent,
    load_offloading_agent,
    make_agent,
    make_env_for,
    make_offloading_agent,
)
from edgecloud_bench.stats import recovery_frames, tail_mean
from edgecloud_gym.offloading import (
    EdgeCloudOffloadEnv,
    EdgeCloudTask,
    MUMTEnv,
    WPMECEnv,
    edgecloud_cost,
    wpmec_rate,
)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _random_ratio(env, frames: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    env.reset(seed=0)
    ratios = []
    for _ in range(frames):
        action = rng.integers(
            0,
            env.action_space.nvec if hasattr(env.action_space, "nvec") else 2,
            size=env.action_space.shape,
        )
        ratios.append(frame_ratio(env.step(action)[4]))
    return float(np.mean(ratios))


# -- quantisation and critic -------------------------------------------------------------------


def test_order_preserving_quantise_matches_droo_rule() -> None:
    x = np.array([0.9, 0.45, 0.2, 0.6])
    cands = order_preserving_quantise(x, 4)
    # first: threshold at 0.5; then thresholds at 0.45, 0.6, 0.2 (closest to 0.5 first)
    expected = np.array([[1, 0, 0, 1], [1, 1, 0, 1], [1, 0, 0, 0], [1, 1, 1, 1]])
    np.testing.assert_array_equal(cands, expected)
    assert cands.dtype == np.int8


def test_order_preserving_quantise_rejects_bad_k() -> None:
    with pytest.raises(ValueError, match="k must be <= N"):
        order_preserving_quantise(np.array([0.2, 0.7]), 3)
    with pytest.raises(ValueError, match="shape"):
        order_preserving_quantise(np.ones((2, 2)), 1)


def test_critic_scores_are_the_env_models() -> None:
    env = EdgeCloudOffloadEnv()
    obs, _ = env.reset(seed=3)
    critic = OffloadingCritic.from_env(env)
    cands = np.random.default_rng(0).integers(0, 3, size=(5, 9))
    expected = -edgecloud_cost(
        np.broadcast_to(obs.reshape(1, 3, 3), (5, 3, 3)),
        cands.reshape(5, 3, 3),
        env.task.params(),
        env.task.cloud_params_or_none(),
    )
    np.testing.assert_allclose(critic.score(obs, cands), expected)
    wenv = WPMECEnv(data_file=5, optimum="none")
    h_obs, _ = wenv.reset(seed=0)
    wcritic = OffloadingCritic.from_env(wenv)
    modes = np.array([[0, 1, 0, 1, 1], [1, 1, 1, 1, 1]])
    rates = wpmec_rate(np.broadcast_to(h_obs / 1e6, (2, 5)), modes).rate
    np.testing.assert_allclose(wcritic.score(h_obs, modes), rates, rtol=1e-6)


def test_parallel_mlp_nets_are_independent() -> None:
    net = ParallelMLP(3, 4, 2, 3, (8,), torch.Generator().manual_seed(0))
    x = torch.randn(5, 4)
    out = net(x)
    assert out.shape == (3, 5, 2, 3)
    with torch.no_grad():
        net.weights[0][1].zero_()
    out2 = net(x)
    torch.testing.assert_close(out2[0], out[0])
    torch.testing.assert_close(out2[2], out[2])


# -- learning beats random ----------------------------------------------------------------------


def test_droo_short_run_beats_random_on_n5() -> None:
    env = WPMECEnv(data_file=5, optimum="none")
    agent = DROO(env, seed=0).learn(1500)
    ratios = agent.history["ratio"]
    assert len(ratios) == 1500
    random = _random_ratio(WPMECEnv(data_file=5, optimum="none"), 300, seed=1)
    learned = tail_mean(ratios)
    assert learned > 0.97
    assert learned > random + 0.1
    assert 1 <= agent.k <= 5


def test_ddlo_short_run_beats_random_on_mumt() -> None:
    env = MUMTEnv(data_file="mumt_3x3")
    agent = DDLO(env, seed=0).learn(1000)
    random = _random_ratio(MUMTEnv(data_file="mumt_3x3"), 300, seed=1)
    learned = tail_mean(agent.history["ratio"])
    assert learned > 0.97
    assert learned > random + 0.1


def test_ddlo_places_tasks_in_the_cloud() -> None:
    env = EdgeCloudOffloadEnv()
    agent = DDLO(env, n_nets=3, seed=0)
    assert agent.net.out_per_entry == 3
    agent.learn(300)
    obs, _ = env.reset(seed=5)
    decision = agent.predict(obs)
    assert decision.shape == (9,)
    assert set(np.unique(decision)) <= {0, 1, 2}
    assert tail_mean(agent.history["ratio"]) > 0.9


# -- protocol -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "make_env"),
    [
        (DROO, lambda: WPMECEnv(data_file=6, optimum="none")),
        (DDLO, lambda: EdgeCloudOffloadEnv(task=EdgeCloudTask(bandwidth_mbps=80.0))),
    ],
)
def test_save_load_acts_identically(tmp_path, cls, make_env) -> None:
    env = make_env()
    agent = cls(env, seed=2).learn(200)
    obs = np.stack([env.reset(seed=s)[0] for s in range(20)])
    path = tmp_path / "agent.zip"
    agent.save(path)
    for loaded in (cls.load(path), cls.load(path, env=make_env())):
        np.testing.assert_array_equal(loaded.predict(obs), agent.predict(obs))
        assert loaded.num_timesteps == agent.num_timesteps
        assert loaded.critic.task == agent.critic.task
    if cls is DROO:
        assert cls.load(path).k == agent.k


def test_learn_is_deterministic_given_the_seed() -> None:
    a = DDLO(MUMTEnv(), n_nets=2, seed=4).learn(120)
    b = DDLO(MUMTEnv(), n_nets=2, seed=4).learn(120)
    assert a.history["ratio"] == b.history["ratio"]


# -- bad input -----------------------------------------------------------------------------------


def test_bad_input_raises_with_the_fix(tmp_path) -> None:
    with pytest.raises(ValueError, match="3 places"):
        DROO(EdgeCloudOffloadEnv())
    with pytest.raises(ValueError, match="k_init"):
        DROO(WPMECEnv(data_file=5), k_init=6)
    with pytest.raises(TypeError, match="offloading env"):
        DDLO(object())
    agent = DDLO(MUMTEnv(), n_nets=2)
    with pytest.raises(ValueError, match=r"shape \(9,\)"):
        agent.predict(np.zeros(4))
    with pytest.raises(ValueError, match="finite"):
        agent.predict(np.full(9, np.nan))
    with pytest.raises(TypeError, match="total_timesteps"):
        agent.learn(1.5)
    with pytest.raises(TypeError, match="unknown keyword"):
        agent.learn(1, lr=3)
    with pytest.raises(ValueError, match="n_nets"):
        DDLO(MUMTEnv(), n_nets=0)
    with pytest.raises(FileNotFoundError, match="save"):
        DDLO.load(tmp_path / "missing.zip")
    agent.save(tmp_path / "ddlo.zip")
    with pytest.raises(ValueError, match="'ddlo' agent"):
        DROO.load(tmp_path / "ddlo.zip")


def test_recovery_frames() -> None:
    ratios = [0.5] * 50 + [1.0] * 200
    assert recovery_frames(ratios, 0, 250, threshold=0.99, window=10) == 60.0
    assert np.isnan(recovery_frames([0.5] * 30, 0, 30, window=10))


# -- DMRO and the DQN baseline -------------------------------------------------------------------


@pytest.mark.parametrize("method", ["fomaml", "maml", "reptile"])
def test_dmro_meta_train_runs_and_adapts(method) -> None:
    from edgecloud_agents.dmro import DMRO
    from edgecloud_gym.offloading import offloading_test_tasks, offloading_train_tasks

    tasks = offloading_train_tasks("edgecloud", 4, seed=0)
    agent = DMRO(
        EdgeCloudOffloadEnv(task=tasks[0]), n_nets=3, meta_method=method, meta_batch_size=2
    )
    before = {k: v.clone() for k, v in agent.net.state_dict().items()}
    agent.meta_train(tasks, 3)
    assert agent.meta_iterations == 3
    assert len(agent.meta_history["query_loss"]) == 3
    assert any(not torch.equal(before[k], v) for k, v in agent.net.state_dict().items())
    meta_init = {k: v.clone() for k, v in agent.net.state_dict().items()}
    adapted = agent.adapt(
        EdgeCloudOffloadEnv(task=offloading_test_tasks("edgecloud", 1, seed=0)[0]), 50
    )
    assert adapted is not agent and adapted.num_timesteps == 50
    assert len(adapted.history["ratio"]) == 50
    for k, v in agent.net.state_dict().items():  # the meta-initialisation is left unchanged
        assert torch.equal(meta_init[k], v)


def test_dmro_meta_init_helps_on_a_held_out_task() -> None:
    """A short meta-training already starts a new task better than a random initialisation."""
    from edgecloud_agents.dmro import DMRO
    from edgecloud_gym.offloading import offloading_test_tasks, offloading_train_tasks

    tasks = offloading_train_tasks("edgecloud", 8, seed=0)
    agent = DMRO(EdgeCloudOffloadEnv(task=tasks[0]), n_nets=5, seed=0).meta_train(tasks, 40)
    task = offloading_test_tasks("edgecloud", 1, seed=0)[0]
    meta = agent.adapt(EdgeCloudOffloadEnv(task=task), 60).history["ratio"]
    scratch = DDLO(EdgeCloudOffloadEnv(task=task), n_nets=5, seed=0).learn(60).history["ratio"]
    assert np.mean(meta) > np.mean(scratch)


def test_dmro_bad_input(tmp_path) -> None:
    from edgecloud_agents.dmro import DMRO
    from edgecloud_gym.offloading import MUMTTask, WPMECTask

    with pytest.raises(ValueError, match="Did you mean 'maml'"):
        DMRO(EdgeCloudOffloadEnv(), meta_method="mamll")
    agent = DMRO(EdgeCloudOffloadEnv(), n_nets=2)
    with pytest.raises(ValueError, match="at least one task"):
        agent.meta_train([], 1)
    with pytest.raises(TypeError, match="MUMTTask"):
        agent.meta_train([WPMECTask()], 1)
    with pytest.raises(TypeError, match="EdgeCloudTask"):
        agent.meta_train([MUMTTask()], 1)
    with pytest.raises(ValueError, match="entries"):
        agent.adapt(MUMTEnv(task=MUMTTask(n_users=2)), 1)
    agent.save(tmp_path / "dmro.zip")
    from edgecloud_agents.dmro import DMRO as Loaded

    loaded = Loaded.load(tmp_path / "dmro.zip")
    obs = np.full(9, 20.0)
    np.testing.assert_array_equal(loaded.predict(obs), agent.predict(obs))


def test_dqn_offload_learns_saves_and_loads(tmp_path) -> None:
    from edgecloud_agents.dqn_offload import OffloadDQN

    env = MUMTEnv()
    agent = OffloadDQN(env, seed=0, learning_starts=50).learn(200)
    obs = np.stack([env.reset(seed=s)[0] for s in range(10)])
    decisions = agent.predict(obs)
    assert decisions.shape == (10, 9) and set(np.unique(decisions)) <= {0, 1}
    assert agent.predict(obs[0]).shape == (9,)
    agent.save(tmp_path / "dqn.zip")
    for loaded in (
        OffloadDQN.load(tmp_path / "dqn.zip"),
        OffloadDQN.load(tmp_path / "dqn.zip", MUMTEnv()),
    ):
        np.testing.assert_array_equal(loaded.predict(obs), decisions)
    with pytest.raises(ValueError, match="shape"):
        agent.predict(np.zeros(3))


def test_dqn_offload_decodes_like_the_wrapper() -> None:
    from edgecloud_agents.dqn_offload import OffloadDQN
    from edgecloud_gym.offloading import DiscreteDecisionWrapper

    env = EdgeCloudOffloadEnv()
    agent = OffloadDQN(env, seed=0, buffer_size=1000)
    wrapper = DiscreteDecisionWrapper(EdgeCloudOffloadEnv())
    obs = np.stack([env.reset(seed=s)[0] for s in range(5)])
    actions, _ = agent.model.predict((obs - agent.shift) * agent.scale, deterministic=True)
    expected = np.stack([wrapper.action(int(a)) for a in actions])
    np.testing.assert_array_equal(agent.predict(obs), expected)


@pytest.mark.parametrize("name", agent_names("offloading"))
def test_registry_makes_and_loads_every_offloading_agent(tmp_path, name) -> None:
    info = AGENTS[name]
    kwargs = {"learning_starts": 10} if name == "dqn-offload" else {}
    agent = make_agent(name, info.env_id, seed=1, **kwargs)
    assert isinstance(agent, Agent)
    assert agent.name == name
    assert agent.learn(30) is agent
    env = make_env_for(name, info.env_id, seed=1)
    obs = np.stack([env.reset(seed=s)[0] for s in range(8)])
    actions = agent.predict(obs)
    assert all(env.action_space.contains(a) for a in actions)
    path = tmp_path / "agent.zip"
    agent.save(path)
    for loaded in (load_agent(path), load_offloading_agent(path, env)):
        assert type(loaded) is type(agent) and loaded.name == name
        np.testing.assert_array_equal(loaded.predict(obs), actions)


def test_every_registry_entry_has_a_family_and_an_env_of_it() -> None:
    from edgecloud_gym.offloading import OFFLOADING_ENV_IDS

    assert set(agent_names("allocation")) | set(agent_names("offloading")) == set(AGENTS)
    assert not set(agent_names("allocation")) & set(agent_names("offloading"))
    for name, info in AGENTS.items():
        assert (info.env_id in OFFLOADING_ENV_IDS) == (info.family == "offloading"), name
    with pytest.raises(ValueError, match="acts in the offloading envs"):
        make_env_for("ddlo", "EdgeCloud-Low-v0")
    with pytest.raises(ValueError, match="acts in the allocation envs"):
        make_env_for("dqn", "EdgeCloud-Offload-MUMT-v0")
    with pytest.raises(ValueError, match="family must be one of"):
        agent_names("offload")


def test_registry_rejects_unknown_offloading_agent(tmp_path) -> None:
    with pytest.raises(ValueError, match="Did you mean 'droo'"):
        make_offloading_agent("dro", MUMTEnv())
    bad = tmp_path / "x.zip"
    bad.write_text("not an agent")
    with pytest.raises(ValueError, match="not a saved agent"):
        load_offloading_agent(bad)


def test_meta_train_command_dispatches_on_the_family(tmp_path, capsys) -> None:
    from edgecloud_bench.cli import main

    args = ["meta-train", "--agent", "dmro", "--family", "mumt", "--out", str(tmp_path)]
    assert main([*args, "--steps", "1", "--tasks", "2", "--meta-batch", "2"]) == 0
    config = json.loads((tmp_path / "dmro_config.json").read_text())
    assert config["family"] == "mumt" and config["iterations"] == 1
    assert config["params"]["meta_batch_size"] == 2 and config["params"]["inner_lr"] == 0.1
    loaded = load_agent(tmp_path / "dmro_meta_init.zip")
    assert loaded.name == "dmro"
    assert main(["meta-train", "--family", "mumt", "--out", str(tmp_path / "a")]) == 2
    assert "--family chooses the offloading task family" in capsys.readouterr().err
