"""Stable-Baselines3 callbacks that log what the evaluation protocol measures, during training.

TensorBoard scalars, namespaced as in SB3 (``train/``, ``rollout/``, ``time/`` come from SB3):

==========================  ==========================================================================
tag                         written by
==========================  ==========================================================================
``env/<metric>``            :class:`~edgecloud_agents.callbacks.EnvMetricsCallback` (the zoo's public
                            callback): mean over the training episodes finished since the last
                            dump of every metric of :data:`~edgecloud_gym.metrics.EPISODE_METRICS`
``eval/<metric>``           :class:`PeriodicEvaluation`: mean over the evaluation episodes of each
                            metric (``eval/return``, ``eval/latency_p95_ms``, ...), plus
                            ``eval/return_std``
``time/steps_per_second``   :class:`PeriodicEvaluation`: env steps per wall-clock second of training
                            (evaluation time excluded) since the previous evaluation
``time/fps``                SB3: steps per second since the start of ``learn``
``hparams``                 :class:`HParamCallback`: the run's hyperparameters (TensorBoard's HPARAMS
                            tab), with ``eval/return`` and ``env/latency_mean_ms`` as its metrics
==========================  ==========================================================================

Runs are named ``{env}__{agent}__{seed}__{time}`` (:func:`run_name`), CleanRL's scheme.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.logger import HParam

from edgecloud_agents.callbacks import EnvMetricsCallback
from edgecloud_bench.evaluation import EPISODE_METRICS, evaluate, summarise_episodes

__all__ = [
    "EnvMetricsCallback",  # re-exported from edgecloud_agents.callbacks
    "HParamCallback",
    "PeriodicEvaluation",
    "run_name",
    "training_callbacks",
]


def run_name(env_id: str, agent: str, seed: int, when: float | None = None) -> str:
    """``{env}__{agent}__{seed}__{unix time}``: the name of a training run's log folder."""
    stamp = int(time.time() if when is None else when)
    return f"{env_id}__{agent}__{seed}__{stamp}"


