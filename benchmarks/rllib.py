"""Ray RLlib as a trainer of the allocation environments: env names and environment metrics.

Needs ``pip install "edgecloud-gym[rllib]"`` (see ``scripts/build_rllib_env.sh``: Ray 2.60 pins
Gymnasium 1.2.2).

- :func:`register_rllib_envs` registers every allocation id with Ray under its own name, with a
  creator that imports :mod:`edgecloud_gym` in whichever process builds the env. RLlib's remote
  env runners then make ``"EdgeCloud-High-v0"`` without the ``edgecloud_gym:`` prefix, and
  RLlib's ``env_config`` reaches ``gym.make`` as keyword arguments (``forecaster``,
  ``action_mode``, ``task``, ...).
- :class:`EnvMetricsCallback` is an RLlib callback that turns the step ``info`` of every finished
  training episode into the metrics of the evaluation protocol
  (:data:`~edgecloud_bench.evaluation.EPISODE_METRICS`) and logs them as ``env/<metric>``, so they
  appear in every result under ``result["env_runners"]["env/latency_mean_ms"]`` (mean over the
  iteration's episodes), and so in whatever records the results (Ray Tune's loggers, for one).

Example (``examples/rllib_ppo.py`` is the whole script)::

    from ray.rllib.algorithms.ppo import PPOConfig
    from edgecloud_bench.rllib import EnvMetricsCallback, register_rllib_envs

    register_rllib_envs()
    config = (
        PPOConfig()
        .environment("EdgeCloud-Low-v0", env_config={"forecaster": "none"})
        .env_runners(num_env_runners=1)
        .callbacks(EnvMetricsCallback)
    )
    algo = config.build_algo()
    print(algo.train()["env_runners"]["env/latency_mean_ms"])
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from typing import Any

import gymnasium as gym
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.tune.registry import register_env

from edgecloud_gym.metrics import EpisodeAccumulator

__all__ = ["EnvMetricsCallback", "make_env", "register_rllib_envs"]


def make_env(env_config: Mapping[str, Any], env_id: str) -> gym.Env:
    """RLlib's env creator: ``gym.make(env_id, **env_config)`` after registering the ids.

    Args:
        env_config: RLlib's ``env_config`` (an ``EnvContext`` in remote runners): keyword
            arguments of ``gym.make``.
        env_id: A registered allocation id, e.g. ``"EdgeCloud-High-v0"``.
    """
    import edgecloud_gym

    gym.register_envs(edgecloud_gym)
    return gym.make(env_id, **dict(env_config))


def register_rllib_envs(env_ids: Iterable[str] | None = None) -> list[str]:
    """Register allocation ids with Ray (``ray.tune.register_env``) under their own names.

    Args:
        env_ids: Ids to register (default: every allocation id, trace-driven ones included).
            An unknown id raises ``ValueError`` with the closest registered one.

    Returns:
        The registered names.
    """
    from edgecloud_bench.evaluation import check_env_id
    from edgecloud_gym.registration import allocation_env_ids

    ids = list(allocation_env_ids() if env_ids is None else env_ids)
    for env_id in ids:
        check_env_id(env_id)
        register_env(env_id, functools.partial(make_env, env_id=env_id))
    return ids


class EnvMetricsCallback(RLlibCallback):
    """Logs the metrics of every finished training episode as ``env/<metric>`` (RLlib callback).

    Each env runner keeps one :class:`~edgecloud_gym.metrics.EpisodeAccumulator` per running
    episode, adds every step's reward and ``info``, and at the episode's end logs each finite
    metric with ``reduce="mean"``: a result holds the mean over the episodes that ended in its
    iteration. Episodes of other envs (no ``arrived`` in ``info``) are ignored.
    """

    def __init__(self) -> None:
        super().__init__()
        self._running: dict[str, EpisodeAccumulator] = {}

    def on_episode_start(self, *, episode: Any, **kwargs: Any) -> None:
        self._running[episode.id_] = EpisodeAccumulator()

    def on_episode_step(self, *, episode: Any, **kwargs: Any) -> None:
        info = episode.get_infos(-1)
        if "arrived" not in info:
            return
        acc = self._running.setdefault(episode.id_, EpisodeAccumulator())
        acc.add(float(episode.get_rewards(-1)), info)

    def on_episode_end(self, *, episode: Any, metrics_logger: Any = None, **kwargs: Any) -> None:
        acc = self._running.pop(episode.id_, None)
        if acc is None or acc.steps == 0 or metrics_logger is None:
            return
        for key, value in acc.result().items():
            if math.isfinite(value):
                metrics_logger.log_value(f"env/{key}", value, reduce="mean")
