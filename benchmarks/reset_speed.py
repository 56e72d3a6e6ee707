"""Where a vector env's reset and split time goes, side by side (docs/performance.md).

Run: ``python -m edgecloud_bench.reset_speed`` (installed) or
``PYTHONPATH=. python benchmarks/reset_speed.py`` (from a checkout). Each pair below is timed
in turn, call by call, and the medians are printed with their ratio:

- Poisson draws of a 1024-env High reset's rates: the compiled sampler
  (``edgecloud_gym.core._poisson``) against numpy's ``Generator.poisson`` (ns per draw);
- the workloads of a 1024-env reset (``sample_workloads`` on the thread pool, as a reset draws
  them): compiled loops over copies of the PCG64 states against one compiled call per env on
  its own ``Generator`` (ms);
- a split of a batch over the thread pool with no work: ``edgecloud_gym._threads`` against a
  ``concurrent.futures.ThreadPoolExecutor`` (µs);
- the step kernel at 1024 envs on one thread against two (µs);
- the LSTM forecaster's recurrent pass over 128 episodes' node sequences (768 sequences of 217
  steps, chunks of 64) on one thread against two (ms), when torch is installed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from edgecloud_bench._help import DefaultsHelpFormatter
from edgecloud_gym import _threads
from edgecloud_gym.config import EdgeCloudConfig
from edgecloud_gym.core import dynamics, simulator, workload
from edgecloud_gym.core._poisson import poisson_into
from edgecloud_gym.core.params import build_params
from edgecloud_gym.tasks import HIGH

__all__ = ["run"]


def _paired(pair: dict[str, Callable[[], Any]], calls: int) -> dict[str, float]:
    """Median seconds per call of each function, timed in turn after a warm-up call."""
    for f in pair.values():
        f()
    seconds: dict[str, list[float]] = {k: [] for k in pair}
    for _ in range(calls):
        for k, f in pair.items():
            start = time.perf_counter()
            f()
            seconds[k].append(time.perf_counter() - start)
    return {k: float(np.median(v)) for k, v in seconds.items()}


def _on_threads(n: int, f: Callable[[], None]) -> Callable[[], None]:
    """``f`` run with the thread pool's size set to ``n`` (restored after each call)."""

    def call() -> None:
        threads, _threads.THREADS = _threads.THREADS, n
        try:
            f()
        finally:
            _threads.THREADS = threads

    return call


def run(num_envs: int = 1024, calls: int = 15) -> list[dict[str, Any]]:
    """Time every pair (see the module docstring); one row per pair."""
    config = EdgeCloudConfig()
    params = build_params(config, [HIGH] * num_envs)
    mu = params.obs_mu[:, : config.topology.n_edge]
    kw = {
        "steps": 200,
        "warmup": config.warmup_steps,
        "horizon": config.horizon,
        "day_steps": config.day_steps,
    }
    # as a vector env's reset draws them: the rows shared out over the thread pool
    share = simulator._MIN_SYSTEMS_PER_THREAD
    kw["map_rows"] = lambda draw, n: _threads.run_in_chunks(draw, n, share, block=share)
    tasks = [HIGH] * num_envs
    rngs = [np.random.default_rng(j) for j in range(num_envs)]
    wl = workload.sample_workloads(tasks, mu, rngs=rngs, **kw)
    rows = []

    rates, out, rng = wl.rates, np.empty_like(wl.rates), np.random.default_rng(0)
    t = _paired({"compiled": lambda: poisson_into(rng, rates, out), "numpy": lambda: rng.poisson(rates)}, calls)  # fmt: skip
    rows.append(_row("Poisson draw", "ns", 1e9 / rates.size, t, ("compiled", "numpy")))

    def per_generator() -> None:
        real = workload.is_pcg64
        workload.is_pcg64 = lambda _: False  # the path of other bit generators
        try:
            workload.sample_workloads(tasks, mu, rngs=rngs, **kw)
        finally:
            workload.is_pcg64 = real

    t = _paired(
        {
            "state arrays": lambda: workload.sample_workloads(tasks, mu, rngs=rngs, **kw),
            "a Generator per env": per_generator,
        },
        calls,
    )
    rows.append(_row(f"{num_envs}-env workloads", "ms", 1e3, t, tuple(t)))

    pool = ThreadPoolExecutor(1)

    def executor() -> None:
        pool.submit(lambda: None).result()

    t = _paired(
        {
            "edgecloud pool": lambda: _threads.run_in_chunks(lambda a, b: None, 2, 1),
            "ThreadPoolExecutor": executor,
        },
        calls * 20,
    )
    pool.shutdown()
    rows.append(_row("empty split", "us", 1e6, t, tuple(t)))

    arrivals = np.ascontiguousarray(wl.arrivals[:, config.warmup_steps + 10])
    shares = params.static_shares.copy()
    backlog = np.full(shares.shape, 3.0)

    def kernel() -> None:
        dynamics.step(params, backlog, shares, arrivals)

    t = _paired(
        {"1 thread": _on_threads(1, kernel), "2 threads": _on_threads(2, kernel)}, calls * 10
    )
    rows.append(_row(f"{num_envs}-env step kernel", "us", 1e6, t, tuple(t)))

    try:
        from edgecloud_gym.forecasting.lstm import LSTMForecaster, lstm_features
    except ImportError:  # pragma: no cover - torch is an optional part of the install
        return rows
    lstm = LSTMForecaster()
    start = config.warmup_steps - 1 - lstm.context
    part = slice(0, 128)
    feats, _ = lstm_features(
        wl.arrivals[part, start : config.warmup_steps + 200],
        wl.phase[part, start : config.warmup_steps + 200],
        mu[part],
    )

    def lstm_pass() -> None:
        lstm.predict_log_ratios(feats)

    t = _paired(
        {"1 thread": _on_threads(1, lstm_pass), "2 threads": _on_threads(2, lstm_pass)},
        max(3, calls // 3),
    )
    rows.append(_row(f"LSTM pass, {len(feats)} sequences", "ms", 1e3, t, tuple(t)))
    return rows


def _row(
    name: str, unit: str, scale: float, t: dict[str, float], keys: tuple[str, str]
) -> dict[str, Any]:
    a, b = keys
    return {
        "what": name,
        "unit": unit,
        a: t[a] * scale,
        b: t[b] * scale,
        "first_over_second": t[a] / t[b],
        "pair": [a, b],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=DefaultsHelpFormatter
    )
    parser.add_argument("--envs", type=int, default=1024, help="vector-env size (default 1024)")
    parser.add_argument("--calls", type=int, default=15, help="timed calls per side (default 15)")
    args = parser.parse_args(argv)
    if args.envs < 1 or args.calls < 1:
        parser.error(f"--envs and --calls must be >= 1, got {args.envs}, {args.calls}.")
    for r in run(args.envs, args.calls):
        a, b = r["pair"]
        print(
            f"{r['what']:<24} {a}: {r[a]:9.2f} {r['unit']:<3} {b}: {r[b]:9.2f} {r['unit']:<3} "
            f"ratio {r['first_over_second']:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
