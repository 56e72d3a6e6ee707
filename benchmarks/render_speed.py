"""Milliseconds per rendered frame of every registered id (the target: an ``rgb_array`` frame in
at most 20 ms, so ``RecordVideo`` barely slows an episode down).

Run: ``python -m edgecloud_bench.render_speed`` (installed) or
``PYTHONPATH=. python benchmarks/render_speed.py`` (from a checkout). Each id is stepped a few
times with random actions, then ``env.render()`` is timed ``--frames`` times; the table gives the
median and the slowest frame per mode, and the exit status is 1 if a median misses the target.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from typing import Any

import gymnasium as gym

import edgecloud_gym

__all__ = ["TARGET_MS", "main", "measure"]

#: The target for one ``rgb_array`` frame (ms).
TARGET_MS = 20.0

#: One allocation id and every offloading id (the allocation ids share one renderer).
ENV_IDS = (
    "EdgeCloud-High-v0",
    "EdgeCloud-Offload-MUMT-v0",
    "EdgeCloud-Offload-EdgeCloud-v0",
    "EdgeCloud-Offload-WPMEC-v0",
)


def measure(env_id: str, mode: str, frames: int, seed: int = 0) -> dict[str, Any]:
    """Median and maximum time (ms) of ``frames`` calls of ``render()`` in ``mode``."""
    env = gym.make(env_id, render_mode=mode)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    for _ in range(3):
        env.step(env.action_space.sample())
    env.render()  # the first frame loads the font
    times = []
    for _ in range(frames):
        start = time.perf_counter()
        env.render()
        times.append((time.perf_counter() - start) * 1e3)
    env.close()
    return {
        "env": env_id,
        "mode": mode,
        "median_ms": statistics.median(times),
        "max_ms": max(times),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100, help="frames timed per id and mode")
    args = parser.parse_args(argv)
    if args.frames < 1:
        parser.error(f"--frames must be >= 1, got {args.frames}")
    gym.register_envs(edgecloud_gym)
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"{'env':<34}{'mode':<11}{'median ms':>10}{'max ms':>9}")
    ok = True
    for env_id in ENV_IDS:
        for mode in ("rgb_array", "ansi"):
            row = measure(env_id, mode, args.frames)
            print(f"{env_id:<34}{mode:<11}{row['median_ms']:>10.2f}{row['max_ms']:>9.2f}")
            ok &= mode != "rgb_array" or row["median_ms"] <= TARGET_MS
    print(f"rgb_array target: median <= {TARGET_MS:g} ms per frame: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
