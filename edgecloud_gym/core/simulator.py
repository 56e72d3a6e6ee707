"""The batched simulator: state, observation, reward and metrics over the core dynamics.

:class:`BatchSimulator` holds B independent edge-cloud systems (one task and one random generator
each). The Gymnasium environment is this with B = 1; the vector environment uses it unchanged
with B = num_envs. It has no Gymnasium dependency.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from edgecloud_gym._threads import run_in_chunks, splits
from edgecloud_gym._validation import did_you_mean
from edgecloud_gym.config import Capacity, EdgeCloudConfig
from edgecloud_gym.core._jit import jit
from edgecloud_gym.core.actions import (
    CLASS_BIAS_MAX,
    CLASS_BIAS_STEP,
    SHED_STEP,
    DiscreteActionTable,
    JointControl,
    action_names,
    checked_classes,
    discrete_joint,
    normalise_shares,
    softmax_shares,
)
from edgecloud_gym.core.capacity import (
    CapacityState,
    advance_boot,
    autoscale_capacity,
    bind_autoscaler,
    capacity_columns,
    continuous_levels,
    controlled_params,
    finish_capacity,
    initial_capacity_state,
    prepare_capacity,
    request_capacity,
)
from edgecloud_gym.core.dynamics import (
    METRIC_KEYS,
    MIN_ROWS_PER_THREAD,
    REWARD_PARTS,
    StepResult,
    _kernel,
    kernel_args,
    kernel_rows,
    neutral_classes,
)
from edgecloud_gym.core.dynamics import step as step_dynamics
from edgecloud_gym.core.observation import assemble_into, assemble_observations, class_columns
from edgecloud_gym.core.params import SystemParams, build_params
from edgecloud_gym.core.queue_law import EMPTY
from edgecloud_gym.core.workload import (
    EpisodeWorkload,
    sample_workload,
    sample_workloads,
    stack_workloads,
)
from edgecloud_gym.forecasting import Forecaster, NoForecaster, make_forecaster
from edgecloud_gym.tasks import Task

__all__ = ["METRIC_KEYS", "REWARD_PARTS", "BatchSimulator", "JointControl", "model_step"]

ACTION_MODES = ("discrete", "continuous", "weights")
#: What the agent controls: ``"routing"`` the shares alone, ``"joint"`` the shares, each server's
#: capacity level and its DVFS level, and per class its admission and cloud bias (see
#: :meth:`BatchSimulator.decode_action`).
CONTROL_MODES = ("routing", "joint")
#: Systems per thread below which a reset draws its workloads in one thread (threads cost more).
_MIN_SYSTEMS_PER_THREAD = 32


class BatchSimulator:
    """B edge-cloud systems stepped together.

    Args:
        config: Simulator configuration.
        tasks: One task per system (B = len(tasks)).
        forecaster: Forecaster name or instance.
        action_mode: ``"discrete"``, ``"continuous"`` or ``"weights"`` (see
            :mod:`edgecloud_gym.core.actions`).
        episode_steps: Length of an episode (steps).
        control: ``"routing"`` (the shares; capacity fixed, or managed by the autoscaler) or
            ``"joint"`` (shares, capacity levels and DVFS levels; see :meth:`decode_action`).
        autoscaler: In routing control, let the built-in reactive autoscaler
            (:func:`~edgecloud_gym.core.capacity.autoscale`) set each server's capacity level
            after every step; without it (``False``) every core is always on at the nominal
            clock. Default (``None``): on in routing control, off in joint control (where the
            agent sets the levels).
    """

    def __init__(
        self,
        config: EdgeCloudConfig,
        tasks: Sequence[Task],
        forecaster: str | Forecaster = "naive",
        action_mode: str = "discrete",
        episode_steps: int = 200,
        control: str = "routing",
        autoscaler: bool | None = None,
    ) -> None:
        if action_mode not in ACTION_MODES:
            raise ValueError(
                f"action_mode must be one of {ACTION_MODES}, got {action_mode!r}."
                f"{did_you_mean(str(action_mode), ACTION_MODES)}"
            )
        if control not in CONTROL_MODES:
            raise ValueError(
                f"control must be one of {CONTROL_MODES}, got {control!r}."
                f"{did_you_mean(str(control), CONTROL_MODES)}"
            )
        if autoscaler is None:
            autoscaler = control == "routing"
        if not isinstance(autoscaler, bool):
            raise TypeError(f"autoscaler must be True, False or None, got {autoscaler!r}.")
        if autoscaler and control == "joint":
            raise ValueError(
                'autoscaler=True is for control="routing": in joint control the agent sets the '
                "capacity levels itself."
            )
        self.config = config
        self.action_mode = action_mode
        self.control = control
        self.autoscaler = autoscaler
        self.episode_steps = int(episode_steps)
        self.forecaster = make_forecaster(forecaster)
        self.n_edge = config.topology.n_edge
        self.n_servers = self.n_edge + 1
        self.set_tasks(list(tasks))
        self.actions = DiscreteActionTable.build(self.params.static_shares[0], config.share_step)
        n, s = self.n_edge, self.n_servers
        # Forecast steps per node in the observation: none for the "none" forecaster.
        self.horizon = 0 if isinstance(self.forecaster, NoForecaster) else config.horizon
        #: Whether capacity changes (joint control or the autoscaler): the observation then ends
        #: with each server's active, booting and clock fractions.
        self.dynamic_capacity = control == "joint" or autoscaler
        self.obs_size = 4 * s + config.obs_window * n + 3 + self.horizon * n
        #: First observation column of the per-class levers (joint control: 2 K columns, the
        #: shed fraction and the cloud bias over CLASS_BIAS_MAX of each class), before the 3 S
        #: capacity columns.
        self.class_column = self.obs_size
        if control == "joint":
            self.obs_size += 2 * len(config.apps)
        if self.dynamic_capacity:
            self.obs_size += 3 * s
        b = self.batch_size
        self.capacity: CapacityState = initial_capacity_state(b, s, config.capacity)
        #: (B, 2, K) each class's admitted fraction and cloud bias (joint control's class levers)
        self.classes = neutral_classes(b, len(config.apps)).copy()
        #: the last JointControl that decode_action made (its class levers need no check)
        self._decoded: JointControl | None = None
        self._n_levels = len(config.capacity.levels)
        self._n_clocks = len(config.capacity.frequencies)
        self._n_actions = self.n_joint_actions if control == "joint" else self.actions.n
        #: the params the capacity rows were last derived from and the params view whose
        #: ``srv`` holds the rows (rebuilt when the params change, e.g. on a new task)
        self._controlled: tuple[SystemParams, SystemParams] | None = None
        #: whether the view's rows already hold the current capacity state (the autoscaler
        #: writes them after each step, so the next step need not derive them again)
        self._rows_ready = False
        #: the autoscaler's per-step call, bound to the capacity state and the view's rows
        self._autoscale: Callable[[np.ndarray, np.ndarray | None], None] | None = None
        self.shares = self.params.static_shares.copy()
        self.backlog = np.zeros((b, s))
        # the servers' queue law (mean of Z above the all-busy level, see core.dynamics); a very
        # negative value is an empty server
        self.queue_state = np.full((b, s), EMPTY)
        self.t = np.zeros(b, dtype=np.int64)
        self._endo = np.zeros((b, 4 * s))
        # Exogenous observation columns per episode step, float32 (the observation's type): the
        # time features and the normalised forecasts. The arrival window is read per step.
        self._time = np.zeros((b, self.episode_steps + 1, 3), dtype=np.float32)
        self._forecast = np.zeros((b, self.episode_steps + 1, self.horizon * n), dtype=np.float32)
        self._inv_mu = np.zeros((b, n))
        # The last obs_window steps of arrivals of each system, slot ``a % W`` holding the
        # arrivals at index ``a`` of the episode's workload: read by every observation without
        # touching the (much larger) workload arrays.
        self._window = np.zeros((b, config.obs_window, n))
        self.workload: EpisodeWorkload | None = None

    @property
    def batch_size(self) -> int:
        """Number of systems B."""
        return len(self.tasks)

    def set_tasks(self, tasks: list[Task]) -> None:
        """Replace the tasks (same batch size); takes effect for the dynamics at once and for
        the workload at the next reset of each system."""
        if not tasks or not all(isinstance(t, Task) for t in tasks):
            raise TypeError(f"tasks must be a non-empty list of Task, got {tasks!r}.")
        if hasattr(self, "tasks") and len(tasks) != len(self.tasks):
            raise ValueError(f"expected {len(self.tasks)} tasks, got {len(tasks)}.")
        self.tasks = tasks
        self.params: SystemParams = build_params(self.config, tasks)

    # ------------------------------------------------------------------ reset

    def reset(self, rngs: Sequence[np.random.Generator], indices: np.ndarray | None = None) -> None:
        """Start new episodes for the systems ``indices`` (default all), drawing each one's
        workload from its own generator ``rngs[j]``."""
        idx = np.arange(self.batch_size) if indices is None else np.asarray(indices)
        rows = slice(None) if indices is None else idx  # plain slices avoid gather copies
        cfg = self.config
        edge_mu = self.params.obs_mu[:, : self.n_edge]

        synthetic = all(getattr(self.tasks[i], "trace", None) is None for i in idx)
        if synthetic:  # the draws per system, the rates of all systems in one batch
            fresh = sample_workloads(
                [self.tasks[i] for i in idx],
                edge_mu[idx],
                steps=self.episode_steps,
                warmup=cfg.warmup_steps,
                horizon=cfg.horizon,
                day_steps=cfg.day_steps,
                rngs=rngs,
                map_rows=lambda draw, n: run_in_chunks(
                    draw, n, _MIN_SYSTEMS_PER_THREAD, block=_MIN_SYSTEMS_PER_THREAD
                ),
            )
        else:
            fresh = stack_workloads(
                [
                    sample_workload(
                        self.tasks[i],
                        edge_mu[i],
                        steps=self.episode_steps,
                        warmup=cfg.warmup_steps,
                        horizon=cfg.horizon,
                        day_steps=cfg.day_steps,
                        rng=rngs[j],
                    )
                    for j, i in enumerate(idx)
                ]
            )
        if self.workload is None or indices is None:
            self.workload = fresh
        else:
            for name in ("rates", "arrivals", "phase"):
                getattr(self.workload, name)[idx] = getattr(fresh, name)
        self._exogenous(fresh, edge_mu[idx], rows)
        width, start = self._window.shape[1], cfg.warmup_steps
        history = np.arange(start - width, start)  # the steps before step 0 (warmup >= window)
        window = np.empty((len(idx), width, self.n_edge))
        window[:, history % width] = fresh.arrivals[:, history]
        self._window[rows] = window
        self.shares[rows] = self.params.static_shares[rows]
        self.backlog[rows] = 0.0
        self.queue_state[rows] = EMPTY
        self.t[rows] = 0
        self._endo[rows] = 0.0
        self._endo[rows, 3 * self.n_servers :] = self.shares[rows]
        fresh_capacity = initial_capacity_state(len(idx), self.n_servers, cfg.capacity)
        for now, new in zip(self.capacity, fresh_capacity, strict=True):
            now[rows] = new
        self._rows_ready = False
        self.classes[rows] = neutral_classes(len(idx), len(cfg.apps))

    def _exogenous(
        self, wl: EpisodeWorkload, edge_mu: np.ndarray, rows: slice | np.ndarray
    ) -> None:
        """Store the observation columns that don't depend on actions for every step of the
        fresh episodes ``wl`` of the systems ``rows``; the forecaster runs once for all of them."""
        inv = 1.0 / edge_mu  # (b, N): normalise per node by its service rate
        self._inv_mu[rows] = inv

        def time_features(lo: int, hi: int, out: np.ndarray) -> None:
            _time_features(wl.phase[lo:hi], wl.warmup, out)

        self._fill_rows(self._time, rows, time_features)
        if self.horizon:
            forecast = self.forecaster.forecast(wl, self.config.horizon, edge_mu)

            def forecasts(lo: int, hi: int, out: np.ndarray) -> None:
                _normalised_forecast(forecast[lo:hi], inv[lo:hi], out)

            self._fill_rows(self._forecast, rows, forecasts)

    @staticmethod
    def _fill_rows(
        target: np.ndarray,
        rows: slice | np.ndarray,
        fill: Callable[[int, int, np.ndarray], None],
    ) -> None:
        """Write the rows ``rows`` of ``target`` with ``fill(lo, hi, out)``, which computes the
        fresh systems ``lo..hi-1`` into ``out`` (their rows), in chunks on the thread pool:
        straight into ``target`` for a whole-batch reset, through a buffer for some rows."""
        whole = isinstance(rows, slice)
        n = target.shape[0] if whole else len(rows)
        out = target if whole else np.empty((n, *target.shape[1:]), target.dtype)
        # systems are independent: any split is exact
        run_in_chunks(lambda lo, hi: fill(lo, hi, out[lo:hi]), n, 64, block=64)
        if not whole:
            target[rows] = out

    # ------------------------------------------------------------------ step

    def observe(self) -> np.ndarray:
        """Current observations (B, obs_size), float32."""
        obs = assemble_observations(
            self._endo,
            self._window,
            self._inv_mu,
            self._time,
            self._forecast,
            self.t,
            self.config.warmup_steps,
            self.config.obs_window,
        )
        if self.dynamic_capacity:
            out = np.empty((self.batch_size, self.obs_size), dtype=np.float32)
            out[:, : obs.shape[1]] = obs
            self._lever_columns(out)
            return out
        return obs

    def _lever_columns(self, obs: np.ndarray) -> None:
        """Write the observation columns of the levers: in joint control the 2 K class columns
        (each class's shed fraction, then its cloud bias over ``CLASS_BIAS_MAX``), then the last
        3 S (each server's active and booting cores over its installed cores, its clock over the
        nominal)."""
        if self.control == "joint":
            class_columns(self.classes, self.class_column, CLASS_BIAS_MAX, obs)
        capacity_columns(self.capacity, self.params, self.config.capacity, obs)

    @property
    def n_actions(self) -> int:
        """Discrete actions of the mode (routing moves, plus the capacity moves in joint)."""
        return self._n_actions

    @property
    def action_dim(self) -> int:
        """Length of a continuous or weights action: S, or 3 S + 2 K in joint control."""
        if self.control == "joint":
            return 3 * self.n_servers + 2 * self.n_classes
        return self.n_servers

    @property
    def n_classes(self) -> int:
        """Application classes K."""
        return len(self.config.apps)

    @property
    def n_joint_actions(self) -> int:
        """Discrete actions in joint control: the routing moves, then per server a capacity
        level up and down, per server a DVFS level up and down, per class its cloud bias down
        and up, and per class its shed fraction up and down."""
        return self.actions.n + 4 * self.n_servers + 4 * self.n_classes

    def action_names(self) -> list[str]:
        """Names of the discrete actions of the control mode, in index order: the routing moves
        (:func:`~edgecloud_gym.core.actions.action_names`), then in joint control the moves of
        the other levers."""
        names = list(action_names(self.n_edge))
        if self.control != "joint":
            return names
        servers = [f"edge{i}" for i in range(self.n_edge)] + ["cloud"]
        for lever in ("cores", "clock"):
            for srv in servers:
                names += [f"{lever}-up-{srv}", f"{lever}-down-{srv}"]
        for app in self.config.apps:
            names += [f"edge-first-{app.name}", f"cloud-first-{app.name}"]
        for app in self.config.apps:
            names += [f"shed-more-{app.name}", f"shed-less-{app.name}"]
        return names

    def decode_action(self, action: np.ndarray) -> tuple[np.ndarray, JointControl | None]:
        """New shares (B, S) and, in joint control, the :class:`JointControl` (capacity and DVFS
        levels, per-class admission and cloud bias) of a batch of validated actions (None in
        routing control). ``S`` servers, ``K`` classes, ``B = CLASS_BIAS_MAX``:

        - continuous, ``a`` in ``[-1, 1]^(3 S + 2 K)``: the routing logits of the continuous
          mode (S), each server's capacity level and DVFS level (S each, mapped linearly onto
          the level indices, ``-1`` the lowest and ``1`` the highest, rounded), each class's
          cloud bias ``B a`` (K) and its shed fraction ``max(a, 0)`` (K);
        - weights, ``w`` in ``[0, 1]^(3 S + 2 K)``: S non-negative routing weights (normalised
          to the shares), the levels as fractions of the top index, each class's cloud bias
          ``B (2 w - 1)`` and its shed fraction ``w`` (see :meth:`encode_joint_weights`);
        - discrete: index ``< 2 S + 2`` is a routing move; then per server one capacity level up
          and down, per server one DVFS level up and down, per class its cloud bias down and up
          by ``CLASS_BIAS_STEP`` and per class its shed fraction up and down by ``SHED_STEP``
          (see :meth:`action_names`); the other levers keep their values."""
        if self.control == "routing":
            return self.shares_from_action(action), None
        n_l, n_f = self._n_levels, self._n_clocks
        if self.action_mode == "discrete":
            t = self.actions
            shares, capacity, classes = discrete_joint(
                np.asarray(action, dtype=np.int64),
                (t.lam, t.target, t.away, t.source, t.direction),
                self.shares,
                self.capacity.target,
                self.capacity.frequency,
                self.classes,
                (n_l, n_f),
                (CLASS_BIAS_STEP, CLASS_BIAS_MAX, SHED_STEP),
            )
            self._decoded = JointControl(capacity, classes)
            return shares, self._decoded
        s, k = self.n_servers, self.n_classes
        action = np.ascontiguousarray(action, dtype=np.float64)
        if self.action_mode == "weights":
            shares = normalise_shares(action[:, :s])
            box = 2.0 * action - 1.0  # the continuous mode's values: the same rounding
            shed = action[:, 3 * s + k :]
        else:
            shares = softmax_shares(action[:, :s], self.params.static_shares)
            box = np.clip(action, -1.0, 1.0)
            shed = np.maximum(box[:, 3 * s + k :], 0.0)
        classes = np.stack((1.0 - shed, CLASS_BIAS_MAX * box[:, 3 * s : 3 * s + k]), axis=1)
        self._decoded = JointControl(continuous_levels(box, s, n_l, n_f), classes)
        return shares, self._decoded

    def encode_joint_weights(
        self,
        shares: np.ndarray,
        levels: np.ndarray,
        clocks: np.ndarray,
        cloud_bias: np.ndarray | None = None,
        shed: np.ndarray | None = None,
    ) -> np.ndarray:
        """The joint ``weights`` actions (B, 3 S + 2 K) that :meth:`decode_action` maps to the
        shares (B, S), capacity level indices (B, S), DVFS level indices (B, S), per-class cloud
        biases (B, K, in ``[-CLASS_BIAS_MAX, CLASS_BIAS_MAX]``, default 0) and shed fractions
        (B, K, default 0) given (exactly, up to rounding of the biases)."""
        cap = self.config.capacity
        top_l, top_f = max(len(cap.levels) - 1, 1), max(len(cap.frequencies) - 1, 1)
        shares = np.asarray(shares, float)
        b, k = shares.shape[0], self.n_classes
        bias = np.zeros((b, k)) if cloud_bias is None else np.asarray(cloud_bias, float)
        shed = np.zeros((b, k)) if shed is None else np.asarray(shed, float)
        return np.concatenate(
            [
                shares,
                np.asarray(levels) / top_l,
                np.asarray(clocks) / top_f,
                (bias / CLASS_BIAS_MAX + 1.0) / 2.0,
                shed,
            ],
            axis=1,
        )

    def shares_from_action(self, action: np.ndarray) -> np.ndarray:
        """New shares (B, S) for a batch of actions; the input is assumed validated."""
        if self.action_mode == "discrete":
            return self.actions.apply(self.shares, action)
        if self.action_mode == "continuous":
            return softmax_shares(action, self.params.static_shares)
        return normalise_shares(action)

    def step(
        self, shares: np.ndarray, control: JointControl | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, StepResult]:
        """Apply new shares (B, S) to every system for one step.

        Args:
            shares: (B, S) allocation shares, each row on the simplex.
            control: In joint control, a :class:`JointControl` (what :meth:`decode_action`
                gives), or (B, 2, S) capacity and DVFS level requests alone (the class levers
                keep their values); None keeps every lever as it is (and in routing control is
                the only choice).

        Returns:
            reward (B,), metrics (B, len(METRIC_KEYS) + len(REWARD_PARTS)) with the columns of
            :data:`METRIC_KEYS` then the signed reward parts, and the raw step result.
        """
        return self._advance(shares, None, control)

    def step_observe(
        self, shares: np.ndarray, control: JointControl | np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, StepResult]:
        """:meth:`step`, then :meth:`observe`, in one pass over the batch (the same values).

        Returns:
            observations (B, obs_size) float32 after the step, then what :meth:`step` returns.
        """
        obs = np.empty((self.batch_size, self.obs_size), dtype=np.float32)
        return (obs, *self._advance(shares, obs, control))

    def _advance(
        self,
        shares: np.ndarray,
        obs: np.ndarray | None,
        control: JointControl | np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, StepResult]:
        """One step of every system; with ``obs``, also write the observations after it there.

        Each system's part (its arrivals into the window, the dynamics, the observed state and
        its observation) is done in one pass, in chunks of systems on the thread pool: one
        split per step, and each system's rows are still in cache from one part to the next."""
        if _any_at_least(self.t, self.episode_steps):
            raise RuntimeError(
                f"episode is over after {self.episode_steps} steps; call reset() first "
                "(or pass a larger episode_steps)."
            )
        p, cfg, b = self.params, self.config, self.batch_size
        capacity = control
        if control is not None:
            if self.control != "joint":
                raise ValueError('capacity and class requests need control="joint".')
            if isinstance(control, JointControl):
                capacity = control.capacity
                if control is self._decoded:  # made by decode_action from a checked action
                    self.classes = control.classes
                else:
                    self.classes = checked_classes(control.classes, b, self.n_classes)
                self._decoded = None
        if self.dynamic_capacity:
            if self._controlled is None or self._controlled[0] is not p:
                srv = np.empty_like(p.srv)
                self._controlled = (p, controlled_params(p, self.capacity, cfg.capacity, srv))
                self._rows_ready = False
                if self.autoscaler:  # after each step: new levels, the next step's rows
                    self._autoscale = bind_autoscaler(self.capacity, p, cfg.capacity, srv)
            view = self._controlled[1]
            if self._rows_ready and capacity is None:  # the autoscaler wrote them last step
                p = view
            else:
                p = prepare_capacity(self.capacity, capacity, p, cfg.capacity, view.srv, view)
            self._rows_ready = False
        shares = np.ascontiguousarray(shares, dtype=np.float64)
        arrivals = np.empty((b, self.n_edge))
        classes = self.classes if self.control == "joint" else None
        args, res = kernel_args(p, self.backlog, shares, arrivals, self.queue_state, classes)
        t_next = self.t + 1
        start = cfg.warmup_steps
        own = (self.workload.arrivals, self.t, self._window, self._endo, p.obs_mu, p.obs_buffer,
               self._inv_mu, self._time, self._forecast, t_next,
               _NO_OBS if obs is None else obs)  # fmt: skip
        autoscale = self._autoscale if self.dynamic_capacity and self.autoscaler else None
        if not splits(b, MIN_ROWS_PER_THREAD):  # one pass, unsliced (a single env's step)
            _system_rows(*args, *own, start, cfg.obs_window, obs is not None)
            if autoscale is not None:
                autoscale(res.utilisation, obs)
        else:

            def rows(lo: int, hi: int) -> None:  # systems are independent: any split is exact
                mine = [x[lo:hi] if x is not _NO_OBS else x for x in own]
                _system_rows(
                    *kernel_rows(args, lo, hi), *mine, start, cfg.obs_window, obs is not None
                )
                if autoscale is not None:  # after the step: new levels, the next step's rows
                    autoscale(res.utilisation[lo:hi], None if obs is None else mine[-1], lo, hi)

            run_in_chunks(rows, b, MIN_ROWS_PER_THREAD)
        if self.dynamic_capacity:
            if self.autoscaler:
                self._rows_ready = True
            else:
                finish_capacity(self.capacity, p, cfg.capacity, obs)
                if obs is not None and self.control == "joint":
                    class_columns(self.classes, self.class_column, CLASS_BIAS_MAX, obs)
        self.backlog = res.backlog
        self.queue_state = res.queue_state
        self.shares = shares
        self.t = t_next
        return res.reward, res.metrics, res


