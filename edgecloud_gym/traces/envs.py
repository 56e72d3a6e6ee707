"""Entry point and registration of the trace-driven ids.

==============================  ============================================================
id                              workload
==============================  ============================================================
``EdgeCloud-Trace-v0``          any trace, via ``gym.make("EdgeCloud-Trace-v0", trace=...)``
                                (a CSV path, a TraceSpec or a bundled name; default NASA-HTTP)
``EdgeCloud-Trace-NASA-v0``     :data:`~edgecloud_gym.traces.NASA_HTTP`, load 0.6
``EdgeCloud-Trace-Alibaba-v0``  :data:`~edgecloud_gym.traces.ALIBABA_GENAI`, load 0.3
==============================  ============================================================

All take ``split="train"`` (default) or ``split="test"`` (the held-out, later part of the
trace), ``load=`` (mean utilisation of each edge node over the train period) and every argument
of :class:`~edgecloud_gym.envs.allocation.EdgeCloudEnv`; ``task=`` gives the rest of the
scenario (node weights, application mix, capacity factors, shift).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym

from edgecloud_gym.config import EdgeCloudConfig
from edgecloud_gym.envs.allocation import EdgeCloudEnv, resolve_task
from edgecloud_gym.tasks import Task
from edgecloud_gym.traces.bundled import as_trace_spec
from edgecloud_gym.traces.spec import TraceSpec

__all__ = [
    "DEFAULT_LOADS",
    "TRACE_IDS",
    "heldout_kwargs",
    "make_trace_env",
    "make_trace_vector_env",
    "register_trace_envs",
    "trace_task",
]

#: Mean utilisation of each edge node over the train period, per bundled trace. The Alibaba
#: series are sparse with peaks of 20-50x their mean (per 10-minute bin), so a lower mean keeps
#: the peaks within what the cloud can absorb.
DEFAULT_LOADS: dict[str, float] = {"nasa-http": 0.6, "alibaba-genai": 0.3}
_DEFAULT_LOAD = 0.6

#: The trace ids and their registration kwargs.
TRACE_IDS: dict[str, dict[str, Any]] = {
    "EdgeCloud-Trace-v0": {},
    "EdgeCloud-Trace-NASA-v0": {"trace": "nasa"},
    "EdgeCloud-Trace-Alibaba-v0": {"trace": "alibaba"},
}


def trace_task(
    trace: TraceSpec | str | Mapping[str, Any] | None = None,
    *,
    split: str | None = None,
    load: float | None = None,
    task: Any = None,
) -> Task:
    """The :class:`~edgecloud_gym.tasks.Task` of a trace env (see :func:`make_trace_env`)."""
    spec = as_trace_spec("nasa" if trace is None else trace)
    if split is not None:
        spec = spec.replace(split=split)
    base = resolve_task(task)
    if load is None:
        load = DEFAULT_LOADS.get(spec.name, _DEFAULT_LOAD)
    return base.replace(name=f"trace-{spec.name}-{spec.split}", load=load, trace=spec)


def make_trace_env(
    trace: TraceSpec | str | Mapping[str, Any] | None = None,
    *,
    split: str | None = None,
    load: float | None = None,
    task: Any = None,
    **env_kwargs: Any,
) -> EdgeCloudEnv:
    """An :class:`~edgecloud_gym.envs.allocation.EdgeCloudEnv` driven by a real trace.

    Args:
        trace: A :class:`TraceSpec`, a bundled name (``"nasa"``, ``"alibaba"``), a CSV path or a
            mapping of TraceSpec fields; default ``"nasa"``.
        split: ``"train"`` or ``"test"``; default: the spec's own (``"train"``).
        load: Mean utilisation of each edge node over the train period (requests/s over
            requests/s); default :data:`DEFAULT_LOADS` for a bundled trace, else 0.6.
        task: Base scenario (a Task, a preset name or a mapping) whose node weights, application
            mix, capacity factors and shift apply; its synthetic shape fields are not used.
        **env_kwargs: Passed to ``EdgeCloudEnv`` (``config``, ``forecaster``, ``action_mode``,
            ``episode_steps``, ``render_mode``).

    Raises:
        TraceFormatError: The file is invalid or too short for one episode of the split.
    """
    if "task_sampler" in env_kwargs:
        raise TypeError("trace envs take no task_sampler; pass task= for the scenario.")
    scenario = trace_task(trace, split=split, load=load, task=task)
    env = EdgeCloudEnv(task=scenario, **env_kwargs)
    _check_fits(scenario, env.config, env.sim.episode_steps)
    return env


def make_trace_vector_env(
    num_envs: int = 1,
    trace: TraceSpec | str | Mapping[str, Any] | None = None,
    *,
    split: str | None = None,
    load: float | None = None,
    task: Any = None,
    **env_kwargs: Any,
) -> Any:
    """The native vector env (``gym.make_vec``) of a trace id: ``num_envs`` systems, each drawing
    its own slices of the same trace; arguments as :func:`make_trace_env`."""
    from edgecloud_gym.envs.vector import EdgeCloudVectorEnv

    if "task_sampler" in env_kwargs:
        raise TypeError("trace envs take no task_sampler; pass task= for the scenario.")
    scenario = trace_task(trace, split=split, load=load, task=task)
    env = EdgeCloudVectorEnv(num_envs=num_envs, task=scenario, **env_kwargs)
    _check_fits(scenario, env.config, env.sim.episode_steps)
    return env


def _check_fits(task: Task, config: EdgeCloudConfig, episode_steps: int) -> None:
    """Fail at construction, not at the first reset, if no episode fits the split."""
    task.trace.check_length(config.warmup_steps + episode_steps + config.horizon)


def heldout_kwargs(env_id: str) -> dict[str, Any]:
    """``gym.make`` kwargs that evaluate ``env_id`` on held-out data: ``{"split": "test"}`` for
    the trace ids (agents train on the train period and are scored on the later test period),
    ``{}`` for every other id."""
    return {"split": "test"} if env_id in TRACE_IDS else {}


def register_trace_envs() -> None:
    """Register the trace ids (idempotent); the env owns the episode length, as the allocation
    ids do (see :mod:`edgecloud_gym.registration`)."""
    for env_id, kwargs in TRACE_IDS.items():
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point="edgecloud_gym.traces.envs:make_trace_env",
            vector_entry_point="edgecloud_gym.traces.envs:make_trace_vector_env",
            kwargs=kwargs,
        )
