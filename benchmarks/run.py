"""One run of the harness: its spec, its execution and its file.

The run chain of every allocation experiment: a :class:`RunSpec` (agent, env, seed, budget and
evaluation settings) -> :func:`run_one` (train, evaluate) -> a run file (``edgecloud-run/1``
JSON, read back and checked by :func:`read_run`) -> :class:`edgecloud_bench.scores.Scores` ->
the renderers (:mod:`edgecloud_bench.report`, :mod:`edgecloud_bench.paper`,
:mod:`edgecloud_bench.render`). :mod:`edgecloud_bench.suite` makes the specs of a suite file and
runs them in parallel; :func:`expected_cost` weighs a run for the suite's progress bar.

Seeds: run seed s trains with seed s, draws its learning-curve evaluations from reset seeds
``200000 + 1000 s + i`` and its final evaluation from ``100000 + 1000 s + i``. Every agent's run
with seed s is therefore evaluated on the same workload realisations, so comparisons between
agents are paired by seed.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgecloud_bench.evaluation import evaluate, summarise_episodes
from edgecloud_bench.stats import convergence_step, late_gain
from edgecloud_gym.model_version import MODEL_VERSION, check_model_version
from edgecloud_gym.traces.envs import heldout_kwargs

__all__ = [
    "CURVE_SEED_BASE",
    "EVAL_SEED_BASE",
    "RUN_FORMAT",
    "SEED_STRIDE",
    "RunSpec",
    "expected_cost",
    "read_run",
    "run_one",
]

#: The ``format`` field of a run file.
RUN_FORMAT = "edgecloud-run/1"

#: Base reset seeds of the final evaluation and of the learning-curve evaluations.
EVAL_SEED_BASE, CURVE_SEED_BASE, SEED_STRIDE = 100_000, 200_000, 1000


@dataclass(frozen=True)
class RunSpec:
    """One (agent, env, seed) of a suite, with everything that determines its result."""

    suite: str
    version: int
    agent: str
    env: str
    seed: int
    budget: int
    eval_freq: int
    eval_episodes: int
    episodes: int
    oracle_bound: bool
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    #: The zoo's name of the agent when ``agent`` is a suite's label for it (an ablation with
    #: other ``kwargs``, e.g. ``dynamic-allocator-eps0.2``); empty when ``agent`` is the name.
    zoo_agent: str = ""

    @property
    def zoo_name(self) -> str:
        """The zoo's name of the agent (``make_agent``'s ``name``)."""
        return self.zoo_agent or self.agent

    @property
    def key(self) -> str:
        """``{agent}__{env}__{seed}``: the run file's name without ``.json``."""
        return f"{self.agent}__{self.env}__{self.seed}"

    @property
    def eval_seeds(self) -> list[int]:
        """Reset seeds of the final evaluation (shared by every agent with this seed)."""
        base = EVAL_SEED_BASE + SEED_STRIDE * self.seed
        return [base + i for i in range(self.episodes)]

    @property
    def curve_seeds(self) -> list[int]:
        """Reset seeds of the learning-curve evaluations."""
        base = CURVE_SEED_BASE + SEED_STRIDE * self.seed
        return [base + i for i in range(self.eval_episodes)]

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the ``spec`` of a run file)."""
        return {
            "suite": self.suite,
            "version": self.version,
            "agent": self.agent,
            "env": self.env,
            "seed": self.seed,
            "budget": self.budget,
            "eval_freq": self.eval_freq,
            "eval_episodes": self.eval_episodes,
            "episodes": self.episodes,
            "oracle_bound": self.oracle_bound,
            "kwargs": dict(self.kwargs),
            **({"zoo_agent": self.zoo_agent} if self.zoo_agent else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**data, "kwargs": dict(data.get("kwargs") or {})})


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    return value


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for dist in ("edgecloud-gym", "gymnasium", "numpy", "torch", "stable-baselines3"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def run_one(spec: RunSpec, tb_dir: str | Path | None = None) -> dict[str, Any]:
    """Train (if the spec has a budget) and evaluate one run; return its record (a run file).

    Args:
        spec: The run.
        tb_dir: Folder of the TensorBoard logs (None: no logs).
    """
    from edgecloud_bench import zoo

    started, cpu_started = time.perf_counter(), time.process_time()
    env = zoo.make_env(spec.zoo_name, spec.env, seed=spec.seed)
    tb = str(tb_dir) if tb_dir is not None and spec.budget > 0 else None
    agent = zoo.make(spec.zoo_name, env, seed=spec.seed, tensorboard_log=tb, **spec.kwargs)
    curve: list[tuple[int, float]] = []
    name = None
    if spec.budget > 0:
        from edgecloud_bench.callbacks import run_name, training_callbacks

        name = run_name(spec.env, spec.agent, spec.seed)
        eval_env = zoo.make_env(spec.zoo_name, spec.env, seed=spec.seed)
        hparams = {k: v for k, v in spec.to_dict().items() if k != "kwargs"}
        hparams.update({f"kwargs.{k}": v for k, v in spec.kwargs.items()})
        callbacks, evaluation = training_callbacks(
            eval_env,
            eval_freq=spec.eval_freq,
            eval_episodes=spec.eval_episodes,
            eval_seeds=spec.curve_seeds,
            hparams=hparams,
            agent=agent,
        )
        agent.learn(spec.budget, callback=callbacks, tb_log_name=name, progress_bar=False)
        eval_env.close()
        curve = evaluation.curve
    trained = time.perf_counter()
    held_out = heldout_kwargs(spec.env)
    if held_out:  # score on held-out data (a trace's test period); non-learners are rebuilt on it
        env.close()
        env = zoo.make_env(spec.zoo_name, spec.env, seed=spec.seed, **held_out)
        if spec.budget == 0:
            agent = zoo.make(spec.zoo_name, env, seed=spec.seed, **spec.kwargs)
    episodes = evaluate(agent, env, None, spec.eval_seeds, oracle_bound=spec.oracle_bound)
    env.close()
    metrics = summarise_episodes(episodes)
    metrics.pop("steps", None)
    if curve:
        steps, returns = zip(*curve, strict=True)
        metrics["convergence_steps"] = convergence_step(steps, returns)
        metrics["late_gain_pct"] = late_gain(returns)
    record = {
        "format": RUN_FORMAT,
        "model_version": MODEL_VERSION,
        "spec": spec.to_dict(),
        "run_name": name,
        "metrics": metrics,
        "episodes": episodes,
        "learning_curve": [list(p) for p in curve],
        "train_seconds": trained - started,
        "eval_seconds": time.perf_counter() - trained,
        # CPU time of the run: what it costs on an idle core, whatever else shares the machine
        "cpu_seconds": time.process_time() - cpu_started,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": _versions(),
    }
    return _finite_or_none(record)


def read_run(path: str | Path) -> dict[str, Any]:
    """Read and check a run file; a corrupt or foreign file raises ``ValueError`` naming it."""
    path = Path(path)
    fix = "delete it to run that run again"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{path} is not a valid run file ({exc.msg} at line {exc.lineno}); {fix}."
        ) from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a valid run file (not UTF-8 text); {fix}.") from None
    if not isinstance(data, dict) or data.get("format") != RUN_FORMAT:
        raise ValueError(f"{path} is not a run file of format {RUN_FORMAT!r}; {fix}.")
    check_model_version(data.get("model_version"), f"run file {path}")
    missing = {"spec", "metrics", "episodes"} - set(data)
    if missing:
        raise ValueError(f"{path} is a truncated run file (missing {sorted(missing)}); {fix}.")
    return data


# --------------------------------------------------------------------------- expected cost

#: Rough CPU seconds of one env step, by what the step does: training a learner (SB3's update
#: included), acting with a trained learner or a rule, acting with the oracle (its LP, amortised
#: over the episode, or an MPC planner's rollouts), and the LP bound of one evaluation episode. Read from the ``cpu_seconds``
#: of the demo suite's run files (``edgecloud bench run --suite demo``: a 40,000-step DQN run
#: costs 30-45 s, a rule-based run under 1 s, an oracle run 1-2 s). Only their ratios matter:
#: the progress bar's rate is measured as the suite runs.
TRAIN_STEP_S, ACT_STEP_S, ORACLE_STEP_S, BOUND_EPISODE_S, RUN_S = 9e-4, 1e-4, 2e-3, 0.4, 0.2


def expected_cost(spec: RunSpec, bound_shared_by: int = 1) -> float:
    """The expected CPU seconds of run ``spec`` (a weight for the progress bar, not a promise).

    Training steps (``budget``) cost :data:`TRAIN_STEP_S` each; every evaluated episode (the
    final ones and the learning curve's) costs its steps at :data:`ORACLE_STEP_S` for the oracle
    or :data:`ACT_STEP_S` for the others, plus :data:`BOUND_EPISODE_S` with the oracle bound,
    divided by ``bound_shared_by``: the runs of one (env, seed) share one solve of each bound.
    """
    import gymnasium as gym

    from edgecloud_gym.registration import EPISODE_STEPS

    try:
        steps = gym.spec(spec.env).max_episode_steps or EPISODE_STEPS
    except gym.error.Error:  # an id not registered in this process: the usual length
        steps = EPISODE_STEPS
    curve_episodes = (spec.budget // max(spec.eval_freq, 1)) * spec.eval_episodes
    # the planners: the LP plan, and MPC's rollouts on the model (about as costly per step)
    act = ORACLE_STEP_S if spec.zoo_name in ("oracle", "mpc", "mpc-clairvoyant") else ACT_STEP_S
    bound = BOUND_EPISODE_S * spec.episodes / max(bound_shared_by, 1) if spec.oracle_bound else 0.0
    episodes = spec.episodes + curve_episodes
    return RUN_S + spec.budget * TRAIN_STEP_S + episodes * steps * act + bound