def model_step(
    params: SystemParams,
    capacity: Capacity,
    state: CapacityState,
    backlog: np.ndarray,
    shares: np.ndarray,
    arrivals: np.ndarray,
    queue_state: np.ndarray,
    *,
    request: np.ndarray | None = None,
    autoscaler: bool = False,
    rows: np.ndarray | None = None,
) -> StepResult:
    """One step of the model with its capacity, on state the caller holds: what
    :meth:`BatchSimulator.step` does to its own state, for planners that roll the model out on
    copies (``mpc``). ``state`` is updated in place; the other state comes back in the result.

    Args:
        params: The uncontrolled constants of the B systems (:func:`build_params`).
        capacity: The capacity levers' config (``EdgeCloudConfig.capacity``).
        state: The B systems' capacity state (a copy of ``BatchSimulator.capacity``).
        backlog, shares, arrivals, queue_state: As for :func:`edgecloud_gym.core.dynamics.step`.
        request: Joint control: (B, 2, S) capacity and DVFS levels requested before the step
            (:func:`~edgecloud_gym.core.capacity.request_capacity`); None requests nothing.
        autoscaler: Routing control with the built-in autoscaler (the simulator's
            ``autoscaler``): it sets the levels after the step.
        rows: Scratch shaped like ``params.srv`` for the per-server rows of the state (a new
            array by default).
    """
    if request is not None:
        request_capacity(state, request[:, 0], request[:, 1], capacity)
    p = controlled_params(params, state, capacity, rows)
    res = step_dynamics(p, backlog, shares, arrivals, queue_state)
    if autoscaler:
        autoscale_capacity(state, res.utilisation, params, capacity, None)
    else:
        advance_boot(state)
    return res


