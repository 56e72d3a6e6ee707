"""The hyperparameter files as rl_zoo3 reads them, from any directory."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest
from stable_baselines3 import DQN, PPO

from edgecloud_agents.dqn import _policy_kwargs
from edgecloud_agents.hyperparams import FILES, hyperparams_file, main, read_table
from edgecloud_gym.registration import ALLOCATION_IDS

#: rl_zoo3's own keys (not arguments of the algorithm) that our files use.
ZOO_KEYS = {"n_timesteps", "policy", "n_envs", "env_kwargs"}
ALGOS = {"dqn": DQN, "dqn-forecast": DQN, "ppo": PPO}


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.mark.parametrize("name", list(FILES))
def test_every_file_is_a_module_too_with_the_same_table(name: str) -> None:
    module = importlib.import_module(f"edgecloud_agents.hyperparams.{name.replace('-', '_')}")
    assert module.hyperparams == read_table(name)
    assert hyperparams_file(name).is_file()


@pytest.mark.parametrize("name", list(FILES))
def test_files_hold_only_their_algorithm_s_arguments(name: str) -> None:
    allowed = ZOO_KEYS | set(inspect.signature(ALGOS[name].__init__).parameters)
    for env_id, settings in read_table(name).items():
        unknown = set(settings) - allowed
        assert not unknown, f"{FILES[name]}: {env_id} has keys {ALGOS[name].__name__} lacks"
        _policy_kwargs(settings["policy_kwargs"])  # a literal dict(...)


def test_ppo_file_has_an_entry_per_allocation_id_and_no_dqn_keys() -> None:
    table = read_table("ppo")
    assert set(ALLOCATION_IDS) <= set(table)
    for settings in table.values():
        assert "buffer_size" not in settings and "exploration_fraction" not in settings
        assert settings["n_steps"] * settings["n_envs"] % settings["batch_size"] == 0


def test_the_path_command_works_from_any_directory(tmp_path: Path) -> None:
    done = _run("-m", "edgecloud_agents.hyperparams", "ppo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == hyperparams_file("ppo")
    listing = _run("-m", "edgecloud_agents.hyperparams", cwd=tmp_path).stdout
    assert all(f"{name}\t{hyperparams_file(name)}" in listing for name in FILES)


def test_the_path_command_names_a_misspelt_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pop"]) == 2
    assert "Did you mean 'ppo'" in capsys.readouterr().err
    assert main(["ppo", "dqn"]) == 2


def _zoo_train(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("rl_zoo3", reason="rl_zoo3 is not installed (pip install '.[rlzoo]')")
    work = tmp_path / "elsewhere"  # not the repository: the files must be found as installed
    work.mkdir()
    common = ["--gym-packages", "edgecloud_gym", "--eval-freq", "-1", "--seed", "0"]
    return _run(
        "-m", "rl_zoo3.train", *args, *common, "--log-folder", "logs", "--num-threads", "1",
        cwd=work,
    )  # fmt: skip


@pytest.mark.slow
def test_rl_zoo3_trains_dqn_from_the_installed_file(tmp_path: Path) -> None:
    """The documented path form: ``-conf "$(python -m edgecloud_agents.hyperparams dqn)"``."""
    path = _run("-m", "edgecloud_agents.hyperparams", "dqn", cwd=tmp_path).stdout.strip()
    args = ["--algo", "dqn", "--env", "EdgeCloud-Low-v0", "-conf", path, "-n", "2000"]
    done = _zoo_train(tmp_path, *args)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "forecaster" in done.stdout  # our env_kwargs reached the env
    saved = tmp_path / "elsewhere/logs/dqn/EdgeCloud-Low-v0_1/EdgeCloud-Low-v0.zip"
    assert DQN.load(saved).policy.net_arch == [128, 128, 128]


@pytest.mark.slow
def test_rl_zoo3_trains_ppo_from_the_module(tmp_path: Path) -> None:
    """The documented module form, a few hundred steps: ``-conf edgecloud_agents.hyperparams.ppo``."""
    args = ["--algo", "ppo", "--env", "EdgeCloud-Medium-v0"]
    args += ["-conf", "edgecloud_agents.hyperparams.ppo", "-n", "512"]
    done = _zoo_train(tmp_path, *args, "--hyperparams", "n_envs:2", "n_steps:128")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "forecaster" in done.stdout
    saved = tmp_path / "elsewhere/logs/ppo/EdgeCloud-Medium-v0_1/EdgeCloud-Medium-v0.zip"
    model = PPO.load(saved)
    assert model.num_timesteps >= 512 and model.n_steps == 128 and model.n_envs == 2
