"""Stable-Baselines3's ``VecEnv`` API over a native Gymnasium vector environment.

SB3 2.x accepts only its own :class:`~stable_baselines3.common.vec_env.VecEnv`; wrapping each
sub-environment in a ``DummyVecEnv`` would throw away the batched simulator. This adapter drives
a Gymnasium :class:`~gymnasium.vector.VectorEnv` with ``SAME_STEP`` autoreset (SB3's own
semantics) directly: one ``step`` call per vector step, infos converted from Gymnasium's dict of
arrays to SB3's list of dicts, with ``terminal_observation`` and ``TimeLimit.truncated`` on the
sub-environments whose episode ended.

    >>> from edgecloud_agents.sb3_vec import make_sb3_vec_env
    >>> from stable_baselines3 import DQN
    >>> venv = make_sb3_vec_env("EdgeCloud-High-v0", n_envs=8, seed=0)
    >>> model = DQN("MlpPolicy", venv).learn(10_000)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecMonitor
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvStepReturn

import edgecloud_gym
from edgecloud_gym.envs.vector import AutoresetMode

__all__ = ["SB3VecEnvAdapter", "make_sb3_vec_env"]


def _info_rows(info: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """Gymnasium's vector info (a dict of arrays with ``_key`` masks) as one dict per env."""
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    for key, value in info.items():
        if key.startswith("_") or key in ("final_obs", "final_info"):
            continue
        mask = info.get("_" + key)
        present = range(n) if mask is None else np.flatnonzero(mask).tolist()
        if isinstance(value, dict):
            sub = _info_rows(value, n)
            for i in present:
                rows[i][key] = sub[i]
        elif isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype != object:
            items = value.tolist()  # Python scalars, as a single env reports them
            for i in present:
                rows[i][key] = items[i]
        else:
            for i in present:
                rows[i][key] = value[i]
    return rows


class SB3VecEnvAdapter(VecEnv):
    """An SB3 ``VecEnv`` that drives a Gymnasium vector env with ``SAME_STEP`` autoreset.

    Seeds set with :meth:`seed` (SB3 calls it with the model's seed) and options set with
    :meth:`set_options` are passed to the vector env's next :meth:`reset` as a list of per-env
    seeds and, for ``{"task": ...}`` options, a list of per-env tasks.

    The sub-environments of a native vector env share one object, so :meth:`get_attr` returns the
    vector env's attribute for each requested index, and :meth:`set_attr` and :meth:`env_method`
    act on the vector env as a whole (they reject a strict subset of indices).

    Args:
        vector_env: A Gymnasium vector env whose ``metadata["autoreset_mode"]`` is ``SAME_STEP``,
            e.g. ``gym.make_vec(env_id, num_envs=n, autoreset_mode="SameStep")`` for an
            EdgeCloud id (see :func:`make_sb3_vec_env`).
    """

    def __init__(self, vector_env: gym.vector.VectorEnv) -> None:
        if not isinstance(vector_env, gym.vector.VectorEnv):
            raise TypeError(
                f"vector_env must be a gymnasium.vector.VectorEnv, got {type(vector_env).__name__}"
                "; build one with gym.make_vec(env_id, num_envs=n, autoreset_mode='SameStep')."
            )
        mode = vector_env.metadata.get("autoreset_mode")
        if mode != AutoresetMode.SAME_STEP:
            raise ValueError(
                f"vector_env must autoreset in the same step (SB3's semantics), got "
                f"autoreset_mode={mode!r}; build it with autoreset_mode='SameStep' "
                "(make_sb3_vec_env does)."
            )
        self.venv = vector_env
        self._actions: np.ndarray | None = None
        super().__init__(
            vector_env.num_envs,
            vector_env.single_observation_space,
            vector_env.single_action_space,
        )

    # ------------------------------------------------------------------ stepping

    def reset(self) -> np.ndarray:
        seeds = None if all(s is None for s in self._seeds) else list(self._seeds)
        obs, info = self.venv.reset(seed=seeds, options=self._reset_options_for_venv())
        self.reset_infos = _info_rows(info, self.num_envs)
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("call step_async(actions) before step_wait().")
        actions, self._actions = self._actions, None
        obs, reward, terminated, truncated, info = self.venv.step(actions)
        dones = np.logical_or(terminated, truncated)
        if "final_info" in info:
            infos = _info_rows(info["final_info"], self.num_envs)
            reset_rows = _info_rows(info, self.num_envs)
            ended = info["_final_obs"]
            for i in np.flatnonzero(dones).tolist():
                if ended[i]:
                    infos[i]["terminal_observation"] = info["final_obs"][i]
                    self.reset_infos[i] = reset_rows[i]
        else:
            infos = _info_rows(info, self.num_envs)
        timeouts = np.logical_and(truncated, np.logical_not(terminated)).tolist()
        for i, row in enumerate(infos):
            row["TimeLimit.truncated"] = timeouts[i]
        return obs, np.asarray(reward, dtype=np.float32), dones, infos

    def close(self) -> None:
        self.venv.close()

    # ------------------------------------------------------------------ attributes

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        value = getattr(self.venv, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        self._check_all("set_attr", indices)
        setattr(self.venv, attr_name, value)

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        self._check_all("env_method", indices)
        result = getattr(self.venv, method_name)(*method_args, **method_kwargs)
        return [result for _ in range(self.num_envs)]

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None for _ in range(self.num_envs)]

    # ------------------------------------------------------------------ helpers

    def _check_all(self, what: str, indices: VecEnvIndices) -> None:
        if indices is not None and sorted(set(self._get_indices(indices))) != list(
            range(self.num_envs)
        ):
            raise ValueError(
                f"{what} acts on the native vector env as a whole; pass indices=None (got "
                f"{indices!r})."
            )

    def _reset_options_for_venv(self) -> dict[str, Any] | None:
        options = self._options
        if not any(options):
            return None
        keys = {k for o in options for k in o}
        if keys != {"task"} or not all(options):
            raise ValueError(
                "set_options supports only {'task': ...} for every sub-environment with the "
                f"native vector env, got {options!r}."
            )
        return {"task": [o["task"] for o in options]}


def make_sb3_vec_env(
    env_id: str,
    n_envs: int = 1,
    seed: int | None = None,
    monitor: bool = True,
    **kwargs: Any,
) -> VecEnv:
    """Build an EdgeCloud id's native vector env with ``n_envs`` systems for SB3.

    Args:
        env_id: A registered id with a ``vector_entry_point`` (every allocation id).
        n_envs: Number of sub-environments.
        seed: Seed of sub-environment 0 at the first reset (sub-environment ``i`` gets
            ``seed + i``); None leaves seeding to the model (SB3 seeds the env with its own seed).
        monitor: Wrap the adapter in SB3's ``VecMonitor`` so episode returns and lengths reach
            the logger (``rollout/ep_rew_mean``); SB3 adds no monitor to a ready ``VecEnv``.
        **kwargs: Passed to the environment (e.g. ``forecaster``, ``episode_steps``).
    """
    gym.register_envs(edgecloud_gym)
    venv = gym.make_vec(
        env_id,
        num_envs=n_envs,
        vectorization_mode="vector_entry_point",
        autoreset_mode=AutoresetMode.SAME_STEP,
        **kwargs,
    )
    adapter: VecEnv = SB3VecEnvAdapter(venv)
    if monitor:
        adapter = VecMonitor(adapter)
    if seed is not None:
        adapter.seed(seed)
    return adapter
