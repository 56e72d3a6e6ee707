"""The ``oracle`` agent: plays the episode LP's allocation shares (clairvoyant by design).

It reads the env's true arrivals and plays, step by step in an ``action_mode="weights"``
environment, the shares of the plan :func:`edgecloud_agents.lp_bound.solve_episode` makes for the
whole episode. The LP, its bound (:func:`~edgecloud_agents.lp_bound.oracle_bound`) and why it
holds are in :mod:`edgecloud_agents.lp_bound` and ``docs/lp_bound.md``; ``edgecloud bench
lp-bound`` compares bound, agent and static baseline per episode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from edgecloud_agents._io import AgentFile, AgentFileError, read_agent_file, write_agent_file
from edgecloud_agents.lp_bound import (
    EpisodeLP,
    OraclePlan,
    oracle_bound,
    simulator_of,
    solve_episode,
)

__all__ = ["EpisodeLP", "Oracle", "OraclePlan", "oracle_bound", "solve_episode"]


class Oracle:
    """Plays the oracle LP's allocation shares (clairvoyant: reads the env's true arrivals).

    At the first step of every episode (detected from the env's arrivals) it solves the LP of
    :func:`solve_episode` for the whole episode, then returns the planned shares of the current
    step. The env must be made with ``action_mode="weights"``, and ``predict`` must be given
    the observations of that same env (checked).

    Args:
        env: The allocation env (or vector env exposing ``sim``) the agent acts in.
    """

    name: ClassVar[str] = "oracle"

    def __init__(self, env: Any) -> None:
        self.env = env
        self.sim = simulator_of(env)
        if self.sim.action_mode != "weights":
            raise ValueError(
                "the oracle acts with allocation shares: make its env with "
                "action_mode='weights' (edgecloud_agents.registry.make_env_for('oracle', ...))."
            )
        self._plans: dict[int, OraclePlan] = {}
        self._seen: dict[int, np.ndarray] = {}

    def learn(self, total_timesteps: int = 0, **kwargs: Any) -> Oracle:
        """The oracle doesn't learn: returns itself unchanged."""
        return self

    def plan(self, index: int = 0) -> OraclePlan:
        """The plan of the current episode of system ``index`` (solved on first use)."""
        sim = self.sim
        if sim.workload is None:
            raise RuntimeError("Oracle: the env has no episode yet; call env.reset() first.")
        arrivals = sim.workload.arrivals[index]
        seen = self._seen.get(index)
        if seen is None or seen.shape != arrivals.shape or not np.array_equal(seen, arrivals):
            self._plans[index] = solve_episode(self.env, index)
            self._seen[index] = arrivals.copy()
        return self._plans[index]

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Shares (S,) for one observation (D,), or (B, S) for the batch (B, D) of the env."""
        obs = np.asarray(obs, dtype=np.float32)
        sim = self.sim
        if obs.ndim not in (1, 2) or obs.shape[-1] != sim.obs_size:
            raise ValueError(
                f"oracle: observation must have shape ({sim.obs_size},) or (B, {sim.obs_size}), "
                f"got {obs.shape}."
            )
        batch = np.atleast_2d(obs)
        if batch.shape[0] != sim.batch_size or not np.allclose(
            batch, sim.observe(), rtol=1e-5, atol=1e-6
        ):
            raise ValueError(
                "oracle: the observation is not the current observation of the env the oracle "
                "was built with; it reads that env's true arrivals, so evaluate it on that env."
            )
        out = np.empty((sim.batch_size, sim.n_servers), dtype=np.float32)
        for b in range(sim.batch_size):
            plan = self.plan(b)
            k = min(int(sim.t[b]), len(plan.shares) - 1)
            out[b] = plan.shares[k]
        return out[0] if obs.ndim == 1 else out

    def save(self, path: str | Path) -> None:
        """Write the agent file (:mod:`edgecloud_agents._io`); the oracle has no parameters."""
        write_agent_file(path, agent=self.name, family="allocation", config={"params": {}})

    @classmethod
    def load(
        cls, path: str | Path | AgentFile, env: Any = None, *, trusted: bool = False
    ) -> Oracle:
        """Read an oracle written by :meth:`save`; ``env`` (weights mode) is required.

        ``trusted`` is accepted for the loaders' common signature; oracle files never need it.
        """
        file = read_agent_file(path, trusted=trusted)
        if file.agent != cls.name:
            raise AgentFileError(f"{file.path} holds agent {file.agent!r}, not 'oracle'.")
        if env is None:
            raise ValueError("Oracle.load needs env= (the env whose arrivals it reads).")
        return cls(env)
