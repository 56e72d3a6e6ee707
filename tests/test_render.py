"""Rendering: every id draws a frame in every mode, the human window, RecordVideo."""

from __future__ import annotations

import gymnasium as gym
import matplotlib
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env

from edgecloud_gym.envs import render
from edgecloud_gym.registration import OFFLOADING_ENV_IDS

matplotlib.use("Agg")  # the human window draws off-screen in tests

RENDERED_IDS = ["EdgeCloud-High-v0", "EdgeCloud-Trace-NASA-v0", *sorted(OFFLOADING_ENV_IDS)]


@pytest.mark.parametrize("env_id", RENDERED_IDS)
def test_every_mode_renders_a_frame(env_id):
    env = gym.make(env_id, render_mode="rgb_array")
    env.reset(seed=0)
    first = env.render()
    env.step(env.action_space.sample())
    frame = env.render()
    assert frame.shape == (400, 640, 3) and frame.dtype == np.uint8
    assert frame.std() > 0 and not np.array_equal(frame, first)  # the step shows
    text = gym.make(env_id, render_mode="ansi")
    text.reset(seed=0)
    text.step(text.action_space.sample())
    assert isinstance(text.render(), str) and len(text.render().splitlines()) >= 2


@pytest.mark.parametrize("env_id", ["EdgeCloud-Low-v0", "EdgeCloud-Offload-WPMEC-v0"])
def test_human_mode_draws_at_every_step(env_id, monkeypatch):
    shown = []
    monkeypatch.setattr(render.HumanWindow, "show", lambda self, frame: shown.append(frame.shape))
    env = gym.make(env_id, render_mode="human")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    assert env.render() is None
    assert shown == [(400, 640, 3)] * 3
    env.close()


def test_human_window_draws_off_screen():
    window = render.HumanWindow(fps=4)
    window.show(np.zeros((400, 640, 3), dtype=np.uint8))
    window.show(np.ones((400, 640, 3), dtype=np.uint8))
    window.close()


@pytest.mark.parametrize("env_id", ["EdgeCloud-High-v0", "EdgeCloud-Offload-MUMT-v0"])
def test_gymnasium_render_check(env_id):
    gym_check_env(gym.make(env_id, render_mode="rgb_array").unwrapped, skip_render_check=False)


def test_unknown_render_modes_are_refused():
    for env_id in ("EdgeCloud-High-v0", "EdgeCloud-Offload-WPMEC-v0"):
        with pytest.raises(ValueError, match="render_mode must be None or one of"):
            gym.make(env_id, render_mode="rgb")


@pytest.mark.slow
def test_record_video_writes_an_episode(tmp_path):
    pytest.importorskip("moviepy", reason="RecordVideo needs moviepy: the render extra")
    env = gym.make("EdgeCloud-High-v0", render_mode="rgb_array", episode_steps=12)
    env = gym.wrappers.RecordVideo(env, str(tmp_path), episode_trigger=lambda i: True)
    env.reset(seed=0)
    done = False
    while not done:
        *_, terminated, truncated, _ = env.step(env.action_space.sample())
        done = terminated or truncated
    env.close()
    videos = list(tmp_path.glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000
