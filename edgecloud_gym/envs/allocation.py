"""The Gymnasium adapter of the allocation simulator."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.registration import EnvSpec

from edgecloud_gym.config import EdgeCloudConfig
from edgecloud_gym.core.simulator import METRIC_KEYS, REWARD_PARTS, BatchSimulator
from edgecloud_gym.envs.render import (
    RENDER_MODES,
    HumanWindow,
    check_render_mode,
    render_ansi,
    render_rgb,
)
from edgecloud_gym.forecasting import Forecaster
from edgecloud_gym.tasks import MEDIUM, Task, get_task

__all__ = [
    "DEFAULT_EPISODE_STEPS",
    "MAX_EPISODE_STEPS",
    "EdgeCloudEnv",
    "ObservationLayout",
    "allocation_spaces",
    "check_actions",
    "check_task_sampler",
    "resolve_config",
    "resolve_episode_steps",
    "resolve_task",
    "spec_with_episode_steps",
]

#: The longest episode an env accepts (steps): about 11.6 days of 1 s steps.
MAX_EPISODE_STEPS = 1_000_000
#: Memory of one episode step of one env without forecasts (bytes; measured peak resident memory
#: of episodes of 10^3 and 10^6 steps), for the message of a too-long episode.
_BYTES_PER_STEP = 118

#: Episode length (steps of 1 s) when neither ``episode_steps`` nor ``max_episode_steps`` is given.
DEFAULT_EPISODE_STEPS = 200


@dataclass(frozen=True)
class ObservationLayout:
    """Slices of the flat observation (see the table in :class:`EdgeCloudEnv`).

    Attributes:
        n_edge: Edge nodes N (servers S = N + 1).
        window: Steps W of past arrivals.
        horizon: Forecast steps H (0 without a forecaster).
        n_apps: Application classes K.
        capacity: Whether the observation ends with the capacity columns (joint control or
            the autoscaler).
        classes: Whether the class-lever columns come before them (joint control).
    """

    n_edge: int
    window: int
    horizon: int
    n_apps: int
    capacity: bool = False
    classes: bool = False

    @classmethod
    def of(cls, sim: BatchSimulator) -> ObservationLayout:
        """The layout of the observations of ``sim``."""
        return cls(
            sim.n_edge,
            sim.config.obs_window,
            sim.horizon,
            len(sim.config.apps),
            sim.dynamic_capacity,
            sim.control == "joint",
        )

    @property
    def n_servers(self) -> int:
        """Servers S = N + 1 (the cloud last)."""
        return self.n_edge + 1

    def _block(self, i: int) -> slice:
        s = self.n_servers
        return slice(i * s, (i + 1) * s)

    @property
    def inflow(self) -> slice:
        """Inflow per server last step, x capacity."""
        return self._block(0)

    @property
    def backlog(self) -> slice:
        """Backlog per server, x buffer."""
        return self._block(1)

    @property
    def utilisation(self) -> slice:
        """Utilisation per server last step."""
        return self._block(2)

    @property
    def shares(self) -> slice:
        """Current allocation shares."""
        return self._block(3)

    @property
    def arrivals(self) -> slice:
        """Past W steps of per-node arrivals (step-major), x node capacity."""
        start = 4 * self.n_servers
        return slice(start, start + self.window * self.n_edge)

    @property
    def time(self) -> slice:
        """sin and cos of the diurnal phase, episode progress."""
        start = self.arrivals.stop
        return slice(start, start + 3)

    @property
    def forecast(self) -> slice:
        """Forecast per node (node-major) for H steps, x node capacity."""
        start = self.time.stop
        return slice(start, start + self.horizon * self.n_edge)

    def _class_block(self, i: int) -> slice:
        if not self.classes:  # routing control: no such columns
            return slice(self.forecast.stop, self.forecast.stop)
        start = self.forecast.stop + i * self.n_apps
        return slice(start, start + self.n_apps)

    @property
    def shed(self) -> slice:
        """Shed fraction of each application class (joint control)."""
        return self._class_block(0)

    @property
    def cloud_bias(self) -> slice:
        """Cloud bias of each application class, x its maximum (joint control)."""
        return self._class_block(1)

    def _capacity_block(self, i: int) -> slice:
        first = self.cloud_bias.stop
        if not self.capacity:  # fixed capacity: no such columns
            return slice(first, first)
        start = first + i * self.n_servers
        return slice(start, start + self.n_servers)

    @property
    def active(self) -> slice:
        """Active cores per server, x installed cores (joint control or autoscaler)."""
        return self._capacity_block(0)

    @property
    def booting(self) -> slice:
        """Booting cores per server, x installed cores (joint control or autoscaler)."""
        return self._capacity_block(1)

    @property
    def clock(self) -> slice:
        """Clock per server, x nominal clock (joint control or autoscaler)."""
        return self._capacity_block(2)

    @property
    def size(self) -> int:
        """Length D of the observation."""
        return self.clock.stop


def resolve_config(config: EdgeCloudConfig | Mapping[str, Any] | None) -> EdgeCloudConfig:
    """Accept a config object, plain data (validated) or None (defaults)."""
    if config is None:
        return EdgeCloudConfig()
    if isinstance(config, EdgeCloudConfig):
        return config
    return EdgeCloudConfig.from_dict(config)


def resolve_task(task: Task | str | Mapping[str, Any] | None) -> Task:
    """Accept a task object, a preset or scenario name, plain data, or None (MEDIUM)."""
    if task is None:
        return MEDIUM
    if isinstance(task, Task):
        return task
    if isinstance(task, str):
        return get_task(task)
    if isinstance(task, Mapping):
        return Task.from_dict(task)
    raise TypeError(f"task must be a Task, a preset name or a mapping, got {task!r}.")


def resolve_episode_steps(episode_steps: Any, max_episode_steps: Any) -> int:
    """The episode length from the two names a user may give it (steps).

    ``episode_steps`` (the env's argument) and ``max_episode_steps`` (Gymnasium's, from
    ``gym.make`` or ``gym.make_vec``) set the same length: give either, or both if equal;
    neither gives :data:`DEFAULT_EPISODE_STEPS`.
    """
    for name, value in (("episode_steps", episode_steps), ("max_episode_steps", max_episode_steps)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {value!r}.")
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}.")
        if value > MAX_EPISODE_STEPS:
            gib = value * _BYTES_PER_STEP / 2**30
            raise ValueError(
                f"{name}={value:,} exceeds the maximum of {MAX_EPISODE_STEPS:,} steps: the "
                f"simulator draws a whole episode at reset, which would need at least {gib:,.1f} "
                f"GiB per env (about {_BYTES_PER_STEP} bytes per step without forecasts, some "
                "5 kB per step with the LSTM forecaster). Use shorter episodes (a long trace is "
                "replayed across many episodes at random offsets)."
            )
    if None not in (episode_steps, max_episode_steps) and episode_steps != max_episode_steps:
        raise ValueError(
            f"episode_steps={episode_steps} and max_episode_steps={max_episode_steps} "
            "disagree: both set the episode length, so give only one of them."
        )
    for value in (episode_steps, max_episode_steps):
        if value is not None:
            return int(value)
    return DEFAULT_EPISODE_STEPS


def _time_limit_of_make() -> int | None:
    """The ``max_episode_steps`` of the ``gym.make`` call building this env, if it gave one.

    ``gym.make(id, max_episode_steps=n)`` adds a ``TimeLimit`` wrapper but does not hand ``n``
    to the env; the simulator needs the length at construction (it draws whole episodes), so the
    env reads it from the ``make`` call that creates it: the nearest caller frames only (the
    constructor, a factory such as a trace id's, a subclass), never an unrelated outer ``make``.
    """
    frame = inspect.currentframe()
    try:
        for _ in range(5):
            frame = frame.f_back if frame is not None else None
            if frame is None:
                return None
            if frame.f_code is gym.make.__code__:
                value = frame.f_locals.get("max_episode_steps")
                return value if isinstance(value, int) and value > 0 else None
        return None
    finally:
        del frame


def spec_with_episode_steps(spec: EnvSpec | None, episode_steps: int) -> EnvSpec | None:
    """``spec`` with ``max_episode_steps`` and the ``episode_steps`` kwarg set to the env's
    episode length, so that ``env.spec`` reports it and ``gym.make(env.spec)`` rebuilds it."""
    if spec is None:
        return None
    kwargs = {**spec.kwargs, "episode_steps": episode_steps}
    kwargs.pop("max_episode_steps", None)
    return dataclasses.replace(spec, max_episode_steps=episode_steps, kwargs=kwargs)


def check_task_sampler(task_sampler: Any) -> None:
    """Validate the constructor arguments shared by the single and the vector environment."""
    if task_sampler is not None and not callable(task_sampler):
        raise TypeError(f"task_sampler must be callable (rng -> Task), got {task_sampler!r}.")


def allocation_spaces(sim: BatchSimulator) -> tuple[spaces.Space, spaces.Box]:
    """The action space and the observation space of one system of ``sim``."""
    s = sim.n_servers
    if sim.action_mode == "discrete":
        action_space: spaces.Space = spaces.Discrete(sim.n_actions)
    elif sim.action_mode == "continuous":
        action_space = spaces.Box(-1.0, 1.0, shape=(sim.action_dim,), dtype=np.float32)
    else:
        action_space = spaces.Box(0.0, 1.0, shape=(sim.action_dim,), dtype=np.float32)
    low = np.zeros(sim.obs_size, dtype=np.float32)
    trig = 4 * s + sim.config.obs_window * sim.n_edge
    low[trig : trig + 2] = -1.0
    high = np.full(sim.obs_size, np.inf, dtype=np.float32)
    high[2 * s : 4 * s] = 1.0
    high[trig : trig + 3] = 1.0
    if sim.control == "joint":  # shed fractions in [0, 1], cloud biases in [-1, 1]
        k = len(sim.config.apps)
        high[sim.class_column : sim.class_column + 2 * k] = 1.0
        low[sim.class_column + k : sim.class_column + 2 * k] = -1.0
    if sim.dynamic_capacity:  # active, booting and clock fractions
        high[-3 * s :] = 1.0
    return action_space, spaces.Box(low, high, dtype=np.float32)


def check_actions(sim: BatchSimulator, action: Any, num_envs: int | None = None) -> np.ndarray:
    """Validate one action (``num_envs=None``) or a batch of ``num_envs`` actions.

    Returns what :meth:`BatchSimulator.shares_from_action` takes: (B,) int64 indices in discrete
    mode, (B, S) float64 vectors in continuous and weights mode (B = 1 for a single action).
    Raises ``ValueError`` (``TypeError`` for a non-integer discrete batch) naming what was
    expected. Continuous actions need only be finite: the mapping clips them to ``[-1, 1]``.
    """
    if num_envs is not None:
        return _check_action_batch(sim, action, num_envs)
    if sim.action_mode == "discrete":
        if isinstance(action, np.ndarray) and action.size == 1 and action.dtype.kind in "iu":
            action = action.reshape(()).item()
        if (
            isinstance(action, (int, np.integer))
            and not isinstance(action, bool)
            and 0 <= action < sim.n_actions
        ):
            return np.array([int(action)])
        raise ValueError(
            f"action must be an integer in [0, {sim.n_actions}) "
            f"(see env.unwrapped.action_names), got {action!r}."
        )
    s, what = _action_shape(sim)
    try:
        arr = np.asarray(action, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"action must be a numeric array of shape ({s},) ({what}), got {action!r}; convert "
            "it with np.asarray(action, dtype=float)."
        ) from None
    if arr.shape != (s,):
        raise ValueError(f"action must have shape ({s},) ({what}), got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"action must be finite (no NaN or inf), got {arr}.")
    if sim.action_mode == "continuous":
        return arr[None]
    if np.any(arr < 0) or np.any(arr > 1):
        raise ValueError(f"action weights must lie in [0, 1], got {arr}.")
    if arr[: sim.n_servers].sum() <= 0:
        raise ValueError(
            "action weights are all zero: give at least one server a positive routing weight."
        )
    return arr[None]


def _action_shape(sim: BatchSimulator) -> tuple[int, str]:
    """Length of a vector action and what its values are, for messages."""
    if sim.control == "joint":
        bounds = "[0, 1]" if sim.action_mode == "weights" else "[-1, 1]"
        return sim.action_dim, (
            "per edge node and the cloud a routing value, then per server a capacity level, "
            "then per server a DVFS level, then per application class a cloud bias, then per "
            f"class a shed fraction, each in {bounds}"
        )
    return sim.n_servers, "one value per edge node and the cloud"


def _check_action_batch(sim: BatchSimulator, actions: Any, num_envs: int) -> np.ndarray:
    if sim.action_mode == "discrete":
        n = sim.n_actions
        arr = np.asarray(actions)
        if arr.shape != (num_envs,):
            raise ValueError(
                f"actions must have shape ({num_envs},) (one action index per sub-environment), "
                f"got shape {arr.shape}."
            )
        if arr.dtype.kind not in "iu":
            raise TypeError(
                f"actions must be integers in [0, {n}), got dtype {arr.dtype}; pass an integer "
                "array (e.g. actions.astype(np.int64) if they hold whole numbers)."
            )
        bad = (arr < 0) | (arr >= n)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"actions must lie in [0, {n}) (see env.action_names), got {arr[j]} for "
                f"sub-environment {j} ({int(bad.sum())} out of range in all)."
            )
        return arr.astype(np.int64, copy=False)
    s, what = _action_shape(sim)
    try:
        arr = np.asarray(actions, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"actions must be a numeric array of shape ({num_envs}, {s}), got "
            f"{type(actions).__name__} {np.asarray(actions).dtype}; convert it with "
            "np.asarray(actions, dtype=float)."
        ) from exc
    if arr.shape != (num_envs, s):
        raise ValueError(
            f"actions must have shape ({num_envs}, {s}) (per sub-environment {what}), got "
            f"shape {arr.shape}."
        )
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        j = int(np.flatnonzero(~finite)[0])
        raise ValueError(
            f"actions must be finite (no NaN or inf), got {arr[j]} for sub-environment {j}."
        )
    if sim.action_mode == "continuous":
        return arr
    inside = ((arr >= 0) & (arr <= 1)).all(axis=1)
    if not inside.all():
        j = int(np.flatnonzero(~inside)[0])
        raise ValueError(
            f"action weights must lie in [0, 1], got {arr[j]} for sub-environment {j}."
        )
    empty = arr[:, : sim.n_servers].sum(axis=1) <= 0
    if empty.any():
        j = int(np.flatnonzero(empty)[0])
        raise ValueError(
            f"action weights of sub-environment {j} are all zero: give at least one server a "
            "positive weight."
        )
    return arr


class EdgeCloudEnv(gym.Env[np.ndarray, Any]):
    """Workload allocation over N edge nodes and one cloud, with workload forecasts.

    ## Description

    Requests arrive at N edge nodes (default six heterogeneous sites) from a Poisson process
    whose rate follows a workload task: a profile level, a diurnal swing, periodic bursts and
    random flash crowds, per-node popularity and a mix of application classes (AR/VR, video
    analytics, IoT) that differ in data size, compute demand and deadline. Each step (1 s by
    default) the agent sets the *shares* of the arriving workload processed at each of the N + 1
    servers. Routing keeps arrivals local where shares allow, sends surplus over the edge
    backhaul to nodes with spare share and the cloud share over the WAN, both through finite
    egress bandwidth. Servers are fluid queues with finite buffers. The model, its equations and
    every parameter with unit and source are in ``docs/environment.md``.

    ## Action Space

    ``action_mode="discrete"`` (default): ``Discrete(2 S + 2)`` with S = N + 1 servers: hold;
    shift ``share_step`` towards server s; shift up to ``share_step`` away from server s (to the
    others in proportion to capacity); reset to capacity-proportional shares. Names in
    ``env.unwrapped.action_names``.

    ``action_mode="continuous"``: ``Box(-1, 1, (S,), float32)``, every point a valid action
    (what SB3's PPO, A2C, SAC and TD3 expect), mapped onto the simplex by a softmax centred on
    the capacity-proportional shares c: ``x = softmax(ln c + a / T)`` with temperature
    ``T = edgecloud_gym.core.actions.CONTINUOUS_TEMPERATURE = 0.25``. ``a = 0`` is the static
    allocation; one coordinate can raise its server's share relative to another's by up to
    ``e^(2 / T)``; values outside the box are clipped to it.

    ``action_mode="weights"``: ``Box(0, 1, (S,), float32)`` of non-negative weights, normalised
    onto the simplex (``x = w / sum(w)``): exact shares, zeros included (the oracle's mode); an
    all-zero vector is rejected, so prefer ``"continuous"`` for learners that sample actions.

    ## Observation Space

    ``Box(0 or -1, inf, (D,), float32)``, D = 4 S + W N + 3 + H N (H = 0 with
    ``forecaster="none"``):

    | index                   | meaning                                             | unit                  |
    |-------------------------|-----------------------------------------------------|-----------------------|
    | [0, S)                  | inflow routed to each server last step              | x server capacity     |
    | [S, 2S)                 | backlog at each server                              | x server buffer       |
    | [2S, 3S)                | utilisation of each server last step                | fraction [0, 1]       |
    | [3S, 4S)                | current shares                                      | fraction [0, 1]       |
    | [4S, 4S + W N)          | arrivals of the last W steps, step-major, per node  | x node capacity       |
    | 4S + W N, +1            | sin, cos of the diurnal phase                       | [-1, 1]               |
    | 4S + W N + 2            | episode progress k / T                              | [0, 1]                |
    | [4S + W N + 3, D)       | forecast of each node's arrivals, node-major, H steps | x node capacity     |

    ## Rewards

    Minus a weighted sum of named parts (weights in ``EdgeCloudConfig.reward``): mean latency of
    the step's served requests (per 100 ms), SLA-violation rate (late or dropped, per arrival),
    drop rate, and energy as a fraction of all servers' full-power energy for one step. The
    signed parts are ``info["reward_parts"]``; they sum to the reward.

    ## Starting State

    Empty queues, capacity-proportional shares, and a fresh workload realisation drawn from the
    task with the generator seeded by ``reset(seed=...)``.

    ## Episode End

    Never terminated; truncated after the episode length, set by either ``episode_steps=`` or
    Gymnasium's ``gym.make(id, max_episode_steps=...)`` (200 steps if neither is given; both at
    once must agree). ``env.spec.max_episode_steps`` reports it however it was set.

    ## Info

    Every step: ``arrived``, ``processed``, ``dropped``, ``backlog`` (requests, totals over all
    servers; backlog at the end of the step), ``latency_mean_ms``, ``sla_violation_rate``,
    ``drop_rate``, ``utilisation`` (processed over active capacity, all servers),
    ``utilisation_edge``, ``utilisation_cloud``, ``energy_j``, ``backhaul_requests``,
    ``wan_requests``, ``abandoned``, ``utilisation_installed`` (processed over the capacity of
    all installed cores at the nominal clock),
    ``reward_parts`` (dict), ``latency_ms_by_server_class`` and ``served_by_server_class``
    ((S, K) arrays, for latency percentiles), and ``task`` (the task's name).

    ## Arguments

    - ``task``: a :class:`~edgecloud_gym.tasks.Task`, a preset or scenario name, or a mapping.
    - ``config``: an :class:`~edgecloud_gym.config.EdgeCloudConfig` or a mapping of its fields.
    - ``forecaster``: ``"lstm"`` (default: the paper's LSTM with the shipped weights, needs
      torch), ``"naive"``, ``"seasonal"``, ``"ewma"``, ``"oracle"``, ``"none"`` or another
      registered name, or a forecaster object (see ``docs/forecasting.md``).
    - ``action_mode``: ``"discrete"`` (default), ``"continuous"`` or ``"weights"``.
    - ``episode_steps``: episode length (steps); the same as ``gym.make``'s
      ``max_episode_steps``, give either (default 200).
    - ``task_sampler``: optional callable ``rng -> Task`` called at every reset (used by
      ``EdgeCloud-Random-v0``).
    - ``render_mode``: ``None``, ``"ansi"`` (a text table), ``"rgb_array"`` (a (400, 640, 3)
      uint8 frame: shares, utilisation, backlog, arrivals and forecast) or ``"human"`` (that
      frame in a matplotlib window at every step); ``gymnasium.wrappers.RecordVideo`` records
      ``"rgb_array"`` episodes (``pip install 'edgecloud-gym[render]'``).
    - ``control``: ``"routing"`` (default: the shares above) or ``"joint"`` (the shares, each
      server's capacity level and DVFS level, and each class's cloud bias and shed fraction:
      ``Discrete(6 S + 2 + 4 K)`` or a box of ``3 S + 2 K`` values;
      :meth:`~edgecloud_gym.core.simulator.BatchSimulator.decode_action`, ``docs/environment.md``
      section 6). The ``EdgeCloud-Joint-*-v0`` ids are joint.
    - ``autoscaler``: under routing control, the built-in reactive autoscaler sets each
      server's capacity level after every step (default ``None``: on in routing control, as
      in every registered routing id; ``False`` keeps every core always on at the nominal
      clock, model version 1's fixed capacity; joint control has none).

    ## Version History

    - v0: initial release.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": RENDER_MODES, "render_fps": 4}

    def __init__(
        self,
        task: Task | str | Mapping[str, Any] | None = None,
        config: EdgeCloudConfig | Mapping[str, Any] | None = None,
        forecaster: str | Forecaster = "lstm",
        action_mode: str = "discrete",
        episode_steps: int | None = None,
        task_sampler: Any = None,
        render_mode: str | None = None,
        control: str = "routing",
        autoscaler: bool | None = None,
    ) -> None:
        check_render_mode(render_mode)
        steps = resolve_episode_steps(episode_steps, _time_limit_of_make())
        check_task_sampler(task_sampler)
        self.config = resolve_config(config)
        self.task = resolve_task(task)
        self.task_sampler = task_sampler
        self.render_mode = render_mode
        self.sim = BatchSimulator(
            self.config, [self.task], forecaster, action_mode, steps, control, autoscaler
        )
        self.action_names = self.sim.action_names()
        self.action_space, self.observation_space = allocation_spaces(self.sim)
        self._needs_reset = True
        self._last_info: dict[str, Any] = {}
        self._window: HumanWindow | None = None

    # ------------------------------------------------------------------ API

    _spec: EnvSpec | None = None

    @property
    def spec(self) -> EnvSpec | None:  # type: ignore[override]
        """Gymnasium's spec (set by ``gym.make``), ``max_episode_steps`` the episode length."""
        return spec_with_episode_steps(self._spec, self.sim.episode_steps)

    @spec.setter
    def spec(self, value: EnvSpec | None) -> None:
        self._spec = value

    @property
    def layout(self) -> ObservationLayout:
        """Where each block of the observation lies (slices into the flat vector)."""
        return ObservationLayout.of(self.sim)

    def set_task(self, task: Task | str | Mapping[str, Any]) -> None:
        """Use ``task`` from the next reset on (Meta-World's pattern)."""
        task = resolve_task(task)
        task.check_compatible(self.sim.n_edge, len(self.config.apps))
        self.task = task

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode; ``options={"task": ...}`` switches the task first."""
        super().reset(seed=seed)
        if options:
            unknown = set(options) - {"task"}
            if unknown:
                raise ValueError(f"reset options accept only 'task', got {sorted(unknown)}.")
            self.set_task(options["task"])
        if self.task_sampler is not None:
            self.task = resolve_task(self.task_sampler(self.np_random))
        if self.sim.tasks[0] is not self.task:
            self.sim.set_tasks([self.task])
        self.sim.reset([self.np_random])
        self._needs_reset = False
        self._last_info = {"task": self.task.name}
        if self.render_mode == "human":
            self._show()
        return self.sim.observe()[0], {"task": self.task.name}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Advance one step; see the class docstring for the spaces, reward and info."""
        if self._needs_reset:
            raise RuntimeError("call reset() before step() (and after an episode ends).")
        shares, capacity = self.sim.decode_action(check_actions(self.sim, action))
        obs, reward, metrics, res = self.sim.step_observe(shares, capacity)
        values = metrics[0].tolist()
        info: dict[str, Any] = dict(zip(METRIC_KEYS, values, strict=False))
        info["reward_parts"] = dict(zip(REWARD_PARTS, values[len(METRIC_KEYS) :], strict=True))
        info["latency_ms_by_server_class"] = res.latency_ms[0]
        info["served_by_server_class"] = res.served[0]
        info["task"] = self.task.name
        truncated = bool(self.sim.t[0] >= self.sim.episode_steps)
        self._needs_reset = truncated
        self._last_info = info
        if self.render_mode == "human":
            self._show()
        return obs[0], float(reward[0]), False, truncated, info

    def render(self) -> str | np.ndarray | None:
        """``"ansi"``: a table of the state; ``"rgb_array"``: a (400, 640, 3) uint8 frame;
        ``"human"``: the frame in a window (drawn at every step; returns None)."""
        if self.render_mode == "ansi":
            return render_ansi(self)
        if self.render_mode == "rgb_array":
            return render_rgb(self)
        if self.render_mode == "human":
            self._show()
        return None

    def _show(self) -> None:
        if self._window is None:
            self._window = HumanWindow(self.metadata["render_fps"])
        self._window.show(render_rgb(self))

    def close(self) -> None:
        """Close the ``"human"`` window, if one is open."""
        if self._window is not None:
            self._window.close()
            self._window = None
