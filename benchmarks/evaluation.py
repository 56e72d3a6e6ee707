"""Per-episode evaluation of an agent on an allocation environment (brief section 8).

:func:`evaluate` plays whole episodes with an :class:`~edgecloud_agents.base.Agent` and returns
one dict of metrics per episode. :class:`~edgecloud_gym.metrics.EpisodeAccumulator` turns a
stream of step ``info`` dicts into those metrics; the training callback and the
:class:`~edgecloud_gym.wrappers.EpisodeMetrics` wrapper use the same class, so a metric means the
same thing in TensorBoard, in ``info`` and in the result files.

The metrics of one episode are those of :mod:`edgecloud_gym.metrics` (keys of
:data:`EPISODE_METRICS`, accumulated by :class:`~edgecloud_gym.metrics.EpisodeAccumulator`).

With ``oracle_bound=True`` each episode also carries ``oracle_bound`` (the return of the
clairvoyant LP relaxation of model v0 on the same workload realisation: an upper bound on any
policy's return on model v0 only, not on model v1, see docs/lp_bound.md) and ``oracle_gap_pct`` =
100 (bound - return) / |bound|.
"""

from __future__ import annotations

import argparse
import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from edgecloud_gym.metrics import (
    EPISODE_METRICS,
    HIGHER_IS_BETTER,
    EpisodeAccumulator,
    weighted_percentile,
)
from edgecloud_gym.registration import allocation_env_ids
from edgecloud_gym.tasks import Task

__all__ = [
    "EPISODE_METRICS",
    "HIGHER_IS_BETTER",
    "EpisodeAccumulator",
    "add_parser",
    "episode_seeds",
    "evaluate",
    "make_eval_env",
    "summarise_episodes",
    "weighted_percentile",
]


def make_eval_env(env: gym.Env | str | Task, **env_kwargs: Any) -> gym.Env:
    """An env for evaluation: an env passes through; an id or a task is made with ``env_kwargs``.

    A :class:`~edgecloud_gym.tasks.Task` is run on ``EdgeCloud-v0`` with the registered episode
    length. Unknown ids raise ``ValueError`` with the closest registered one.
    """
    if isinstance(env, gym.Env):
        if env_kwargs:
            raise ValueError(
                f"env_kwargs {sorted(env_kwargs)} apply only when env is an id or a task; "
                "pass them to gym.make yourself."
            )
        return env
    if isinstance(env, Task):
        return gym.make("EdgeCloud-v0", task=env, **env_kwargs)
    if isinstance(env, str):
        check_env_id(env)
        return gym.make(env, **env_kwargs)
    raise TypeError(
        f"env must be a gymnasium.Env, an env id or a Task, got {type(env).__name__}: {env!r}."
    )


def check_env_id(env_id: str) -> str:
    """Return ``env_id`` if it is a registered allocation id, else raise with a suggestion."""
    ids = allocation_env_ids()  # the allocation ids and the trace-driven ones
    if env_id not in ids:
        from edgecloud_gym._validation import did_you_mean

        raise ValueError(
            f"unknown env {env_id!r}.{did_you_mean(env_id, ids)} Valid ids: {', '.join(ids)}."
        )
    return env_id


def episode_seeds(episodes: int | None, seeds: int | Sequence[int]) -> list[int]:
    """The reset seed of each episode.

    ``seeds`` is either a base seed (episode i is reset with ``seeds + i``) or one seed per
    episode (then ``episodes`` may be None, or must equal ``len(seeds)``).
    """
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        if episodes is None:
            raise ValueError("episodes is required when seeds is a single base seed.")
        _check_count("episodes", episodes)
        return [int(seeds) + i for i in range(episodes)]
    try:
        listed = [int(s) for s in seeds]  # type: ignore[union-attr]
    except TypeError as exc:
        raise TypeError(f"seeds must be an int or a sequence of ints, got {seeds!r}.") from exc
    if not listed:
        raise ValueError("seeds must not be empty.")
    if episodes is not None and episodes != len(listed):
        raise ValueError(
            f"episodes ({episodes}) must equal the number of seeds ({len(listed)}); "
            "leave episodes=None to play one episode per seed."
        )
    return listed


def _check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}.")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}.")
    return int(value)


def _load_oracle_bound() -> Callable[[gym.Env], float]:
    try:
        from edgecloud_agents.lp_bound import oracle_bound
    except ImportError as exc:  # the zoo is an optional layer
        raise ValueError(
            "oracle_bound=True needs edgecloud_agents.lp_bound (install edgecloud-gym[zoo])."
        ) from exc
    return _memoised(oracle_bound)


