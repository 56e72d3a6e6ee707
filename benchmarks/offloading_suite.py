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

The report (``offloading.md``, plots) is :mod:`edgecloud_bench.offloading_report`, built on the
harness's one scores object and renderers; DMRO's standalone meta-training is
``edgecloud meta-train --agent dmro`` (:mod:`edgecloud_bench.meta_train`).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgecloud_bench._help import show_defaults
from edgecloud_bench._io import atomic_write_json, check_writable
from edgecloud_bench.offloading_report import PARTS, write_report
from edgecloud_bench.stats import recovery_frames, rolling_mean, tail_mean

__all__ = ["META_SETTINGS", "PARTS", "add_parser", "run_part"]


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
            ("droo", lambda s: DROO(WPMECEnv(data_file=9, optimum="none"), seed=s)),
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
                env = WPMECEnv(task=base, optimum="enumerate")
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
    from edgecloud_agents.offloading_critic import frame_ratio

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
    from edgecloud_gym.offloading import (
        EdgeCloudOffloadEnv,
        offloading_test_tasks,
        offloading_train_tasks,
    )

    cfg = META_SETTINGS
    train = offloading_train_tasks("edgecloud", cfg["train_tasks"], seed=0)
    test = offloading_test_tasks("edgecloud", cfg["test_tasks"], seed=0)
    runs = []
    for seed in seeds:
        t0 = time.perf_counter()
        dmro = DMRO(EdgeCloudOffloadEnv(task=train[0]), seed=seed).meta_train(
            train, cfg["meta_iterations"]
        )
        meta_seconds = time.perf_counter() - t0
        _log(f"meta seed {seed}: meta-trained in {meta_seconds:.0f} s")
        for j, task in enumerate(test):
            eval_seed = 100_000 + 1000 * seed + j
            adapted = dmro.adapt(EdgeCloudOffloadEnv(task=task), cfg["adapt_frames"])
            scratch = DDLO(EdgeCloudOffloadEnv(task=task), seed=seed).learn(cfg["adapt_frames"])
            dqn = OffloadDQN(EdgeCloudOffloadEnv(task=task), seed=seed).learn(cfg["dqn_frames"])
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
                        agent, EdgeCloudOffloadEnv(task=task), cfg["eval_frames"], eval_seed
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
