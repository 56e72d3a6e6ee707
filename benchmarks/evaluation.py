"""Per-episode evaluation of an agent on an allocation environment (brief section 8).

:func:`evaluate` plays whole episodes with an :class:`~edgecloud_agents.base.Agent` and returns
one dict of metrics per episode. :class:`EpisodeMetrics` turns a stream of step ``info`` dicts
into those metrics; the training callbacks use the same class, so a metric means the same thing
in TensorBoard and in the result files.

Metrics of one episode (all keys of :data:`EPISODE_METRICS`):

=========================  ======================================================================
key                        meaning
=========================  ======================================================================
``return``                 sum of the step rewards
``latency_mean_ms``        mean latency of the served requests (ms), weighted by requests
``latency_p95_ms``         95th percentile of request latency (ms), see below
``latency_p99_ms``         99th percentile of request latency (ms)
``sla_violation_rate``     requests late or dropped, over requests arrived
``drop_rate``              requests dropped, over requests arrived
``utilisation``            processed work over capacity, all servers, mean over steps
``utilisation_edge``       the same over the edge nodes
``utilisation_cloud``      the same for the cloud
``energy_per_request_j``   energy of all servers (J) over requests processed
``arrived``                requests arrived in the episode
``processed``              requests processed in the episode
=========================  ======================================================================

Percentiles: each step reports the mean latency of the requests of class k served at server s and
how many they were (``info["latency_ms_by_server_class"]``, ``info["served_by_server_class"]``).
The episode's latency distribution is these (server, class, step) values weighted by their request
counts; the p-th percentile is the smallest value whose cumulative weight reaches p % of the total
(the inverse of the weighted empirical CDF, :func:`weighted_percentile`). In the fluid model the
requests of one cell share one latency, so this is the exact percentile of the model's requests.

With ``oracle_bound=True`` each episode also carries ``oracle_bound`` (the return of the
clairvoyant LP relaxation on the same workload realisation, an upper bound on any causal policy's
return) and ``oracle_gap_pct`` = 100 (bound - return) / |bound|.
"""

from __future__ import annotations

import argparse
import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from edgecloud_bench.scores import higher_is_better
from edgecloud_gym.registration import allocation_env_ids
from edgecloud_gym.tasks import Task

__all__ = [
    "EPISODE_METRICS",
    "HIGHER_IS_BETTER",
    "EpisodeMetrics",
    "add_parser",
    "episode_seeds",
    "evaluate",
    "make_eval_env",
    "summarise_episodes",
    "weighted_percentile",
]

#: Metric keys of one evaluated episode, in report order.
EPISODE_METRICS: tuple[str, ...] = (
    "return",
    "latency_mean_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "sla_violation_rate",
    "drop_rate",
    "utilisation",
    "utilisation_edge",
    "utilisation_cloud",
    "energy_per_request_j",
    "arrived",
    "processed",
)

#: The episode metrics where larger is better (the others are better when smaller); one table
#: of directions serves every experiment: :data:`edgecloud_bench.scores.HIGHER_IS_BETTER`.
HIGHER_IS_BETTER: frozenset[str] = frozenset(m for m in EPISODE_METRICS if higher_is_better(m))


def weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values`` weighted by non-negative ``weights``.

    The smallest value whose cumulative weight is at least ``q`` % of the total weight (inverse
    of the weighted empirical CDF). With integer weights this equals
    ``np.percentile(np.repeat(values, weights), q, method="inverted_cdf")``. Returns NaN when the
    total weight is zero.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    weights = np.asarray(weights, dtype=np.float64).ravel()
    if values.shape != weights.shape:
        raise ValueError(
            f"values and weights must have the same size, got {values.size} and {weights.size}."
        )
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must lie in [0, 100], got {q!r}.")
    if np.any(weights < 0) or not np.all(np.isfinite(weights)):
        raise ValueError("weights must be finite and >= 0.")
    keep = weights > 0
    values, weights = values[keep], weights[keep]
    if values.size == 0:
        return math.nan
    order = np.argsort(values, kind="stable")
    values, cum = values[order], np.cumsum(weights[order])
    target = q / 100.0 * cum[-1]
    # tolerate rounding in the cumulative sum so that q = 100 * k / n picks the k-th value
    idx = int(np.searchsorted(cum, target - 1e-9 * cum[-1], side="left"))
    return float(values[min(idx, values.size - 1)])


