"""``edgecloud bench headroom``: the strong baselines against static, per profile, paired.

Every policy plays the same episodes (reset seeds ``--seeds``) of each profile; the table gives
each one's mean return, its improvement over static in percent of static's (interquartile mean,
95 % paired stratified bootstrap interval, :func:`edgecloud_bench.stats.improvement_ci`), and
the strongest *causal* policy (one that sees no future arrivals) per profile. The policies:

=====================  =========================================================================
label                  policy
=====================  =========================================================================
``static``             capacity-proportional shares (the source paper's baseline)
``least-loaded``       join the server with the least expected delay
``local-first``        keep arrivals local up to a tuned threshold (``agents/tuned/rules.json``)
``best-constant``      the best constant shares, tuned on other seeds
``mpc-naive``          one-step model-predictive control on last-value forecasts (discrete
                       actions, exact search)
``mpc-naive-h2``       the same, two steps ahead
``mpc-cem-naive``      one-step MPC over the shares themselves (cross-entropy method)
``mpc-oracle``         one-step MPC on the true arrival rates (not causal)
``mpc-clairvoyant``    one-step MPC on the realised arrivals (not causal)
``mpc-cem-clairvoyant``  the same over the shares themselves (not causal)
=====================  =========================================================================

Next to them, ``bound`` is the per-step relaxation bound of each episode
(:func:`edgecloud_agents.step_bound.step_bound`): no policy can return more on that episode. The
page gives its gap over the best primal (the best non-causal MPC of the episode), and the run
fails if any policy's return exceeds the bound on any episode.

Writes ``DIR/headroom.md`` and ``DIR/headroom.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgecloud_bench._io import atomic_write_text, check_writable

__all__ = ["POLICIES", "add_parser", "run_headroom"]

_WEIGHTS = {"action_mode": "weights"}
#: label -> (agent name, make_agent kwargs, env kwargs, causal)
POLICIES: dict[str, tuple[str, dict[str, Any], dict[str, Any], bool]] = {
    "static": ("static", {}, {}, True),
    "least-loaded": ("least-loaded", {}, {}, True),
    "local-first": ("local-first", {}, {}, True),
    "best-constant": ("best-constant", {}, {}, True),
    "mpc-naive": ("mpc", {"forecaster": "naive"}, {}, True),
    "mpc-naive-h2": ("mpc", {"forecaster": "naive", "horizon": 2}, {}, True),
    "mpc-cem-naive": ("mpc", {"forecaster": "naive"}, _WEIGHTS, True),
    "mpc-oracle": ("mpc", {"forecaster": "oracle"}, {}, False),
    "mpc-clairvoyant": ("mpc", {"forecaster": "clairvoyant"}, {}, False),
    "mpc-cem-clairvoyant": ("mpc", {"forecaster": "clairvoyant"}, _WEIGHTS, False),
}
PROFILES = ("EdgeCloud-Low-v0", "EdgeCloud-Medium-v0", "EdgeCloud-High-v0")


def run_headroom(envs: tuple[str, ...], seeds: list[int]) -> dict[str, Any]:
    """Returns per env and policy: the episode returns (in seed order) and the seconds taken."""
    from edgecloud_agents.registry import make_agent, make_env_for
    from edgecloud_bench.evaluation import evaluate

    out: dict[str, Any] = {}
    for env_id in envs:
        out[env_id] = {}
        for label, (agent, kwargs, env_kwargs, _) in POLICIES.items():
            start = time.perf_counter()
            env = make_env_for(agent, env_id, seed=0, **env_kwargs)
            episodes = evaluate(make_agent(agent, env, **kwargs), env, None, seeds)
            out[env_id][label] = {
                "returns": [e["return"] for e in episodes],
                "seconds": time.perf_counter() - start,
            }
            print(f"  {env_id} {label}: {np.mean(out[env_id][label]['returns']):.2f}", flush=True)
            env.close()
        out[env_id]["bound"] = _bounds(env_id, seeds)
        _check_bound(env_id, out[env_id])
    return out


def _bounds(env_id: str, seeds: list[int]) -> dict[str, Any]:
    """The per-step relaxation bound of each episode (the same arrivals as the policies')."""
    from edgecloud_agents.registry import make_env_for
    from edgecloud_agents.step_bound import step_bound

    start = time.perf_counter()
    env = make_env_for("static", env_id, seed=0)
    values = []
    for seed in seeds:
        env.reset(seed=seed)
        values.append(step_bound(env).total)
    env.close()
    print(f"  {env_id} bound: {np.mean(values):.2f}", flush=True)
    return {"returns": values, "seconds": time.perf_counter() - start}


def _check_bound(env_id: str, rows: dict[str, Any]) -> None:
    """Raise if any policy's return exceeds the bound on any episode."""
    bound = np.asarray(rows["bound"]["returns"])
    for label in POLICIES:
        over = np.asarray(rows[label]["returns"]) - bound
        if np.any(over > 1e-9 * np.abs(bound)):
            raise RuntimeError(
                f"{label} returned more than the bound on {env_id} (by up to {over.max():.4g}): "
                "the bound's relaxation is broken; report it with the env id and seeds."
            )


def bound_gaps(rows: dict[str, Any]) -> np.ndarray:
    """Per episode, the bound's gap over the best primal (the best non-causal policy: MPC on the
    true rates or the realised arrivals), in percent of the primal's magnitude."""
    primal = np.max([rows[lb]["returns"] for lb in POLICIES if not POLICIES[lb][3]], axis=0)
    return 100.0 * (np.asarray(rows["bound"]["returns"]) - primal) / np.abs(primal)


def headroom_markdown(data: dict[str, Any], command: str) -> str:
    """The table: mean return and paired improvement over static, strongest causal marked."""
    from edgecloud_bench.stats import improvement_ci
    from edgecloud_gym.model_version import MODEL_VERSION

    lines = [
        f"# Headroom over static (model version {MODEL_VERSION})",
        "",
        f"`{command}`. Improvement in return over static, percent of static's interquartile "
        "mean, with 95 % paired bootstrap intervals; **bold**: the strongest causal policy of "
        "the profile; `*`: not causal (sees the future).",
        "",
        "| policy | " + " | ".join(data) + " |",
        "|---|" + "---:|" * len(data),
    ]
    best: dict[str, str] = {}
    gains: dict[tuple[str, str], Any] = {}
    for env_id, rows in data.items():
        base = [rows["static"]["returns"]]
        for label, row in rows.items():
            ci = improvement_ci([row["returns"]], base, higher_is_better=True, paired=True)
            gains[(label, env_id)] = ci
        causal = [lb for lb in POLICIES if POLICIES[lb][3] and lb != "static"]
        best[env_id] = max(causal, key=lambda lb: gains[(lb, env_id)].estimate)
    labels = [*POLICIES, "bound"] if all("bound" in rows for rows in data.values()) else POLICIES
    for label in labels:
        cells = []
        for env_id, rows in data.items():
            mean = float(np.mean(rows[label]["returns"]))
            ci = gains[(label, env_id)]
            text = f"{mean:.1f} ({ci.estimate:+.1f} % [{ci.low:+.1f}, {ci.high:+.1f}])"
            cells.append(f"**{text}**" if best[env_id] == label else text)
        mark = "" if label == "bound" or POLICIES[label][3] else "`*`"
        lines.append(f"| {label}{mark} | " + " | ".join(cells) + " |")
    if "bound" in labels:
        lines += [
            "",
            "`bound`: the per-step relaxation bound of each episode (`agents/step_bound.py`, "
            "[the argument](../../bound.md)); no policy exceeded it on any episode (checked by "
            "the run). Its gap over the best primal (per episode, the best non-causal policy), "
            "in percent of the primal's return, mean [min, max] over episodes:",
            "",
            "| | " + " | ".join(data) + " |",
            "|---|" + "---:|" * len(data),
            "| bound gap | "
            + " | ".join(
                f"{g.mean():.1f} % [{g.min():.1f}, {g.max():.1f}]"
                for g in (bound_gaps(rows) for rows in data.values())
            )
            + " |",
            "| bound seconds per episode | "
            + " | ".join(
                f"{rows['bound']['seconds'] / len(rows['bound']['returns']):.1f}"
                for rows in data.values()
            )
            + " |",
        ]
    return "\n".join(lines) + "\n"


def add_parser(subparsers: Any) -> None:
    """Add ``bench headroom`` to the ``bench`` subcommands."""
    p = subparsers.add_parser(
        "headroom",
        help="strong baselines (tuned rules, MPC) against static, paired, per profile",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--seeds", type=int, default=10, help="episodes (reset seeds 0..N-1)")
    p.add_argument("--env", nargs="+", default=list(PROFILES), help="allocation env ids")
    p.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:
    from edgecloud_bench.evaluation import check_env_id

    if args.seeds < 2:
        raise ValueError("--seeds must be at least 2 (the intervals pair episodes).")
    for env_id in args.env:
        check_env_id(env_id)
    out = check_writable(args.out)
    command = f"edgecloud bench headroom --seeds {args.seeds} --env {' '.join(args.env)}"
    data = run_headroom(tuple(args.env), list(range(args.seeds)))
    text = headroom_markdown(data, command)
    atomic_write_text(out / "headroom.md", text)
    atomic_write_text(out / "headroom.json", json.dumps({"command": command, "runs": data},
                                                        indent=1) + "\n")  # fmt: skip
    print(text)
    return 0
