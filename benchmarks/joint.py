"""``edgecloud bench joint``: joint control of routing, capacity and DVFS, per profile, paired.

Every policy plays the same episodes (reset seeds ``0..--seeds-1``) of each joint profile
(``EdgeCloud-Joint-Low/-Medium/-High-v0``: a daily ramp rising over 3 steps and a scheduled
event on node 0, with a boot delay of 5 steps), with no forecasts in the observation
(``forecaster="none"``; the planners make their own). The policies:

=========================  =====================================================================
label                      policy
=========================  =====================================================================
``static``                 static shares, every core at the top level and the nominal clock
``autoscale``              static shares, capacity from the HPA-like autoscaler, nominal clock
``local-first-autoscale``  ``local-first`` shares with the autoscaler's capacity
``mpc-greedy``             one-step MPC (horizon 1) on last-value forecasts
``mpc-naive``              receding-horizon MPC (horizon ``H``) on last-value forecasts
``mpc-lstm``               the same on the forecasts of the LSTM retrained on the joint
                           presets (``lstm-joint``; its last step held beyond its 5)
``mpc-oracle``             the same on the true arrival rates (not causal)
``mpc-clairvoyant``        the same on the realised arrivals (not causal)
=========================  =====================================================================

The MPCs plan the shares and one capacity level and DVFS level per server by the cross-entropy
method (``--samples`` candidates a round, ``--iterations`` rounds; see
:mod:`edgecloud_agents.mpc`), a fresh planner (seed 0) per episode; ``H`` = ``boot_steps`` + 3
(8 with the defaults), so a plan sees the served steps after a boot it pays for.

Per profile and policy the page gives the mean over episodes of return, utilisation (over
active capacity), utilisation over installed capacity, energy per request and SLA violation
rate, each with the paired change against static in percent of static's interquartile mean
(positive = better in the metric's direction) and its 95 % paired bootstrap interval
(:func:`edgecloud_bench.stats.improvement_ci`), then three checks:

(a) *levers matter*: per profile, the spread between the best and the worst policy's mean
    utilisation and energy per request (``(max - min) / min``) is at least 15 %;
(b) *planning matters*: ``mpc-naive`` beats ``mpc-greedy`` in return by at least 5 % (paired,
    of greedy's interquartile mean) on at least 2 profiles;
(c) *forecasts matter*: ``mpc-oracle`` beats ``mpc-naive``: the 95 % paired bootstrap interval
    of their mean return difference lies above 0 (per profile, and pooled over the profiles with
    a stratified bootstrap); and the fraction of that gap that ``mpc-lstm`` closes,
    ``(lstm - naive) / (oracle - naive)`` in mean return, with 30 % the target (given only where
    the gap's interval lies above 0).

Next to them, the per-step relaxation bound of each episode
(:func:`edgecloud_agents.step_bound.step_bound`): no policy can return more on that episode, and
the command fails if one does; the page gives the bound's gap over the best non-causal policy.

Writes ``DIR/joint.md`` and ``DIR/joint.csv`` (one row per profile, policy and episode; the
bound's rows carry its return only).
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgecloud_bench._io import atomic_write_text, check_writable

__all__ = ["METRICS", "PROFILES", "add_parser", "joint_markdown", "policies", "run_joint"]

PROFILES = ("EdgeCloud-Joint-Low-v0", "EdgeCloud-Joint-Medium-v0", "EdgeCloud-Joint-High-v0")
#: Metrics of the table: key -> (column title, format).
METRICS: dict[str, tuple[str, str]] = {
    "return": ("return", "{:.1f}"),
    "utilisation": ("utilisation", "{:.3f}"),
    "utilisation_installed": ("utilisation (installed)", "{:.3f}"),
    "energy_per_request_j": ("energy / request (J)", "{:.3f}"),
    "sla_violation_rate": ("SLA violation rate", "{:.4f}"),
}
#: Thresholds of the checks.
SPREAD_MIN, PLANNING_MIN, CLOSED_TARGET = 15.0, 5.0, 30.0
#: Extra planned steps after the boot delay.
_AFTER_BOOT = 3


def policies(horizon: int, samples: int, iterations: int) -> dict[str, tuple[str, dict, bool]]:
    """label -> (agent name, make_agent kwargs, causal) of the benchmark's policies."""
    search = {"samples": samples, "iterations": iterations}
    return {
        "static": ("static", {}, True),
        "autoscale": ("autoscale", {}, True),
        "local-first-autoscale": ("local-first-autoscale", {}, True),
        "mpc-greedy": ("mpc", {"horizon": 1, "forecaster": "naive", **search}, True),
        "mpc-naive": ("mpc", {"horizon": horizon, "forecaster": "naive", **search}, True),
        "mpc-lstm": ("mpc", {"horizon": horizon, "forecaster": "lstm-joint", **search}, True),
        "mpc-oracle": ("mpc", {"horizon": horizon, "forecaster": "oracle", **search}, False),
        "mpc-clairvoyant": ("mpc-clairvoyant", {"horizon": horizon, **search}, False),
    }


