"""Regressions of the simulator core found by the agents that drive it."""

from __future__ import annotations

import numpy as np

from edgecloud_gym.envs.allocation import EdgeCloudEnv
from edgecloud_gym.tasks import train_tasks


def test_a_server_whose_share_reaches_zero_keeps_rewards_finite() -> None:
    # Shifting share away from node 4 until it is 0 left a rounding-negative inflow there, whose
    # negative utilisation raised to a fractional power made the latency (and reward) NaN.
    env = EdgeCloudEnv(task=train_tasks(16)[4], forecaster="none")
    env.reset(seed=0)
    for k in range(60):
        obs, reward, *_, info = env.step(12 if k % 3 else 1)
        assert np.isfinite(reward), (k, info["reward_parts"])
        assert np.all(np.isfinite(obs))
        assert np.all(np.isfinite(info["latency_ms_by_server_class"]))
