"""The native vector environment of the allocation family: B systems in one batched simulator.

``gym.make_vec("EdgeCloud-High-v0", num_envs=1024)`` builds :class:`EdgeCloudVectorEnv`, which
steps all sub-environments with one call of the same core code (:class:`BatchSimulator`) as the
single :class:`~edgecloud_gym.envs.allocation.EdgeCloudEnv`, a batch of one.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from gymnasium.envs.registration import EnvSpec
from gymnasium.utils import seeding
from gymnasium.vector import VectorEnv
from gymnasium.vector.utils import batch_space

from edgecloud_gym._validation import check_int, did_you_mean
from edgecloud_gym.config import EdgeCloudConfig
from edgecloud_gym.core.dynamics import StepResult
from edgecloud_gym.core.simulator import METRIC_KEYS, REWARD_PARTS, BatchSimulator
from edgecloud_gym.envs.allocation import (
    EdgeCloudEnv,
    ObservationLayout,
    allocation_spaces,
    check_actions,
    check_task_sampler,
    resolve_config,
    resolve_episode_steps,
    resolve_task,
    spec_with_episode_steps,
)
from edgecloud_gym.forecasting import Forecaster
from edgecloud_gym.tasks import Task

__all__ = ["AutoresetMode", "EdgeCloudVectorEnv"]

try:
    from gymnasium.vector import AutoresetMode
except ImportError:  # Gymnasium 1.0: every vector env resets on the next step, no enum yet

    class AutoresetMode(enum.Enum):  # type: ignore[no-redef]
        """Gymnasium 1.1's ``gymnasium.vector.AutoresetMode``, for Gymnasium 1.0 (same values)."""

        NEXT_STEP = "NextStep"
        SAME_STEP = "SameStep"
        DISABLED = "Disabled"


TaskSpec = Task | str | Mapping[str, Any] | None
_AUTORESET_MODES = {m.value: m for m in AutoresetMode}
# The single env's defaults, so that both build the same system from the same arguments.
_SINGLE_ENV_DEFAULTS = inspect.signature(EdgeCloudEnv.__init__).parameters


def _autoreset_mode(mode: AutoresetMode | str) -> AutoresetMode:
    if isinstance(mode, AutoresetMode):
        return mode
    if isinstance(mode, str) and mode in _AUTORESET_MODES:
        return _AUTORESET_MODES[mode]
    raise ValueError(
        f"autoreset_mode must be an AutoresetMode or one of {list(_AUTORESET_MODES)}, got "
        f"{mode!r}.{did_you_mean(str(mode), _AUTORESET_MODES)}"
    )