def run_joint(
    envs: tuple[str, ...],
    seeds: list[int],
    *,
    samples: int = 128,
    iterations: int = 6,
    episode_steps: int | None = None,
    progress: bool = True,
    bound: bool = True,
) -> dict[str, Any]:
    """Play every policy on every env and seed. Returns ``{"horizon", "samples", "iterations",
    "episode_steps", "runs": {env: {label: {"episodes": [metrics per seed], "seconds"}}},
    "bounds": {env: [the bound of each episode]}}`` (``bounds`` empty without ``bound``).
    Raises ``RuntimeError`` if a policy returns more than the bound on an episode."""
    import gymnasium as gym

    from edgecloud_agents.registry import make_agent, make_env_for
    from edgecloud_bench.evaluation import evaluate

    gym.register_envs(__import__("edgecloud_gym"))
    boot = gym.make(envs[0]).unwrapped.config.capacity.boot_steps
    horizon = boot + _AFTER_BOOT
    table = policies(horizon, samples, iterations)
    env_kwargs: dict[str, Any] = {"forecaster": "none"}
    if episode_steps is not None:
        env_kwargs["episode_steps"] = int(episode_steps)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(envs) * len(table) * len(seeds), desc="bench joint", unit="episode")
    runs: dict[str, Any] = {}
    try:
        for env_id in envs:
            runs[env_id] = {}
            for label, (agent, kwargs, _) in table.items():
                start = time.perf_counter()
                env = make_env_for(agent, env_id, seed=0, **env_kwargs)
                episodes = []
                for seed in seeds:  # a fresh agent per episode: each one reproducible alone
                    episodes += evaluate(make_agent(agent, env, **kwargs), env, None, [seed])
                    if bar is not None:
                        bar.set_postfix_str(f"{env_id} {label}")
                        bar.update(1)
                env.close()
                runs[env_id][label] = {
                    "episodes": [{k: e[k] for k in (*METRICS, "seed")} for e in episodes],
                    "seconds": time.perf_counter() - start,
                }
    finally:
        if bar is not None:
            bar.close()
    bounds = {env_id: _bounds(env_id, seeds, env_kwargs) for env_id in envs} if bound else {}
    data = {
        "horizon": horizon,
        "samples": samples,
        "iterations": iterations,
        "episode_steps": episode_steps,
        "runs": runs,
        "bounds": bounds,
    }
    for env_id in bounds:
        _check_bound(env_id, data)
    return data


def _bounds(env_id: str, seeds: list[int], env_kwargs: dict[str, Any]) -> list[float]:
    """The per-step relaxation bound of each episode (:func:`edgecloud_agents.step_bound.
    step_bound`, the same workloads as the policies')."""
    import gymnasium as gym

    from edgecloud_agents.step_bound import step_bound

    env = gym.make(env_id, **env_kwargs)
    values = []
    for seed in seeds:
        env.reset(seed=seed)
        values.append(step_bound(env).total)
    env.close()
    return values


def _check_bound(env_id: str, data: dict[str, Any]) -> None:
    """Raise if any policy's return exceeds the bound on any episode."""
    bound = np.asarray(data["bounds"][env_id])
    for label, row in data["runs"][env_id].items():
        over = np.array([e["return"] for e in row["episodes"]]) - bound
        if np.any(over > 1e-9 * np.abs(bound)):
            raise RuntimeError(
                f"{label} returned more than the bound on {env_id} (by up to {over.max():.4g}): "
                "the bound's relaxation is broken; report it with the env id and seeds."
            )


