"""``edgecloud bench cost``: what a suite costs on this machine, measured before it is run.

For every agent of a suite, on its first env with seed 0, one process with one torch thread
(as the suite's workers run) measures:

- **build**: seconds to make the env and the agent (paid once per run);
- **train**: CPU seconds per env step of ``agent.learn`` over a slice of ``--slice-steps`` steps,
  after ``--warm-steps`` untimed steps that fill the replay buffer up to where updates start
  (learners only; the agent's gradient updates and its env steps included, its construction not);
- **act**: CPU seconds per env step of evaluation (``predict`` and ``step``, whole episodes);
- **bound**: CPU seconds of one episode's LP bound, when the suite asks for it (once: the runs
  of one (env, seed) share their solves).

It then projects every run of the suite: ``build + budget * train + (final episodes +
learning-curve episodes) * episode length * act``, adds the bound once per (env, seed, final
episode), and prints a table
per agent, the suite's total CPU time and its wall time with ``--workers`` parallel runs (the
local executor's default, 2 on this machine's 2 cores). Wall time assumes each worker has a
core of its own; a busier machine takes longer. Writes ``--json`` if given.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgecloud_bench._io import atomic_write_text
from edgecloud_bench.run import RunSpec
from edgecloud_bench.suite import Suite, builtin_suites, load_suite

__all__ = ["AgentCost", "add_parser", "measure_agent", "project_suite"]


@dataclass(frozen=True)
class AgentCost:
    """Measured costs of one agent (seconds; per env step where it says so)."""

    agent: str
    env: str
    build_s: float
    train_s_per_step: float
    act_s_per_step: float


def _episode_steps(env_id: str) -> int:
    import gymnasium as gym

    from edgecloud_gym.registration import EPISODE_STEPS

    try:
        return int(gym.spec(env_id).max_episode_steps or EPISODE_STEPS)
    except gym.error.Error:
        return EPISODE_STEPS


def measure_agent(agent: str, env_id: str, slice_steps: int, warm_steps: int = 1000) -> AgentCost:
    """Measure ``agent`` on ``env_id`` (see the module docstring)."""
    import inspect

    import torch

    from edgecloud_bench import zoo
    from edgecloud_bench.evaluation import evaluate

    torch.set_num_threads(1)
    start = time.process_time()
    env = zoo.make_env(agent, env_id, seed=0)
    learner = zoo.make(agent, env, seed=0)
    build = time.process_time() - start
    train = 0.0
    if zoo.learns(agent) and slice_steps > 0:
        resumable = "reset_num_timesteps" in inspect.signature(learner.learn).parameters
        more = {"reset_num_timesteps": False} if resumable else {}
        if resumable and warm_steps > 0:
            learner.learn(warm_steps, progress_bar=False)
        start = time.process_time()
        learner.learn(slice_steps, progress_bar=False, **more)
        train = (time.process_time() - start) / slice_steps
    steps = _episode_steps(env_id)
    start = time.process_time()
    evaluate(learner, env, None, [0])
    act = (time.process_time() - start) / steps
    env.close()
    return AgentCost(agent, env_id, build, train, act)


def measure_bound(env_id: str) -> float:
    """CPU seconds of one episode's LP bound on ``env_id`` (beside a static agent's episode)."""
    from edgecloud_bench import zoo
    from edgecloud_bench.evaluation import evaluate

    env = zoo.make_env("static", env_id, seed=0)
    agent = zoo.make("static", env, seed=0)
    start = time.process_time()
    evaluate(agent, env, None, [0])
    plain = time.process_time() - start
    start = time.process_time()
    evaluate(agent, env, None, [1], oracle_bound=True)
    bound = time.process_time() - start - plain
    env.close()
    return max(bound, 0.0)


def project_run(spec: RunSpec, cost: AgentCost) -> float:
    """Projected CPU seconds of one run of a suite."""
    steps = _episode_steps(spec.env)
    curve_episodes = (spec.budget // max(spec.eval_freq, 1)) * spec.eval_episodes
    evaluated = (spec.episodes + curve_episodes) * steps * cost.act_s_per_step
    return cost.build_s + spec.budget * cost.train_s_per_step + evaluated


def project_suite(
    suite: Suite, costs: dict[str, AgentCost], runs: Sequence[RunSpec] | None = None
) -> dict[str, dict[str, float]]:
    """Per agent: runs, projected CPU seconds (sum over its runs) and its longest run (the LP
    bound's solves are not in it); of ``runs`` (default: all of the suite's)."""
    out: dict[str, dict[str, float]] = {}
    for spec in suite.runs() if runs is None else runs:
        seconds = project_run(spec, costs[spec.agent])
        row = out.setdefault(spec.agent, {"runs": 0, "cpu_s": 0.0, "longest_s": 0.0})
        row["runs"] += 1
        row["cpu_s"] += seconds
        row["longest_s"] = max(row["longest_s"], seconds)
    return out


def _hms(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def add_parser(subparsers: Any) -> None:
    """Add ``bench cost`` to the ``bench`` subcommands."""
    p = subparsers.add_parser(
        "cost",
        help="measure each agent of a suite briefly and project the suite's CPU and wall time",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--suite", default="paper", help=f"a built-in suite ({', '.join(builtin_suites())}) "
        "or a suite file",
    )  # fmt: skip
    p.add_argument("--slice-steps", type=int, default=2000, help="training steps timed per learner")
    p.add_argument(
        "--warm-steps", type=int, default=1000, help="untimed training steps before the slice"
    )
    p.add_argument("--workers", type=int, default=2, help="parallel runs of the projected suite")
    p.add_argument(
        "--budget",
        type=int,
        default=None,
        help="project with this training budget (and a twentieth of it as eval_freq) for every "
        "learner instead of the suite's, e.g. 100000 for full budgets",
    )
    p.add_argument(
        "--out",
        default=None,
        help="project only the runs not finished in this output folder of the suite",
    )
    p.add_argument(
        "--reuse",
        action="append",
        default=[],
        metavar="DIR",
        help="and not copied from this folder of another suite (as `bench run --reuse`); "
        "repeatable",
    )
    p.add_argument("--json", type=Path, default=None, help="write the measurements and projection")
    p.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:
    if args.slice_steps < 1 or args.workers < 1 or args.warm_steps < 0:
        raise ValueError("--slice-steps and --workers must be at least 1, --warm-steps at least 0.")
    if args.budget is not None and args.budget < 1:
        raise ValueError("--budget must be at least 1.")
    suite = load_suite(args.suite)
    if args.budget is not None:
        from dataclasses import replace

        from edgecloud_bench import zoo

        agents = {
            name: replace(a, budget=args.budget, eval_freq=max(1, args.budget // 20))
            if zoo.learns(a.agent or name)
            else a
            for name, a in suite.agents.items()
        }
        suite = replace(suite, agents=agents)
    runs = None
    if args.out is not None or args.reuse:
        from edgecloud_bench.suite import runs_left

        for src in args.reuse:
            if not (Path(src) / "runs").is_dir():
                raise ValueError(f"--reuse {src}: no runs/ folder there.")
        runs = runs_left(suite, args.out, args.reuse)
        if not runs:
            print(f"suite {suite.name!r}: no run left to compute.")
            return 0
    todo = {s.agent for s in runs} if runs is not None else set(suite.agents)
    costs = {}
    for name, a in suite.agents.items():
        if name not in todo:
            continue
        print(f"  measuring {name} on {suite.envs[0]} ...", flush=True)
        costs[name] = measure_agent(
            a.agent or name, suite.envs[0], args.slice_steps, args.warm_steps
        )
    projection = project_suite(suite, costs, runs)
    bound_s = measure_bound(suite.envs[0]) if suite.oracle_bound else 0.0
    bound_total = bound_s * len(suite.envs) * len(suite.seeds) * suite.episodes
    total = sum(r["cpu_s"] for r in projection.values()) + bound_total
    longest = max(r["longest_s"] for r in projection.values())
    wall = max(total / args.workers, longest)
    lines = [
        f"suite {suite.name!r}: {sum(int(r['runs']) for r in projection.values())} runs"
        + ("" if runs is None else f" left of {len(suite.runs())}"),
        "| agent | runs | build s | train ms/step | act ms/step | projected CPU |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in projection.items():
        c = costs[name]
        lines.append(
            f"| {name} | {int(row['runs'])} | {c.build_s:.2f} | {1e3 * c.train_s_per_step:.3f} | "
            f"{1e3 * c.act_s_per_step:.3f} | {_hms(row['cpu_s'])} |"
        )
    if suite.oracle_bound:
        lines.append(
            f"LP bound: {bound_s:.2f} s per episode, once per (env, seed, episode): "
            f"{_hms(bound_total)}"
        )
    lines.append(
        f"total CPU {_hms(total)} ({total / 3600:.2f} CPU-hours); wall time with "
        f"{args.workers} workers about {_hms(wall)}"
    )
    print("\n".join(lines))
    if args.json is not None:
        data = {
            "suite": suite.name,
            "slice_steps": args.slice_steps,
            "workers": args.workers,
            "budget": args.budget,
            "costs": {k: asdict(v) for k, v in costs.items()},
            "projection": projection,
            "bound_s_per_episode": bound_s,
            "total_cpu_s": total,
            "wall_s": wall,
        }
        atomic_write_text(args.json, json.dumps(data, indent=1) + "\n")
    return 0
