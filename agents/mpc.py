"""Model-predictive control on the environment's own model (``mpc``).

At every step the planner copies the simulator's state (backlogs, shares, the step), forecasts
each edge node's arrivals for the next ``horizon`` steps, and scores every sequence of
``horizon`` discrete actions by stepping the pure, batched core
(:func:`edgecloud_gym.core.simulator.model_step`, no Gymnasium in the loop) on those forecasts, all
sequences as one batch. It takes the first action of the sequence with the highest (discounted)
sum of rewards and plans again at the next step: receding-horizon control. In the discrete
action mode the search is exact over the action set (``16 ** horizon`` sequences for six edge
nodes: 16, 256, 4,096); in the ``weights`` mode (the shares themselves) it is the cross-entropy
method over the shares of the ``horizon`` steps (softmax of Gaussian logits; ``samples``
candidates a round, the best ``elite`` fraction refitting the Gaussian for ``iterations``
rounds, started from the current shares; the current and the static shares are candidates too,
so a plan is never worse on the model than keeping either), seeded by ``seed``.

In joint control (``control="joint"``, e.g. ``EdgeCloud-Joint-*-v0``; ``weights`` action mode
only) the plan also sets each server's capacity level and DVFS level. Every candidate is rolled
out on copies of the env's state, its capacity state included, through the same sequence as the
env's step (:func:`~edgecloud_gym.core.simulator.model_step`: the level requests, the core
step, the boot countdown); so the boot delay, the boot energy and the
clock's effect on service times and power are in the plan. The cross-entropy method then samples,
besides the Gaussian logits of the shares, one capacity level and one DVFS level per server from
per-server categorical distributions (started at half the mass on the current level, the rest
spread evenly; refit to the elite's frequencies, smoothed: 0.7 new, 0.3 old). A candidate holds
its levels over the whole horizon: one request now, kept (a simplification: the plan cannot
switch cores off now and on again later, but the next step plans again). Its fixed candidates
are the current, static and local shares each with "keep the current levels" (the levels being
booted to and the current clocks) and with "every server at the top level, nominal clock", and
the previous step's best plan one step on (receding-horizon warm start: its shares shifted by a
step, its levels and clocks; the current shares and levels at an episode's first step), so a
plan is never worse on the model than any of these seven. The warm start also seeds the search:
the previous step's final logits, shifted, and level and clock distributions half from the
previous plan's levels.

Forecasts come from the package's forecasters, computed once per episode from the episode's
arrivals and causal (``naive``, ``seasonal``, ``ewma``, ``lstm``, ``lstm-joint``; beyond the steps a forecaster
was trained for, the LSTM's 5, its last forecast step is held), or from the truth:
``oracle`` plans on the true arrival *rates*, ``clairvoyant`` on the realised arrivals (the
primal reference an upper bound is measured against). Planning on a forecast is certainty
equivalence: the arrivals of a step are taken to be their forecast.

The planner reads the live environment it acts in (its simulator's state and its episode's
arrivals for the forecasts), so ``predict`` must be called on the observation of that env's
current step, one env at a time, as the harness's evaluation does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from edgecloud_agents._io import AgentFile, AgentFileError, read_agent_file, write_agent_file
from edgecloud_gym.core.capacity import CapacityState
from edgecloud_gym.core.params import build_params
from edgecloud_gym.core.simulator import model_step
from edgecloud_gym.envs.allocation import EdgeCloudEnv
from edgecloud_gym.forecasting import make_forecaster

__all__ = ["FORECAST_SOURCES", "ClairvoyantMPC", "MPCAgent"]

#: Forecast sources besides the package's forecasters: the true rates and the realised arrivals.
FORECAST_SOURCES: tuple[str, ...] = (
    "naive",
    "seasonal",
    "ewma",
    "lstm",
    "lstm-joint",
    "oracle",
    "clairvoyant",
)
#: Most action sequences scored at one step (16 ** 3 for six edge nodes).
MAX_SEQUENCES = 4096
#: Joint control: weight of the elite's level frequencies when the categoricals are refit.
_LEVEL_SMOOTHING = 0.7


class MPCAgent:
    """Receding-horizon planner with exact search over the discrete actions.

    Args:
        env: The allocation env it acts in (wrapped or not), in the ``discrete`` or the
            ``weights`` action mode; in joint control (``control="joint"``) the ``weights``
            mode only.
        horizon: Steps H planned ahead (discrete: 1 to 3 for six edge nodes, the sequences grow
            as 16^H).
        forecaster: Where the planned arrivals come from (:data:`FORECAST_SOURCES`).
        discount: Weight ``discount ** h`` of the reward ``h`` steps ahead.
        samples: The cross-entropy method's candidates per round (``weights`` mode only).
        iterations: Its rounds.
        elite: The fraction of a round's candidates that refits the Gaussian.
        seed: Seed of its candidates.
    """

    name: ClassVar[str] = "mpc"

    def __init__(
        self,
        env: Any,
        horizon: int = 1,
        forecaster: str = "naive",
        discount: float = 1.0,
        samples: int = 128,
        iterations: int = 8,
        elite: float = 0.125,
        seed: int = 0,
    ) -> None:
        base = getattr(env, "unwrapped", env)
        if not isinstance(base, EdgeCloudEnv):
            raise TypeError(
                f"mpc plans on an EdgeCloud allocation env (gym.make('EdgeCloud-...')), got "
                f"{type(base).__name__}."
            )
        if base.sim.control == "joint" and base.sim.action_mode != "weights":
            raise ValueError(
                "mpc in joint control plans the shares and the capacity and DVFS levels "
                f"together, as weights; the env has action_mode={base.sim.action_mode!r}: make "
                "it with action_mode='weights' (make_env_for('mpc', env_id) does for the "
                "joint ids)."
            )
        if base.sim.action_mode not in ("discrete", "weights"):
            raise ValueError(
                "mpc plans over the discrete actions or the shares themselves; make the env "
                "with action_mode='discrete' (the default) or 'weights'."
            )
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
            raise ValueError(f"horizon must be an integer >= 1, got {horizon!r}.")
        self.continuous = base.sim.action_mode == "weights"
        #: Whether it also plans the capacity and DVFS levels (joint control).
        self.joint = base.sim.control == "joint"
        for name, value, low in (("samples", samples, 4), ("iterations", iterations, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
        if not 0.0 < float(elite) <= 0.5:
            raise ValueError(f"elite must be in (0, 0.5], got {elite!r}.")
        n_actions = base.sim.actions.n
        if not self.continuous and n_actions**horizon > MAX_SEQUENCES:
            raise ValueError(
                f"horizon {horizon} means {n_actions}^{horizon} = {n_actions**horizon} action "
                f"sequences per step; at most {MAX_SEQUENCES} are searched: use horizon <= "
                f"{int(np.floor(np.log(MAX_SEQUENCES) / np.log(n_actions)))}."
            )
        if forecaster not in FORECAST_SOURCES:
            raise ValueError(f"forecaster must be one of {FORECAST_SOURCES}, got {forecaster!r}.")
        if not 0.0 < float(discount) <= 1.0:
            raise ValueError(f"discount must be in (0, 1], got {discount!r}.")
        self.env = base
        self.horizon = int(horizon)
        self.forecaster = forecaster
        self.discount = float(discount)
        self.samples, self.iterations, self.elite = int(samples), int(iterations), float(elite)
        self.seed = int(seed)
        self.spread = 0.5  # initial standard deviation of the logits
        self.rng = np.random.default_rng(self.seed)
        if self.joint:  # the samples, those shares with "keep" and with "all top levels", and
            # the previous step's plan
            self.sequences = np.zeros((self.samples + 7, self.horizon), dtype=np.int64)
        elif self.continuous:  # candidates: the samples, the current, static and local shares
            self.sequences = np.zeros((self.samples + 3, self.horizon), dtype=np.int64)
        else:
            grids = np.meshgrid(*[np.arange(n_actions)] * self.horizon, indexing="ij")
            #: (M, H) every action sequence, the first action slowest
            self.sequences = np.stack([g.ravel() for g in grids], axis=1).astype(np.int64)
        self._task: Any = None
        self._params: Any = None
        self._episode: Any = None
        self._forecast: np.ndarray | None = None
        #: Joint control: the model value of the last plan and of each fixed candidate
        #: (``"<shares>/<levels>"``, shares ``current``, ``static``, ``local``, levels ``keep``,
        #: ``top``), from the last :meth:`predict`.
        self.plan_value: float = float("nan")
        self.fixed_values: dict[str, float] = {}

    # ------------------------------------------------------------------ protocol

    def learn(self, total_timesteps: int = 0, **kwargs: Any) -> MPCAgent:
        """A planner does not learn: returns the agent unchanged."""
        return self

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> Any:
        """The first action of the best plan from the env's current state (``obs`` is checked
        for shape only: the planner reads the state itself): an action index in the discrete
        mode, the shares (S,) as weights in the ``weights`` mode; in joint control the weights
        action (3 S,) of the shares and the levels (``sim.encode_joint_weights``)."""
        sim = self.env.sim
        obs = np.asarray(obs)
        if obs.shape != (sim.obs_size,):
            raise ValueError(
                f"mpc plans one env at a time: observation must have shape ({sim.obs_size},), "
                f"got {obs.shape}."
            )
        if sim.workload is None:
            raise RuntimeError("mpc: reset the env before asking for an action.")
        arrivals = self._arrivals_ahead()  # (H, N)
        params = self._batch_params()
        if self.joint:
            return self._joint_cross_entropy(params, arrivals)
        if self.continuous:
            return self._cross_entropy(params, arrivals)
        m = len(self.sequences)
        shares = np.repeat(sim.shares, m, axis=0)
        plans = np.empty((m, arrivals.shape[0], sim.n_servers))
        for h in range(arrivals.shape[0]):
            shares = sim.actions.apply(shares, self.sequences[:, h])
            plans[:, h] = shares
        total = self._rollout(params, arrivals, plans)
        return int(self.sequences[int(np.argmax(total)), 0])

    def _rollout(
        self,
        params: Any,
        arrivals: np.ndarray,
        shares: np.ndarray,
        levels: np.ndarray | None = None,
        clocks: np.ndarray | None = None,
    ) -> np.ndarray:
        """Discounted return on the model of each plan from the env's current state, its
        capacity state included: the shares ``shares`` (M, H', S) and, in joint control, the
        capacity levels ``levels`` and DVFS levels ``clocks`` (M, S) requested at every planned
        step (held); in routing control the env's autoscaler (if it has one) sets the levels,
        as in the env (:func:`~edgecloud_gym.core.simulator.model_step`)."""
        sim, m = self.env.sim, shares.shape[0]
        state = CapacityState(*(np.repeat(x, m, axis=0) for x in sim.capacity))
        request = None if levels is None else np.stack([levels, clocks], axis=1)
        backlog = np.repeat(sim.backlog, m, axis=0)
        queue = np.repeat(sim.queue_state, m, axis=0)
        rows = np.empty_like(params.srv)
        total = np.zeros(m)
        for h in range(arrivals.shape[0]):
            x = np.ascontiguousarray(shares[:, h])
            a = np.repeat(arrivals[h][None], m, axis=0)
            res = model_step(
                params, sim.config.capacity, state, backlog, x, a, queue,
                request=request, autoscaler=sim.autoscaler, rows=rows,
            )  # fmt: skip
            total += self.discount**h * res.reward
            backlog, queue = res.backlog, res.queue_state
        return total

    def _cross_entropy(self, params: Any, arrivals: np.ndarray) -> np.ndarray:
        """The cross-entropy method over the shares of the next H' steps (weights mode)."""
        sim = self.env.sim
        steps, s = arrivals.shape[0], sim.n_servers
        current, static = sim.shares[0], sim.params.static_shares[0]
        mean = np.broadcast_to(np.log(np.maximum(current, 1e-6)), (steps, s)).copy()
        std = np.full((steps, s), self.spread)
        keep = max(2, round(self.elite * self.samples))
        ahead = arrivals[0]
        local = np.append(ahead / ahead.sum(), 0.0) if ahead.sum() > 0 else static
        fixed = np.stack([np.broadcast_to(x, (steps, s)) for x in (current, static, local)])
        best_plan, best_value = fixed[0], -np.inf
        for _ in range(self.iterations):
            logits = mean + std * self.rng.standard_normal((self.samples, steps, s))
            plans = np.exp(logits - logits.max(axis=2, keepdims=True))
            plans /= plans.sum(axis=2, keepdims=True)
            plans = np.concatenate([plans, fixed])
            values = self._rollout(params, arrivals, plans)
            top = int(np.argmax(values))
            if values[top] > best_value:
                best_value, best_plan = float(values[top]), plans[top]
            elite = np.argsort(values[: self.samples])[-keep:]
            mean = logits[elite].mean(axis=0)
            std = logits[elite].std(axis=0) + 0.05
        first = best_plan[0]
        return (first / first.max()).astype(np.float32)

    def _warm_start(
        self, steps: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """The previous step's final logits' mean and best plan, shifted one step on (the last
        step repeated), when the previous call planned the step just before this one of the same
        episode; else None."""
        sim = self.env.sim
        last = getattr(self, "_last_plan", None)
        if last is None or last[0] != int(sim.t[0]) - 1 or last[1] is not sim.workload:
            return None
        _, _, mean, (plan, levels, clocks) = last

        def shift(x: np.ndarray) -> np.ndarray:
            out = np.concatenate([x[1:], x[-1:]])[:steps]
            return np.concatenate([out, np.repeat(out[-1:], steps - len(out), axis=0)])

        return shift(mean), shift(plan), levels.copy(), clocks.copy()

    def _joint_cross_entropy(self, params: Any, arrivals: np.ndarray) -> np.ndarray:
        """The cross-entropy method over the shares of the next H' steps and one capacity level
        and DVFS level per server (joint control; see the module docstring)."""
        sim, rng = self.env.sim, self.rng
        steps, s = arrivals.shape[0], sim.n_servers
        cap = sim.config.capacity
        n_l, n_f = len(cap.levels), len(cap.frequencies)
        current, static = sim.shares[0], sim.params.static_shares[0]
        ahead = arrivals[0]
        local = np.append(ahead / ahead.sum(), 0.0) if ahead.sum() > 0 else static
        keep_l, keep_f = sim.capacity.target[0].copy(), sim.capacity.frequency[0].copy()
        top_l, top_f = np.full(s, n_l - 1), np.full(s, n_f - 1)
        names, f_shares, f_levels, f_clocks = [], [], [], []
        for lv_name, lv, fq in (("keep", keep_l, keep_f), ("top", top_l, top_f)):
            for sh_name, sh in (("current", current), ("static", static), ("local", local)):
                names.append(f"{sh_name}/{lv_name}")
                f_shares.append(np.broadcast_to(sh, (steps, s)))
                f_levels.append(lv)
                f_clocks.append(fq)
        mean = np.broadcast_to(np.log(np.maximum(current, 1e-6)), (steps, s)).copy()
        std = np.full((steps, s), self.spread)
        p_level = _start_distribution(keep_l, n_l)
        p_clock = _start_distribution(keep_f, n_f)
        warm = self._warm_start(steps)
        if warm is not None:  # receding horizon: the last step's plan, one step on
            w_mean, w_plan, w_levels, w_clocks = warm
            mean = w_mean
            p_level = 0.5 * p_level + 0.5 * _start_distribution(w_levels, n_l)
            p_clock = 0.5 * p_clock + 0.5 * _start_distribution(w_clocks, n_f)
        else:  # no plan to go on from (an episode's first step): current shares, keep levels
            w_plan, w_levels, w_clocks = f_shares[0], f_levels[0], f_clocks[0]
        names.append("previous plan")
        f_shares.append(w_plan)
        f_levels.append(w_levels)
        f_clocks.append(w_clocks)
        fixed_shares = np.stack(f_shares)
        fixed_levels, fixed_clocks = np.stack(f_levels), np.stack(f_clocks)
        keep = max(2, round(self.elite * self.samples))
        best_value = -np.inf
        best = (fixed_shares[0], fixed_levels[0], fixed_clocks[0])
        for it in range(self.iterations):
            logits = mean + std * rng.standard_normal((self.samples, steps, s))
            plans = np.exp(logits - logits.max(axis=2, keepdims=True))
            plans /= plans.sum(axis=2, keepdims=True)
            levels = _sample_categorical(p_level, self.samples, rng)
            clocks = _sample_categorical(p_clock, self.samples, rng)
            all_plans = np.concatenate([plans, fixed_shares])
            all_levels = np.concatenate([levels, fixed_levels])
            all_clocks = np.concatenate([clocks, fixed_clocks])
            values = self._rollout(params, arrivals, all_plans, all_levels, all_clocks)
            if it == 0:
                self.fixed_values = {
                    n: float(v) for n, v in zip(names, values[self.samples :], strict=True)
                }
            top = int(np.argmax(values))
            if values[top] > best_value:
                best_value = float(values[top])
                best = (all_plans[top], all_levels[top], all_clocks[top])
            elite = np.argsort(values[: self.samples])[-keep:]
            mean = logits[elite].mean(axis=0)
            std = logits[elite].std(axis=0) + 0.05
            p_level = _refit(p_level, levels[elite])
            p_clock = _refit(p_clock, clocks[elite])
        self.plan_value = best_value
        self._last_plan = (int(sim.t[0]), sim.workload, mean, best)
        first = best[0][0]
        action = sim.encode_joint_weights(
            (first / first.max())[None], best[1][None], best[2][None]
        )[0]
        return action.astype(np.float32)

    def save(self, path: str | Path) -> None:
        """Write the agent file: the planner's settings (it has no weights)."""
        config = {"horizon": self.horizon, "forecaster": self.forecaster,
                  "discount": self.discount, "samples": self.samples,
                  "iterations": self.iterations, "elite": self.elite,
                  "seed": self.seed}  # fmt: skip
        write_agent_file(path, agent=self.name, family="allocation", config=config)

    @classmethod
    def load(
        cls, path: str | Path | AgentFile, env: Any = None, *, trusted: bool = False
    ) -> MPCAgent:
        """Read a planner written by :meth:`save`; ``env`` (the env it plans on) is required."""
        file = read_agent_file(path, trusted=trusted)
        if file.agent != cls.name:
            raise AgentFileError(f"{file.path} holds agent {file.agent!r}, not {cls.name!r}.")
        if env is None:
            raise ValueError("MPCAgent.load needs env=: the planner acts on that env's model.")
        return cls(
            env,
            horizon=int(file.require("horizon")),
            forecaster=str(file.require("forecaster")),
            discount=float(file.require("discount")),
            samples=int(file.require("samples")),
            iterations=int(file.require("iterations")),
            elite=float(file.require("elite")),
            seed=int(file.require("seed")),
        )

    # ------------------------------------------------------------------ internals

    def _batch_params(self) -> Any:
        """The env's constants replicated for every action sequence (rebuilt on a new task)."""
        task = self.env.sim.tasks[0]
        if task is not self._task:
            self._params = build_params(self.env.config, [task] * len(self.sequences))
            self._task = task
        return self._params

    def _arrivals_ahead(self) -> np.ndarray:
        """(H', N) planned arrivals of the next steps (H' <= H at the episode's end)."""
        sim = self.env.sim
        wl, k = sim.workload, int(sim.t[0])
        steps = min(self.horizon, sim.episode_steps - k)
        first = wl.warmup + k
        if self.forecaster == "clairvoyant":
            return wl.arrivals[0, first : first + steps]
        if self.forecaster == "oracle":
            return wl.rates[0, first : first + steps]
        if self._episode is not wl:  # a new episode: its forecasts, once, causal
            scale = sim.params.obs_mu[:, : sim.n_edge]
            fc = make_forecaster(self.forecaster)
            reach = getattr(fc, "architecture", {}).get("horizon", self.horizon)
            ahead = fc.forecast(wl, max(min(self.horizon, reach), 1), scale)[0]  # (T+1, N, H)
            if ahead.shape[2] < self.horizon:  # beyond the forecaster's reach: hold its last
                extra = np.repeat(ahead[:, :, -1:], self.horizon - ahead.shape[2], axis=2)
                ahead = np.concatenate([ahead, extra], axis=2)
            self._forecast = ahead
            self._episode = wl
        return self._forecast[k, :, :steps].T


class ClairvoyantMPC(MPCAgent):
    """:class:`MPCAgent` planning on the realised arrivals (``mpc-clairvoyant``): the clairvoyant
    primal reference of the suites' reports, one step ahead by default. It sees the future, so it
    is no causal baseline; its return is what a planner on the env's own model reaches with
    perfect foresight over ``horizon`` steps (a reference, not a bound)."""

    name: ClassVar[str] = "mpc-clairvoyant"

    def __init__(self, env: Any, horizon: int = 1, forecaster: str = "clairvoyant", **kwargs: Any):
        if forecaster != "clairvoyant":
            raise ValueError(
                f"mpc-clairvoyant plans on the realised arrivals (forecaster 'clairvoyant'), got "
                f"{forecaster!r}; use agent 'mpc' with forecaster={forecaster!r}."
            )
        super().__init__(env, horizon=horizon, forecaster=forecaster, **kwargs)


def _start_distribution(current: np.ndarray, n: int) -> np.ndarray:
    """(S, n) categoricals over n levels: half the mass on each server's ``current`` level, the
    other half spread evenly over all n."""
    p = np.full((len(current), n), 0.5 / n)
    p[np.arange(len(current)), current] += 0.5
    return p


def _sample_categorical(p: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """(m, S) draws, one per server, from the categoricals ``p`` (S, n)."""
    cdf = np.cumsum(p, axis=1)
    u = rng.random((m, p.shape[0], 1)) * cdf[None, :, -1:]
    return np.minimum((u >= cdf[None]).sum(axis=2), p.shape[1] - 1).astype(np.int64)


def _refit(p: np.ndarray, elite: np.ndarray) -> np.ndarray:
    """The categoricals ``p`` (S, n) moved towards the levels' frequencies in ``elite`` (E, S)."""
    s, n = p.shape
    freq = np.zeros((s, n))
    np.add.at(freq, (np.broadcast_to(np.arange(s), elite.shape), elite), 1.0)
    freq /= elite.shape[0]
    return _LEVEL_SMOOTHING * freq + (1.0 - _LEVEL_SMOOTHING) * p
