"""The documentation site: tables written from the envs, and a strict build (warnings fail)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest

import edgecloud_gym
from edgecloud_bench.env_tables import (
    INFO_DOCS,
    action_table,
    info_table,
    observation_blocks,
    observation_table,
    spaces_page,
)
from edgecloud_gym.registration import ALLOCATION_IDS

ROOT = Path(__file__).resolve().parents[1]
gym.register_envs(edgecloud_gym)


@pytest.mark.parametrize("env_id", list(ALLOCATION_IDS))
@pytest.mark.parametrize("forecaster", ["none", "naive"])
def test_observation_blocks_tile_the_observation(env_id: str, forecaster: str) -> None:
    env = gym.make(env_id, forecaster=forecaster)
    blocks = observation_blocks(env.unwrapped.layout)
    starts = [b.start for _, b, _ in blocks]
    stops = [b.stop for _, b, _ in blocks]
    assert starts[0] == 0 and stops[-1] == env.observation_space.shape[0]
    assert starts[1:] == stops[:-1]  # no gap, no overlap
    assert all(meaning for *_, meaning in blocks)  # every block has a docstring
    assert ("forecast" in [name for name, *_ in blocks]) == (forecaster != "none")
    assert observation_table(env).count("\n") == len(blocks) + 2


@pytest.mark.parametrize("env_id", list(ALLOCATION_IDS))
@pytest.mark.parametrize("action_mode", ["discrete", "continuous"])
def test_action_and_info_tables_match_the_env(env_id: str, action_mode: str) -> None:
    env = gym.make(env_id, action_mode=action_mode)
    table = action_table(env)
    space = env.action_space
    n = space.n if isinstance(space, gym.spaces.Discrete) else space.shape[0]
    assert table.count("\n") == n + 2
    env.reset(seed=0)
    info = env.step(space.sample())[4]
    assert set(info) == set(INFO_DOCS), "the env's info keys and INFO_DOCS differ"
    rows = info_table(env).splitlines()[2:]
    assert [row.split("|")[1].strip(" `") for row in rows] == list(info)


def test_spaces_page_names_every_action() -> None:
    page = spaces_page("EdgeCloud-Low-v0")
    for name in gym.make("EdgeCloud-Low-v0").unwrapped.action_names:
        assert f"`{name}`" in page


def test_docs_site_builds_with_warnings_as_errors(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]')")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    spaces = (site / "reference" / "spaces" / "index.html").read_text(encoding="utf-8")
    assert "reset-static" in spaces and "latency_ms_by_server_class" in spaces
    api = (site / "api" / "environments" / "index.html").read_text(encoding="utf-8")
    assert "EdgeCloudEnv" in api and "set_task" in api  # read from the docstrings
    assert (site / "results" / "quick" / "learning_curves.png").exists()  # the plots come along