@jit
def _any_at_least(t, limit):  # pragma: no cover - compiled
    """Whether any ``t[b] >= limit`` (a compiled loop: numpy's reduction costs microseconds)."""
    for v in t:  # noqa: SIM110 - a loop compiles, a generator in any() does not
        if v >= limit:
            return True
    return False


#: The observation argument of :func:`_system_rows` when there is none to write.
_NO_OBS = np.empty((0, 0), dtype=np.float32)


@jit
def _system_rows(
    arrivals, shares, backlog, qstate, srv, egress, hop_ms, mix, base_ms, remote_ms, service_ms,
    deadline_ms, scal, consts, erl, classes, work, srv_out, latency, served, late, law,
    link_lost, metrics, reward,  # the step kernel's (dynamics.kernel_args)
    all_arrivals, t, window, endo, obs_mu, obs_buffer, inv_mu, time_feat, forecast, t_next, obs,
    start, obs_window, write_obs,
):  # pragma: no cover - compiled  # fmt: skip
    """The step of a batch of systems in one compiled call: each system's arrivals of the step
    (into its window), the dynamics, its observed state and, with ``write_obs``, its
    observation after the step. One call instead of four: a call into compiled code costs
    about 0.1 us per array argument."""
    _arrivals_at(all_arrivals, start, t, arrivals, window)
    _kernel(
        arrivals, shares, backlog, qstate, srv, egress, hop_ms, mix, base_ms, remote_ms,
        service_ms, deadline_ms, scal, consts, erl, classes, work, srv_out, latency, served,
        late, law, link_lost, metrics, reward,
    )  # fmt: skip
    _observed_state(endo, srv_out[:, 1], srv_out[:, 0], srv_out[:, 4], obs_mu, obs_buffer, shares)
    if write_obs:
        assemble_into(endo, window, inv_mu, time_feat, forecast, t_next, start, obs_window, obs)