def bound_gaps(data: dict[str, Any], env_id: str) -> tuple[str, np.ndarray]:
    """The best non-causal policy of ``env_id`` (highest mean return) and, per episode, the
    bound's gap over it in percent of its return."""
    causal = {lb: c for lb, (_, _, c) in policies(data["horizon"], 1, 1).items()}
    rows = data["runs"][env_id]
    returns = {lb: np.array([e["return"] for e in r["episodes"]]) for lb, r in rows.items()}
    best = max((lb for lb in returns if not causal[lb]), key=lambda lb: returns[lb].mean())
    primal = returns[best]
    return best, 100.0 * (np.asarray(data["bounds"][env_id]) - primal) / np.abs(primal)


def _values(row: dict[str, Any], metric: str) -> np.ndarray:
    return np.array([float(e[metric]) for e in row["episodes"]])


def _paired_ci(diffs: list[np.ndarray]) -> Any:
    from edgecloud_bench.stats import stratified_ci

    return stratified_ci(diffs, statistic=lambda x: np.mean(x, axis=-1))


def _closed(gain: float, gap: Any) -> float:
    """Percent of the oracle-naive gap ``gap`` (an interval of the mean difference) that a mean
    gain ``gain`` over naive closes; NaN unless the gap's interval lies above 0 (a fraction of
    a gap that may be nil means nothing)."""
    return 100.0 * gain / gap.estimate if gap.low > 0 else math.nan


def checks(data: dict[str, Any]) -> dict[str, Any]:
    """The three checks of the module docstring, with their numbers and verdicts."""
    from edgecloud_bench.stats import improvement_ci

    runs = data["runs"]
    out: dict[str, Any] = {"spread": {}, "planning": {}, "forecasts": {}}
    for env_id, rows in runs.items():
        spread = {}
        for metric in ("utilisation", "energy_per_request_j"):
            means = {lb: float(np.nanmean(_values(r, metric))) for lb, r in rows.items()}
            low, high = min(means.values()), max(means.values())
            spread[metric] = {
                "pct": 100.0 * (high - low) / low if low > 0 else math.nan,
                "best": (max if metric == "utilisation" else min)(means, key=means.get),
                "worst": (min if metric == "utilisation" else max)(means, key=means.get),
            }
        out["spread"][env_id] = spread
        if {"mpc-naive", "mpc-greedy"} <= set(rows):
            out["planning"][env_id] = improvement_ci(
                [_values(rows["mpc-naive"], "return")],
                [_values(rows["mpc-greedy"], "return")],
                higher_is_better=True,
                paired=True,
            )
    have = [e for e, r in runs.items() if {"mpc-naive", "mpc-oracle", "mpc-lstm"} <= set(r)]
    diffs, gains = [], []
    for env_id in have:
        rows = runs[env_id]
        naive, oracle = _values(rows["mpc-naive"], "return"), _values(rows["mpc-oracle"], "return")
        lstm = _values(rows["mpc-lstm"], "return")
        diffs.append(oracle - naive)
        gains.append(lstm - naive)
        ci = _paired_ci([oracle - naive])
        out["forecasts"][env_id] = {
            "gap": ci,
            "closed_pct": _closed(float(np.mean(lstm - naive)), ci),
        }
    if have:
        ci = _paired_ci(diffs)
        out["forecasts"]["pooled"] = {
            "gap": ci,
            "closed_pct": _closed(float(np.mean([g.mean() for g in gains])), ci),
        }
    spread_ok = all(v["pct"] >= SPREAD_MIN for env in out["spread"].values() for v in env.values())
    wins = sum(ci.estimate >= PLANNING_MIN for ci in out["planning"].values())
    pooled = out["forecasts"].get("pooled")
    out["verdicts"] = {
        "levers": bool(out["spread"]) and spread_ok,
        "planning": wins >= 2,
        "planning_wins": wins,
        "forecasts": pooled is not None and pooled["gap"].low > 0,
        "lstm_closes": pooled is not None and bool(pooled["closed_pct"] >= CLOSED_TARGET),
    }
    return out


def _fmt(x: float, spec: str) -> str:
    return "n/a" if not math.isfinite(x) else spec.format(x)


def _pct(x: float) -> str:
    return "n/a (no gap above 0)" if not math.isfinite(x) else f"{x:.0f} %"


def _verdict(ok: bool) -> str:
    return "**pass**" if ok else "**fail**"


