"""Routing rules with the built-in reactive autoscaler's capacity: baselines of joint control.

- ``autoscale``: the static (capacity-proportional) shares, and per server the capacity level of
  the Horizontal-Pod-Autoscaler rule :func:`edgecloud_gym.core.capacity.autoscale` (target
  utilisation, tolerance and stabilisation window from the env's ``Capacity``), at the nominal
  clock.
- ``local-first-autoscale``: the same capacity, with the shares of ``local-first``
  (:class:`edgecloud_agents.share_rules.LocalFirst`, its threshold over the nominal capacity).

They act in the ``weights`` action mode. In joint control (``control="joint"``, the
``EdgeCloud-Joint-*-v0`` ids) they return the joint weights action of the shares and the levels
(``sim.encode_joint_weights``). The autoscaler is run by the agent from the observation alone
(each server's utilisation over active capacity, and its active and booting cores) with the agent's own
stabilisation window, after every step as the env's built-in autoscaler is, so the pair plays
what ``control="routing", autoscaler=True`` plays (the window starts full of the top level at
the first step of each episode). Their parameter ``target_utilisation`` (None: the env's
``Capacity.target_utilisation``) replaces the autoscaler's target in joint control, where
``edgecloud tune`` tunes it per env (with ``local-first``'s ``threshold`` for
``local-first-autoscale``); the tuned values ship in ``agents/tuned/rules.json``. In routing
control they return the shares only, and the
capacity is the env's: :func:`edgecloud_agents.registry.make_env_for` turns the env's built-in
autoscaler on for them there.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from edgecloud_agents.share_rules import LocalFirst, ShareRule
from edgecloud_gym.core.capacity import CapacityState, autoscale

__all__ = ["Autoscale", "LocalFirstAutoscale"]


class _AutoscaledCapacity:
    """Mixin of a :class:`ShareRule`: adds the autoscaler's levels to its weights in joint
    control."""

    name: ClassVar[str]
    layout: Any
    _shares: Any

    def _setup_capacity(self, env: Any) -> None:
        sim = env.unwrapped.sim
        self.joint = sim.control == "joint"
        self._capacity = sim.config.capacity
        target = self.params.get("target_utilisation")
        if target is not None:  # the rule's own target (tuned per env) instead of the env's
            if isinstance(target, bool) or not isinstance(target, (int, float)):
                raise ValueError(
                    f"{self.name}: target_utilisation must be a number in (0, 1] or None, got "
                    f"{target!r}."
                )
            if not 0.0 < target <= 1.0:
                raise ValueError(
                    f"{self.name}: target_utilisation must be in (0, 1] (processed work over "
                    f"active capacity), got {target!r}."
                )
            self._capacity = dataclasses.replace(self._capacity, target_utilisation=float(target))
        self._params = sim.params
        self._fraction = np.asarray(sim.params.level_fraction, dtype=np.float64)  # (S, L)
        self._encode = sim.encode_joint_weights
        self._history: np.ndarray | None = None  # (B, S, W) the autoscaler's window

    def _level_of(self, fraction: np.ndarray) -> np.ndarray:
        """(B, S) level indices whose fraction of installed cores is nearest ``fraction``."""
        return np.abs(fraction[:, :, None] - self._fraction[None]).argmin(axis=2)

    def _levels(self, obs: np.ndarray) -> np.ndarray:
        """(B, S) the autoscaler's requested levels for the observations (B, D)."""
        lay, cap = self.layout, self._capacity
        n_b, s = obs.shape[0], self.layout.n_servers
        top = len(cap.levels) - 1
        active = obs[:, lay.active]
        level = self._level_of(active)
        target = self._level_of(active + obs[:, lay.booting])
        first = obs[:, lay.time][:, 2] <= 0.0  # episode progress 0: no step seen yet
        if self._history is None or self._history.shape[0] != n_b:
            self._history = np.full((n_b, s, cap.stabilisation_steps), top, dtype=np.int64)
        self._history[first] = top
        state = CapacityState(
            level=level,
            target=target,
            countdown=np.zeros_like(level),
            frequency=np.full_like(level, len(cap.frequencies) - 1),
            history=self._history,
        )
        want = autoscale(state, obs[:, lay.utilisation], self._params, cap)
        self._history = state.history
        self._history[first] = top  # the first step requests nothing: the window stays full
        return np.where(first[:, None], target, want)

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Weights for one observation (D,) or a batch (B, D): the shares (S,), and in joint
        control the env's joint weights action (``sim.encode_joint_weights``: the shares, the
        levels, the nominal clock, its defaults for the rest)."""
        obs = np.asarray(obs, dtype=np.float64)
        if obs.ndim not in (1, 2) or obs.shape[-1] != self.layout.size:
            raise ValueError(
                f"{self.name}: observation must have shape ({self.layout.size},) or "
                f"(B, {self.layout.size}), got {obs.shape}."
            )
        batch = np.atleast_2d(obs)
        shares = self._shares(batch)
        weights = shares / shares.max(axis=1, keepdims=True)
        if self.joint:  # the env's own encoding: the levels, the nominal clock, nothing else set
            levels = self._levels(batch)
            clocks = np.full_like(levels, len(self._capacity.frequencies) - 1)
            weights = self._encode(weights, levels, clocks)
        weights = weights.astype(np.float32)
        return weights[0] if obs.ndim == 1 else weights


class Autoscale(_AutoscaledCapacity, ShareRule):
    """Static shares, the autoscaler's capacity levels, the nominal clock."""

    name = "autoscale"
    defaults: ClassVar[dict[str, Any]] = {"target_utilisation": None}

    def __init__(self, env: Any, **params: Any) -> None:
        super().__init__(env, **params)
        self._setup_capacity(env)

    def _shares(self, obs: np.ndarray) -> np.ndarray:
        return np.repeat(self.static[None], len(obs), axis=0)


class LocalFirstAutoscale(_AutoscaledCapacity, LocalFirst):
    """``local-first`` shares, the autoscaler's capacity levels, the nominal clock."""

    name = "local-first-autoscale"
    defaults: ClassVar[dict[str, Any]] = {**LocalFirst.defaults, "target_utilisation": None}

    def __init__(self, env: Any, **params: Any) -> None:
        super().__init__(env, **params)
        self._setup_capacity(env)
