"""Registration of every environment id of the package (idempotent, lazy entry points).

Allocation family (one id per workload profile, variants differ only in their kwargs):

==========================  =====================================================
id                          task
==========================  =====================================================
``EdgeCloud-v0``            any, via ``gym.make("EdgeCloud-v0", task=...)``
``EdgeCloud-Low-v0``        :data:`~edgecloud_gym.tasks.LOW`
``EdgeCloud-Medium-v0``     :data:`~edgecloud_gym.tasks.MEDIUM`
``EdgeCloud-High-v0``       :data:`~edgecloud_gym.tasks.HIGH`
``EdgeCloud-Random-v0``     a new training task at every reset
``EdgeCloud-Heldout0-v0``   ``test_tasks(2)[0]``: a held-out task (meta-testing)
``EdgeCloud-Heldout1-v0``   ``test_tasks(2)[1]``
==========================  =====================================================

Joint control (``control="joint"``: routing, capacity levels and DVFS levels; see
:meth:`~edgecloud_gym.core.simulator.BatchSimulator.decode_action`), on the profiles with
forecastable structure (a daily ramp and a scheduled event):

==============================  =================================================
id                              task
==============================  =================================================
``EdgeCloud-Joint-Low-v0``      :data:`~edgecloud_gym.tasks.JOINT_LOW`
``EdgeCloud-Joint-Medium-v0``   :data:`~edgecloud_gym.tasks.JOINT_MEDIUM`
``EdgeCloud-Joint-High-v0``     :data:`~edgecloud_gym.tasks.JOINT_HIGH`
==============================  =================================================

Trace-driven ids (``EdgeCloud-Trace-v0``, ``-NASA-v0``, ``-Alibaba-v0``) are registered by
:func:`edgecloud_gym.traces.envs.register_trace_envs`, called from :func:`register_envs`.

The envs own their time limit (the simulator draws whole episodes), so the ids register no
``max_episode_steps`` of their own: ``gym.make(id)`` gives 200-step episodes, and
``gym.make(id, max_episode_steps=n)`` or ``gym.make(id, episode_steps=n)`` gives n-step ones;
``env.spec.max_episode_steps`` says n either way.

Offloading family (:data:`OFFLOADING_ENV_IDS`, :mod:`edgecloud_gym.offloading`):
``EdgeCloud-Offload-MUMT-v0``, ``EdgeCloud-Offload-EdgeCloud-v0`` and
``EdgeCloud-Offload-WPMEC-v0``, registered by :func:`register_offloading_envs`.

Each id also has a native ``vector_entry_point`` (:class:`~edgecloud_gym.envs.vector.EdgeCloudVectorEnv`):
``gym.make_vec(id, num_envs=n)`` steps all n systems in one batched simulator.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from edgecloud_gym.envs.allocation import DEFAULT_EPISODE_STEPS
from edgecloud_gym.tasks import TrainTaskSampler, test_tasks

__all__ = [
    "ALLOCATION_IDS",
    "EPISODE_STEPS",
    "OFFLOADING_ENV_IDS",
    "allocation_env_ids",
    "register_envs",
    "register_offloading_envs",
]

#: Episode length of the registered allocation ids (steps of 1 s).
EPISODE_STEPS = DEFAULT_EPISODE_STEPS

#: The allocation ids and their registration kwargs.
ALLOCATION_IDS: dict[str, dict[str, Any]] = {
    "EdgeCloud-v0": {},
    "EdgeCloud-Low-v0": {"task": "low"},
    "EdgeCloud-Medium-v0": {"task": "medium"},
    "EdgeCloud-High-v0": {"task": "high"},
    "EdgeCloud-Random-v0": {"task_sampler": TrainTaskSampler()},
    # Fixed held-out tasks (never in a training pool), so suites can meta-test on them by id.
    **{f"EdgeCloud-Heldout{i}-v0": {"task": t.to_dict()} for i, t in enumerate(test_tasks(2))},
    # Joint control on the profiles with forecastable structure.
    "EdgeCloud-Joint-Low-v0": {"task": "joint-low", "control": "joint"},
    "EdgeCloud-Joint-Medium-v0": {"task": "joint-medium", "control": "joint"},
    "EdgeCloud-Joint-High-v0": {"task": "joint-high", "control": "joint"},
}


#: The offloading ids: id -> (entry point, max_episode_steps).
OFFLOADING_ENV_IDS: dict[str, tuple[str, int]] = {
    "EdgeCloud-Offload-MUMT-v0": ("edgecloud_gym.offloading.envs:MUMTEnv", 100),
    "EdgeCloud-Offload-EdgeCloud-v0": ("edgecloud_gym.offloading.envs:EdgeCloudOffloadEnv", 100),
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


def register_envs() -> None:
    """Register every id of the package with Gymnasium; calling it again is harmless."""
    for env_id, kwargs in ALLOCATION_IDS.items():
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point="edgecloud_gym.envs.allocation:EdgeCloudEnv",
            vector_entry_point="edgecloud_gym.envs.vector:EdgeCloudVectorEnv",
            kwargs=kwargs,
        )
    from edgecloud_gym.traces.envs import register_trace_envs  # after the allocation env exists

    register_trace_envs()
    register_offloading_envs()


def allocation_env_ids() -> list[str]:
    """Every id in Gymnasium's registry whose entry point is the allocation environment
    (the ids above and any registered elsewhere, e.g. trace-driven ones), sorted."""
    register_envs()
    return sorted(
        spec.id
        for spec in gym.registry.values()
        if str(spec.entry_point).startswith(
            ("edgecloud_gym.envs.allocation", "edgecloud_gym.traces.envs")
        )
    )
