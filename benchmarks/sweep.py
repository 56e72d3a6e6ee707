"""``edgecloud bench sweep``: tune a learner's hyperparameters with Optuna, on its own seeds.

A sweep trains one zoo learner (``dqn``, ``dqn-forecast``, ``ppo``, ...) on one env id for
``--budget`` env steps per trial and scores it by its mean return over ``--episodes`` evaluation
episodes, averaged over the training seeds ``--seeds``. Optuna's TPE sampler (seeded) proposes
each trial's hyperparameters from the algorithm's search space (:data:`SPACES`); the first
trial is always the shipped hyperparameter file's values, so the table says how far the shipped
values are from the best found. Evaluation episodes use reset seeds from
:data:`SWEEP_SEED_BASE` on, disjoint from the suites' evaluation and learning-curve seeds
(:mod:`edgecloud_bench.run`): a sweep never sees the episodes its results are reported on.

Files in ``--out``: ``study.db`` (Optuna's SQLite storage: a killed sweep resumes where it
stopped, the trial in flight is marked failed and run again), ``trials.csv`` (every finished
trial: its number, return, seconds and hyperparameters), ``best.yml`` (the best trial's values
over the shipped ones, in rl_zoo3's format under the env id: a drop-in hyperparameter file) and
``sweep.png`` (each trial's return, the best so far, the shipped values' return, and for scale
the returns of ``static`` and the tuned ``local-first`` rule on the same episodes).

Cost: a trial costs what ``len(seeds)`` learner runs of ``--budget`` steps cost
(``edgecloud bench cost`` measures a learner's ms per step on this machine).
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgecloud_bench._io import atomic_write_text, check_writable, save_png

__all__ = ["SPACES", "SWEEP_SEED_BASE", "add_parser", "run_sweep", "shipped_values"]

#: Base reset seed of a sweep's evaluation episodes: training seed s evaluates on
#: ``SWEEP_SEED_BASE + 1000 s + i`` (the suites use 100,000 and 200,000 on).
SWEEP_SEED_BASE = 300_000

#: One search dimension: ("log", low, high), ("float", low, high) or ("choice", [values]).
Dimension = tuple[Any, ...]

_NETS = ("[64, 64]", "[128, 128, 128]", "[256, 256]")

#: The search space of each algorithm: the hyperparameters a sweep varies and their ranges. The
#: others keep the shipped file's values. Choices that are lists or dicts are written as strings
#: (``net_arch``), which is how rl_zoo3's files hold them.
SPACES: dict[str, dict[str, Dimension]] = {
    "dqn": {
        "learning_rate": ("log", 1e-4, 3e-3),
        "batch_size": ("choice", [32, 64, 128]),
        "buffer_size": ("choice", [20_000, 50_000, 100_000]),
        "gamma": ("choice", [0.9, 0.95, 0.98, 0.99]),
        "train_freq": ("choice", [1, 4, 8]),
        "target_update_interval": ("choice", [250, 1000, 4000]),
        "exploration_fraction": ("float", 0.05, 0.5),
        "exploration_final_eps": ("float", 0.01, 0.1),
        "net_arch": ("choice", list(_NETS)),
    },
    "ppo": {
        "learning_rate": ("log", 5e-5, 1e-3),
        "n_steps": ("choice", [128, 256, 512]),
        "batch_size": ("choice", [64, 128, 256]),
        "n_epochs": ("choice", [5, 10, 20]),
        "gamma": ("choice", [0.9, 0.95, 0.98, 0.99]),
        "gae_lambda": ("choice", [0.9, 0.95, 0.98]),
        "clip_range": ("choice", [0.1, 0.2, 0.3]),
        "ent_coef": ("log", 1e-4, 5e-2),
        "net_arch": ("choice", list(_NETS)),
    },
}


#: The learners a sweep tunes and the shipped hyperparameter file each reads.
_FILES = {"dqn": "dqn", "dqn-forecast": "dqn-forecast", "ppo": "ppo", "ppo-continuous": "ppo"}


def _algorithm(agent: str) -> str:
    """The algorithm whose search space an agent of the zoo uses."""
    from edgecloud_bench import zoo

    zoo.check_agent_name(agent)
    if agent not in _FILES:
        raise ValueError(
            f"--agent {agent!r} has no hyperparameter search space; sweep one of the SB3 "
            f"learners with a hyperparameter file ({', '.join(_FILES)})."
        )
    return "ppo" if agent.startswith("ppo") else "dqn"


def _shipped(agent: str, env_id: str) -> dict[str, Any]:
    """The shipped hyperparameter file's entry for ``env_id`` (``policy_kwargs`` a dict)."""
    from edgecloud_agents.sb3_agent import load_hyperparams

    _algorithm(agent)
    return load_hyperparams(env_id, _FILES[agent])


