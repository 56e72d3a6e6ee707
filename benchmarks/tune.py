"""``edgecloud tune``: tune a share rule's parameters per env on training seeds.

``local-first`` is tuned by a grid over its ``threshold`` (0.4 to 1.2 of capacity, step 0.05);
``autoscale`` (joint control) by a grid over its autoscaler's target utilisation (0.2 to 0.95,
step 0.05), and ``local-first-autoscale`` over both (threshold step 0.1);
``best-constant`` by the cross-entropy method over its shares (softmax of Gaussian logits,
``--iterations`` rounds of ``--samples`` candidates, the best quarter refitting the Gaussian).
Both maximise the mean return over the training seeds, which are disjoint from the evaluation
seeds of the suites (those start at 10^6). The result is written into the shipped tuned file
(``agents/tuned/rules.json``, or ``--out``) under the agent and the env id, with the model
version, the seeds and the training return, and the tuned rule is then scored on
``--test-seeds`` next to the static allocation.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from edgecloud_bench._io import atomic_write_text

__all__ = ["add_parser", "tune_rule"]

_TUNABLE = ("local-first", "best-constant", "autoscale", "local-first-autoscale")
#: Grid of the autoscaler's target utilisation (joint control).
_TARGETS = tuple(round(float(x), 2) for x in np.arange(0.2, 0.9501, 0.05))


def _mean_return(agent: Any, env: Any, seeds: list[int]) -> float:
    from edgecloud_bench.evaluation import evaluate

    return float(np.mean([e["return"] for e in evaluate(agent, env, None, seeds)]))


def tune_rule(
    agent: str,
    env_id: str,
    seeds: list[int],
    *,
    iterations: int = 12,
    samples: int = 16,
    rng_seed: int = 0,
) -> tuple[dict[str, Any], float]:
    """The best parameters of ``agent`` on ``env_id`` over ``seeds`` and their mean return."""
    from edgecloud_agents.registry import make_agent, make_env_for

    env = make_env_for(agent, env_id, seed=0)
    if agent == "local-first":
        grid = np.round(np.arange(0.4, 1.2001, 0.05), 2)
        scores = [_mean_return(make_agent(agent, env, threshold=float(t)), env, seeds)
                  for t in grid]  # fmt: skip
        best = int(np.argmax(scores))
        return {"threshold": float(grid[best])}, float(scores[best])
    if agent in ("autoscale", "local-first-autoscale"):
        if env.unwrapped.sim.control != "joint":
            raise ValueError(
                f"{agent} is tuned in joint control (EdgeCloud-Joint-*-v0): under routing "
                f"control the env's own autoscaler sets the capacity; got {env_id!r}."
            )
        thresholds = np.round(np.arange(0.4, 1.2001, 0.1), 2) if agent != "autoscale" else [None]
        grid = [(t, u) for t in thresholds for u in _TARGETS]
        scores = []
        for t, u in grid:
            params = {"target_utilisation": u} | ({} if t is None else {"threshold": float(t)})
            scores.append(_mean_return(make_agent(agent, env, **params), env, seeds))
        t, u = grid[int(np.argmax(scores))]
        best = {"target_utilisation": u} | ({} if t is None else {"threshold": float(t)})
        return best, float(max(scores))
    if agent != "best-constant":
        raise ValueError(f"edgecloud tune tunes {', '.join(_TUNABLE)}, got {agent!r}.")
    rng = np.random.default_rng(rng_seed)
    static = env.unwrapped.sim.params.static_shares[0]
    mean, std = np.log(static), np.full(static.size, 1.0)
    # the start is static itself, scored as such (without shares the agent would take the
    # shipped tuned ones, and a score of those would be recorded for static)
    best_params = static
    best_score = _mean_return(make_agent(agent, env, shares=list(static)), env, seeds)
    for _ in range(iterations):
        logits = mean + std * rng.standard_normal((samples, static.size))
        shares = np.exp(logits - logits.max(axis=1, keepdims=True))
        shares /= shares.sum(axis=1, keepdims=True)
        scores = np.array(
            [_mean_return(make_agent(agent, env, shares=list(x)), env, seeds) for x in shares]
        )
        elite = np.argsort(scores)[-max(2, samples // 4) :]
        mean, std = logits[elite].mean(axis=0), logits[elite].std(axis=0) + 0.05
        if scores.max() > best_score:
            best_score, best_params = float(scores.max()), shares[int(np.argmax(scores))]
    return {"shares": [round(float(x), 6) for x in best_params]}, best_score


def _seeds(text: str) -> list[int]:
    try:
        if "-" in text:
            lo, hi = (int(x) for x in text.split("-"))
            return list(range(lo, hi + 1))
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"seeds must be 'LO-HI' or a comma-separated list, got {text!r}."
        ) from None


def add_parser(commands: Any) -> None:
    """Add ``tune`` to the top-level subcommands."""
    p = commands.add_parser(
        "tune",
        help="tune the share rules (local-first, best-constant) and the autoscaling rules "
        "(autoscale, local-first-autoscale, joint ids) per env on training seeds",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--agent", required=True, choices=_TUNABLE, help="the rule to tune")
    p.add_argument("--env", nargs="+", required=True, help="allocation env ids")
    p.add_argument("--train-seeds", type=_seeds, default="100-109", help="seeds tuned on")
    p.add_argument("--test-seeds", type=_seeds, default="0-9", help="seeds scored on after")
    p.add_argument("--iterations", type=int, default=12, help="best-constant: CEM rounds")
    p.add_argument("--samples", type=int, default=16, help="best-constant: candidates a round")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="tuned file to update (default: the package's agents/tuned/rules.json)",
    )
    p.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:
    from importlib import resources

    from edgecloud_agents.registry import make_agent, make_env_for
    from edgecloud_bench.evaluation import check_env_id
    from edgecloud_gym.model_version import MODEL_VERSION

    for env_id in args.env:
        check_env_id(env_id)
    if set(args.train_seeds) & set(args.test_seeds):
        raise ValueError("--train-seeds and --test-seeds must be disjoint.")
    if args.iterations < 1 or args.samples < 2:
        raise ValueError("--iterations must be at least 1 and --samples at least 2.")
    out = args.out or Path(str(resources.files("edgecloud_agents") / "tuned" / "rules.json"))
    data = json.loads(out.read_text("utf-8")) if out.exists() else {}
    if data.get("model_version", 0) != MODEL_VERSION:
        # tuned on another model: start afresh (the rules fall back to their defaults meanwhile)
        data = {"model_version": MODEL_VERSION}
        out.write_text(json.dumps(data, indent=1) + "\n", "utf-8")
    data["model_version"] = MODEL_VERSION
    data["command"] = "edgecloud tune (see 'tuning' for each entry's seeds)"
    print("| env | agent | params | train return | test: static | test: tuned | improvement |")
    print("|---|---|---|---:|---:|---:|---:|")
    for env_id in args.env:
        params, score = tune_rule(
            args.agent, env_id, args.train_seeds, iterations=args.iterations, samples=args.samples
        )
        data.setdefault("agents", {}).setdefault(args.agent, {})[env_id] = params
        data.setdefault("tuning", {}).setdefault(args.agent, {})[env_id] = {
            "train_seeds": args.train_seeds,
            "train_return": score,
        }
        env = make_env_for(args.agent, env_id, seed=0)
        tuned = _mean_return(make_agent(args.agent, env, **params), env, args.test_seeds)
        static_env = make_env_for("static", env_id, seed=0)
        static = _mean_return(make_agent("static", static_env), static_env, args.test_seeds)
        gain = (tuned - static) / abs(static)
        print(f"| {env_id} | {args.agent} | {params} | {score:.2f} | {static:.2f} | "
              f"{tuned:.2f} | {gain:+.1%} |", flush=True)  # fmt: skip
    atomic_write_text(out, json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out}")
    return 0
