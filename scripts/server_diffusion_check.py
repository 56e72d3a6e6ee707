"""One server's waits: the request-level simulator against the diffusion model of a step.

The model is :mod:`edgecloud_gym.validation.diffusion` (a reflected Brownian motion with its
barrier matched to Erlang C; its docstring has the equations). Single class, exponential service
(M/M/c), mean service 33 ms.

The first table is one step of 1 s, from empty or with 2c requests present at the start (c in
service, c waiting): the simulator's and the model's mean wait, p95 wait and probability of
waiting. The second runs the model over many steps at a constant load from empty, carrying only
the mean of ``Z`` from one step to the next and restarting each step from a law with that mean:
a point (``point``) or an exponential (``exponential``).

Run: ``python scripts/server_diffusion_check.py`` (about five minutes on 2 cores).
"""

from __future__ import annotations

import numpy as np

from edgecloud_gym import AppClass, EdgeCloudConfig, Topology
from edgecloud_gym.validation import simulate_requests
from edgecloud_gym.validation.diffusion import StepWaits, barrier, step_waits


def diffusion_waits(c: int, rho: float, mean_s: float, q0: int) -> StepWaits:
    """The model's one step from ``q0`` requests present (``q0 - c`` waiting) or from empty."""
    start = q0 - c + barrier(c, rho) if q0 > c else 0.0
    return step_waits(c, rho, mean_s, start, points=48, span=3000.0, resolution=30001)


def simulated_waits(c: int, rho: float, mean_s: float, q0: int, reps: int, seed: int):
    """The same from the request-level simulator, over ``reps`` one-step episodes."""
    work = mean_s * 1e3 * 2.5  # Mcycles at 2.5 GHz
    topo = Topology(edge_cores=(c,), edge_core_ghz=2.5, edge_buffer_s=100.0)
    cfg = EdgeCloudConfig(topology=topo, apps=(AppClass("job", 0.1, work, 1e3),))
    rng = np.random.default_rng(seed)
    waits = []
    for _ in range(reps):
        arrivals = rng.poisson(rho * c / mean_s, size=(1, 1))
        log = simulate_requests(cfg, arrivals, rng, patience_ms=1e12, initial_backlog=[q0, 0])
        waits.append(log.wait_ms[log.step >= 0] / 1e3)
    w = np.concatenate(waits)
    return w.mean(), np.quantile(w, 0.95), (w > 0).mean()


def multi_step(c: int, rho: float, mean_s: float, steps: int, law: str) -> np.ndarray:
    """Mean wait, p95 wait and P(wait) of each step's arrivals, carrying the mean of Z."""
    mean, out = 0.0, []
    for _ in range(steps):
        waits = step_waits(c, rho, mean_s, mean, law=law)
        out.append(waits[:3])
        mean = waits.end_mean
    return np.array(out)


def simulated_multi_step(c: int, rho: float, mean_s: float, steps: int, reps: int, seed: int):
    """Waits (s) of every request over ``reps`` episodes of ``steps`` steps, with their step."""
    work = mean_s * 1e3 * 2.5
    topo = Topology(edge_cores=(c,), edge_core_ghz=2.5, edge_buffer_s=100.0)
    cfg = EdgeCloudConfig(topology=topo, apps=(AppClass("job", 0.1, work, 1e3),))
    rng = np.random.default_rng(seed)
    waits, step = [], []
    for _ in range(reps):
        log = simulate_requests(
            cfg, rng.poisson(rho * c / mean_s, size=(steps, 1)), rng, patience_ms=1e12
        )
        waits.append(log.wait_ms / 1e3)
        step.append(log.step)
    return np.concatenate(waits), np.concatenate(step)


def main() -> None:
    mean_s = 1.0 / 30.0  # 33 ms mean service: an 8-core node serves 240 requests/s
    print("| cores | rho | start | sim. mean | model mean | sim. p95 | model p95 | sim. P(wait) "
          "| model P(wait) |")  # fmt: skip
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for c in (8, 32):
        for rho in (0.5, 0.8, 0.9, 0.95, 0.99, 1.2):
            for q0 in (0, 2 * c):
                sim = simulated_waits(c, rho, mean_s, q0, reps=1500, seed=1)
                mod = diffusion_waits(c, rho, mean_s, q0)
                print(
                    f"| {c} | {rho} | {'empty' if q0 == 0 else f'{q0} present'} | "
                    f"{1e3 * sim[0]:.1f} | {1e3 * mod[0]:.1f} | {1e3 * sim[1]:.1f} | "
                    f"{1e3 * mod[1]:.1f} | {sim[2]:.2f} | {mod[2]:.2f} |"
                )
    steps, windows = 120, ((0, 10), (10, 40), (40, 120))
    print()
    print("| cores | rho | steps | sim. mean | point | exponential | sim. p95 | point "
          "| exponential | sim. P(wait) | point | exponential |")  # fmt: skip
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in (8, 32):
        for rho in (0.9, 0.95, 0.99):
            w, st = simulated_multi_step(c, rho, mean_s, steps, reps=30, seed=2)
            runs = {k: multi_step(c, rho, mean_s, steps, k) for k in ("point", "exponential")}
            for lo, hi in windows:
                sel = w[(st >= lo) & (st < hi)]
                sim = (1e3 * sel.mean(), 1e3 * np.quantile(sel, 0.95), (sel > 0).mean())
                mod = {k: r[lo:hi].mean(axis=0) for k, r in runs.items()}
                cells = [f"{sim[0]:.1f}"] + [f"{1e3 * mod[k][0]:.1f}" for k in runs]
                cells += [f"{sim[1]:.1f}"] + [f"{1e3 * mod[k][1]:.1f}" for k in runs]
                cells += [f"{sim[2]:.2f}"] + [f"{mod[k][2]:.2f}" for k in runs]
                print(f"| {c} | {rho} | {lo}-{hi} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
