"""Stable-Baselines3 callbacks for third-party training code: environment metrics in TensorBoard.

SB3 logs its own tags (``rollout/``, ``train/``, ``time/``); :class:`EnvMetricsCallback` adds
the allocation environment's episode metrics under ``env/`` (``env/latency_mean_ms``,
``env/latency_p95_ms``, ``env/sla_violation_rate``, ``env/utilisation``,
``env/energy_per_request_j``, ...: every key of :data:`edgecloud_gym.metrics.EPISODE_METRICS`),
with any SB3 algorithm and any number of envs:

    >>> import gymnasium as gym, edgecloud_gym
    >>> from stable_baselines3 import PPO
    >>> from edgecloud_agents.callbacks import EnvMetricsCallback
    >>> env = gym.make("EdgeCloud-High-v0", action_mode="continuous")
    >>> PPO("MlpPolicy", env, tensorboard_log="runs").learn(10_000, callback=EnvMetricsCallback())  # doctest: +SKIP

The zoo's SB3 agents (:func:`edgecloud_agents.registry.make_agent` with ``tensorboard_log=``)
add it by themselves (:func:`with_env_metrics`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

from edgecloud_gym.metrics import EpisodeAccumulator

__all__ = ["EnvMetricsCallback", "with_env_metrics"]


class EnvMetricsCallback(BaseCallback):
    """Logs the metrics of every finished training episode under ``env/`` (mean per dump).

    Reads the step ``infos``, ``rewards`` and ``dones`` that SB3 hands to callbacks, so it works
    with every on- and off-policy algorithm and every number of envs in the ``VecEnv``; steps of
    other environments (no ``"arrived"`` in ``info``) are skipped. Values are averaged over the
    episodes that ended since SB3's last dump (``logger.record_mean``), so they appear at SB3's
    own logging cadence (``log_interval``). Metrics without a value in an episode (NaN, e.g. a
    latency percentile when nothing was served) are left out of the mean.

    Attributes:
        finished: Training episodes ended so far.
    """

    def __init__(self, verbose: int = 0) -> None:
        super().__init__(verbose)
        self._episodes: list[EpisodeAccumulator] = []
        self.finished = 0

    def _init_callback(self) -> None:
        self._episodes = [EpisodeAccumulator() for _ in range(self.training_env.num_envs)]

    def _on_step(self) -> bool:
        infos = self.locals.get("infos", ())
        rewards = np.atleast_1d(self.locals.get("rewards", np.zeros(len(infos))))
        dones = np.atleast_1d(self.locals.get("dones", np.zeros(len(infos), dtype=bool)))
        for i, info in enumerate(infos):
            if "arrived" not in info:  # not an allocation env's step
                continue
            acc = self._episodes[i]
            acc.add(float(rewards[i]), info)
            if dones[i]:
                for key, value in acc.result().items():
                    if math.isfinite(value):
                        self.logger.record_mean(f"env/{key}", value)
                acc.reset()
                self.finished += 1
        return True


def _has_env_metrics(callback: Any) -> bool:
    if isinstance(callback, EnvMetricsCallback):
        return True
    if isinstance(callback, CallbackList):
        return any(_has_env_metrics(c) for c in callback.callbacks)
    if isinstance(callback, (list, tuple)):
        return any(_has_env_metrics(c) for c in callback)
    return False


def with_env_metrics(model: Any, callback: Any = None) -> Any:
    """``callback`` plus an :class:`EnvMetricsCallback` when ``model`` logs to TensorBoard.

    Args:
        model: An SB3 model; without ``tensorboard_log`` nothing is added.
        callback: What the caller passes to ``model.learn`` (None, a callback or a list); one
            that already holds an :class:`EnvMetricsCallback` is returned unchanged.
    """
    if getattr(model, "tensorboard_log", None) is None or _has_env_metrics(callback):
        return callback
    if callback is None:
        return EnvMetricsCallback()
    listed = list(callback) if isinstance(callback, (list, tuple)) else [callback]
    return CallbackList([EnvMetricsCallback(), *listed])