class EpisodeMetrics:
    """Accumulates the step rewards and ``info`` dicts of one episode into its metrics.

    Call :meth:`add` after every step and :meth:`result` at the end of the episode; :meth:`reset`
    starts the next one.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the current episode."""
        self.steps = 0
        self.total_return = 0.0
        self._sums = dict.fromkeys(
            ("arrived", "processed", "dropped", "violations", "energy_j"), 0.0
        )
        self._util: dict[str, list[float]] = {
            "utilisation": [],
            "utilisation_edge": [],
            "utilisation_cloud": [],
        }
        self._lat: list[np.ndarray] = []
        self._served: list[np.ndarray] = []

    def add(self, reward: float, info: Mapping[str, Any]) -> None:
        """Add one step's reward and ``info`` (an EdgeCloud allocation env's step info)."""
        self.steps += 1
        self.total_return += float(reward)
        arrived = float(info["arrived"])
        self._sums["arrived"] += arrived
        self._sums["processed"] += float(info["processed"])
        self._sums["dropped"] += float(info["dropped"])
        self._sums["violations"] += float(info["sla_violation_rate"]) * arrived
        self._sums["energy_j"] += float(info["energy_j"])
        for key, series in self._util.items():
            series.append(float(info[key]))
        self._lat.append(np.asarray(info["latency_ms_by_server_class"], dtype=np.float64))
        self._served.append(np.asarray(info["served_by_server_class"], dtype=np.float64))

    def result(self) -> dict[str, float]:
        """The metrics of the episode so far (keys of :data:`EPISODE_METRICS`)."""
        if self.steps == 0:
            raise ValueError("no steps recorded: call add() after each env.step() first.")
        s = self._sums
        lat = np.concatenate([a.ravel() for a in self._lat])
        served = np.concatenate([a.ravel() for a in self._served])
        total_served = float(served.sum())
        finite = np.isfinite(lat) & (served > 0)
        mean_lat = (
            float(np.sum(lat[finite] * served[finite]) / total_served)
            if total_served > 0
            else math.nan
        )
        out = {
            "return": self.total_return,
            "latency_mean_ms": mean_lat,
            "latency_p95_ms": weighted_percentile(lat[finite], served[finite], 95.0),
            "latency_p99_ms": weighted_percentile(lat[finite], served[finite], 99.0),
            "sla_violation_rate": _ratio(s["violations"], s["arrived"]),
            "drop_rate": _ratio(s["dropped"], s["arrived"]),
            **{key: float(np.mean(v)) for key, v in self._util.items()},
            "energy_per_request_j": _ratio(s["energy_j"], s["processed"]),
            "arrived": s["arrived"],
            "processed": s["processed"],
        }
        return out


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


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
            (for instance ``forecaster="none"`` or ``action_mode="continuous"``).
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
    acc = EpisodeMetrics()
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
    p.add_argument("--load", default=None, help="path of a saved agent (from 'edgecloud train')")
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="also load a Stable-Baselines3 zip (e.g. from rl_zoo3) with --load. RISK: such a "
        "zip stores objects with cloudpickle, and reading them can run any code its author "
        "chose on this machine; use it only for files from a source you trust. Files saved by "
        "this package never need it.",
    )
    p.add_argument("--episodes", type=int, default=5, help="episodes to play (default 5)")
    p.add_argument("--seed", type=int, default=1000, help="reset seed of the first episode")
    p.add_argument(
        "--oracle-bound", action="store_true", help="also report the gap to the LP bound"
    )
    p.add_argument("--out", default=None, help="also write the episodes as JSON to this file")
    p.add_argument("--verbose", action="store_true", help="print every episode")
    p.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:
    from edgecloud_bench import zoo
    from edgecloud_bench._io import atomic_write_json, check_writable

    check_env_id(args.env)
    zoo.check_agent_name(args.agent)
    _check_count("--episodes", args.episodes)
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