def shipped_values(agent: str, env_id: str) -> dict[str, Any]:
    """The shipped hyperparameter file's values of the searched dimensions, as a trial's
    parameters (``net_arch`` from ``policy_kwargs``)."""
    params = _shipped(agent, env_id)
    space = SPACES[_algorithm(agent)]
    out = {k: params[k] for k in space if k in params}
    if "net_arch" in space:
        arch = (params.get("policy_kwargs") or {}).get("net_arch")
        out["net_arch"] = str(list(arch)) if arch is not None else _NETS[1]
    return out


def overrides(values: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's parameters as the agent's keyword overrides (``net_arch`` into
    ``policy_kwargs``)."""
    out = {k: v for k, v in values.items() if k != "net_arch"}
    if "net_arch" in values:
        out["policy_kwargs"] = f"dict(net_arch={values['net_arch']})"
    if "batch_size" in out and "n_steps" in out:  # PPO: a minibatch no larger than a rollout
        out["batch_size"] = min(int(out["batch_size"]), int(out["n_steps"]))
    return out


def _suggest(trial: Any, space: Mapping[str, Dimension]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, dim in space.items():
        kind = dim[0]
        if kind == "log":
            values[name] = trial.suggest_float(name, dim[1], dim[2], log=True)
        elif kind == "float":
            values[name] = trial.suggest_float(name, dim[1], dim[2])
        else:
            values[name] = trial.suggest_categorical(name, dim[1])
    return values


def score_trial(
    agent: str,
    env_id: str,
    values: Mapping[str, Any],
    *,
    budget: int,
    seeds: Sequence[int],
    episodes: int,
    report: Callable[[float, int], None] | None = None,
) -> float:
    """Mean return of ``agent`` trained with ``values`` for ``budget`` steps, over ``seeds``
    (each scored on ``episodes`` episodes from :data:`SWEEP_SEED_BASE`)."""
    from edgecloud_bench import zoo
    from edgecloud_bench.evaluation import evaluate

    returns = []
    for i, seed in enumerate(seeds):
        env = zoo.make_env(agent, env_id, seed=seed)
        learner = zoo.make(agent, env, seed=seed, **overrides(values))
        learner.learn(budget, progress_bar=False)
        eval_seeds = [SWEEP_SEED_BASE + 1000 * seed + j for j in range(episodes)]
        returns.append(np.mean([e["return"] for e in evaluate(learner, env, None, eval_seeds)]))
        env.close()
        if report is not None:
            report(float(np.mean(returns)), i)
    return float(np.mean(returns))


#: Rules scored on a sweep's evaluation episodes, for scale (the paper's baseline and the tuned
#: rule that the learners lose to at full budget).
REFERENCES = ("static", "local-first")


def reference_returns(env_id: str, seeds: Sequence[int], episodes: int) -> dict[str, float]:
    """Mean return of each rule of :data:`REFERENCES` on a sweep's evaluation episodes."""
    from edgecloud_bench import zoo
    from edgecloud_bench.evaluation import evaluate

    out = {}
    for rule in REFERENCES:
        returns = []
        for seed in seeds:
            env = zoo.make_env(rule, env_id, seed=seed)
            eval_seeds = [SWEEP_SEED_BASE + 1000 * seed + j for j in range(episodes)]
            agent = zoo.make(rule, env, seed=seed)
            returns.append(np.mean([e["return"] for e in evaluate(agent, env, None, eval_seeds)]))
            env.close()
        out[rule] = float(np.mean(returns))
    return out


def _load_study(out: Path, agent: str, env_id: str, sampler_seed: int) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{out / 'study.db'}"
    name = f"{agent}__{env_id}"
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=sampler_seed, n_startup_trials=8),
        load_if_exists=True,
    )
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)  # in flight when killed
    return study