#: Oracle bounds already solved in this process, keyed by what the LP reads (see _bound_key).
_BOUNDS: dict[tuple[Any, ...], float] = {}


def _bound_key(env: gym.Env) -> tuple[Any, ...] | None:
    sim = getattr(env.unwrapped, "sim", None)
    workload = getattr(sim, "workload", None)
    if workload is None:
        return None
    arrivals = np.ascontiguousarray(workload.arrivals)
    digest = hashlib.sha256(arrivals.tobytes()).hexdigest()
    limit = getattr(env.spec, "max_episode_steps", None)
    return (digest, arrivals.shape, repr(env.unwrapped.config), repr(sim.tasks), limit)


def _memoised(bound: Callable[[gym.Env], float]) -> Callable[[gym.Env], float]:
    """The LP bound depends only on the episode's arrivals, the config and the task, not on the
    agent's forecaster or action mode: every agent evaluated on the same (env, seed) in one
    process reuses one solve."""

    def cached(env: gym.Env) -> float:
        key = _bound_key(env)
        if key is None:
            return float(bound(env))
        if key not in _BOUNDS:
            if len(_BOUNDS) >= 4096:
                _BOUNDS.clear()
            _BOUNDS[key] = float(bound(env))
        return _BOUNDS[key]

    return cached


def evaluate(
    agent: Any,
    env: gym.Env | str | Task,
    episodes: int | None = 5,
    seeds: int | Sequence[int] = 0,
    *,
    deterministic: bool = True,
    oracle_bound: bool = False,
    env_kwargs: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Play whole episodes with ``agent`` and return one dict of metrics per episode.

    Args:
        agent: Anything with ``predict(obs, deterministic) -> action`` (the
            :class:`~edgecloud_agents.base.Agent` protocol). It must act in ``env``'s action space.
        env: An env instance, a registered allocation id (``"EdgeCloud-High-v0"``) or a
            :class:`~edgecloud_gym.tasks.Task`; ids and tasks are made with ``env_kwargs``
            (for instance ``forecaster="none"`` or ``action_mode="weights"``).
        episodes: Number of episodes (None: one per seed in ``seeds``).
        seeds: Base reset seed (episode i uses ``seeds + i``) or one seed per episode. The same
            seeds give the same workload realisations to every agent, so comparisons are paired.
        deterministic: Passed to ``agent.predict``.
        oracle_bound: Also compute the clairvoyant LP bound of every episode
            (``edgecloud_agents.lp_bound.oracle_bound``) and the gap to it.
        env_kwargs: Keyword arguments of ``gym.make`` when ``env`` is an id or a task.

    Returns:
        Per-episode dicts with the keys of :data:`EPISODE_METRICS` plus ``seed``, ``steps``,
        ``task`` and, with ``oracle_bound``, ``oracle_bound`` and ``oracle_gap_pct``.
    """
    if not callable(getattr(agent, "predict", None)):
        raise TypeError(
            f"agent must have a predict(obs, deterministic) method, got {type(agent).__name__}."
        )
    reset_seeds = episode_seeds(episodes, seeds)
    made = not isinstance(env, gym.Env)
    environment = make_eval_env(env, **dict(env_kwargs or {}))
    bound_fn = _load_oracle_bound() if oracle_bound else None
    results: list[dict[str, Any]] = []
    acc = EpisodeAccumulator()
    try:
        for seed in reset_seeds:
            obs, info = environment.reset(seed=seed)
            bound = float(bound_fn(environment)) if bound_fn is not None else None
            acc.reset()
            done = False
            while not done:
                action = agent.predict(obs, deterministic=deterministic)
                obs, reward, terminated, truncated, info = environment.step(action)
                acc.add(reward, info)
                done = terminated or truncated
            row: dict[str, Any] = {**acc.result(), "seed": seed, "steps": acc.steps}
            row["task"] = info.get("task", "")
            if bound is not None:
                row["oracle_bound"] = bound
                row["oracle_gap_pct"] = 100.0 * (bound - row["return"]) / max(abs(bound), 1e-12)
            results.append(row)
    finally:
        if made:
            environment.close()
    return results


def summarise_episodes(episodes: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Mean over episodes of every numeric metric (NaNs ignored; NaN if all are NaN)."""
    if not episodes:
        raise ValueError("no episodes to summarise.")
    keys = [k for k, v in episodes[0].items() if isinstance(v, (int, float)) and k != "seed"]
    out: dict[str, float] = {}
    for key in keys:
        vals = np.array([float(e[key]) for e in episodes if e.get(key) is not None])
        finite = vals[np.isfinite(vals)]
        out[key] = float(finite.mean()) if finite.size else math.nan
    return out


# --------------------------------------------------------------------------- command line


def add_parser(subparsers: Any) -> None:
    """Add ``edgecloud evaluate`` to the command's subparsers."""
    p = subparsers.add_parser(
        "evaluate",
        help="evaluate one agent (by name, or a saved one) and print its per-episode metrics",
        description="Evaluate an agent of the zoo, or one saved by 'edgecloud train', for a few "
        "episodes and print the metrics (mean over episodes, and per episode with --verbose).",
    )
    p.add_argument("--agent", required=True, help="agent name (see 'edgecloud train --help')")
    p.add_argument("--env", default="EdgeCloud-Medium-v0", help="allocation env id")
    p.add_argument(
        "--load",
        default=None,
        help="path of a saved agent (from 'edgecloud train'); required for a learning agent "
        "unless --untrained",
    )
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="also load a Stable-Baselines3 zip (e.g. from rl_zoo3) with --load. RISK: such a "
        "zip stores objects with cloudpickle, and reading them can run any code its author "
        "chose on this machine; use it only for files from a source you trust. Files saved by "
        "this package never need it",
    )
    p.add_argument(
        "--untrained",
        action="store_true",
        help="evaluate a learning agent as built, before any training (a floor to compare with)",
    )
    p.add_argument("--episodes", type=int, default=5, help="episodes to play")
    p.add_argument("--seed", type=int, default=1000, help="reset seed of the first episode")
    p.add_argument(
        "--oracle-bound", action="store_true", help="also report the gap to the LP bound"
    )
    p.add_argument("--out", default=None, help="also write the episodes as JSON to this file")
    p.add_argument("--verbose", action="store_true", help="print every episode")
    p.set_defaults(func=_run_cli)


