"""The batched simulator: state, observation, reward and metrics over the core dynamics.

:class:`BatchSimulator` holds B independent edge-cloud systems (one task and one random generator
each). The Gymnasium environment is this with B = 1; the vector environment uses it unchanged
with B = num_envs. It has no Gymnasium dependency.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgecloud_gym._validation import did_you_mean
from edgecloud_gym.config import EdgeCloudConfig
from edgecloud_gym.core.actions import DiscreteActionTable, normalise_shares
from edgecloud_gym.core.dynamics import StepResult, step
from edgecloud_gym.core.params import SystemParams, build_params
from edgecloud_gym.core.workload import EpisodeWorkload, sample_workload
from edgecloud_gym.forecasting import Forecaster, NoForecaster, make_forecaster
from edgecloud_gym.tasks import Task

__all__ = ["METRIC_KEYS", "REWARD_PARTS", "BatchSimulator"]

#: Names of the reward parts, in the order of ``RewardWeights``.
REWARD_PARTS: tuple[str, ...] = ("latency", "sla", "drops", "energy")

#: Per-step metrics, each a total over all servers for the step (see docs/environment.md).
METRIC_KEYS: tuple[str, ...] = (
    "arrived",
    "processed",
    "dropped",
    "backlog",
    "latency_mean_ms",
    "sla_violation_rate",
    "drop_rate",
    "utilisation",
    "utilisation_edge",
    "utilisation_cloud",
    "energy_j",
    "backhaul_requests",
    "wan_requests",
)

ACTION_MODES = ("discrete", "continuous")


class BatchSimulator:
    """B edge-cloud systems stepped together.

    Args:
        config: Simulator configuration.
        tasks: One task per system (B = len(tasks)).
        forecaster: Forecaster name or instance.
        action_mode: ``"discrete"`` or ``"continuous"``.
        episode_steps: Length of an episode (steps).
    """

    def __init__(
        self,
        config: EdgeCloudConfig,
        tasks: Sequence[Task],
        forecaster: str | Forecaster = "naive",
        action_mode: str = "discrete",
        episode_steps: int = 200,
    ) -> None:
        if action_mode not in ACTION_MODES:
            raise ValueError(
                f"action_mode must be one of {ACTION_MODES}, got {action_mode!r}."
                f"{did_you_mean(str(action_mode), ACTION_MODES)}"
            )
        self.config = config
        self.action_mode = action_mode
        self.episode_steps = int(episode_steps)
        self.forecaster = make_forecaster(forecaster)
        self.n_edge = config.topology.n_edge
        self.n_servers = self.n_edge + 1
        self.set_tasks(list(tasks))
        self.actions = DiscreteActionTable.build(self.params.static_shares[0], config.share_step)
        n, s = self.n_edge, self.n_servers
        # Forecast steps per node in the observation: none for the "none" forecaster.
        self.horizon = 0 if isinstance(self.forecaster, NoForecaster) else config.horizon
        self.obs_size = 4 * s + config.obs_window * n + 3 + self.horizon * n
        b = self.batch_size
        self.shares = self.params.static_shares.copy()
        self.backlog = np.zeros((b, s))
        self.t = np.zeros(b, dtype=np.int64)
        self._endo = np.zeros((b, 4 * s))
        self._exo = np.zeros((b, self.episode_steps + 1, self.obs_size - 4 * s))
        self.workload: EpisodeWorkload | None = None
        self._rows = np.arange(b)

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
        cfg = self.config
        edge_mu = self.params.obs_mu[:, : self.n_edge]
        parts = [
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
        fresh = EpisodeWorkload(
            rates=np.concatenate([p.rates for p in parts]),
            arrivals=np.concatenate([p.arrivals for p in parts]),
            phase=np.concatenate([p.phase for p in parts]),
            warmup=cfg.warmup_steps,
            steps=self.episode_steps,
        )
        if self.workload is None or indices is None:
            self.workload = fresh
        else:
            for name in ("rates", "arrivals", "phase"):
                getattr(self.workload, name)[idx] = getattr(fresh, name)
        self._exo[idx] = self._exogenous(fresh, edge_mu[idx])
        self.shares[idx] = self.params.static_shares[idx]
        self.backlog[idx] = 0.0
        self.t[idx] = 0
        self._endo[idx] = 0.0
        self._endo[idx, 3 * self.n_servers :] = self.shares[idx]

    def _exogenous(self, wl: EpisodeWorkload, edge_mu: np.ndarray) -> np.ndarray:
        """Observation columns that don't depend on actions, for every step of the episode."""
        cfg = self.config
        b, steps, w = wl.arrivals.shape[0], self.episode_steps, cfg.obs_window
        k = np.arange(steps + 1)
        inv = 1.0 / edge_mu[:, None, :]  # normalise per node by its service rate
        window = wl.arrivals[:, (wl.warmup + k)[:, None] + np.arange(-w, 0)] * inv[:, None]
        phase = wl.phase[:, wl.warmup + k]
        forecast = self.forecaster.forecast(wl, cfg.horizon, edge_mu) * inv[..., None]
        return np.concatenate(
            (
                window.reshape(b, steps + 1, -1),
                np.sin(2 * np.pi * phase)[..., None],
                np.cos(2 * np.pi * phase)[..., None],
                np.broadcast_to(k / steps, (b, steps + 1))[..., None],
                forecast.reshape(b, steps + 1, -1),
            ),
            axis=2,
        )

    # ------------------------------------------------------------------ step

    def observe(self) -> np.ndarray:
        """Current observations (B, obs_size), float32."""
        return np.concatenate((self._endo, self._exo[self._rows, self.t]), axis=1).astype(
            np.float32
        )

    def shares_from_action(self, action: np.ndarray) -> np.ndarray:
        """New shares (B, S) for a batch of actions; the input is assumed validated."""
        if self.action_mode == "discrete":
            return self.actions.apply(self.shares, action)
        return normalise_shares(action)

    def step(self, shares: np.ndarray) -> tuple[np.ndarray, np.ndarray, StepResult]:
        """Apply new shares (B, S) to every system for one step.

        Returns:
            reward (B,), metrics (B, len(METRIC_KEYS) + len(REWARD_PARTS)) with the columns of
            :data:`METRIC_KEYS` then the signed reward parts, and the raw step result.
        """
        if np.any(self.t >= self.episode_steps):
            raise RuntimeError(
                f"episode is over after {self.episode_steps} steps; call reset() first "
                "(or pass a larger episode_steps)."
            )
        p = self.params
        arrivals = self.workload.arrivals[self._rows, self.config.warmup_steps + self.t]
        res = step(p, self.backlog, shares, arrivals)
        self.backlog = res.backlog
        self.shares = shares
        self.t = self.t + 1

        s = self.n_servers
        endo = self._endo
        endo[:, :s] = res.inflow / p.obs_mu
        endo[:, s : 2 * s] = res.backlog / p.obs_buffer
        endo[:, 2 * s : 3 * s] = res.utilisation
        endo[:, 3 * s :] = shares
        return res.reward, res.metrics, res
