"""Model-predictive control on the environment's own model (``mpc``).

At every step the planner copies the simulator's state (backlogs, shares, the step), forecasts
each edge node's arrivals for the next ``horizon`` steps, and scores every sequence of
``horizon`` discrete actions by stepping the pure, batched core
(:func:`edgecloud_gym.core.dynamics.step`, no Gymnasium in the loop) on those forecasts, all
sequences as one batch. It takes the first action of the sequence with the highest (discounted)
sum of rewards and plans again at the next step: receding-horizon control with exact search
over the discrete action set (``16 ** horizon`` sequences for six edge nodes: 16, 256, 4,096).

Forecasts come from the package's forecasters, computed once per episode from the episode's
arrivals and causal (``naive``, ``seasonal``, ``ewma``, ``lstm``), or from the truth:
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
from edgecloud_gym.core import dynamics
from edgecloud_gym.core.params import build_params
from edgecloud_gym.envs.allocation import EdgeCloudEnv
from edgecloud_gym.forecasting import make_forecaster

__all__ = ["FORECAST_SOURCES", "MPCAgent"]

#: Forecast sources besides the package's forecasters: the true rates and the realised arrivals.
FORECAST_SOURCES: tuple[str, ...] = ("naive", "seasonal", "ewma", "lstm", "oracle", "clairvoyant")
#: Most action sequences scored at one step (16 ** 3 for six edge nodes).
MAX_SEQUENCES = 4096


class MPCAgent:
    """Receding-horizon planner with exact search over the discrete actions.

    Args:
        env: The allocation env it acts in (wrapped or not), discrete action mode.
        horizon: Steps H planned ahead (1 to 3 for six edge nodes: the sequences grow as 16^H).
        forecaster: Where the planned arrivals come from (:data:`FORECAST_SOURCES`).
        discount: Weight ``discount ** h`` of the reward ``h`` steps ahead.
    """

    name: ClassVar[str] = "mpc"

    def __init__(
        self, env: Any, horizon: int = 1, forecaster: str = "naive", discount: float = 1.0
    ) -> None:
        base = getattr(env, "unwrapped", env)
        if not isinstance(base, EdgeCloudEnv):
            raise TypeError(
                f"mpc plans on an EdgeCloud allocation env (gym.make('EdgeCloud-...')), got "
                f"{type(base).__name__}."
            )
        if base.sim.action_mode != "discrete":
            raise ValueError("mpc searches the discrete actions; make the env with "
                             "action_mode='discrete' (the default).")  # fmt: skip
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
            raise ValueError(f"horizon must be an integer >= 1, got {horizon!r}.")
        n_actions = base.sim.actions.n
        if n_actions**horizon > MAX_SEQUENCES:
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
        grids = np.meshgrid(*[np.arange(n_actions)] * self.horizon, indexing="ij")
        #: (M, H) every action sequence, the first action slowest
        self.sequences = np.stack([g.ravel() for g in grids], axis=1).astype(np.int64)
        self._task: Any = None
        self._params: Any = None
        self._episode: Any = None
        self._forecast: np.ndarray | None = None

    # ------------------------------------------------------------------ protocol

    def learn(self, total_timesteps: int = 0, **kwargs: Any) -> MPCAgent:
        """A planner does not learn: returns the agent unchanged."""
        return self

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> int:
        """The first action of the best plan from the env's current state (``obs`` is checked
        for shape only: the planner reads the state itself)."""
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
        m = len(self.sequences)
        backlog = np.repeat(sim.backlog, m, axis=0)
        shares = np.repeat(sim.shares, m, axis=0)
        total = np.zeros(m)
        for h in range(arrivals.shape[0]):
            shares = sim.actions.apply(shares, self.sequences[:, h])
            res = dynamics.step(params, backlog, shares, np.repeat(arrivals[h][None], m, axis=0))
            total += self.discount**h * res.reward
            backlog = res.backlog
        return int(self.sequences[int(np.argmax(total)), 0])

    def save(self, path: str | Path) -> None:
        """Write the agent file: the planner's settings (it has no weights)."""
        config = {"horizon": self.horizon, "forecaster": self.forecaster,
                  "discount": self.discount}  # fmt: skip
        write_agent_file(path, agent=self.name, family="allocation", config=config)

    @classmethod
    def load(
        cls, path: str | Path | AgentFile, env: Any = None, *, trusted: bool = False
    ) -> MPCAgent:
        """Read a planner written by :meth:`save`; ``env`` (the env it plans on) is required."""
        file = path if isinstance(path, AgentFile) else read_agent_file(path, trusted=trusted)
        if file.agent != cls.name:
            raise AgentFileError(f"{file.path} holds agent {file.agent!r}, not {cls.name!r}.")
        if env is None:
            raise ValueError("MPCAgent.load needs env=: the planner acts on that env's model.")
        return cls(
            env,
            horizon=int(file.require("horizon")),
            forecaster=str(file.require("forecaster")),
            discount=float(file.require("discount")),
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
            self._forecast = fc.forecast(wl, max(self.horizon, 1), scale)[0]  # (T+1, N, H)
            self._episode = wl
        return self._forecast[k, :, :steps].T