class _ModelAgent:
    """The Agent view of an SB3 model: ``predict`` returns only the action."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> Any:
        action, _ = self.model.predict(obs, deterministic=deterministic)
        return action


class PeriodicEvaluation(BaseCallback):
    """Evaluates the agent every ``eval_freq`` env steps and logs the metrics under ``eval/``.

    The same evaluation seeds are used every time, so the learning curve is not confounded by
    workload noise. The curve (steps, mean return) is kept in :attr:`curve` for
    :func:`~edgecloud_bench.stats.convergence_step`; evaluations run at the start of training, every
    ``eval_freq`` steps and at the end.

    Args:
        eval_env: An env of the same kind the agent trains in (same observation and action
            spaces); not the training env.
        eval_freq: Env steps between evaluations (> 0).
        episodes: Evaluation episodes per evaluation.
        seeds: Base reset seed of the evaluation episodes (or one per episode).
        agent: The :class:`~edgecloud_agents.base.Agent` being trained; None evaluates the SB3
            model directly.
    """

    def __init__(
        self,
        eval_env: gym.Env,
        eval_freq: int,
        episodes: int = 2,
        seeds: int | Sequence[int] = 10_000,
        agent: Any = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        if isinstance(eval_freq, bool) or not isinstance(eval_freq, (int, np.integer)):
            raise TypeError(f"eval_freq must be an integer number of env steps, got {eval_freq!r}.")
        if eval_freq < 1:
            raise ValueError(f"eval_freq must be >= 1 env step, got {eval_freq}.")
        self.eval_env = eval_env
        self.eval_freq = int(eval_freq)
        self.episodes = episodes
        self.seeds = seeds
        self.agent = agent
        #: (env steps, mean evaluation return) after each evaluation
        self.curve: list[tuple[int, float]] = []
        #: mean metrics of the last evaluation
        self.last: dict[str, float] = {}
        self._last_step = -1
        self._clock = (0, 0.0)

    def _on_training_start(self) -> None:
        self._clock = (self.num_timesteps, time.perf_counter())
        self._evaluate()

    def _on_step(self) -> bool:
        if self.num_timesteps - self._last_step >= self.eval_freq:
            self._evaluate()
        return True

    def _on_training_end(self) -> None:
        if self.num_timesteps != self._last_step:
            self._evaluate()

    def _evaluate(self) -> None:
        steps, started = self._clock
        now = time.perf_counter()
        if self.num_timesteps > steps:
            self.logger.record(
                "time/steps_per_second", (self.num_timesteps - steps) / (now - started)
            )
        agent = self.agent if self.agent is not None else _ModelAgent(self.model)
        rows = evaluate(agent, self.eval_env, self.episodes, self.seeds)
        mean = summarise_episodes(rows)
        for key in EPISODE_METRICS:
            if math.isfinite(mean[key]):
                self.logger.record(f"eval/{key}", mean[key])
        self.logger.record("eval/return_std", float(np.std([r["return"] for r in rows])))
        self.curve.append((int(self.num_timesteps), float(mean["return"])))
        self.last = mean
        self._last_step = self.num_timesteps
        self.logger.dump(self.num_timesteps)
        if self.verbose:
            print(f"eval at {self.num_timesteps} steps: return {mean['return']:.2f}")
        self._clock = (self.num_timesteps, time.perf_counter())


def _scalar(value: Any) -> float | int | str | bool:
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


#: SB3 model attributes recorded as hyperparameters when the model has them.
_MODEL_HPARAMS = (
    "learning_rate",
    "gamma",
    "batch_size",
    "buffer_size",
    "learning_starts",
    "train_freq",
    "gradient_steps",
    "target_update_interval",
    "exploration_fraction",
    "exploration_initial_eps",
    "exploration_final_eps",
    "n_steps",
    "ent_coef",
    "policy_kwargs",
)


class HParamCallback(BaseCallback):
    """Records the run's hyperparameters for TensorBoard's HPARAMS tab at the start of training.

    Args:
        hparams: The run's settings (agent, env, seed, budget, algorithm keyword arguments, ...);
            values that are not numbers, strings or booleans are written as their ``str``.
        metrics: Scalar tags the HPARAMS tab shows next to the hyperparameters.
    """

    def __init__(
        self,
        hparams: Mapping[str, Any],
        metrics: Sequence[str] = ("eval/return", "env/latency_mean_ms"),
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        self.hparams = dict(hparams)
        self.metrics = tuple(metrics)

    def _on_training_start(self) -> None:
        hp: dict[str, Any] = {"algorithm": type(self.model).__name__}
        for attr in _MODEL_HPARAMS:
            if hasattr(self.model, attr) and not callable(getattr(self.model, attr)):
                hp[attr] = _scalar(getattr(self.model, attr))
        hp.update({k: _scalar(v) for k, v in self.hparams.items()})
        self.logger.record(
            "hparams",
            HParam(hp, dict.fromkeys(self.metrics, 0.0)),
            exclude=("stdout", "log", "json", "csv"),
        )

    def _on_step(self) -> bool:
        return True


def training_callbacks(
    eval_env: gym.Env,
    *,
    eval_freq: int,
    eval_episodes: int = 2,
    eval_seeds: int | Sequence[int] = 10_000,
    hparams: Mapping[str, Any] | None = None,
    agent: Any = None,
) -> tuple[CallbackList, PeriodicEvaluation]:
    """The harness's callbacks for one training run, and the evaluation callback (for its curve)."""
    evaluation = PeriodicEvaluation(eval_env, eval_freq, eval_episodes, eval_seeds, agent=agent)
    callbacks = CallbackList([HParamCallback(hparams or {}), EnvMetricsCallback(), evaluation])
    return callbacks, evaluation
