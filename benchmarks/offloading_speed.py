"""Frames per second of the offloading models and their exact optima (figures in docs/offloading.md).

Run: ``python -m edgecloud_bench.offloading_speed`` (installed) or
``PYTHONPATH=. python benchmarks/offloading_speed.py`` (from a checkout). Each figure is the best
of three repeats; "batched" calls the function once on all frames, "per frame" calls it once per
frame (what an environment step does).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy

from edgecloud_bench._help import DefaultsHelpFormatter
from edgecloud_gym.offloading import (
    MUMTTask,
    WPMECEnv,
    WPMECTask,
    edgecloud_optimum,
    mumt_optimum,
    wpmec_optimum,
    wpmec_rate,
)

__all__ = ["run"]


def _best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _entry(seconds: float, frames: int) -> dict[str, float]:
    return {"frames": frames, "seconds": seconds, "frames_per_s": frames / seconds}


def run(n_frames: int = 200, json_path: str | Path | None = None) -> dict[str, Any]:
    """Measure the exact optima and ``wpmec_rate``; return (and optionally write) the figures.

    Args:
        n_frames: frames per measurement (enumerations at N = 10 use a quarter of them).
        json_path: if given, write the result there as JSON (atomically).

    Returns:
        ``{"config": ..., "results": {name: {"frames", "seconds", "frames_per_s"}}}``.
    """
    if isinstance(n_frames, bool) or not isinstance(n_frames, int) or n_frames < 4:
        raise ValueError(f"n_frames must be an integer >= 4, got {n_frames!r}.")
    rng = np.random.default_rng(0)
    sizes = np.stack([MUMTTask().sample_sizes(rng) for _ in range(n_frames)])
    task10 = WPMECTask(n_devices=10)
    h10 = np.stack([task10.sample_h(rng) for _ in range(n_frames)])
    mode10 = rng.integers(0, 2, size=h10.shape)
    h30 = np.stack([WPMECTask(n_devices=30).sample_h(rng) for _ in range(max(4, n_frames // 20))])
    few = max(4, n_frames // 4)

    results: dict[str, dict[str, float]] = {}

    def measure(name: str, fn: Callable[[], object], frames: int) -> None:
        results[name] = _entry(_best_of(fn), frames)

    measure("mumt_oracle_3x3_per_user_batched", lambda: mumt_optimum(sizes), n_frames)
    measure(
        "mumt_oracle_3x3_per_user_per_frame",
        lambda: [mumt_optimum(s) for s in sizes],
        n_frames,
    )
    measure(
        "mumt_oracle_3x3_all_2^9_batched",
        lambda: mumt_optimum(sizes, brute_force=True),
        n_frames,
    )
    measure(
        "edgecloud_oracle_3x3_all_3^9_batched",
        lambda: edgecloud_optimum(sizes[:few], brute_force=True),
        few,
    )
    measure(
        "edgecloud_oracle_3x3_per_user_per_frame",
        lambda: [edgecloud_optimum(s) for s in sizes],
        n_frames,
    )
    measure("wpmec_rate_N10_batched", lambda: wpmec_rate(h10, mode10), n_frames)
    measure(
        "wpmec_rate_N10_per_frame",
        lambda: [wpmec_rate(h, m) for h, m in zip(h10, mode10, strict=True)],
        n_frames,
    )
    measure(
        "wpmec_oracle_N10_enumerate_per_frame",
        lambda: [wpmec_optimum(h, method="enumerate") for h in h10[:few]],
        few,
    )
    measure(
        "wpmec_oracle_N10_coordinate_descent_per_frame",
        lambda: [wpmec_optimum(h, method="coordinate_descent") for h in h10[:few]],
        few,
    )
    measure(
        "wpmec_oracle_N30_coordinate_descent_per_frame",
        lambda: [wpmec_optimum(h, method="coordinate_descent") for h in h30],
        len(h30),
    )

    def env_steps(oracle: str) -> None:
        env = WPMECEnv(optimum=oracle)
        env.reset(seed=0)
        for m in mode10[:few]:
            env.step(m)

    measure("WPMECEnv_N10_step_oracle_none", lambda: env_steps("none"), few)
    measure("WPMECEnv_N10_step_oracle_enumerate", lambda: env_steps("auto"), few)

    out: dict[str, Any] = {
        "config": {
            "n_frames": n_frames,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "results": results,
    }
    if json_path is not None:
        path = Path(json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as f:
            json.dump(out, f, indent=2)
        os.replace(f.name, path)
    return out


def _main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=DefaultsHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=200, help="frames per measurement")
    parser.add_argument("--json", default=None, help="write the figures to this JSON file")
    args = parser.parse_args()
    out = run(args.frames, args.json)
    width = max(len(k) for k in out["results"])
    print(f"{'measurement':<{width}}  {'frames/s':>12}  {'ms/frame':>9}")
    for name, r in out["results"].items():
        print(f"{name:<{width}}  {r['frames_per_s']:>12.1f}  {1e3 / r['frames_per_s']:>9.3f}")


if __name__ == "__main__":
    _main()