def _check_settings(study: Any, settings: Mapping[str, Any], out: Path) -> None:
    """A resumed study must have been made with the same settings (its trials are compared)."""
    old = study.user_attrs.get("settings")
    if old is None:
        study.set_user_attr("settings", dict(settings))
        return
    if dict(old) != dict(settings):
        changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
        raise ValueError(
            f"{out / 'study.db'} holds a sweep with other settings ({', '.join(changed)}: "
            f"{ {k: old.get(k) for k in changed} }); use another --out folder or the same "
            "settings."
        )


def run_sweep(
    agent: str,
    env_id: str,
    out: str | Path,
    *,
    trials: int = 24,
    budget: int = 20_000,
    seeds: Sequence[int] = (0, 1),
    episodes: int = 3,
    sampler_seed: int = 0,
    progress: bool = True,
) -> Any:
    """Run (or resume) a sweep until ``trials`` trials have finished; write its files.

    Returns the Optuna study. Raises ``ValueError`` naming the bad argument.
    """
    from edgecloud_bench import zoo
    from edgecloud_bench.evaluation import check_env_id
    from edgecloud_gym.model_version import MODEL_VERSION

    algo = _algorithm(agent)
    check_env_id(env_id)
    for name, value, low in (("--trials", trials, 1), ("--budget", budget, 1),
                             ("--episodes", episodes, 1)):  # fmt: skip
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    seeds = [int(s) for s in seeds]
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds must be distinct integers >= 0, got {seeds!r}.")
    zoo.make_env(agent, env_id, seed=0).close()  # the agent can act in this env
    out = check_writable(Path(out))
    out.mkdir(parents=True, exist_ok=True)
    import optuna

    study = _load_study(out, agent, env_id, sampler_seed)
    settings = {"agent": agent, "env": env_id, "budget": budget, "seeds": seeds,
                "episodes": episodes, "sampler_seed": sampler_seed,
                "model_version": MODEL_VERSION}  # fmt: skip
    _check_settings(study, settings, out)
    if "references" not in study.user_attrs:
        study.set_user_attr("references", reference_returns(env_id, seeds, episodes))
    space = SPACES[algo]
    if not study.get_trials(deepcopy=False):
        study.enqueue_trial(shipped_values(agent, env_id), user_attrs={"shipped": True})

    def objective(trial: Any) -> float:
        values = _suggest(trial, space)
        started = time.perf_counter()
        value = score_trial(agent, env_id, values, budget=budget, seeds=seeds, episodes=episodes)
        trial.set_user_attr("seconds", time.perf_counter() - started)
        return value

    done = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
    left = max(trials - done, 0)
    if left:
        from tqdm.auto import tqdm

        with tqdm(total=trials, initial=done, desc=f"sweep {agent} on {env_id}",
                  disable=not progress) as bar:  # fmt: skip

            def tick(study_: Any, trial: Any) -> None:
                bar.update(1)
                bar.set_postfix_str(f"best {study_.best_value:.2f}", refresh=False)

            study.optimize(objective, n_trials=left, callbacks=[tick], catch=())
    write_files(study, out, agent, env_id)
    return study


def _complete(study: Any) -> list[Any]:
    import optuna

    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def write_files(study: Any, out: Path, agent: str, env_id: str) -> None:
    """``trials.csv``, ``best.yml`` and ``sweep.png`` of a study."""
    finished = _complete(study)
    if not finished:
        return
    names = sorted({k for t in finished for k in t.params})
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["trial", "return", "seconds", "shipped", *names])
    for t in finished:
        writer.writerow([t.number, f"{t.value:.4f}", f"{t.user_attrs.get('seconds', math.nan):.1f}",
                         int(bool(t.user_attrs.get("shipped"))),
                         *(t.params.get(k, "") for k in names)])  # fmt: skip
    atomic_write_text(out / "trials.csv", buf.getvalue())
    atomic_write_text(out / "best.yml", best_yaml(study, agent, env_id))
    _plot(finished, study.user_attrs.get("references", {}), out / "sweep.png",
          f"{agent} on {env_id}")  # fmt: skip


