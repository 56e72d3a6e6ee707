"""Gymnasium environments of the offloading family: thin adapters over the pure cost models.

Every step is one independent frame (DDLO and DROO's setting): the observation describes the
frame, the action is the offloading decision for it, the reward scores the decision, and the
next observation is a fresh frame, drawn from the task with the env's ``Generator`` or read from
a published data file (``data_file=``). Episodes never terminate; registration truncates them
with ``max_episode_steps``.

``info`` of every step describes the frame just scored: ``optimal`` (the exact optimum of the
frame), ``ratio`` (1 is best; MUMT / edge-cloud: optimal cost / agent cost, WPMEC: agent rate /
optimal rate), the agent's raw ``cost`` or ``rate``, the optimal decision, and ``frame`` (the row
of the data file, or the count of frames drawn since reset). With a data file, ``published``
holds the file's optimal value for the frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from edgecloud_gym._validation import check_int, check_positive, did_you_mean
from edgecloud_gym.envs.render import (
    RENDER_MODES,
    HumanWindow,
    Panel,
    check_render_mode,
    draw_frame,
    panels_ansi,
)

from .data import load_mumt_data, load_wpmec_data
from .mumt import CloudParams, _check_decision, _check_sizes, _optimum, _user_cost, all_decisions
from .tasks import EdgeCloudTask, MUMTTask, WPMECTask
from .wpmec import WPMECParams, _check_mode, _solve, wpmec_optimum

__all__ = ["DiscreteDecisionWrapper", "EdgeCloudOffloadEnv", "MUMTEnv", "WPMECEnv"]

_OPTIMUM_METHODS = ("auto", "enumerate", "coordinate_descent", "none")
_PARAMS = WPMECParams()


def _check_options(options: dict[str, Any] | None) -> dict[str, Any]:
    options = {} if options is None else dict(options)
    for key in options:
        if key not in ("row",):
            raise ValueError(
                f"reset(options=...): unknown key {key!r}.{did_you_mean(key, ['row'])} "
                "Valid keys: row (the data-file row to start from)."
            )
    return options


class _FrameEnv(gym.Env):
    """Shared frame loop: reset, replay cursor, action shape check, rendering."""

    metadata: dict[str, Any] = {"render_modes": RENDER_MODES, "render_fps": 4}  # noqa: RUF012

    _n_rows: int | None = None  # rows of the replayed data file, None without one
    _last_action: np.ndarray | None = None  # the decision of the frame just scored
    _last_info: dict[str, Any] | None = None  # (None after a reset)
    _window: HumanWindow | None = None

    def _panels(self) -> tuple[str, list[Panel]]:
        """The title and panels of a rendered frame (each env defines its own)."""
        raise TypeError(f"{type(self).__name__} must define _panels to render")

    def _record(self, action: np.ndarray | None, info: dict[str, Any] | None) -> None:
        """Keep what the next render shows; in ``"human"`` mode, show it now."""
        self._last_action, self._last_info = action, info
        if self.render_mode == "human":
            self.render()

    def render(self) -> str | np.ndarray | None:
        """``"ansi"``: a text table; ``"rgb_array"``: a (400, 640, 3) uint8 frame of the current
        frame's inputs and the last decision next to the optimal one; ``"human"``: that frame in
        a window (drawn at every step; returns None)."""
        if self.render_mode is None:
            return None
        title, panels = self._panels()
        if self.render_mode == "ansi":
            return panels_ansi(title, panels)
        frame = draw_frame(title, panels)
        if self.render_mode == "rgb_array":
            return frame
        if self._window is None:
            self._window = HumanWindow(self.metadata["render_fps"])
        self._window.show(frame)
        return None

    def close(self) -> None:
        """Close the ``"human"`` window, if one is open."""
        if self._window is not None:
            self._window.close()
            self._window = None

    def _start(self, seed: int | None, options: dict[str, Any] | None) -> None:
        super().reset(seed=seed)
        options = _check_options(options)
        if "row" in options:
            if self._n_rows is None:
                raise ValueError("reset(options={'row': ...}) needs an env built with data_file=.")
            self._row = check_int("options['row']", options["row"], minimum=0) % self._n_rows
        elif seed is not None or not hasattr(self, "_row"):
            self._row = 0
        self._frame = 0

    def _advance(self) -> None:
        self._frame += 1
        if self._n_rows is not None:
            self._row = (self._row + 1) % self._n_rows

    def _frame_id(self) -> int:
        return self._row if self._n_rows is not None else self._frame

    def _flat_action(self, action: object) -> np.ndarray:
        arr = np.asarray(action)
        n = int(np.prod(self.action_space.shape))
        if arr.shape != (n,):
            raise ValueError(
                f"action must have shape ({n},) (one entry per {self._entry_name}), got "
                f"{arr.shape}; for a Discrete action use DiscreteDecisionWrapper."
            )
        return arr

    _entry_name = "decision"


class EdgeCloudOffloadEnv(_FrameEnv):
    """N users with M tasks each choose device, edge server or cloud for every task.

    ## Description
    The edge-cloud extension of DDLO's multi-user multi-task model (see
    :mod:`edgecloud_gym.offloading.mumt` and ``docs/offloading.md``). Each step is a new frame of
    task sizes; the agent places every task and pays the frame's cost (device energy plus
    weighted completion time). With ``task.cloud_enabled=False`` this is exactly
    :class:`MUMTEnv`.

    ## Action Space
    ``MultiDiscrete([3] * (N*M))``, user-major: entry ``n*M + m`` places task ``m`` of user ``n``
    at 0 (device), 1 (edge) or 2 (cloud). Without the cloud, ``MultiDiscrete([2] * (N*M))``.

    ## Observation Space
    ``Box(0, inf, (N*M,), float32)``: entry ``n*M + m`` is the size of task ``m`` of user
    ``n`` [MB].

    ## Rewards
    ``-reward_scale * cost`` with cost in J + s (time weight 1 J/s).

    ## Starting State
    A frame drawn from the task (or row 0 of the data file, or ``options={"row": r}``).

    ## Episode End
    Never terminated; truncated by ``max_episode_steps`` (100 at registration).

    ## Info
    ``cost`` (agent's cost), ``optimal`` (minimal cost over all decisions), ``ratio``
    (optimal / cost, 1 is best), ``optimal_decision`` (flat, int8), ``frame``; with a data file
    also ``published`` (the file's ``gain_min``, the optimum without cloud).

    ## Arguments
    * ``task``: an :class:`EdgeCloudTask` (default: DDLO's sizes, cloud on, default cloud).
    * ``data_file``: replay task sizes from ``"mumt_3x3"`` or a ``.mat`` file of that layout.
    * ``reward_scale``: factor on the cost in the reward (default 1).
    * ``render_mode``: ``None``, ``"ansi"``, ``"rgb_array"`` (the frame's task sizes, the last
      decision and the optimal one) or ``"human"``.

    ## Version History
    * v0: initial version.
    """

    _task_type: type[MUMTTask] = EdgeCloudTask
    _entry_name = "task"

    def __init__(
        self,
        task: MUMTTask | None = None,
        data_file: str | Path | None = None,
        reward_scale: float = 1.0,
        render_mode: str | None = None,
    ) -> None:
        self.render_mode = check_render_mode(render_mode)
        task = self._task_type() if task is None else task
        self._check_task_type(task)
        self.task = task
        self.reward_scale = check_positive("reward_scale", reward_scale)
        self._data = None
        if data_file is not None:
            self._data = load_mumt_data(data_file, task.n_users, task.n_tasks)
            self._n_rows = self._data.n_frames
        n = task.n_users * task.n_tasks
        self._n_places = 3 if self._cloud() is not None else 2
        self.action_space = spaces.MultiDiscrete(np.full(n, self._n_places, dtype=np.int64))
        self.observation_space = spaces.Box(0.0, np.inf, shape=(n,), dtype=np.float32)

    def _panels(self) -> tuple[str, list[Panel]]:
        n, m = self.task.n_users, self.task.n_tasks
        labels = [f"u{u}t{t}" for u in range(n) for t in range(m)]
        places = "0 device, 1 edge" + (", 2 cloud" if self._n_places == 3 else "")
        top = float(self._n_places - 1)
        title = f"{type(self).__name__}: frame {self._frame_id()}"
        panels = [
            Panel("task sizes of the current frame (MB)", self._sizes.reshape(-1), labels, None, 0)
        ]
        if self._last_info is not None and self._last_action is not None:
            info = self._last_info
            title += f"   last cost {info['cost']:.4g}   optimal {info['optimal']:.4g}"
            title += f"   ratio {info['ratio']:.3f}"
            panels += [
                Panel(
                    f"decision on the previous frame ({places})", self._last_action, labels, top, 1
                ),
                Panel("optimal decision there", info["optimal_decision"], labels, top, 2),
            ]
        return title, panels

    def _check_task_type(self, task: object) -> None:
        if not isinstance(task, self._task_type):
            raise TypeError(
                f"task must be a {self._task_type.__name__}, got {type(task).__name__}; build one "
                f"with edgecloud_gym.offloading.{self._task_type.__name__}(...)."
            )

    def _cloud(self) -> CloudParams | None:
        return self.task.cloud_params_or_none() if isinstance(self.task, EdgeCloudTask) else None

    def set_task(self, task: MUMTTask) -> None:
        """Switch to ``task`` (same N, M and cloud setting); takes effect at the next frame."""
        self._check_task_type(task)
        same_shape = (task.n_users, task.n_tasks) == (self.task.n_users, self.task.n_tasks)
        old_cloud = isinstance(self.task, EdgeCloudTask) and self.task.cloud_enabled
        new_cloud = isinstance(task, EdgeCloudTask) and task.cloud_enabled
        if not same_shape or old_cloud != new_cloud:
            raise ValueError(
                "set_task: the new task must keep n_users, n_tasks and cloud_enabled (they fix the "
                f"spaces); have ({self.task.n_users}, {self.task.n_tasks}, {old_cloud}), got "
                f"({task.n_users}, {task.n_tasks}, {new_cloud}). Build a new env instead."
            )
        self.task = task

    def _draw(self) -> None:
        if self._data is not None:
            self._sizes = self._data.task_sizes_mb[self._row]
        else:
            self._sizes = self.task.sample_sizes(self.np_random)

    def _obs(self) -> np.ndarray:
        return self._sizes.reshape(-1).astype(np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        self._start(seed, options)
        self._draw()
        self._record(None, None)
        return self._obs(), {"frame": self._frame_id()}

    def step(self, action: object) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        sizes = _check_sizes(self._sizes)
        place = _check_decision(
            self._flat_action(action).reshape(sizes.shape), sizes.shape, self._n_places, "action"
        )
        params, cloud = self.task.params(), self._cloud()
        cost = float(_user_cost(sizes, place, sizes.shape[0], params, cloud).sum())
        best = _optimum(sizes, params, cloud, brute_force=False)
        optimal = float(best.cost)
        info: dict[str, Any] = {
            "cost": cost,
            "optimal": optimal,
            "ratio": optimal / cost if cost > 0 else 1.0,
            "optimal_decision": best.decision.reshape(-1),
            "frame": self._frame_id(),
        }
        if self._data is not None:
            info["published"] = float(self._data.cost[self._row])
        self._advance()
        self._draw()
        self._record(place.reshape(-1), info)
        return self._obs(), -self.reward_scale * cost, False, False, info


class MUMTEnv(EdgeCloudOffloadEnv):
    """DDLO's multi-user multi-task offloading: each task on the device or the edge server.

    ## Description
    N users with M tasks each (Huang et al. 2018); each step is a new frame of task sizes and
    the agent decides, per task, local computing (0) or offloading (1).

    ## Action Space
    ``MultiBinary(N*M)``-like ``MultiDiscrete([2] * (N*M))``, user-major (entry ``n*M + m``).

    ## Observation Space
    ``Box(0, inf, (N*M,), float32)``: task sizes [MB], user-major.

    ## Rewards
    ``-reward_scale * cost``, cost = sum over users of energy [J] + max(local, offload time) [s].

    ## Starting State, Episode End
    As :class:`EdgeCloudOffloadEnv`.

    ## Info
    ``cost``, ``optimal`` (exact minimum over all 2^(NM) decisions), ``ratio`` (optimal / cost),
    ``optimal_decision``, ``frame``; with a data file, ``published`` (the file's ``gain_min``).

    ## Arguments
    * ``task``: a :class:`MUMTTask` (default: DDLO's 3 x 3 with sizes 10..30 MB).
    * ``data_file``: replay frames of ``"mumt_3x3"`` or a ``.mat`` file of that layout.
    * ``reward_scale``: factor on the cost in the reward (default 1).

    ## Version History
    * v0: initial version.
    """

    _task_type = MUMTTask

    def __init__(
        self,
        task: MUMTTask | None = None,
        data_file: str | Path | None = None,
        reward_scale: float = 1.0,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(task, data_file, reward_scale, render_mode)
        self.action_space = spaces.MultiBinary(self.task.n_users * self.task.n_tasks)

    def _check_task_type(self, task: object) -> None:
        super()._check_task_type(task)
        if isinstance(task, EdgeCloudTask) and task.cloud_enabled:
            raise ValueError(
                "MUMTEnv has no cloud place; pass a MUMTTask, an EdgeCloudTask with "
                "cloud_enabled=False, or use EdgeCloudOffloadEnv."
            )


class WPMECEnv(_FrameEnv):
    """DROO's wireless-powered MEC: each device computes locally or offloads, every frame.

    ## Description
    N devices harvest energy from the access point for a fraction ``a`` of the frame, then
    compute locally or offload in their own time slot (Bi & Zhang 2018; Huang, Bi, Zhang 2020).
    The agent picks the binary mode; the env solves the optimal ``(a, tau)`` for that mode
    exactly (:func:`~edgecloud_gym.offloading.wpmec_rate`) and rewards the weighted sum
    computation rate.

    ## Action Space
    ``MultiBinary(N)``: 1 = offload, 0 = compute locally.

    ## Observation Space
    ``Box(0, inf, (N,), float32)``: channel power gains times ``h_scale`` (default 1e6, as DROO
    scales its DNN input, giving values around 0.1..10); switched-off devices show 0.

    ## Rewards
    ``reward_scale * rate`` with the rate in bits/s; the default 1e-6 gives Mbit/s.

    ## Starting State
    A frame drawn from the task (or row 0 of the data file, or ``options={"row": r}``).

    ## Episode End
    Never terminated; truncated by ``max_episode_steps`` (100 at registration).

    ## Info
    ``rate`` (agent's rate, bits/s), ``optimal`` (best rate over modes, bits/s), ``ratio``
    (rate / optimal, 1 is best; NaN when ``optimum="none"``), ``optimal_mode``, ``oracle_exact``
    (False for coordinate descent), ``a`` and ``tau`` (the agent mode's optimal allocation),
    ``frame``; with a data file, ``published`` (the file's ``output_obj``).

    ## Arguments
    * ``task``: a :class:`WPMECTask` (default DROO's set-up with N = 10).
    * ``data_file``: replay channels of ``"droo_5"`` .. ``"droo_9"`` (or 5..9, or a path); the
      task's ``n_devices`` must match (default: taken from the file).
    * ``h_scale``, ``reward_scale``: observation and reward factors.
    * ``optimum``: how each frame's best mode is found: ``"auto"`` (enumerate up to 12 devices,
      else coordinate descent), ``"enumerate"``, ``"coordinate_descent"`` (not exact) or
      ``"none"`` (skip, fastest). ``oracle=`` is its former, deprecated name.
    * ``render_mode``: ``None``, ``"ansi"``, ``"rgb_array"`` (the channel gains, the last mode
      and the optimal one) or ``"human"``.

    ## Version History
    * v0: initial version.
    """

    _entry_name = "device"

    def __init__(
        self,
        task: WPMECTask | None = None,
        data_file: str | Path | int | None = None,
        h_scale: float = 1e6,
        reward_scale: float = 1e-6,
        optimum: str = "auto",
        render_mode: str | None = None,
        oracle: str | None = None,
    ) -> None:
        self.render_mode = check_render_mode(render_mode)
        self._data = None
        if data_file is not None:
            self._data = load_wpmec_data(data_file)
            self._n_rows = self._data.n_frames
            if task is None:
                task = WPMECTask(n_devices=self._data.n_devices)
        task = WPMECTask() if task is None else task
        self._check_task(task)
        if self._data is not None and task.n_devices != self._data.n_devices:
            raise ValueError(
                f"task.n_devices ({task.n_devices}) must match the data file's "
                f"{self._data.n_devices} devices ({self._data.path.name})."
            )
        self.task = task
        self.h_scale = check_positive("h_scale", h_scale)
        self.reward_scale = check_positive("reward_scale", reward_scale)
        if oracle is not None:
            import warnings

            warnings.warn(
                "WPMECEnv(oracle=...) is deprecated; pass optimum=... (the same values).",
                DeprecationWarning,
                stacklevel=2,
            )
            optimum = oracle
        if optimum not in _OPTIMUM_METHODS:
            raise ValueError(
                f"optimum must be one of {_OPTIMUM_METHODS}, got {optimum!r}."
                f"{did_you_mean(str(optimum), _OPTIMUM_METHODS)}"
            )
        self.optimum = optimum
        n = task.n_devices
        self.action_space = spaces.MultiBinary(n)
        self.observation_space = spaces.Box(0.0, np.inf, shape=(n,), dtype=np.float32)

    def _panels(self) -> tuple[str, list[Panel]]:
        labels = [f"d{i}" for i in range(self.task.n_devices)]
        title = f"WPMECEnv: frame {self._frame_id()}"
        panels = [
            Panel("channel gains of the current frame (x h_scale)", self._obs(), labels, None, 0)
        ]
        if self._last_info is not None and self._last_action is not None:
            info = self._last_info
            title += f"   last rate {info['rate'] / 1e6:.4g} Mbit/s"
            title += f"   optimal {info['optimal'] / 1e6:.4g} Mbit/s"
            panels += [
                Panel("mode on the previous frame (1 offload)", self._last_action, labels, 1.0, 1),
                Panel(
                    "optimal mode there (-1: not computed)", info["optimal_mode"], labels, 1.0, 2
                ),
            ]
        return title, panels

    @staticmethod
    def _check_task(task: object) -> None:
        if not isinstance(task, WPMECTask):
            raise TypeError(
                f"task must be a WPMECTask, got {type(task).__name__}; build one with "
                "edgecloud_gym.offloading.WPMECTask(...)."
            )

    def set_task(self, task: WPMECTask) -> None:
        """Switch to ``task`` (same ``n_devices``); takes effect at the next frame."""
        self._check_task(task)
        if task.n_devices != self.task.n_devices:
            raise ValueError(
                f"set_task: the new task must keep n_devices={self.task.n_devices} (it fixes the "
                f"spaces), got {task.n_devices}. Build a new env instead."
            )
        self.task = task

    def _draw(self) -> None:
        if self._data is not None:
            self._h = self._data.h[self._row]
        else:
            self._h = self.task.sample_h(self.np_random)

    def _obs(self) -> np.ndarray:
        return (self._h * self.h_scale).astype(np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        self._start(seed, options)
        self._draw()
        self._record(None, None)
        return self._obs(), {"frame": self._frame_id()}

    def step(self, action: object) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        mode = _check_mode(self._flat_action(action), self._h.shape)
        weights = self.task.weights_array()
        res = _solve(self._h, mode, weights, _PARAMS)
        rate = float(res.rate)
        info: dict[str, Any] = {"rate": rate, "a": float(res.a), "tau": res.tau}
        if self.optimum == "none":
            info.update(optimal=float("nan"), ratio=float("nan"), oracle_exact=False)
            info["optimal_mode"] = np.full(self._h.shape, -1, dtype=np.int8)
        else:
            best = wpmec_optimum(self._h, weights, _PARAMS, method=self.optimum)
            optimal = float(best.rate)
            info.update(
                optimal=optimal,
                ratio=rate / optimal if optimal > 0 else 1.0,
                optimal_mode=best.mode,
                oracle_exact=best.exact,
            )
        info["frame"] = self._frame_id()
        if self._data is not None:
            info["published"] = float(self._data.rate[self._row])
        self._advance()
        self._draw()
        self._record(mode, info)
        return self._obs(), self.reward_scale * rate, False, False, info


class DiscreteDecisionWrapper(gym.ActionWrapper, gym.utils.RecordConstructorArgs):
    """Expose a MultiBinary / MultiDiscrete decision as one ``Discrete(K**n)`` action (SB3 DQN).

    Action ``k`` is ``k`` in base ``K``, most significant digit first (entry 0), the numbering of
    :func:`~edgecloud_gym.offloading.all_decisions`; :meth:`decision_to_action` inverts it.

    Args:
        env: an env with a ``MultiBinary(n)`` or ``MultiDiscrete([K] * n)`` action space.
        max_actions: refuse to build more than this many actions (default 2**16).
    """

    def __init__(self, env: gym.Env, max_actions: int = 2**16) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, max_actions=max_actions)
        gym.ActionWrapper.__init__(self, env)
        space = env.action_space
        if isinstance(space, spaces.MultiBinary) and len(space.shape) == 1:
            n, k = int(space.shape[0]), 2
        elif (
            isinstance(space, spaces.MultiDiscrete)
            and space.nvec.ndim == 1
            and np.all(space.nvec == space.nvec[0])
        ):
            n, k = int(space.nvec.size), int(space.nvec[0])
        else:
            raise TypeError(
                "DiscreteDecisionWrapper needs a 1-D MultiBinary or a MultiDiscrete action space "
                f"with equal sizes, got {space}."
            )
        max_actions = check_int("max_actions", max_actions, minimum=1)
        if k**n > max_actions:
            raise ValueError(
                f"DiscreteDecisionWrapper: {k}**{n} = {k**n} actions exceed max_actions="
                f"{max_actions}; raise max_actions or use the multi-binary action space."
            )
        self._n, self._k = n, k
        self._powers = k ** np.arange(n - 1, -1, -1, dtype=np.int64)
        self.action_space = spaces.Discrete(k**n)

    def action(self, action: object) -> np.ndarray:
        """Decision (shape (n,), int8) of the integer ``action``."""
        if not self.action_space.contains(action) and not (
            np.ndim(action) == 0 and self.action_space.contains(int(np.asarray(action)))
        ):
            raise ValueError(
                f"action must be an integer in [0, {self.action_space.n}), got {action!r}."
            )
        k = int(np.asarray(action))
        return ((k // self._powers) % self._k).astype(np.int8)

    def decision_to_action(self, decision: object) -> int:
        """The integer action of a decision of shape (n,)."""
        arr = np.asarray(decision, dtype=np.int64).reshape(-1)
        if arr.shape != (self._n,) or np.any((arr < 0) | (arr >= self._k)):
            raise ValueError(
                f"decision must have shape ({self._n},) with entries in 0..{self._k - 1}, "
                f"got {decision!r}."
            )
        return int(arr @ self._powers)

    def decisions(self) -> np.ndarray:
        """All decisions, row ``k`` is action ``k``."""
        return all_decisions(self._n, self._k)
