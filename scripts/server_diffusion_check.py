"""One server's waits in a 1-s step: the request-level simulator against a diffusion model.

A candidate for model v1's within-step waiting (see docs/validation.md): the number of requests
in a c-core server as a reflected Brownian motion Y (drift lambda - c mu, variance rate
lambda + c mu per second; the heavy-traffic limit of the M/M/c queue, Harrison 1985), with the
reflecting barrier L below the all-cores-busy level, L chosen so that Y's stationary probability
of waiting equals Erlang C (P(Y > 0) = exp(-2 |m| L / sigma^2) = C). The queue is (Y)^+ and an
arrival at time t waits (Y(t))^+ / (c mu). The transient law of the reflected process from a
point (Abate & Whitt 1987) gives the waits of a step's arrivals, at instants uniform in the step:

    P(Z(t) > z | Z(0) = x) = Phi((x - z + m t) / (sigma sqrt t))
                             + exp(2 m z / sigma^2) Phi((-x - z - m t) / (sigma sqrt t))

with Z = Y + L >= 0. Single class, exponential service (M/M/c), one step of 1 s, from empty or
with 2c requests present at the start (c in service, c waiting); prints the simulator's and the model's mean wait, p95 wait and
probability of waiting.

A second table runs the candidate over many steps at a constant load from empty, carrying only
the mean of Z from one step to the next and restarting each step from a law with that mean:
a point (``point``) or an exponential (``exponential``, the shape of the stationary law, so a
stationary queue stays stationary). The reflected motion's tail from an exponential start
(rate g) is closed form:

    P(Z(t) > z) = Phi(a/s) + exp(g a + g^2 s^2 / 2) Phi(-a/s - g s)
                  + exp(2 m z / sigma^2) [Phi(b/s) - exp(-g b + g^2 s^2 / 2) Phi(b/s - g s)]

with a = m t - z, b = -z - m t, s = sigma sqrt t. Run: ``python scripts/server_diffusion_check.py``
(about five minutes on 2 cores).
"""

from __future__ import annotations

import numpy as np
from scipy.special import erfcx
from scipy.stats import norm

from edgecloud_gym import AppClass, EdgeCloudConfig, Topology
from edgecloud_gym.validation import simulate_requests
from edgecloud_gym.validation.theory import erlang_c


def rbm_tail(z: np.ndarray, x: float, m: float, s2: float, t: float) -> np.ndarray:
    """P(Z(t) > z) of a Brownian motion with drift m and variance rate s2 reflected at 0."""
    s = np.sqrt(s2 * t)
    return norm.sf((z - x - m * t) / s) + np.exp(np.clip(2 * m * z / s2, -700, 700)) * norm.cdf(
        (-z - x - m * t) / s
    )


def diffusion_waits(c: int, rho: float, mean_s: float, q0: int, points: int = 48):
    """Mean wait, p95 wait (s) and probability of waiting of a 1-s step's arrivals."""
    mu = 1.0 / mean_s
    m, s2 = (rho - 1.0) * c * mu, (rho + 1.0) * c * mu
    r = min(rho, 0.99)  # the barrier from the stationary law, near saturation beyond it
    barrier = (r + 1.0) / (2.0 * (1.0 - r)) * np.log(1.0 / erlang_c(c, r * c))
    start = q0 - c + barrier if q0 > c else 0.0  # q0 requests present: q0 - c waiting
    z = np.linspace(barrier, barrier + 3000.0, 30001)
    tails = np.mean([rbm_tail(z, start, m, s2, (i + 0.5) / points) for i in range(points)], 0)
    mean = np.trapezoid(tails, z) / (c * mu)
    p95 = (z[np.searchsorted(-tails, -0.05)] - barrier) / (c * mu) if tails[0] > 0.05 else 0.0
    return mean, p95, tails[0]


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


def _exp_times_phi(x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """exp(x) Phi(-u) without overflow: through erfcx where u > 0, directly elsewhere."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        scaled = np.exp(x - 0.5 * u * u) * 0.5 * erfcx(np.maximum(u, 0.0) / np.sqrt(2.0))
        direct = np.exp(np.minimum(x, 700.0)) * norm.sf(u)
    return np.where(u > 0, scaled, direct)


def rbm_tail_exp(z: np.ndarray, mean0: float, m: float, s2: float, t: float) -> np.ndarray:
    """P(Z(t) > z) of the reflected motion started from an exponential law of mean ``mean0``."""
    if mean0 <= 1e-9:
        return rbm_tail(z, 0.0, m, s2, t)
    g, s = 1.0 / mean0, np.sqrt(s2 * t)
    a, b = m * t - z, -z - m * t
    half = 0.5 * (g * s) ** 2
    first = norm.cdf(a / s) + _exp_times_phi(g * a + half, a / s + g * s)
    second = norm.cdf(b / s) - _exp_times_phi(-g * b + half, g * s - b / s)
    return first + np.exp(np.clip(2 * m * z / s2, -700, 700)) * second


def multi_step(c: int, rho: float, mean_s: float, steps: int, start: str, points: int = 16):
    """Mean wait, p95 wait, P(wait) of each step's arrivals, carrying the mean of Z."""
    mu = 1.0 / mean_s
    m, s2 = (rho - 1.0) * c * mu, (rho + 1.0) * c * mu
    r = min(rho, 0.99)
    barrier = (r + 1.0) / (2.0 * (1.0 - r)) * np.log(1.0 / erlang_c(c, r * c))
    z = np.linspace(0.0, barrier + 4000.0, 20001)
    above = z >= barrier
    mean0, out = 0.0, []
    for _ in range(steps):
        law = rbm_tail_exp if start == "exponential" else rbm_tail
        tails = np.mean([law(z, mean0, m, s2, (i + 0.5) / points) for i in range(points)], 0)
        pw = tails[above][0]
        wait = np.trapezoid(tails[above], z[above]) / (c * mu)
        j = np.searchsorted(-tails[above], -0.05)
        p95 = (z[above][min(j, above.sum() - 1)] - barrier) / (c * mu) if pw > 0.05 else 0.0
        out.append((wait, p95, pw))
        mean0 = float(np.trapezoid(law(z, mean0, m, s2, 1.0), z))
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
