"""The ``offloading`` suite: DDLO, DROO, DMRO and a DQN baseline on the offloading family.

``edgecloud bench offloading --out DIR --part PART`` runs one part and writes
``DIR/PART.json`` (every number the tables use, per seed) atomically, then rebuilds
``DIR/offloading.md`` and the PNG plots from whichever part files exist. A part that already has
its file is skipped unless ``--force``; the parts run independently, so they can run in parallel
processes.

Parts:

* ``convergence``: DROO on ``EdgeCloud-Offload-WPMEC-v0`` replaying DROO's ``data_9.mat`` and
  DDLO on ``EdgeCloud-Offload-MUMT-v0`` replaying DDLO's ``MUMT_data_3x3.mat``, ``--frames``
  frames each (30 000, as DROO); the figure is the mean normalised score over the last 20 % of the
  frames (WPMEC: rate / published optimum; MUMT: published optimum / cost).
* ``adaptation``: DROO's experiments on WPMEC with N = 10 generated channels: the device weights
  alternate (1 <-> 1.5) at 60 % of the frames and back at 80 %, or two devices switch off and
  back on at the same frames; frames each agent needs to return to a trailing-100-frame mean of
  0.99 after each change.
* ``meta``: DMRO's meta-learned initialisation against training from scratch (DDLO, the same
  learner from a random initialisation) on held-out test tasks of the edge-cloud family, as
  adaptation curves; and DMRO against "traditional DRL" (SB3 DQN on the Discrete wrapper, given
  more frames), the DMRO paper's +17.6 % claim, with IQM and stratified bootstrap intervals over
  seeds (strata: test tasks). Settings in :data:`META_SETTINGS`.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgecloud_bench._help import show_defaults
from edgecloud_bench._io import atomic_write_json, atomic_write_text, check_writable

__all__ = [
    "DMRO_META_DEFAULTS",
    "PARTS",
    "add_parser",
    "meta_summary",
    "meta_train_dmro",
    "meta_train_dmro_cli",
    "recovery_frames",
    "run_part",
    "tail_mean",
]

PARTS: tuple[str, ...] = ("convergence", "adaptation", "meta")


def tail_mean(values: Sequence[float], fraction: float = 0.2) -> float:
    """Mean of the last ``fraction`` of ``values`` (NaNs ignored)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return math.nan
    n = max(1, math.ceil(fraction * arr.size))
    return float(np.nanmean(arr[-n:]))


