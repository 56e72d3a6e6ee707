"""Non-learning allocation policies: static, reactive threshold, least-loaded and random.

They read the observation through the environment's :class:`ObservationLayout` and act in the
default discrete action space (see :mod:`edgecloud_gym.core.actions`). ``predict`` accepts one
observation or a batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from edgecloud_agents._io import AgentFile, AgentFileError, read_agent_file, write_agent_file
from edgecloud_gym.envs.allocation import EdgeCloudEnv, ObservationLayout

__all__ = ["HeuristicAgent", "LeastLoaded", "RandomAgent", "ReactiveThreshold", "Static"]


def _unwrap(env: Any) -> EdgeCloudEnv:
    base = getattr(env, "unwrapped", env)
    if not isinstance(base, EdgeCloudEnv):
        raise TypeError(
            f"heuristic agents need an EdgeCloud allocation env (gym.make('EdgeCloud-...')), "
            f"got {type(base).__name__}."
        )
    if base.sim.action_mode != "discrete":
        raise ValueError(
            "heuristic agents act in the discrete action space; make the env with "
            "action_mode='discrete' (the default)."
        )
    return base


class HeuristicAgent:
    """Base of the rule-based agents: construction from an env, batch handling, save/load.

    Args:
        env: An allocation environment (wrapped or not); only its layout and config are read.
        **params: The rule's parameters (see each subclass).
    """

    name: ClassVar[str] = "heuristic"
    defaults: ClassVar[dict[str, float]] = {}

    def __init__(self, env: Any, **params: float) -> None:
        base = _unwrap(env)
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise TypeError(
                f"{type(self).__name__}: unknown parameter(s) {sorted(unknown)}; "
                f"valid: {sorted(self.defaults)}."
            )
        self.params = {**self.defaults, **params}
        self.layout: ObservationLayout = base.layout
        s = self.layout.n_servers
        self.n_actions = base.sim.actions.n
        self.hold, self.reset_static = 0, self.n_actions - 1
        self.towards = 1 + np.arange(s)  # action index "towards server s"
        self.away = 1 + s + np.arange(s)  # action index "away from server s"
        topo, cfg = base.config.topology, base.config
        self.env_config = cfg
        mean_work = float(np.mean([a.work_mcycles for a in cfg.apps]))
        ghz = np.array([topo.edge_core_ghz] * topo.n_edge + [topo.cloud_core_ghz])
        #: fixed latency of each server (ms): access, plus the WAN for the cloud
        self.network_ms = np.array([topo.access_ms] * topo.n_edge + [topo.access_ms + topo.wan_ms])
        #: buffer of each server in ms of work, converting backlog fractions into waiting time
        self.buffer_ms = 1e3 * np.array([topo.edge_buffer_s] * topo.n_edge + [topo.cloud_buffer_s])
        #: mean service time of a request on one core (ms)
        self.service_ms = mean_work / ghz

    def learn(self, total_timesteps: int = 0, **kwargs: Any) -> HeuristicAgent:
        """Rules don't learn: returns the agent unchanged."""
        return self

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> Any:
        """One action (int) for one observation (D,), or (B,) actions for a batch (B, D)."""
        obs = np.asarray(obs, dtype=np.float64)
        if obs.ndim not in (1, 2) or obs.shape[-1] != self.layout.size:
            raise ValueError(
                f"{self.name}: observation must have shape ({self.layout.size},) or "
                f"(B, {self.layout.size}), got {obs.shape}."
            )
        actions = self._act(np.atleast_2d(obs))
        return int(actions[0]) if obs.ndim == 1 else actions

    def _act(self, obs: np.ndarray) -> np.ndarray:
        raise TypeError(f"{type(self).__name__} must define _act")

    def save(self, path: str | Path) -> None:
        """Write the agent file (:mod:`edgecloud_agents._io`): the name and parameters."""
        write_agent_file(path, agent=self.name, family="allocation", config={"params": self.params})

    @classmethod
    def load(
        cls, path: str | Path | AgentFile, env: Any = None, *, trusted: bool = False
    ) -> HeuristicAgent:
        """Read an agent written by :meth:`save`; ``env`` is required (layout and config).

        ``trusted`` is accepted for the loaders' common signature; rule files never need it.
        """
        file = read_agent_file(path, trusted=trusted)
        if file.agent != cls.name:
            raise AgentFileError(f"{file.path} holds agent {file.agent!r}, not {cls.name!r}.")
        if env is None:
            raise ValueError(f"{cls.__name__}.load needs env= to read the observation layout.")
        params = file.require("params")
        if not isinstance(params, dict):
            raise AgentFileError(f"{file.path}: 'params' must be an object, got {params!r}.")
        return cls(env, **params)


