"""Time of the LSTM forecaster's once-per-reset pass, by precision and batch (docs/forecasting.md).

Run: ``python -m edgecloud_bench.forecast_speed`` (installed) or
``PYTHONPATH=. python benchmarks/forecast_speed.py`` (from a checkout). For each batch of
episodes (1: a single env's reset; 64 and 256: vector-env resets) it times
``LSTMForecaster(precision=p).forecast`` of the registered ids' workload (6 edge nodes, 64
warm-up + 200 steps, High profile) for every precision in turn, call by call, and prints the
median milliseconds per call and per episode, and how far each precision's forecasts are from
float32's (the first precision). ``bfloat16`` is timed even where the CPU lacks
AMX-BF16 (``auto`` would not choose it there), so the row shows what ``auto`` avoids.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from edgecloud_bench._help import DefaultsHelpFormatter
from edgecloud_gym.config import EdgeCloudConfig
from edgecloud_gym.forecasting.lstm import LSTMForecaster
from edgecloud_gym.forecasting.scoring import edge_service_rates, sample_episodes
from edgecloud_gym.tasks import HIGH

__all__ = ["run"]


def run(
    batches: tuple[int, ...] = (1, 64, 256),
    precisions: tuple[str, ...] = ("float32", "bfloat16"),
    calls: int = 30,
) -> dict[str, Any]:
    """Median seconds per ``forecast`` call for each batch and precision (timed in turn)."""
    config = EdgeCloudConfig()
    models = {p: LSTMForecaster(precision=p) for p in precisions}
    rows = []
    for batch in batches:
        mu = np.repeat(edge_service_rates([HIGH], config), batch, axis=0)
        wl = sample_episodes(
            [HIGH],
            mu,
            episodes_per_task=batch,
            steps=200,
            warmup=config.warmup_steps,
            horizon=config.horizon,
            day_steps=config.day_steps,
            rng=np.random.default_rng(0),
        )
        seconds: dict[str, list[float]] = {p: [] for p in precisions}
        # warm-up (oneDNN builds its kernels on the first call), and the forecasts to compare
        forecasts = {p: model.forecast(wl, config.horizon, mu) for p, model in models.items()}
        exact = forecasts[precisions[0]]
        for _ in range(max(1, calls // max(1, batch // 16))):
            for p, model in models.items():
                start = time.perf_counter()
                model.forecast(wl, config.horizon, mu)
                seconds[p].append(time.perf_counter() - start)
        for p in precisions:
            median = float(np.median(seconds[p]))
            rows.append(
                {
                    "episodes": batch,
                    "precision": p,
                    "ms_per_call": 1e3 * median,
                    "ms_per_episode": 1e3 * median / batch,
                    "calls": len(seconds[p]),
                    "mean_rel_diff": float(
                        np.abs(forecasts[p] - exact).mean() / np.abs(exact).mean()
                    ),
                    "max_rel_diff": float(np.max(np.abs(forecasts[p] - exact) / np.abs(exact))),
                }
            )
    auto = LSTMForecaster().precision
    return {"auto_resolves_to": auto, "context": models[precisions[0]].context, "rows": rows}


def _main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=DefaultsHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=30, help="timed calls per row (default 30)")
    args = parser.parse_args()
    if args.calls < 1:
        parser.error(f"--calls must be >= 1, got {args.calls}")
    out = run(calls=args.calls)
    print(f"precision 'auto' resolves to {out['auto_resolves_to']} on this machine")
    print("forecast difference to float32: mean relative (mean |diff| / mean |float32|), max")
    print(f"{'episodes':>8}  {'precision':<9}  {'ms/call':>8}  {'ms/episode':>10}  {'diff':>15}")
    for r in out["rows"]:
        print(
            f"{r['episodes']:>8}  {r['precision']:<9}  {r['ms_per_call']:>8.3f}  "
            f"{r['ms_per_episode']:>10.3f}  {r['mean_rel_diff']:>7.2e} {r['max_rel_diff']:>7.2e}"
        )


if __name__ == "__main__":
    _main()
