"""Rules that set the shares directly, with parameters tuned per environment.

Both act in the ``weights`` action mode (the shares themselves, up to normalisation) and read
the observation only:

- ``local-first``: every edge node keeps its own arrivals up to ``threshold`` of its capacity
  (less its backlog); what exceeds that goes to the edge nodes with room left under their own
  threshold, in proportion to that room, and the rest to the cloud. The next step's arrivals are
  taken to be the last step's (the observation's newest arrival window).
- ``best-constant``: one fixed share vector, the best constant allocation found by tuning.

Their tuned values (``threshold``; ``shares``) ship in ``agents/tuned/rules.json`` per env id,
from ``edgecloud tune`` on training seeds disjoint from the evaluation seeds; an env without an
entry uses the defaults (``threshold`` 0.7; the capacity-proportional shares). The file records
the model version it was tuned on and is refused on another one.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from edgecloud_agents._io import AgentFile, AgentFileError, read_agent_file, write_agent_file
from edgecloud_gym.envs.allocation import EdgeCloudEnv
from edgecloud_gym.model_version import check_model_version

__all__ = ["ConstantShares", "LocalFirst", "ShareRule", "tuned_params"]

TUNED_FILE = "rules.json"


def tuned_params(agent: str, env_id: str | None) -> dict[str, Any]:
    """The shipped tuned parameters of ``agent`` for ``env_id`` (empty if none)."""
    text = (resources.files("edgecloud_agents") / "tuned" / TUNED_FILE).read_text("utf-8")
    data = json.loads(text)
    check_model_version(data.get("model_version"), f"the tuned rule parameters ({TUNED_FILE})")
    return dict(data.get("agents", {}).get(agent, {}).get(env_id or "", {}))


class ShareRule:
    """Base of the share-setting rules: construction, batches, save/load.

    Args:
        env: An allocation env in ``action_mode="weights"`` (wrapped or not).
        **params: The rule's parameters; those not given come from the tuned file for the
            env's id, then from the defaults.
    """

    name: ClassVar[str] = "share-rule"
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, env: Any, **params: Any) -> None:
        base = getattr(env, "unwrapped", env)
        if not isinstance(base, EdgeCloudEnv):
            raise TypeError(
                f"{self.name} needs an EdgeCloud allocation env, got {type(base).__name__}."
            )
        if base.sim.action_mode != "weights":
            raise ValueError(
                f"{self.name} sets the shares itself; make the env with action_mode='weights'."
            )
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise TypeError(
                f"{self.name}: unknown parameter(s) {sorted(unknown)}; valid: "
                f"{sorted(self.defaults)}."
            )
        spec = getattr(env, "spec", None)
        tuned = tuned_params(self.name, spec.id if spec is not None else None)
        self.params = {**self.defaults, **tuned, **params}
        self.layout = base.layout
        p = base.sim.params
        self.n_edge = base.sim.n_edge
        self.mu = p.obs_mu[0].copy()  # (S,) nominal capacity, requests/step
        self.buffer = p.obs_buffer[0].copy()  # (S,) nominal buffer, requests
        self.static = p.static_shares[0].copy()
        self._check()

    def _check(self) -> None:
        """Validate :attr:`params` (subclasses)."""

    def learn(self, total_timesteps: int = 0, **kwargs: Any) -> ShareRule:
        """Rules don't learn: returns the agent unchanged."""
        return self

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Weights (S,) for one observation (D,), or (B, S) for a batch (B, D)."""
        obs = np.asarray(obs, dtype=np.float64)
        if obs.ndim not in (1, 2) or obs.shape[-1] != self.layout.size:
            raise ValueError(
                f"{self.name}: observation must have shape ({self.layout.size},) or "
                f"(B, {self.layout.size}), got {obs.shape}."
            )
        shares = self._shares(np.atleast_2d(obs))
        weights = (shares / shares.max(axis=1, keepdims=True)).astype(np.float32)
        return weights[0] if obs.ndim == 1 else weights

    def _shares(self, obs: np.ndarray) -> np.ndarray:
        raise TypeError(f"{type(self).__name__} must define _shares")

    def save(self, path: str | Path) -> None:
        """Write the agent file: the name and the parameters in use."""
        params = {k: (list(v) if isinstance(v, (list, tuple, np.ndarray)) else v)
                  for k, v in self.params.items()}  # fmt: skip
        write_agent_file(path, agent=self.name, family="allocation", config={"params": params})

    @classmethod
    def load(cls, path: str | Path | AgentFile, env: Any = None, *, trusted: bool = False) -> Any:
        """Read a rule written by :meth:`save`; ``env`` is required."""
        file = read_agent_file(path, trusted=trusted)
        if file.agent != cls.name:
            raise AgentFileError(f"{file.path} holds agent {file.agent!r}, not {cls.name!r}.")
        if env is None:
            raise ValueError(f"{cls.__name__}.load needs env= to read the layout and capacities.")
        params = file.require("params")
        if not isinstance(params, dict):
            raise AgentFileError(f"{file.path}: 'params' must be an object, got {params!r}.")
        return cls(env, **params)


class LocalFirst(ShareRule):
    """Local first, overflow above ``threshold`` of capacity (see the module docstring)."""

    name = "local-first"
    defaults: ClassVar[dict[str, Any]] = {"threshold": 0.7}

    def _check(self) -> None:
        t = self.params["threshold"]
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0.0 < t <= 2.0:
            raise ValueError(f"local-first: threshold must be in (0, 2], got {t!r}.")

    def _shares(self, obs: np.ndarray) -> np.ndarray:
        n, lay = self.n_edge, self.layout
        arrivals = obs[:, lay.arrivals][:, -n:] * self.mu[:n]  # the newest step, requests
        backlog = obs[:, lay.backlog][:, :n] * self.buffer[:n]
        room = np.maximum(self.params["threshold"] * self.mu[:n] - backlog, 0.0)
        keep = np.minimum(arrivals, room)
        over = (arrivals - keep).sum(axis=1, keepdims=True)
        spare = room - keep
        spare_sum = spare.sum(axis=1, keepdims=True)
        to_edges = np.minimum(over, spare_sum)
        received = spare * np.divide(to_edges, spare_sum, out=np.zeros_like(to_edges),
                                     where=spare_sum > 0)  # fmt: skip
        cloud = over - to_edges
        shares = np.concatenate([keep + received, cloud], axis=1)
        total = shares.sum(axis=1, keepdims=True)
        # no arrivals at all: any shares do; keep the static ones
        return np.where(total > 0, shares / np.where(total > 0, total, 1.0), self.static)


class ConstantShares(ShareRule):
    """The same shares at every step: the best constant allocation once tuned."""

    name = "best-constant"
    defaults: ClassVar[dict[str, Any]] = {"shares": None}

    def _check(self) -> None:
        shares = self.params["shares"]
        if shares is None:
            shares = self.static
        arr = np.asarray(shares, dtype=np.float64)
        if arr.shape != self.static.shape or not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError(
                f"best-constant: shares must be {self.static.size} finite non-negative numbers "
                f"(edge nodes, then the cloud), got {shares!r}."
            )
        if arr.sum() <= 0:
            raise ValueError("best-constant: shares are all zero; give some server a share.")
        self.params["shares"] = [float(x) for x in arr / arr.sum()]
        self._fixed = arr / arr.sum()

    def _shares(self, obs: np.ndarray) -> np.ndarray:
        return np.repeat(self._fixed[None], len(obs), axis=0)