def joint_markdown(data: dict[str, Any], command: str) -> str:
    """The page: per profile, the metrics of every policy against static, then the checks."""
    from edgecloud_bench.scores import higher_is_better
    from edgecloud_bench.stats import improvement_ci
    from edgecloud_gym.model_version import MODEL_VERSION

    runs = data["runs"]
    n_seeds = len(next(iter(next(iter(runs.values())).values()))["episodes"])
    steps = data["episode_steps"] or "200 (the registered length)"
    causal = {lb: c for lb, (_, _, c) in policies(data["horizon"], 1, 1).items()}
    seconds = sum(r["seconds"] for rows in runs.values() for r in rows.values())
    lines = [
        f"# Joint control: routing, capacity and DVFS (model version {MODEL_VERSION})",
        "",
        f"`{command}`: {n_seeds} episodes (reset seeds 0..{n_seeds - 1}) of {steps} steps per "
        f"profile and policy, paired (the same workloads for every policy), no forecasts in the "
        f"observation. MPC: horizon {data['horizon']} (boot delay + {_AFTER_BOOT}) except "
        f"`mpc-greedy` (1), cross-entropy method with {data['samples']} candidates a round for "
        f"{data['iterations']} rounds, one capacity level and clock per server held over the "
        f"horizon. Played in {seconds / 60:.1f} min. Policies: see `benchmarks/joint.py`; `*`: "
        "not causal (sees the future).",
        "",
        "Each cell: the mean over episodes, then the paired change against static in percent of "
        "static's interquartile mean, positive = better (higher return and utilisation, lower "
        "energy per request and violation rate), with its 95 % bootstrap interval.",
    ]
    for env_id, rows in runs.items():
        lines += ["", f"## {env_id}", ""]
        lines.append("| policy | " + " | ".join(t for t, _ in METRICS.values()) + " |")
        lines.append("|---|" + "---:|" * len(METRICS))
        for label, row in rows.items():
            cells = []
            for metric, (_, spec) in METRICS.items():
                vals = _values(row, metric)
                mean = float(np.nanmean(vals)) if np.isfinite(vals).any() else math.nan
                text = _fmt(mean, spec)
                if label != "static" and "static" in rows:
                    ci = improvement_ci(
                        [vals],
                        [_values(rows["static"], metric)],
                        higher_is_better=higher_is_better(metric),
                        paired=True,
                    )
                    if math.isfinite(ci.estimate):
                        text += f" ({ci.estimate:+.1f} % [{ci.low:+.1f}, {ci.high:+.1f}])"
                    else:
                        text += " (n/a)"
                cells.append(text)
            mark = "" if causal.get(label, True) else "`*`"
            lines.append(f"| {label}{mark} | " + " | ".join(cells) + " |")

    res = checks(data)
    v = res["verdicts"]
    lines += ["", "## Checks", ""]
    lines.append(
        f"**(a) Levers matter** (spread between the best and worst policy's mean, "
        f"`(max - min) / min`, >= {SPREAD_MIN:.0f} % on every profile, in utilisation and in "
        f"energy per request): {_verdict(v['levers'])}."
    )
    lines += ["", "| profile | utilisation spread | energy / request spread |", "|---|---:|---:|"]
    for env_id, spread in res["spread"].items():
        cells = [
            f"{_fmt(s['pct'], '{:.1f}')} % ({s['best']} best, {s['worst']} worst)"
            for s in spread.values()
        ]
        lines.append(f"| {env_id} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"**(b) Planning matters** (`mpc-naive` over `mpc-greedy` in return, paired, percent of "
        f"greedy's interquartile mean, >= {PLANNING_MIN:.0f} % on >= 2 profiles): "
        f"{_verdict(v['planning'])} ({v['planning_wins']} of {len(res['planning'])}).",
        "",
        "| profile | improvement [95 % interval] |",
        "|---|---:|",
    ]
    for env_id, ci in res["planning"].items():
        lines.append(f"| {env_id} | {ci.estimate:+.1f} % [{ci.low:+.1f}, {ci.high:+.1f}] |")
    lines += [
        "",
        f"**(c) Forecasts matter** (`mpc-oracle` minus `mpc-naive` in mean return, 95 % paired "
        f"bootstrap interval above 0, pooled over the profiles): {_verdict(v['forecasts'])}; "
        f"fraction of that gap closed by `mpc-lstm` (target >= {CLOSED_TARGET:.0f} %, pooled; "
        f"only where the gap's interval lies above 0): {_verdict(v['lstm_closes'])}.",
        "",
        "| profile | oracle - naive [95 % interval] | closed by lstm |",
        "|---|---:|---:|",
    ]
    for env_id, f in res["forecasts"].items():
        gap = f["gap"]
        lines.append(
            f"| {env_id} | {_fmt(gap.estimate, '{:+.2f}')} [{_fmt(gap.low, '{:+.2f}')}, "
            f"{_fmt(gap.high, '{:+.2f}')}] | {_pct(f['closed_pct'])} |"
        )
    if data.get("bounds"):
        lines += [
            "",
            "## Bound",
            "",
            "The per-step relaxation bound of each episode (`edgecloud_agents.step_bound`; "
            "docs/bound.md): in joint control each class is split on its own over servers at "
            "their cheapest capacity and clock, with rejection as a way out. No policy returned "
            "more than it on any episode (the command fails if one does). Gap: the bound over "
            "the best non-causal policy's return, per episode, in percent of that return.",
            "",
            "| profile | bound (mean) | best non-causal policy | its return (mean) | gap % mean "
            "[min, max] |",
            "|---|---:|---|---:|---:|",
        ]
        for env_id in data["bounds"]:
            best, gaps = bound_gaps(data, env_id)
            primal = np.mean([e["return"] for e in runs[env_id][best]["episodes"]])
            lines.append(
                f"| {env_id} | {np.mean(data['bounds'][env_id]):.1f} | `{best}` | {primal:.1f} | "
                f"{gaps.mean():.1f} [{gaps.min():.1f}, {gaps.max():.1f}] |"
            )
    return "\n".join(lines) + "\n"


def joint_csv(data: dict[str, Any]) -> str:
    """One row per profile, policy and episode: its seed and metrics."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["env", "policy", "seed", *METRICS])
    for env_id, rows in data["runs"].items():
        for label, row in rows.items():
            for e in row["episodes"]:
                writer.writerow([env_id, label, e["seed"], *(repr(float(e[m])) for m in METRICS)])
        for seed, value in zip(_seeds(rows), data.get("bounds", {}).get(env_id, []), strict=False):
            writer.writerow(
                [env_id, "bound", seed, repr(float(value)), *([""] * (len(METRICS) - 1))]
            )
    return buf.getvalue()


def _seeds(rows: dict[str, Any]) -> list[int]:
    return [e["seed"] for e in next(iter(rows.values()))["episodes"]]


def write_joint(out: Path, data: dict[str, Any], command: str) -> str:
    """Write ``out/joint.md`` and ``out/joint.csv``; returns the page."""
    text = joint_markdown(data, command)
    atomic_write_text(out / "joint.md", text)
    atomic_write_text(out / "joint.csv", joint_csv(data))
    return text


def add_parser(subparsers: Any) -> None:
    """Add ``bench joint`` to the ``bench`` subcommands."""
    p = subparsers.add_parser(
        "joint",
        help="joint control (routing, capacity, DVFS): baselines and MPC, paired, per profile",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--seeds", type=int, default=10, help="episodes (reset seeds 0..N-1)")
    p.add_argument("--env", nargs="+", default=list(PROFILES), help="joint env ids")
    p.add_argument("--samples", type=int, default=128, help="MPC candidates per round")
    p.add_argument("--iterations", type=int, default=6, help="MPC cross-entropy rounds")
    p.add_argument(
        "--episode-steps", type=int, default=None, help="episode length (default: the id's)"
    )
    p.add_argument(
        "--no-bound", action="store_true", help="skip the bound (about 10 s per episode)"
    )
    p.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:
    import gymnasium as gym

    from edgecloud_bench.evaluation import check_env_id

    if args.seeds < 1:
        raise ValueError("--seeds must be at least 1.")
    for env_id in args.env:
        check_env_id(env_id)
        if gym.registry[env_id].kwargs.get("control") != "joint":
            raise ValueError(
                f"{env_id!r} is not a joint-control id; pass some of {', '.join(PROFILES)}."
            )
    out = check_writable(args.out)
    command = (
        f"edgecloud bench joint --seeds {args.seeds} --samples {args.samples} "
        f"--iterations {args.iterations} --env {' '.join(args.env)}"
    )
    if args.episode_steps is not None:
        command += f" --episode-steps {args.episode_steps}"
    if args.no_bound:
        command += " --no-bound"
    data = run_joint(
        tuple(args.env),
        list(range(args.seeds)),
        samples=args.samples,
        iterations=args.iterations,
        episode_steps=args.episode_steps,
        bound=not args.no_bound,
    )
    print(write_joint(out, data, command))
    return 0