def rolling_mean(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing mean over ``window`` frames (shorter at the start)."""
    arr = np.asarray(values, dtype=np.float64)
    c = np.concatenate([[0.0], np.cumsum(arr)])
    idx = np.arange(1, arr.size + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)


def recovery_frames(
    ratios: Sequence[float], start: int, stop: int, threshold: float = 0.99, window: int = 100
) -> float:
    """Frames after ``start`` until the trailing ``window``-frame mean of ``ratios`` (over
    frames since ``start`` only) first reaches ``threshold``; NaN if not before ``stop``."""
    seg = np.asarray(ratios[start:stop], dtype=np.float64)
    if seg.size == 0:
        return math.nan
    roll = rolling_mean(seg, window)
    full = np.arange(1, seg.size + 1) >= min(window, seg.size)
    hit = np.flatnonzero((roll >= threshold) & full)
    return float(hit[0] + 1) if hit.size else math.nan


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- part: convergence ---------------------------------------------------------------------------


def _convergence(seeds: Sequence[int], frames: int) -> dict[str, Any]:
    from edgecloud_agents.ddlo import DDLO
    from edgecloud_agents.droo import DROO
    from edgecloud_gym.offloading import MUMTEnv, WPMECEnv

    runs: list[dict[str, Any]] = []
    for seed in seeds:
        for agent_name, make in (
            ("droo", lambda s: DROO(WPMECEnv(data_file=9, oracle="none"), seed=s)),
            ("ddlo", lambda s: DDLO(MUMTEnv(data_file="mumt_3x3"), seed=s)),
        ):
            t0 = time.perf_counter()
            agent = make(seed).learn(frames)
            ratio = agent.history["ratio"]
            run = {
                "agent": agent_name,
                "env": "WPMEC N=9 (data_9.mat)" if agent_name == "droo" else "MUMT 3x3",
                "seed": seed,
                "frames": frames,
                "tail_mean_ratio": tail_mean(ratio),
                "curve": rolling_mean(ratio, 100)[99::100].tolist(),
                "seconds": time.perf_counter() - t0,
            }
            if agent_name == "droo":
                run["final_k"] = agent.k
            runs.append(run)
            _log(f"convergence {agent_name} seed {seed}: {run['tail_mean_ratio']:.4f}")
    return {"runs": runs}


# -- part: adaptation (DROO's experiments) -------------------------------------------------------


#: Scenario -> (task before/after the first change); changes at 60 % and back at 80 % of frames.
def _scenarios(n: int) -> dict[str, Any]:
    from edgecloud_gym.offloading import WPMECTask, default_weights

    base = WPMECTask(n_devices=n)
    flipped = WPMECTask(n_devices=n, weights=tuple(2.5 - default_weights(n)))
    off = WPMECTask(n_devices=n, active=tuple(i not in (1, 3) for i in range(n)))
    return {"weights_alternate": (base, flipped), "devices_off_on": (base, off)}


def _adaptation(seeds: Sequence[int], frames: int) -> dict[str, Any]:
    from edgecloud_agents.ddlo import DDLO
    from edgecloud_agents.droo import DROO
    from edgecloud_gym.offloading import WPMECEnv

    n = 10
    change, back = int(0.6 * frames), int(0.8 * frames)
    runs = []
    for seed in seeds:
        for scenario, (base, changed) in _scenarios(n).items():
            for agent_name, cls in (("droo", DROO), ("ddlo", DDLO)):
                env = WPMECEnv(task=base, oracle="enumerate")
                agent = cls(env, seed=seed)
                t0 = time.perf_counter()
                agent.learn(change)
                env.unwrapped.set_task(changed)
                agent.learn(back - change)
                env.unwrapped.set_task(base)
                agent.learn(frames - back)
                ratio = agent.history["ratio"]
                run = {
                    "agent": agent_name,
                    "scenario": scenario,
                    "seed": seed,
                    "frames": frames,
                    "changes": [change, back],
                    "before_change": float(np.mean(ratio[max(0, change - 500) : change])),
                    "recovery_after_change": recovery_frames(ratio, change, back),
                    "recovery_after_revert": recovery_frames(ratio, back, frames),
                    "curve_every": 10,
                    "curve": rolling_mean(ratio, 50)[9::10].tolist(),
                    "seconds": time.perf_counter() - t0,
                }
                runs.append(run)
                _log(
                    f"adaptation {scenario} {agent_name} seed {seed}: before {run['before_change']:.4f}, "
                    f"recovery {run['recovery_after_change']} / {run['recovery_after_revert']} frames"
                )
    return {"runs": runs, "n_devices": n, "threshold": 0.99, "window": 100}


# -- part: meta (DMRO vs scratch vs DQN on held-out edge-cloud tasks) --------------------------

META_SETTINGS: dict[str, int] = {
    "train_tasks": 32,
    "test_tasks": 3,
    "meta_iterations": 300,
    "adapt_frames": 600,
    "dqn_frames": 2000,
    "eval_frames": 300,
}


def _evaluate_frames(agent: Any, env: Any, frames: int, seed: int) -> dict[str, float]:
    from edgecloud_agents.offloading import frame_ratio

    obs, _ = env.reset(seed=seed)
    ratios, costs = [], []
    for _ in range(frames):
        obs, _, _, _, info = env.step(agent.predict(obs))
        ratios.append(frame_ratio(info))
        costs.append(float(info["cost"]))
    return {"ratio": float(np.mean(ratios)), "cost": float(np.mean(costs))}


def _meta(seeds: Sequence[int], frames: int) -> dict[str, Any]:
    from edgecloud_agents.ddlo import DDLO
    from edgecloud_agents.dmro import DMRO
    from edgecloud_agents.dqn_offload import OffloadDQN
    from edgecloud_gym.offloading import EdgeCloudEnv, test_tasks, train_tasks

    cfg = META_SETTINGS
    train = train_tasks("edgecloud", cfg["train_tasks"], seed=0)
    test = test_tasks("edgecloud", cfg["test_tasks"], seed=0)
    runs = []
    for seed in seeds:
        t0 = time.perf_counter()
        dmro = DMRO(EdgeCloudEnv(task=train[0]), seed=seed).meta_train(
            train, cfg["meta_iterations"]
        )
        meta_seconds = time.perf_counter() - t0
        _log(f"meta seed {seed}: meta-trained in {meta_seconds:.0f} s")
        for j, task in enumerate(test):
            eval_seed = 100_000 + 1000 * seed + j
            adapted = dmro.adapt(EdgeCloudEnv(task=task), cfg["adapt_frames"])
            scratch = DDLO(EdgeCloudEnv(task=task), seed=seed).learn(cfg["adapt_frames"])
            dqn = OffloadDQN(EdgeCloudEnv(task=task), seed=seed).learn(cfg["dqn_frames"])
            for name, agent, curve in (
                ("dmro", adapted, adapted.history["ratio"]),
                ("ddlo-scratch", scratch, scratch.history["ratio"]),
                ("dqn-offload", dqn, None),
            ):
                run = {
                    "agent": name,
                    "seed": seed,
                    "task": j,
                    "eval": _evaluate_frames(
                        agent, EdgeCloudEnv(task=task), cfg["eval_frames"], eval_seed
                    ),
                }
                if curve is not None:
                    run["curve"] = list(map(float, curve))
                    run["recovery_0.99"] = recovery_frames(curve, 0, len(curve), 0.99, 50)
                    run["recovery_0.98"] = recovery_frames(curve, 0, len(curve), 0.98, 50)
                runs.append(run)
                _log(f"meta seed {seed} task {j} {name}: eval ratio {run['eval']['ratio']:.4f}")
    return {"runs": runs, "settings": cfg, "test_tasks": [repr(t) for t in test]}


# -- driver --------------------------------------------------------------------------------------

_RUNNERS: dict[str, Callable[..., dict[str, Any]]] = {
    "convergence": _convergence,
    "adaptation": _adaptation,
    "meta": _meta,
}


def run_part(part: str, out: str | Path, seeds: Sequence[int], frames: int, force: bool) -> Path:
    """Run one part into ``out/PART.json`` (skipped if present and not ``force``)."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}.")
    path = check_writable(Path(out) / f"{part}.json")
    if path.exists() and not force:
        _log(f"{path} exists; skipping (pass --force to rerun)")
        return path
    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    result = _RUNNERS[part](seeds=list(seeds), frames=frames)
    result.update(
        part=part,
        seeds=list(seeds),
        frames=frames,
        seconds=time.perf_counter() - t0,
        format="edgecloud-offloading-suite/1",
    )
    atomic_write_json(path, result)
    write_report(out)
    return path