@jit
def _arrivals_at(arrivals, start, t, out, window):  # pragma: no cover - compiled
    """``out[b] = arrivals[b, start + t[b]]``, each system's arrivals of its current step, which
    also enter the system's window of recent arrivals (slot ``(start + t[b]) % W``)."""
    n_batch, n = out.shape
    width = window.shape[1]
    for b in range(n_batch):
        k = start + t[b]
        slot = k % width
        for i in range(n):
            out[b, i] = arrivals[b, k, i]
            window[b, slot, i] = arrivals[b, k, i]


@jit
def _observed_state(
    endo, inflow, backlog, utilisation, obs_mu, obs_buffer, shares
):  # pragma: no cover
    """The action-dependent observation columns: inflow over nominal service rate, backlog over
    nominal buffer, utilisation, shares (one compiled pass instead of four array operations)."""
    n_batch, s_all = shares.shape
    for b in range(n_batch):
        for s in range(s_all):
            endo[b, s] = inflow[b, s] / obs_mu[b, s]
            endo[b, s_all + s] = backlog[b, s] / obs_buffer[b, s]
            endo[b, 2 * s_all + s] = utilisation[b, s]
            endo[b, 3 * s_all + s] = shares[b, s]


@jit
def _time_features(phase, start, out):  # pragma: no cover - compiled
    """``out[b, k]``: sin and cos of ``2 pi phase[b, start + k]`` and the progress ``k / T``
    of every step ``k = 0..T`` of the episode, rounded to float32 once."""
    n_batch, n_k = out.shape[0], out.shape[1]
    steps = n_k - 1
    for b in range(n_batch):
        for k in range(n_k):
            angle = 2 * np.pi * phase[b, start + k]
            out[b, k, 0] = math.sin(angle)
            out[b, k, 1] = math.cos(angle)
            out[b, k, 2] = k / steps


@jit
def _normalised_forecast(forecast, inv_mu, out):  # pragma: no cover - compiled
    """``out[b, k, i H + h] = forecast[b, k, i, h] * inv_mu[b, i]``, rounded to float32 once."""
    n_batch, n_k, n, horizon = forecast.shape
    for b in range(n_batch):
        for k in range(n_k):
            for i in range(n):
                for h in range(horizon):
                    out[b, k, i * horizon + h] = forecast[b, k, i, h] * inv_mu[b, i]