def _check_trained(agent: str, load: str | None, untrained: bool) -> None:
    """A learning agent is evaluated from --load, or untrained only when asked with --untrained."""
    from edgecloud_bench import zoo

    learns = zoo.learns(agent)
    if untrained and load is not None:
        raise ValueError(
            "--untrained and --load exclude each other: --load evaluates a trained agent, "
            "--untrained one as built; pass one of them."
        )
    if untrained and not learns:
        raise ValueError(
            f"--untrained applies to learning agents only; {agent!r} does not learn, drop the flag."
        )
    if learns and load is None and not untrained:
        raise ValueError(
            f"--agent {agent} learns, and without --load it would be evaluated untrained. Train "
            f"one with 'edgecloud train --agent {agent} --env ENV --out DIR' and pass "
            "--load with the path it prints, or pass --untrained to evaluate the untrained agent "
            "on purpose."
        )


def _run_cli(args: argparse.Namespace) -> int:
    from edgecloud_bench import zoo
    from edgecloud_bench._io import atomic_write_json, check_writable

    check_env_id(args.env)
    zoo.check_agent_name(args.agent)
    _check_count("--episodes", args.episodes)
    _check_trained(args.agent, args.load, args.untrained)
    if args.out is not None:
        check_writable(args.out)
    env = zoo.make_env(args.agent, args.env, seed=args.seed)
    if args.load is not None:
        agent = zoo.load(args.agent, args.load, env, trusted=args.trust_pickle)
    else:
        agent = zoo.make(args.agent, env, seed=args.seed)
    rows = evaluate(agent, env, args.episodes, args.seed, oracle_bound=args.oracle_bound)
    env.close()
    mean = summarise_episodes(rows)
    print(f"{args.agent} on {args.env}: {args.episodes} episodes, seeds from {args.seed}")
    keys = [k for k in (*EPISODE_METRICS, "oracle_bound", "oracle_gap_pct") if k in mean]
    width = max(len(k) for k in keys)
    for key in keys:
        line = f"  {key:<{width}}  {mean[key]:12.4f}"
        if args.verbose:
            line += "  [" + ", ".join(f"{r[key]:.4g}" for r in rows) + "]"
        print(line)
    if args.out is not None:
        atomic_write_json(args.out, {"agent": args.agent, "env": args.env, "episodes": rows})
    return 0
