"""The agent file format (edgecloud_agents._io): no loader of either family runs code from a file,
bad files get clear errors, and the opt-in for SB3 zips does what its help says."""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from stable_baselines3 import DQN

from edgecloud_agents._io import (
    FORMAT,
    HEADER_ENTRY,
    WEIGHTS_ENTRY,
    AgentFileError,
    read_agent_file,
    write_agent_file,
)
from edgecloud_agents.ddlo import DDLO
from edgecloud_agents.dmro import DMRO
from edgecloud_agents.dqn import DQNAgent
from edgecloud_agents.dqn_offload import OffloadDQN
from edgecloud_agents.droo import DROO
from edgecloud_agents.dynamic_allocator import DynamicAllocator
from edgecloud_agents.heuristics import LeastLoaded, RandomAgent, ReactiveThreshold, Static
from edgecloud_agents.meta_dqn import load_meta_init
from edgecloud_agents.oracle import Oracle
from edgecloud_agents.registry import load_agent, load_offloading_agent, make_agent, make_env_for
from edgecloud_bench.cli import main as edgecloud
from edgecloud_gym import MODEL_VERSION
from edgecloud_gym.offloading import MUMTEnv


class _Payload:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _sb3_zip_with_payload(model: DQN, path: Path, marker: Path, extra: dict | None = None) -> Path:
    """SB3's zip of ``model`` with one more key in ``data`` whose value unpickles the payload."""
    buffer = io.BytesIO()
    model.save(buffer)
    out = io.BytesIO()
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            raw = src.read(item.filename)
            if item.filename == "data":
                data = json.loads(raw)
                data["innocent"] = {
                    ":type:": "<class 'int'>",
                    ":serialized:": base64.b64encode(pickle.dumps(_Payload(marker))).decode(),
                }
                raw = json.dumps(data).encode()
            dst.writestr(item.filename, raw)
        for name, value in (extra or {}).items():
            dst.writestr(name, json.dumps(value))
    path.write_bytes(out.getvalue())
    return path


@pytest.fixture(scope="module")
def payloads(tmp_path_factory):
    """Malicious files of every kind a loader might be handed, and the marker they would touch."""
    folder = tmp_path_factory.mktemp("payloads")
    marker = folder / "pwned"
    env = make_env_for("dqn", "EdgeCloud-Low-v0")
    allocation = make_agent("dqn", env, learning_starts=10, buffer_size=200).model
    offload = OffloadDQN(MUMTEnv(), buffer_size=200, learning_starts=10)
    files = {
        # the reproducer: DQNAgent's SB3 model with a code-running entry, with and without the
        # JSON entries earlier versions wrote into their zips
        "sb3-allocation": _sb3_zip_with_payload(
            allocation,
            folder / "dqn.zip",
            marker,
            {"edgecloud_agent.json": {"agent": "dqn", "env_id": "EdgeCloud-Low-v0"}},
        ),
        "sb3-offloading": _sb3_zip_with_payload(
            offload.model,
            folder / "dqn-offload.zip",
            marker,
            {"edgecloud_offload_agent.json": {"agent": "dqn-offload"}},
        ),
        "sb3-bare": _sb3_zip_with_payload(allocation, folder / "bare.zip", marker),
    }
    pt = folder / "payload.pt"
    torch.save({"net": _Payload(marker)}, pt)
    files["torch"] = pt
    ours = folder / "ours.zip"  # a valid header, weights that would unpickle the payload
    with zipfile.ZipFile(ours, "w") as archive:
        header = {
            "format": FORMAT,
            "format_version": 1,
            "model_version": MODEL_VERSION,
            "agent": "ddlo",
            "family": "offloading",
            "config": {},
        }
        archive.writestr(HEADER_ENTRY, json.dumps(header))
        buffer = io.BytesIO()
        torch.save({"net": _Payload(marker)}, buffer)
        archive.writestr(WEIGHTS_ENTRY, buffer.getvalue())
    files["agent-file"] = ours
    return marker, files