def best_yaml(study: Any, agent: str, env_id: str) -> str:
    """The best trial's values over the shipped hyperparameters, in rl_zoo3's format."""
    import yaml

    best = max(_complete(study), key=lambda t: t.value)
    settings = study.user_attrs.get("settings", {})
    params = _shipped(agent, env_id)
    if isinstance(params.get("policy_kwargs"), Mapping):  # rl_zoo3 writes it as a string
        kw = ", ".join(f"{k}={v!r}" for k, v in params["policy_kwargs"].items())
        params["policy_kwargs"] = f"dict({kw})"
    params.update(overrides(best.params))
    shipped = [t for t in _complete(study) if t.user_attrs.get("shipped")]
    lines = [
        f"# edgecloud bench sweep: the best of {len(_complete(study))} trials of {agent} on "
        f"{env_id} (trial {best.number}),",
        f"# {settings.get('budget')} env steps per trial, training seeds {settings.get('seeds')}, "
        f"{settings.get('episodes')} evaluation episodes each, model version "
        f"{settings.get('model_version')}.",
        f"# Mean return {best.value:.2f}"
        + (f"; the shipped values' {shipped[0].value:.2f}." if shipped else "."),
    ]
    refs = study.user_attrs.get("references", {})
    if refs:
        lines.append(
            "# On the same episodes: " + ", ".join(f"{k} {v:.2f}" for k, v in refs.items())
        )
    body = yaml.safe_dump({env_id: params}, sort_keys=True)
    return "\n".join(lines) + "\n" + body


def _plot(finished: Sequence[Any], references: Mapping[str, float], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    numbers = [t.number for t in finished]
    values = [t.value for t in finished]
    fig, ax = plt.subplots(figsize=(8.0, 3.6))
    ax.plot(numbers, values, "o", ms=4, color="tab:blue", label="trial")
    ax.step(numbers, np.maximum.accumulate(values), where="post", color="tab:green",
            label="best so far")  # fmt: skip
    shipped = [t.value for t in finished if t.user_attrs.get("shipped")]
    if shipped:
        ax.axhline(shipped[0], color="tab:gray", ls="--", lw=1, label="shipped values")
    for (rule, value), color in zip(references.items(), ("tab:red", "tab:orange"), strict=False):
        ax.axhline(value, color=color, ls=":", lw=1, label=f"{rule} (same episodes)")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel("mean evaluation return")
    ax.set_title(f"Hyperparameter sweep: {title}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.tight_layout()
    save_png(fig, path)
    plt.close(fig)


# --------------------------------------------------------------------------- command line


def add_parser(subparsers: Any) -> None:
    """Add ``edgecloud bench sweep`` to the ``bench`` subcommands."""
    p = subparsers.add_parser(
        "sweep",
        help="tune a learner's hyperparameters with Optuna (resumable)",
        description=__doc__.split("\n\n")[0].split(": ", 1)[1]
        + " Writes study.db, trials.csv, best.yml and sweep.png into --out; rerunning resumes.",
    )
    p.add_argument("--agent", default="dqn", help="zoo learner (dqn, dqn-forecast, ppo, ...)")
    p.add_argument("--env", default="EdgeCloud-High-v0", help="env id")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--trials", type=int, default=24, help="trials to finish (default 24)")
    p.add_argument("--budget", type=int, default=20_000, help="env steps per trial and seed")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="training seeds")
    p.add_argument("--episodes", type=int, default=3, help="evaluation episodes per seed")
    p.add_argument("--sampler-seed", type=int, default=0, help="seed of the TPE sampler")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    study = run_sweep(
        args.agent,
        args.env,
        args.out,
        trials=args.trials,
        budget=args.budget,
        seeds=args.seeds,
        episodes=args.episodes,
        sampler_seed=args.sampler_seed,
        progress=not args.no_progress,
    )
    finished = sorted(_complete(study), key=lambda t: -t.value)
    shipped = [t for t in finished if t.user_attrs.get("shipped")]
    print("| rank | trial | return | shipped |")
    print("|---:|---:|---:|:---:|")
    for rank, t in enumerate(finished[:10], 1):
        mark = "yes" if t.user_attrs.get("shipped") else ""
        print(f"| {rank} | {t.number} | {t.value:.2f} | {mark} |")
    if shipped:
        rank = finished.index(shipped[0]) + 1
        print(f"\nshipped values: rank {rank} of {len(finished)}, return {shipped[0].value:.2f}")
    for rule, value in study.user_attrs.get("references", {}).items():
        print(f"{rule} on the same episodes: {value:.2f}")
    print(f"best: trial {finished[0].number}, return {finished[0].value:.2f}; "
          f"{Path(args.out) / 'best.yml'} ({time.perf_counter() - started:.0f} s)")  # fmt: skip
    return 0
