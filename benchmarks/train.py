"""``edgecloud train``: train one agent with TensorBoard logs and save it.

Writes into ``--out``:

- ``{run}/agent.zip``: the saved agent (``agent.save``, the zoo's agent file; load it with
  ``edgecloud evaluate --agent NAME --load PATH``);
- ``{run}/run.json``: the settings, the learning curve, its convergence speed and the final
  evaluation's mean metrics;
- ``tb/{run}_1/``: TensorBoard logs (scalars under ``train/``, ``rollout/``, ``env/``, ``eval/``,
  ``time/`` and the hyperparameters; see :mod:`edgecloud_bench.callbacks`),

where ``{run}`` is ``{env}__{agent}__{seed}__{time}``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from edgecloud_bench._io import atomic_write_json, check_writable
from edgecloud_bench.evaluation import check_env_id, evaluate, summarise_episodes

__all__ = ["add_parser", "train"]


def _nonnegative(name: str, value: int) -> int:
    if value < 0:
        raise ValueError(f"{name} must be >= 0 env steps, got {value}.")
    return value


def train(
    agent_name: str,
    env_id: str,
    steps: int,
    out: str | Path,
    *,
    seed: int = 0,
    eval_freq: int | None = None,
    eval_episodes: int = 2,
    final_episodes: int = 5,
    tensorboard: bool = True,
    progress_bar: bool = False,
    **agent_kwargs: Any,
) -> dict[str, Any]:
    """Train ``agent_name`` on ``env_id`` for ``steps`` env steps, save it and evaluate it.

    Args:
        agent_name: A zoo agent (``edgecloud_agents.registry.AGENTS``).
        env_id: A registered allocation id.
        steps: Training budget in env steps (0 for an agent that does not learn).
        out: Output folder.
        seed: Seed of the agent and the training env.
        eval_freq: Env steps between learning-curve evaluations (default: a tenth of ``steps``).
        eval_episodes: Episodes per learning-curve evaluation.
        final_episodes: Episodes of the final evaluation.
        tensorboard: Write TensorBoard logs under ``out/tb``.
        progress_bar: Show SB3's progress bar.
        **agent_kwargs: Passed to ``make_agent``.

    Returns:
        The record written to ``{run}/run.json`` (with ``saved`` the saved agent's path).
    """
    from edgecloud_bench import zoo
    from edgecloud_bench.callbacks import run_name, training_callbacks
    from edgecloud_bench.stats import convergence_step

    zoo.check_agent_name(agent_name)
    check_env_id(env_id)
    _nonnegative("--steps", steps)
    freq = eval_freq if eval_freq is not None else max(1, steps // 10)
    if freq < 1:
        raise ValueError(f"--eval-freq must be >= 1 env step, got {freq}.")
    out = check_writable(Path(out))
    name = run_name(env_id, agent_name, seed)
    tb = str(out / "tb") if tensorboard else None
    env = zoo.make_env(agent_name, env_id, seed=seed)
    agent = zoo.make(agent_name, env, seed=seed, tensorboard_log=tb, **agent_kwargs)
    curve: list[tuple[int, float]] = []
    if steps > 0:
        eval_env = zoo.make_env(agent_name, env_id, seed=seed)
        callbacks, evaluation = training_callbacks(
            eval_env,
            eval_freq=freq,
            eval_episodes=eval_episodes,
            eval_seeds=200_000,
            hparams={
                "agent": agent_name,
                "env": env_id,
                "seed": seed,
                "budget": steps,
                **agent_kwargs,
            },
            agent=agent,
        )
        agent.learn(steps, callback=callbacks, tb_log_name=name, progress_bar=progress_bar)
        curve = evaluation.curve
        eval_env.close()
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    saved = folder / "agent.zip"
    agent.save(saved)
    episodes = evaluate(agent, env, final_episodes, 100_000)
    env.close()
    conv = convergence_step(*zip(*curve, strict=True)) if curve else math.nan
    record = {
        "agent": agent_name,
        "env": env_id,
        "seed": seed,
        "steps": steps,
        "run_name": name,
        "saved": str(saved),
        "learning_curve": [list(p) for p in curve],
        "convergence_steps": conv if math.isfinite(conv) else None,
        "metrics": summarise_episodes(episodes),
    }
    atomic_write_json(folder / "run.json", record)
    return record


def add_parser(subparsers: Any) -> None:
    """Add ``edgecloud train`` to the command's subparsers."""
    p = subparsers.add_parser(
        "train",
        help="train one agent with TensorBoard logs, save it and evaluate it",
        description="Train an agent of the zoo on one env, logging to OUT/tb, and save it under "
        "OUT/{env}__{agent}__{seed}__{time}/ with run.json (learning curve, final metrics).",
    )
    p.add_argument("--agent", required=True, help="agent name, e.g. dqn, dqn-forecast, static")
    p.add_argument("--env", default="EdgeCloud-Medium-v0", help="allocation env id")
    p.add_argument("--steps", type=int, default=20_000, help="training budget in env steps")
    p.add_argument("--seed", type=int, default=0, help="seed of the agent and the training env")
    p.add_argument("--out", default="runs", help="output folder")
    p.add_argument(
        "--eval-freq",
        type=int,
        default=None,
        help="env steps between evaluations (default: a tenth of --steps)",
    )
    p.add_argument("--eval-episodes", type=int, default=2, help="episodes per evaluation")
    p.add_argument("--no-tensorboard", action="store_true", help="skip the TensorBoard logs")
    p.add_argument("--progress", action="store_true", help="show a training progress bar")
    p.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:
    if args.eval_episodes < 1:
        raise ValueError(f"--eval-episodes must be >= 1, got {args.eval_episodes}.")
    record = train(
        args.agent,
        args.env,
        args.steps,
        args.out,
        seed=args.seed,
        eval_freq=args.eval_freq,
        eval_episodes=args.eval_episodes,
        tensorboard=not args.no_tensorboard,
        progress_bar=args.progress,
    )
    m = record["metrics"]
    print(
        f"{args.agent} on {args.env}, {args.steps:,} steps: return {m['return']:.2f}, "
        f"latency {m['latency_mean_ms']:.1f} ms, utilisation {m['utilisation']:.3f}"
    )
    print(f"saved: {record['saved']}")
    return 0
