"""Where the step kernel's time goes: ``python -m edgecloud_bench.kernel_cost``.

Times the step kernel (:func:`edgecloud_gym.core.dynamics._kernel`) on a batch of systems taken
from the middle of a High episode under random actions, next to copies of it compiled with one
part replaced by a constant: the links' queueing (``_link``), each server's queue law over the
step (``_server_step``), each class's lateness (``_late_fraction`` and ``_wait_tail``), and all
of them. The differences say what each part costs per system; the last row is what is left (the
routing, the bookkeeping and the metrics). Variants are timed in turn, ``--rounds`` rounds, and
each figure is a variant's best round. One thread, no numba cache for the variants (they compile
once, before the timing).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np

__all__ = ["kernel_parts", "main"]

#: Variant name -> the kernel's helpers it replaces by constants.
VARIANTS: dict[str, tuple[str, ...]] = {
    "whole kernel": (),
    "without link queueing": ("_link",),
    "without the servers' queue law": ("_server_step",),
    "without per-class lateness": ("_late_fraction", "_wait_tail"),
    "without all three": ("_link", "_server_step", "_late_fraction", "_wait_tail"),
}


def _stubs() -> dict[str, object]:
    from numba import njit

    @njit
    def link(requests_per_ms, m1, m2, buffer_ms):  # pragma: no cover - compiled
        return 0.5, 1.0

    @njit
    def server_step(z0, k, lvl, m, half_v, steps, buf):  # pragma: no cover - compiled
        return 0.5 * k, 0.1, 0.1, 0.0, 0.3, 0.1

    @njit
    def late(kap, scale, log_c, e_abs, c0, k, lvl, pw, rate, slack):  # pragma: no cover
        return 0.1

    @njit
    def wait_tail(x, k, lvl, pw):  # pragma: no cover - compiled
        return 0.1, 0.1, 0.1, 0.1, 0.1

    return {"_link": link, "_server_step": server_step, "_late_fraction": late,
            "_wait_tail": wait_tail}  # fmt: skip


def _kernel_args(env_id: str, systems: int, warm_steps: int) -> tuple:
    """The kernel's arguments of one step of ``systems`` systems, ``warm_steps`` into episodes
    under random actions (the arrays copied after the step, its inputs filled in)."""
    import gymnasium as gym

    import edgecloud_gym  # noqa: F401  (registers the ids)
    from edgecloud_gym.core import simulator

    env = gym.make_vec(env_id, num_envs=systems, forecaster="none")
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(warm_steps):
        env.step(env.action_space.sample())
    captured: dict[str, tuple] = {}
    real = simulator.kernel_args

    def capture(*args, **kwargs):
        out = real(*args, **kwargs)
        captured["args"] = out[0]
        return out

    simulator.kernel_args = capture
    try:
        env.step(env.action_space.sample())
    finally:
        simulator.kernel_args = real
    env.close()
    return tuple(np.array(x, copy=True) if isinstance(x, np.ndarray) else x
                 for x in captured["args"])  # fmt: skip


def kernel_parts(
    env_id: str = "EdgeCloud-High-v0", systems: int = 512, rounds: int = 5, calls: int = 20
) -> dict[str, float]:
    """Best time per system (µs) of each variant of :data:`VARIANTS`."""
    from numba import njit

    from edgecloud_gym.core import dynamics

    args = _kernel_args(env_id, systems, warm_steps=120)
    stubs = _stubs()
    kernels = {}
    for name, parts in VARIANTS.items():
        saved = {p: getattr(dynamics, p) for p in parts}
        try:
            for p in parts:
                setattr(dynamics, p, stubs[p])
            kernel = njit(nogil=True)(dynamics._kernel.py_func)
            kernel(*args)  # compiles with the helpers bound now
        finally:
            for p, f in saved.items():
                setattr(dynamics, p, f)
        kernels[name] = kernel
    best = dict.fromkeys(VARIANTS, float("inf"))
    for _ in range(rounds):
        for name, kernel in kernels.items():
            started = time.perf_counter()
            for _ in range(calls):
                kernel(*args)
            best[name] = min(best[name], (time.perf_counter() - started) / calls / systems * 1e6)
    return best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edgecloud_bench.kernel_cost", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--env", default="EdgeCloud-High-v0", help="env id")
    parser.add_argument("--systems", type=int, default=512, help="systems in the batch")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (best kept)")
    args = parser.parse_args(argv)
    if args.systems < 1 or args.rounds < 1:
        parser.error("--systems and --rounds must be at least 1")
    best = kernel_parts(args.env, args.systems, args.rounds)
    whole = best["whole kernel"]
    print(f"step kernel on {args.systems} systems of {args.env}, one thread, best of "
          f"{args.rounds} rounds")  # fmt: skip
    print(f"{'variant':34s} {'us/system':>10s} {'part us':>9s}")
    for name, value in best.items():
        part = "" if name == "whole kernel" else f"{whole - value:9.3f}"
        print(f"{name:34s} {value:10.3f} {part}")
    print(f"\nat most {2e6 / whole:,.0f} env-steps/s on 2 cores from the kernel alone")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
