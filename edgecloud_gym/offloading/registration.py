"""Registration of the offloading environments with Gymnasium (idempotent, lazy entry points)."""

from __future__ import annotations

import gymnasium as gym

__all__ = ["OFFLOADING_ENV_IDS", "register_offloading_envs"]

#: Registered id -> (entry point, max_episode_steps).
OFFLOADING_ENV_IDS: dict[str, tuple[str, int]] = {
    "EdgeCloud-Offload-MUMT-v0": ("edgecloud_gym.offloading.envs:MUMTEnv", 100),
    "EdgeCloud-Offload-EdgeCloud-v0": ("edgecloud_gym.offloading.envs:EdgeCloudEnv", 100),
    "EdgeCloud-Offload-WPMEC-v0": ("edgecloud_gym.offloading.envs:WPMECEnv", 100),
}


def register_offloading_envs() -> None:
    """Register the offloading family; ids already in ``gymnasium.registry`` are left alone.

    Each step is an independent frame, so an episode is just a block of ``max_episode_steps``
    frames (100, as DDLO and DROO evaluate in blocks of frames); pass ``max_episode_steps=`` to
    ``gym.make`` for another length.
    """
    for env_id, (entry_point, max_steps) in OFFLOADING_ENV_IDS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, max_episode_steps=max_steps)