_LOADERS = {
    "load_agent": lambda p, env: load_agent(p),
    "load_agent(env)": lambda p, env: load_agent(p, env),
    "load_agent(agent=dqn)": lambda p, env: load_agent(p, env, agent="dqn"),
    "DQNAgent.load": lambda p, env: DQNAgent.load(p, env),
    "DynamicAllocator.load": lambda p, env: DynamicAllocator.load(p),
    "Static.load": lambda p, env: Static.load(p, env),
    "ReactiveThreshold.load": lambda p, env: ReactiveThreshold.load(p, env),
    "LeastLoaded.load": lambda p, env: LeastLoaded.load(p, env),
    "RandomAgent.load": lambda p, env: RandomAgent.load(p, env),
    "Oracle.load": lambda p, env: Oracle.load(p, env),
    "load_offloading_agent": lambda p, env: load_offloading_agent(p),
    "DDLO.load": lambda p, env: DDLO.load(p),
    "DROO.load": lambda p, env: DROO.load(p),
    "DMRO.load": lambda p, env: DMRO.load(p),
    "OffloadDQN.load": lambda p, env: OffloadDQN.load(p),
    "load_meta_init": lambda p, env: load_meta_init(p),
}

_MESSAGES = {
    "sb3-allocation": "Stable-Baselines3 zip.*refused by default.*trusted=True.*--trust-pickle",
    "sb3-offloading": "Stable-Baselines3 zip.*refused by default.*trusted=True.*--trust-pickle",
    "sb3-bare": "Stable-Baselines3 zip.*refused by default.*trusted=True.*--trust-pickle",
    "torch": "not a saved agent|objects other than tensors",
    "agent-file": "objects other than tensors",
}


@pytest.mark.parametrize("loader", list(_LOADERS))
@pytest.mark.parametrize("kind", list(_MESSAGES))
def test_no_loader_runs_code_from_a_file(payloads, loader, kind):
    marker, files = payloads
    env = make_env_for("static", "EdgeCloud-Low-v0")
    with pytest.raises(ValueError) as caught:
        _LOADERS[loader](files[kind], env)
    assert not marker.exists(), f"{loader} ran the payload of a {kind} file"
    assert str(files[kind]) in str(caught.value) or kind == "torch"
    message = str(caught.value)
    if loader == "load_meta_init":
        assert "unsafe to unpickle" in message or "not a meta-initialisation" in message
    else:
        import re

        assert re.search(_MESSAGES[kind], message), message


def test_the_command_line_runs_no_code_and_names_the_opt_in(payloads, capsys):
    marker, files = payloads
    argv = ["evaluate", "--agent", "dqn", "--env", "EdgeCloud-Low-v0", "--episodes", "1"]
    assert edgecloud([*argv, "--load", str(files["sb3-allocation"])]) != 0
    assert not marker.exists()
    err = capsys.readouterr().err
    assert "Stable-Baselines3 zip" in err and "--trust-pickle" in err


def test_the_opt_in_really_unpickles(payloads, tmp_path):
    """The payload works: with trusted=True SB3 reads it and runs it (so the test above can fail)."""
    marker, files = payloads
    try:
        agent = load_agent(files["sb3-allocation"], trusted=True)
        assert marker.exists()
        assert agent.name == "dqn"
        obs = np.zeros(agent.model.observation_space.shape, dtype=np.float32)
        action = agent.predict(obs)
        agent.save(tmp_path / "safe.zip")  # re-saving gives a safe file that acts the same
        assert load_agent(tmp_path / "safe.zip").predict(obs) == action
    finally:
        marker.unlink(missing_ok=True)


