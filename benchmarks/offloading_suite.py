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
  adaptation curves.
* ``dqn``: DMRO against "traditional DRL" (SB3 DQN on the Discrete wrapper), the DMRO paper's
  +17.6 % claim, with IQM and stratified bootstrap intervals over seeds (strata: test tasks).
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

from edgecloud_bench._io import atomic_write_json, atomic_write_text, check_writable

__all__ = ["PARTS", "add_parser", "recovery_frames", "run_part", "tail_mean"]

PARTS: tuple[str, ...] = ("convergence", "adaptation", "meta", "dqn")


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


# -- driver --------------------------------------------------------------------------------------

_RUNNERS: dict[str, Callable[..., dict[str, Any]]] = {"convergence": _convergence}


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
    lines = ["# Offloading suite", ""]
    if "convergence" in parts:
        lines += _report_convergence(parts["convergence"])
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
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
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
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