class Static(HeuristicAgent):
    """Capacity-proportional shares at every step: the source paper's static baseline."""

    name = "static"

    def _act(self, obs: np.ndarray) -> np.ndarray:
        return np.full(len(obs), self.reset_static)


class ReactiveThreshold(HeuristicAgent):
    """Offload from the edge node whose utilisation or backlog crosses a threshold.

    If the busiest edge node's utilisation exceeds ``util_high`` or its backlog (fraction of its
    buffer) exceeds ``backlog_high``, shift share away from it; if every edge node's utilisation
    is below ``util_low``, shift share from the cloud back to the edge; otherwise hold.
    """

    name = "reactive"
    defaults: ClassVar[dict[str, float]] = {
        "util_high": 0.85,
        "backlog_high": 0.05,
        "util_low": 0.5,
    }

    def _act(self, obs: np.ndarray) -> np.ndarray:
        lay, n = self.layout, self.layout.n_edge
        util = obs[:, lay.utilisation][:, :n]
        backlog = obs[:, lay.backlog][:, :n]
        cloud_share = obs[:, lay.shares][:, n]
        pressure = np.maximum(
            util / self.params["util_high"], backlog / self.params["backlog_high"]
        )
        busiest = np.argmax(pressure, axis=1)
        hot = pressure[np.arange(len(obs)), busiest] > 1.0
        cold = (util.max(axis=1) < self.params["util_low"]) & (cloud_share > 1e-3)
        return np.where(hot, self.away[busiest], np.where(cold, self.away[n], self.hold)).astype(
            np.int64
        )


class LeastLoaded(HeuristicAgent):
    """Join the server with the least expected delay (join-shortest-queue on latency).

    Each server's expected delay is its fixed network latency plus the waiting time implied by
    its backlog and, for queueing within a step, ``service * rho / (1 - rho)`` at its last
    utilisation ``rho``. The agent shifts share towards the server with the least expected
    delay, unless every server is within ``margin_ms`` of it.
    """

    name = "least-loaded"
    defaults: ClassVar[dict[str, float]] = {"margin_ms": 5.0}

    def _act(self, obs: np.ndarray) -> np.ndarray:
        lay = self.layout
        rho = np.minimum(obs[:, lay.inflow], 0.99)
        shares = obs[:, lay.shares]
        delay = (
            self.network_ms
            + obs[:, lay.backlog] * self.buffer_ms
            + self.service_ms * rho / (1.0 - rho)
        )
        best = np.argmin(delay, axis=1)
        worst = np.max(np.where(shares > 1e-3, delay, -np.inf), axis=1)
        gap = worst - delay[np.arange(len(obs)), best]
        return np.where(gap > self.params["margin_ms"], self.towards[best], self.hold).astype(
            np.int64
        )


class RandomAgent(HeuristicAgent):
    """Uniformly random discrete actions from a seeded generator."""

    name = "random"
    defaults: ClassVar[dict[str, float]] = {"seed": 0}

    def __init__(self, env: Any, **params: float) -> None:
        super().__init__(env, **params)
        self.rng = np.random.default_rng(int(self.params["seed"]))

    def _act(self, obs: np.ndarray) -> np.ndarray:
        return self.rng.integers(self.n_actions, size=len(obs))
