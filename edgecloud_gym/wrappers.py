"""Gymnasium wrappers for the allocation environments.

:class:`EpisodeMetrics` puts the episode's metrics (latency percentiles, SLA violations,
utilisation, energy per request, ...) into ``info`` at the episode's last step, so any training
loop can log them without knowing the env's per-step ``info``:

    >>> import gymnasium as gym, edgecloud_gym
    >>> from edgecloud_gym.wrappers import EpisodeMetrics
    >>> env = EpisodeMetrics(gym.make("EdgeCloud-High-v0", episode_steps=20))
    >>> _ = env.reset(seed=0)
    >>> for _ in range(20):
    ...     _, _, terminated, truncated, info = env.step(0)
    >>> sorted(info["episode_metrics"])[:3]
    ['arrived', 'drop_rate', 'energy_per_request_j']

Vector loops (CleanRL's style): ``gym.make_vec(id, num_envs=n, vectorization_mode="sync",
wrappers=[EpisodeMetrics])`` gives ``infos["episode_metrics"][key]`` arrays with the mask
``infos["_episode_metrics"]`` of the sub-environments that ended. RLlib: wrap the env in the
creator passed to ``register_env`` and read ``episode.get_infos()[-1]["episode_metrics"]`` in an
``on_episode_end`` callback.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym

from edgecloud_gym.metrics import EpisodeAccumulator

__all__ = ["EpisodeMetrics"]


class EpisodeMetrics(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Adds ``info[key]``, a dict of the episode's metrics, to the step that ends an episode.

    The metrics are those of :data:`edgecloud_gym.metrics.EPISODE_METRICS` (``return``,
    ``latency_mean_ms``, ``latency_p95_ms``, ``latency_p99_ms`` in ms, ``sla_violation_rate``,
    ``drop_rate``, ``utilisation``, ``utilisation_edge``, ``utilisation_cloud``, ``utilisation_installed``,
    ``energy_per_request_j`` in J per request, ``arrived``, ``processed`` in requests), computed
    exactly as the evaluation harness computes them; a metric without a value (no request
    served) is NaN.

    Args:
        env: An allocation env (``EdgeCloud-*`` ids other than ``EdgeCloud-Offload-*``), possibly
            wrapped.
        key: The ``info`` key of the metrics dict.
    """

    def __init__(self, env: gym.Env, key: str = "episode_metrics") -> None:
        if not isinstance(key, str) or not key:
            raise ValueError(f"key must be a non-empty string, got {key!r}.")
        gym.utils.RecordConstructorArgs.__init__(self, key=key)
        gym.Wrapper.__init__(self, env)
        self.key = key
        self._episode = EpisodeAccumulator()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset the env and start a new episode's metrics."""
        self._episode.reset()
        return super().reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the env; at the episode's end, ``info[key]`` holds its metrics."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        if "arrived" not in info:
            raise TypeError(
                f"EpisodeMetrics reads the allocation envs' step info (keys such as 'arrived'), "
                f"got keys {sorted(info)}; wrap an EdgeCloud allocation env "
                f"(edgecloud_gym.ALLOCATION_IDS), not {self.env.spec.id if self.env.spec else self.env}."
            )
        self._episode.add(float(reward), info)
        if terminated or truncated:
            info = {**info, self.key: self._episode.result()}
        return obs, reward, terminated, truncated, info