def _load_parts(out: Path) -> dict[str, dict[str, Any]]:
    parts = {}
    for part in PARTS:
        p = out / f"{part}.json"
        if p.exists():
            parts[part] = json.loads(p.read_text())
    return parts


def write_report(out: str | Path) -> Path:
    """Rebuild ``out/offloading.md`` (and plots) from the part files present."""
    out = Path(out)
    parts = _load_parts(out)
    lines = [
        "# Offloading suite",
        "",
        "Written by `edgecloud bench offloading --out DIR --part PART` "
        "(see `edgecloud_bench.offloading_suite`).",
        "",
    ]
    if "convergence" in parts:
        lines += _report_convergence(parts["convergence"])
    if "adaptation" in parts:
        lines += _report_adaptation(parts["adaptation"], out)
    if "meta" in parts:
        lines += _report_meta(parts["meta"], out)
    path = out / "offloading.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def _report_convergence(res: dict[str, Any]) -> list[str]:
    lines = [
        f"## Convergence ({res['frames']} frames, mean score over the last 20 %)",
        "",
        "| Agent | Env | Seed | Mean ratio, last 20 % | Final K | Seconds |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in res["runs"]:
        lines.append(
            f"| {r['agent']} | {r['env']} | {r['seed']} | {r['tail_mean_ratio']:.4f} | "
            f"{r.get('final_k', '')} | {r['seconds']:.0f} |"
        )
    lines.append("")
    return lines


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _fmt(x: float) -> str:
    return "not reached" if not math.isfinite(x) else f"{x:.0f}"


def _report_adaptation(res: dict[str, Any], out: Path) -> list[str]:
    lines = [
        f"## Adaptation to changes (WPMEC, N = {res['n_devices']}, DROO's experiments)",
        "",
        "Frames after a change until the trailing "
        f"{res['window']}-frame mean ratio is back at {res['threshold']} "
        "(weights alternate: 1 <-> 1.5; devices off/on: devices 1 and 3 off, then on).",
        "",
        "100 frames is the shortest possible (the first full window). The lowest 50-frame mean "
        "after each change shows how deep the dip was.",
        "",
        "| Scenario | Agent | Seed | Ratio before change | Frames after change | "
        "Lowest 50-frame mean | Frames after change back | Lowest 50-frame mean |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    plt = _plt()
    scenarios = sorted({r["scenario"] for r in res["runs"]})
    fig, axes = plt.subplots(1, len(scenarios), figsize=(6 * len(scenarios), 4), squeeze=False)
    for ax, scenario in zip(axes[0], scenarios, strict=True):
        for r in res["runs"]:
            if r["scenario"] != scenario:
                continue
            every, (c1, c2) = r["curve_every"], r["changes"]
            curve = np.asarray(r["curve"])
            # curve[i] is the 50-frame mean ending at frame (i + 1) * every
            low1 = curve[(c1 + 50) // every - 1 : c2 // every].min()
            low2 = curve[(c2 + 50) // every - 1 :].min()
            lines.append(
                f"| {scenario} | {r['agent']} | {r['seed']} | {r['before_change']:.4f} | "
                f"{_fmt(r['recovery_after_change'])} | {low1:.4f} | "
                f"{_fmt(r['recovery_after_revert'])} | {low2:.4f} |"
            )
            x = (np.arange(len(r["curve"])) + 1) * r["curve_every"]
            ax.plot(x, r["curve"], label=f"{r['agent']} (seed {r['seed']})", lw=1)
            for c in r["changes"]:
                ax.axvline(c, color="grey", ls="--", lw=0.8)
        ax.set(title=scenario, xlabel="frame", ylabel="ratio (50-frame mean)", ylim=(0.8, 1.005))
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "adaptation.png", dpi=110)
    plt.close(fig)
    lines += ["", "![adaptation](adaptation.png)", ""]
    return lines


def meta_summary(res: dict[str, Any]) -> dict[str, Any]:
    """IQM and 95 % stratified bootstrap intervals (strata: test tasks) of the meta part."""
    from edgecloud_bench.stats import improvement_ci, stratified_ci

    tasks = sorted({r["task"] for r in res["runs"]})

    def strata(agent: str, key: str) -> list[list[float]]:
        return [
            [
                r["eval"][key]
                for r in sorted(res["runs"], key=lambda r: r["seed"])
                if r["agent"] == agent and r["task"] == t
            ]
            for t in tasks
        ]

    def early(agent: str, frames: int) -> list[list[float]]:
        return [
            [
                float(np.mean(r["curve"][:frames]))
                for r in sorted(res["runs"], key=lambda r: r["seed"])
                if r["agent"] == agent and r["task"] == t
            ]
            for t in tasks
        ]

    agents = ["dmro", "ddlo-scratch", "dqn-offload"]
    summary: dict[str, Any] = {"ratio": {}, "cost": {}, "improvement": {}, "early": {}}
    for frames in (100, 300, 600):
        summary["early"][frames] = {
            a: stratified_ci(early(a, frames)).as_tuple() for a in ("dmro", "ddlo-scratch")
        }
        summary["early"][frames]["gain"] = improvement_ci(
            early("dmro", frames), early("ddlo-scratch", frames), higher_is_better=True, paired=True
        ).as_tuple()
    for a in agents:
        summary["ratio"][a] = stratified_ci(strata(a, "ratio")).as_tuple()
        summary["cost"][a] = stratified_ci(strata(a, "cost")).as_tuple()
    for base in ("dqn-offload", "ddlo-scratch"):
        summary["improvement"][base] = {
            "cost": improvement_ci(
                strata("dmro", "cost"), strata(base, "cost"), higher_is_better=False, paired=True
            ).as_tuple(),
            "ratio": improvement_ci(
                strata("dmro", "ratio"), strata(base, "ratio"), higher_is_better=True, paired=True
            ).as_tuple(),
        }
    return summary


def _ci(t: Sequence[float], digits: int = 4) -> str:
    return f"{t[0]:.{digits}g} [{t[1]:.{digits}g}, {t[2]:.{digits}g}]"


def _report_meta(res: dict[str, Any], out: Path) -> list[str]:
    cfg = res["settings"]
    s = meta_summary(res)
    lines = [
        "## DMRO on held-out edge-cloud tasks",
        "",
        f"{cfg['train_tasks']} training tasks, {cfg['test_tasks']} held-out test tasks, seeds "
        f"{sorted({r['seed'] for r in res['runs']})}. DMRO: {cfg['meta_iterations']} "
        f"meta-iterations, then {cfg['adapt_frames']} frames of online adaptation; DDLO from "
        f"scratch: {cfg['adapt_frames']} frames; DQN: {cfg['dqn_frames']} frames. Evaluation: "
        f"{cfg['eval_frames']} fresh frames per run, the same frames for every agent. IQM over "
        "runs with 95 % stratified bootstrap intervals (strata: test tasks).",
        "",
        "| Agent | Gain ratio (optimum / cost) | Cost per frame [J + s] |",
        "|---|---:|---:|",
    ]
    for a in s["ratio"]:
        lines.append(f"| {a} | {_ci(s['ratio'][a])} | {_ci(s['cost'][a])} |")
    lines += [
        "",
        "| DMRO over | Cost reduction [%] | Gain-ratio increase [%] |",
        "|---|---:|---:|",
    ]
    for base, imp in s["improvement"].items():
        lines.append(f"| {base} | {_ci(imp['cost'], 3)} | {_ci(imp['ratio'], 3)} |")
    lines += [
        "",
        "Online gain ratio while adapting (mean over the first F frames on the new task):",
        "",
        "| F | DMRO | DDLO from scratch | DMRO over scratch [%] |",
        "|---:|---:|---:|---:|",
    ]
    for frames, e in s["early"].items():
        lines.append(
            f"| {frames} | {_ci(e['dmro'])} | {_ci(e['ddlo-scratch'])} | {_ci(e['gain'], 3)} |"
        )
    rec = {}
    for a in ("dmro", "ddlo-scratch"):
        for key in ("recovery_0.98", "recovery_0.99"):
            vals = [r[key] for r in res["runs"] if r["agent"] == a]
            rec[(a, key)] = (
                np.mean(np.isfinite(vals)),
                np.nanmedian(vals) if np.any(np.isfinite(vals)) else math.nan,
            )
    lines += [
        "",
        "| Agent | Runs reaching 0.98 (50-frame mean) | Median frames | Runs reaching 0.99 | Median frames |",
        "|---|---:|---:|---:|---:|",
    ]
    for a in ("dmro", "ddlo-scratch"):
        f98, m98 = rec[(a, "recovery_0.98")]
        f99, m99 = rec[(a, "recovery_0.99")]
        lines.append(f"| {a} | {100 * f98:.0f} % | {_fmt(m98)} | {100 * f99:.0f} % | {_fmt(m99)} |")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for a, color in (("dmro", "C0"), ("ddlo-scratch", "C1")):
        curves = np.array([rolling_mean(r["curve"], 50) for r in res["runs"] if r["agent"] == a])
        x = np.arange(1, curves.shape[1] + 1)
        ax.plot(x, curves.mean(0), color=color, label=f"{a} (mean of {len(curves)} runs)")
        lo, hi = np.percentile(curves, [25, 75], axis=0)
        ax.fill_between(x, lo, hi, color=color, alpha=0.2)
    ax.set(xlabel="frames on the new task", ylabel="gain ratio (50-frame mean)", ylim=(0.9, 1.0))
    ax.set_title("Held-out edge-cloud tasks: meta-initialisation vs from scratch")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "dmro_adaptation.png", dpi=110)
    plt.close(fig)
    lines += ["", "![DMRO adaptation](dmro_adaptation.png)", ""]
    return lines


#: Defaults of ``edgecloud meta-train --agent dmro`` for the options it shares with
#: DYNAMIC-ALLOCATOR (``--steps``, ``--tasks``, ``--meta-batch``, ``--inner-steps``,
#: ``--inner-lr``, ``--outer-lr``), used where the option is not given.
DMRO_META_DEFAULTS: dict[str, Any] = {
    "steps": 300,
    "tasks": 32,
    "meta_batch": 8,
    "inner_steps": 3,
    "inner_lr": 0.1,
    "outer_lr": 0.003,
}


def meta_train_dmro(
    out: str | Path,
    iterations: int,
    *,
    family: str = "edgecloud",
    n_train_tasks: int = 32,
    task_seed: int = 0,
    seed: int = 0,
    **dmro_kwargs: Any,
) -> Path:
    """Meta-train DMRO on ``train_tasks(family, n_train_tasks, task_seed)`` into
    ``out/dmro_meta_init.zip`` (load it with ``DMRO.load``) and ``out/dmro_config.json``.

    ``dmro_kwargs`` go to :class:`~edgecloud_agents.dmro.DMRO` (``meta_method``, ``inner_lr``,
    ``inner_steps``, ``meta_lr``, ``meta_batch_size``, ...).
    """
    import torch

    from edgecloud_agents.dmro import DMRO
    from edgecloud_gym.offloading import EdgeCloudEnv, MUMTEnv, WPMECEnv, train_tasks

    envs = {"edgecloud": EdgeCloudEnv, "mumt": MUMTEnv, "wpmec": WPMECEnv}
    if family not in envs:
        raise ValueError(f"family must be one of {tuple(envs)}, got {family!r}.")
    out = check_writable(Path(out))
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    tasks = train_tasks(family, n_train_tasks, seed=task_seed)
    env = envs[family](task=tasks[0])
    agent = DMRO(env, seed=seed, **dmro_kwargs)
    t0 = time.perf_counter()
    agent.meta_train(tasks, iterations)
    path = out / "dmro_meta_init.zip"
    agent.save(path)
    atomic_write_json(
        out / "dmro_config.json",
        {
            "agent": "dmro",
            "family": family,
            "iterations": iterations,
            "n_train_tasks": n_train_tasks,
            "task_seed": task_seed,
            "params": {
                k: list(v) if isinstance(v, tuple) else v for k, v in agent.params().items()
            },
            "query_loss": agent.meta_history["query_loss"],
            "seconds": time.perf_counter() - t0,
        },
    )
    return path


def meta_train_dmro_cli(args: argparse.Namespace) -> int:
    """The ``--agent dmro`` branch of ``edgecloud meta-train``."""
    opts = {k: getattr(args, k, None) for k in DMRO_META_DEFAULTS}
    opts = {k: DMRO_META_DEFAULTS[k] if v is None else v for k, v in opts.items()}
    started = time.perf_counter()
    path = meta_train_dmro(
        args.out,
        opts["steps"],
        family=getattr(args, "family", None) or "edgecloud",
        n_train_tasks=opts["tasks"],
        task_seed=args.task_seed,
        seed=args.seed,
        meta_method="fomaml" if args.first_order else "maml",
        inner_lr=opts["inner_lr"],
        inner_steps=opts["inner_steps"],
        meta_lr=opts["outer_lr"],
        meta_batch_size=opts["meta_batch"],
    )
    print(f"DMRO meta-initialisation: {path} ({time.perf_counter() - started:.0f} s)")
    return 0


def add_parser(subparsers: Any) -> None:
    """Add ``offloading`` to the ``edgecloud bench`` subcommands."""
    p = subparsers.add_parser(
        "offloading",
        help="offloading suite: DDLO, DROO, DMRO and DQN on the offloading family",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--part", choices=PARTS, required=True, help="which part to run")
    p.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="seeds of the runs"
    )
    p.add_argument("--frames", type=int, default=30_000, help="frames per run (convergence)")
    p.add_argument("--force", action="store_true", help="rerun a part that has its file")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    if args.frames < 1:
        raise ValueError(f"--frames must be >= 1, got {args.frames}.")
    run_part(args.part, args.out, args.seeds, args.frames, args.force)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite as ``python -m edgecloud_bench.offloading_suite``."""
    parser = argparse.ArgumentParser(prog="edgecloud bench")
    add_parser(parser.add_subparsers(dest="command", required=True))
    show_defaults(parser)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