def test_help_of_the_opt_in_states_the_risk(capsys):
    with pytest.raises(SystemExit):
        edgecloud(["evaluate", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--trust-pickle" in help_text
    assert "can run any code" in help_text


# ------------------------------------------------------------------------ the format itself


def test_agent_file_holds_json_and_tensors_only(tmp_path):
    env = make_env_for("dqn", "EdgeCloud-Low-v0")
    agent = make_agent("dqn", env, learning_starts=10, buffer_size=200).learn(30)
    agent.save(tmp_path / "a.zip")
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        assert sorted(archive.namelist()) == [HEADER_ENTRY, WEIGHTS_ENTRY]
        header = json.loads(archive.read(HEADER_ENTRY))
    assert header["format"] == FORMAT
    assert header["model_version"] == MODEL_VERSION
    assert header["agent"] == "dqn" and header["family"] == "allocation"
    steps = agent.model.num_timesteps
    assert steps >= 30 and header["config"]["sb3"]["num_timesteps"] == steps
    loaded = load_agent(tmp_path / "a.zip", env)  # with env: can train on
    assert loaded.model.num_timesteps == steps
    loaded.learn(20)


def _rewrite(path: Path, header_change: dict | None = None, weights: object = None) -> None:
    with zipfile.ZipFile(path) as archive:
        header = json.loads(archive.read(HEADER_ENTRY))
        blob = archive.read(WEIGHTS_ENTRY) if WEIGHTS_ENTRY in archive.namelist() else None
    header.update(header_change or {})
    if weights is not None:
        buffer = io.BytesIO()
        torch.save(weights, buffer)
        blob = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(HEADER_ENTRY, json.dumps(header))
        if blob is not None:
            archive.writestr(WEIGHTS_ENTRY, blob)


def test_bad_agent_files_get_clear_errors(tmp_path):
    env = make_env_for("static", "EdgeCloud-Low-v0")
    good = tmp_path / "good.zip"
    DDLO(MUMTEnv()).save(good)
    cases = {
        "empty": (b"", "not a complete zip archive"),
        "truncated": (good.read_bytes()[:300], "not a complete zip archive"),
        "garbage": (b"\x00\x01 not an agent", "not a complete zip archive"),
    }
    for name, (raw, pattern) in cases.items():
        bad = tmp_path / f"{name}.zip"
        bad.write_bytes(raw)
        with pytest.raises(AgentFileError, match=pattern):
            load_agent(bad, env)
    with pytest.raises(AgentFileError, match="is a folder"):
        load_agent(tmp_path, env)
    with pytest.raises(FileNotFoundError, match="no saved agent"):
        load_agent(tmp_path / "absent.zip", env)

    def broken(change: dict | None = None, weights: object = None) -> Path:
        path = tmp_path / "broken.zip"
        path.write_bytes(good.read_bytes())
        _rewrite(path, change, weights)
        return path

    with pytest.raises(AgentFileError, match="format version 99"):
        load_agent(broken({"format_version": 99}))
    with pytest.raises(ValueError, match="model version 7"):
        load_agent(broken({"model_version": 7}))
    with pytest.raises(AgentFileError, match="'mystery', which this installation does not know"):
        load_agent(broken({"agent": "mystery"}))
    with pytest.raises(AgentFileError, match="has no 'critic'"):
        load_agent(broken({"config": {"params": {}}}))
    with pytest.raises(AgentFileError, match="holds agent 'ddlo', not 'dqn'"):
        load_agent(good, agent="dqn")
    state = read_agent_file(good).weights
    state["net"] = {k: torch.full_like(v, float("nan")) for k, v in state["net"].items()}
    with pytest.raises(AgentFileError, match=r"broken.zip: tensor 'net/.*' holds .* non-finite"):
        load_agent(broken(weights=state))
    del state["net"]
    with pytest.raises(AgentFileError, match="has no 'net' weights"):
        load_agent(broken(weights=state))
    with pytest.raises(ValueError, match="only finite numbers"):
        write_agent_file(tmp_path / "x.zip", agent="a", family="f", config={"x": float("inf")})
    assert not (tmp_path / "x.zip").exists()


def test_a_dqn_loaded_with_the_wrong_env_says_which_env_to_make(tmp_path):
    env = make_env_for("dqn", "EdgeCloud-Low-v0")
    make_agent("dqn", env, learning_starts=10, buffer_size=200).save(tmp_path / "a.zip")
    lstm_env = make_env_for("dqn-forecast", "EdgeCloud-Low-v0")
    with pytest.raises(AgentFileError, match=r"make_env_for\('dqn', env_id\)"):
        load_agent(tmp_path / "a.zip", lstm_env)


def test_a_foreign_sb3_zip_loads_only_when_trusted(tmp_path):
    foreign = tmp_path / "foreign.zip"
    env = make_env_for("dqn", "EdgeCloud-Low-v0")
    DQN("MlpPolicy", env, learning_starts=10, buffer_size=100).save(foreign)
    with pytest.raises(AgentFileError, match="--trust-pickle"):
        load_agent(foreign)
    agent = load_agent(foreign, trusted=True, agent="dqn")
    assert agent.name == "dqn"
