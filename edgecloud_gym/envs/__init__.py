"""Gymnasium adapters of the simulator core."""

from edgecloud_gym.envs.allocation import EdgeCloudEnv

__all__ = ["EdgeCloudEnv"]