class EdgeCloudVectorEnv(VectorEnv):
    """``num_envs`` independent edge-cloud systems stepped together in one batched simulator.

    ## Description

    Each sub-environment is exactly :class:`~edgecloud_gym.envs.allocation.EdgeCloudEnv` (same
    model, spaces, reward and info; see its docstring): sub-environment ``i`` reset with seed
    ``s_i`` gives, step for step, bit-identical observations, rewards and infos to a single env
    reset with ``s_i`` and given the same actions, across autoresets. All systems are advanced
    by one call of the shared step kernel, and the episode workloads of all systems being reset
    are drawn (each from its own generator) and forecast in one batched forecaster call.

    ## Action Space

    ``MultiDiscrete([2 S + 2] * num_envs)`` (discrete mode), ``Box(-1, 1, (num_envs, S))``
    (continuous mode) or ``Box(0, 1, (num_envs, S))`` (weights mode); ``single_action_space`` is
    the single env's space, and each row is mapped to shares as the single env maps its action.
    Actions are validated as a batch: wrong shape, non-integers, out-of-range or non-finite
    values raise naming the first offending sub-environment.

    ## Observation Space

    ``Box(low, high, (num_envs, D), float32)``, each row laid out as the single env's (see
    :attr:`layout`).

    ## Rewards

    ``(num_envs,)`` float64, the single env's reward per sub-environment.

    ## Starting State

    As the single env. ``reset(seed=s)`` seeds sub-environment ``i`` with ``s + i`` (Gymnasium's
    convention); ``reset(seed=[s_0, ..., s_{n-1}])`` seeds each one explicitly (``None`` entries
    keep an existing generator or draw a fresh one). Each sub-environment owns a
    ``numpy.random.Generator``, created as ``gym.Env.reset(seed=s_i)`` creates it, and every
    draw for it (its task under ``task_sampler``, its workload) comes from that generator only.

    ## Episode End

    Never terminated; truncated after the episode length, set by ``episode_steps`` or
    ``max_episode_steps`` as in the single env (``spec.max_episode_steps`` reports it). All
    sub-environments start together and have the same length, so they truncate on the same step.
    Autoreset follows ``metadata["autoreset_mode"]`` (Gymnasium 1.x semantics,
    https://farama.org/Vector-Autoreset-Mode):

    - ``NEXT_STEP`` (default, Gymnasium's default, required by its vector observation
      wrappers): the step after a truncation resets the sub-environments (ignoring their
      actions) and returns the first observation, reward 0, ``terminated = truncated = False``
      and the reset info.
    - ``SAME_STEP`` (what SB3 and replay-buffer learners expect; used by
      :mod:`edgecloud_agents.sb3_vec`): the truncating step resets at once and returns the new
      episodes' first observations; the last observation is ``info["final_obs"]`` (an object
      array of per-env rows) and that step's info is ``info["final_info"]``, both with masks
      ``info["_final_obs"]``, ``info["_final_info"]``.
    - ``DISABLED``: stepping after a truncation raises; call ``reset()``.

    ## Info

    A dict of arrays, Gymnasium's vector convention: every key of the single env's info maps to
    an array over sub-environments (shape ``(num_envs,)`` for the metrics, ``(num_envs, S, K)``
    for ``latency_ms_by_server_class`` and ``served_by_server_class``, an object array for
    ``task``), ``reward_parts`` to a dict of such arrays, and each key ``k`` has a boolean mask
    ``_k`` (all True: every sub-environment reports every key; the masks of one step are one
    shared, read-only array). Reset infos carry ``task``.

    ## Arguments

    - ``num_envs``: number of sub-environments (>= 1).
    - ``task``: one task for all sub-environments (a :class:`~edgecloud_gym.tasks.Task`, a
      preset or scenario name, a mapping) or a list or tuple of ``num_envs`` of them.
    - ``config``, ``action_mode``: as the single env.
    - ``episode_steps``, ``max_episode_steps``: the episode length (steps), give either
      (``gym.make_vec(id, num_envs=n, max_episode_steps=...)`` passes the latter; default 200).
    - ``forecaster``: as the single env; None (default) takes the single env's default.
    - ``task_sampler``: optional callable ``rng -> Task``; each sub-environment draws its own
      task from its own generator at each of its resets (``EdgeCloud-Random-v0``).
    - ``autoreset_mode``: an :class:`~gymnasium.vector.AutoresetMode` or its value
      (``"NextStep"``, ``"SameStep"``, ``"Disabled"``).
    - ``render_mode``: only ``None`` (render a single env to look at one system).

    ## Version History

    - v0: initial release.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "autoreset_mode": AutoresetMode.NEXT_STEP,
        "render_modes": [],
    }

    def __init__(
        self,
        num_envs: int = 1,
        task: TaskSpec | Sequence[TaskSpec] = None,
        config: EdgeCloudConfig | Mapping[str, Any] | None = None,
        forecaster: str | Forecaster | None = None,
        action_mode: str = "discrete",
        episode_steps: int | None = None,
        task_sampler: Callable[[np.random.Generator], Task] | None = None,
        max_episode_steps: int | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
        control: str = "routing",
        autoscaler: bool | None = None,
    ) -> None:
        n = check_int("num_envs", num_envs, minimum=1)
        steps = resolve_episode_steps(episode_steps, max_episode_steps)
        check_task_sampler(task_sampler)
        if render_mode is not None:
            raise ValueError(
                f"render_mode must be None for the vector env, got {render_mode!r}; render a "
                "single env (gym.make(..., render_mode=...)) to look at one system."
            )
        mode = _autoreset_mode(autoreset_mode)
        self.metadata = {**type(self).metadata, "autoreset_mode": mode}
        self.num_envs = n
        self.config = resolve_config(config)
        self.task_sampler = task_sampler
        self.render_mode = None
        self._set_tasks(self._resolve_tasks(task))
        if forecaster is None:
            forecaster = _SINGLE_ENV_DEFAULTS["forecaster"].default
        self.sim = BatchSimulator(
            self.config, list(self._tasks), forecaster, action_mode, steps, control, autoscaler
        )
        #: Steps after which every sub-environment is truncated.
        self.time_limit = steps
        self.action_names = self.sim.action_names()
        self.single_action_space, self.single_observation_space = allocation_spaces(self.sim)
        self.action_space = batch_space(self.single_action_space, n)
        self.observation_space = batch_space(self.single_observation_space, n)
        self._rngs: list[np.random.Generator | None] = [None] * n
        self._started = False
        self._episode_over = False

    # ------------------------------------------------------------------ API

    _spec: EnvSpec | None = None

    @property
    def spec(self) -> EnvSpec | None:  # type: ignore[override]
        """Gymnasium's spec (set by ``gym.make_vec``), ``max_episode_steps`` the episode length."""
        return spec_with_episode_steps(self._spec, self.time_limit)

    @spec.setter
    def spec(self, value: EnvSpec | None) -> None:
        self._spec = value

    @property
    def layout(self) -> ObservationLayout:
        """Where each block of an observation row lies (slices into the flat vector)."""
        return ObservationLayout.of(self.sim)

    @property
    def tasks(self) -> tuple[Task, ...]:
        """The task of each sub-environment (used from its next reset on)."""
        return tuple(self._tasks)

    @property
    def np_randoms(self) -> tuple[np.random.Generator | None, ...]:
        """Each sub-environment's generator (None before its first reset)."""
        return tuple(self._rngs)

    def set_task(self, task: TaskSpec | Sequence[TaskSpec]) -> None:
        """Use ``task`` (one for all, or a list of ``num_envs``) from the next reset on."""
        self._set_tasks(self._resolve_tasks(task))

    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every sub-environment; ``options={"task": ...}`` switches tasks first (one
        task for all or a list of ``num_envs``)."""
        seeds = self._resolve_seeds(seed)
        if isinstance(seed, (int, np.integer)):
            super().reset(seed=int(seed))
        if options:
            unknown = set(options) - {"task"}
            if unknown:
                raise ValueError(
                    f"reset options accept only 'task', got {sorted(unknown)} (partial resets "
                    "with 'reset_mask' are not supported: sub-environments run in lock-step)."
                )
            self.set_task(options["task"])
        for i, s in enumerate(seeds):
            if s is not None or self._rngs[i] is None:
                self._rngs[i] = seeding.np_random(s)[0]
        self._started = True
        info = self._reset_all()
        return self.sim.observe(), info

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Advance every sub-environment one step (see the class docstring for autoreset)."""
        n = self.num_envs
        if not self._started:
            raise RuntimeError("call reset() before step().")
        if self._episode_over:
            mode = self.metadata["autoreset_mode"]
            if mode == AutoresetMode.DISABLED:
                raise RuntimeError(
                    "the episodes have ended and autoreset_mode is DISABLED: call reset()."
                )
            info = self._reset_all()
            no = np.zeros(n, dtype=bool)
            return self.sim.observe(), np.zeros(n), no, no.copy(), info
        shares, capacity = self.sim.decode_action(check_actions(self.sim, actions, n))
        obs, reward, metrics, res = self.sim.step_observe(shares, capacity)
        info = self._step_info(metrics, res)
        over = bool(self.sim.t[0] >= self.time_limit)
        truncated = np.full(n, over)
        if over and self.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP:
            final_obs = np.empty(n, dtype=object)
            for i in range(n):
                final_obs[i] = obs[i]
            mask = np.ones(n, dtype=bool)
            info = {
                **self._reset_all(),
                "final_obs": final_obs,
                "_final_obs": mask,
                "final_info": info,
                "_final_info": mask.copy(),
            }
            obs = self.sim.observe()
        else:
            self._episode_over = over
        return obs, reward, np.zeros(n, dtype=bool), truncated, info

    # ------------------------------------------------------------------ helpers

    def _resolve_tasks(self, task: TaskSpec | Sequence[TaskSpec]) -> list[Task]:
        n_edge, n_apps = self.config.topology.n_edge, len(self.config.apps)
        if isinstance(task, (list, tuple)):
            if len(task) != self.num_envs:
                raise ValueError(
                    f"task must be one task or a list of num_envs={self.num_envs} tasks, got a "
                    f"list of {len(task)}."
                )
            tasks = [resolve_task(t) for t in task]
        else:
            tasks = [resolve_task(task)] * self.num_envs
        for t in dict.fromkeys(tasks):
            t.check_compatible(n_edge, n_apps)
        return tasks

    def _set_tasks(self, tasks: list[Task]) -> None:
        self._tasks = tasks
        self._task_names = np.array([t.name for t in tasks], dtype=object)

    def _resolve_seeds(self, seed: Any) -> list[int | None]:
        n = self.num_envs
        if seed is None:
            return [None] * n
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            if seed < 0:
                raise ValueError(f"seed must be >= 0, got {seed}.")
            return [int(seed) + i for i in range(n)]
        if isinstance(seed, (list, tuple, np.ndarray)):
            seeds = list(seed)
            if len(seeds) != n:
                raise ValueError(
                    f"seed must be an int, None or a sequence of num_envs={n} seeds, got "
                    f"{len(seeds)} seeds."
                )
            for s in seeds:
                if s is not None and (
                    isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0
                ):
                    raise ValueError(f"each seed must be a non-negative int or None, got {s!r}.")
            return [None if s is None else int(s) for s in seeds]
        raise TypeError(f"seed must be an int, None or a sequence of ints, got {seed!r}.")

    def _reset_all(self) -> dict[str, Any]:
        """Start new episodes in every sub-environment from its own generator."""
        rngs = self._rngs
        if self.task_sampler is not None:
            self._set_tasks([resolve_task(self.task_sampler(rng)) for rng in rngs])
        if any(a is not b for a, b in zip(self.sim.tasks, self._tasks, strict=True)):
            self.sim.set_tasks(list(self._tasks))
        self.sim.reset(rngs)
        self._episode_over = False
        return {"task": self._task_names.copy(), "_task": np.ones(self.num_envs, dtype=bool)}

    def _step_info(self, metrics: np.ndarray, res: StepResult) -> dict[str, Any]:
        """The single env's info as a dict of arrays over sub-environments."""
        mask = np.ones(self.num_envs, dtype=bool)
        mask.flags.writeable = False
        info: dict[str, Any] = {}
        for j, key in enumerate(METRIC_KEYS):
            info[key] = metrics[:, j]
            info["_" + key] = mask
        parts: dict[str, Any] = {}
        for j, key in enumerate(REWARD_PARTS, start=len(METRIC_KEYS)):
            parts[key] = metrics[:, j]
            parts["_" + key] = mask
        info["reward_parts"] = parts
        info["_reward_parts"] = mask
        info["latency_ms_by_server_class"] = res.latency_ms
        info["_latency_ms_by_server_class"] = mask
        info["served_by_server_class"] = res.served
        info["_served_by_server_class"] = mask
        info["task"] = self._task_names.copy()
        info["_task"] = mask
        return info
