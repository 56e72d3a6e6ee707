"""Scoring forecasters on the joint workload, overall and right after the ramp and event onsets.

The joint presets (:data:`~edgecloud_gym.tasks.JOINT_PRESETS`) add two forecastable components
to the profiles: a daily ramp on every node (its rise starts at a fixed phase of the day) and a
daily scheduled event on node 0 (its start jittered by a few steps around a fixed phase). Over
most steps they change little, so an MAE over whole episodes hides whether a forecaster knows
the schedule; :func:`score_joint` also gives the MAE over the targets in the first ``window``
steps of each ramp and each event, on the nodes they load: there a forecaster that only follows
the recent arrivals (naive, EWMA) lags, and one that knows the phase can be ahead.

Errors are in units of node capacity: ``|forecast - arrivals| / scale`` with ``scale`` the
node's nominal service rate as the environment computes it. Episodes come from the stream
``SeedSequence(seed, spawn_key=(JOINT_STREAM, preset index))``, one generator per episode:
neither the training streams (``SeedSequence(TrainConfig.seed).spawn(2)``) nor the environments'
reset seeds.

Where the components are: each episode is drawn three times from copies of its generator, with
the task, with the ramp's amplitude halved and with the event's amplitude halved. The draws
don't depend on the amplitudes, so the rates differ exactly where the ramp (or the event) adds
load; an onset is the first step of such a stretch.

Run ``python -m edgecloud_gym.forecasting.joint`` for the table of docs/forecasting.md
("Joint workload").
"""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgecloud_gym.config import EdgeCloudConfig
from edgecloud_gym.core.workload import EpisodeWorkload, sample_workloads
from edgecloud_gym.forecasting.base import Forecaster, make_forecaster
from edgecloud_gym.forecasting.scoring import edge_service_rates, forecast_truth
from edgecloud_gym.tasks import JOINT_PRESETS, Task

__all__ = [
    "DEFAULT_FORECASTERS",
    "JOINT_STREAM",
    "ONSET_WINDOW",
    "JointEpisodes",
    "onset_window",
    "sample_joint_episodes",
    "score_joint",
    "table",
    "window_mae",
]

#: Steps after an onset whose targets count as "at the onset".
ONSET_WINDOW = 5

#: First spawn key of the evaluation episodes' seed sequence.
JOINT_STREAM = 11

#: Forecasters of the joint table (the oracle's error is the Poisson noise floor).
DEFAULT_FORECASTERS = ("naive", "seasonal", "ewma", "lstm", "lstm-joint", "oracle")


@dataclass(frozen=True)
class JointEpisodes:
    """Episodes of one joint task and where its components are.

    Attributes:
        workload: The episodes (B of them).
        scale: (B, N) nominal service rate of each node (requests/step).
        ramp: (B, L, N) True where the ramp adds load (every node).
        event: (B, L, N) True where the event adds load (its nodes only).
    """

    workload: EpisodeWorkload
    scale: np.ndarray
    ramp: np.ndarray
    event: np.ndarray


def sample_joint_episodes(
    task: Task,
    episodes: int,
    *,
    seed_sequence: np.random.SeedSequence,
    config: EdgeCloudConfig | None = None,
    steps: int = 200,
) -> JointEpisodes:
    """Draw ``episodes`` episodes of ``task`` (one generator each, spawned from
    ``seed_sequence``) at the environment's service rates, and locate the ramp and the event."""
    config = EdgeCloudConfig() if config is None else config
    mu = np.repeat(edge_service_rates([task], config), episodes, axis=0)
    children = seed_sequence.spawn(episodes)

    def draw(t: Task) -> EpisodeWorkload:
        return sample_workloads(
            [t] * episodes,
            mu,
            steps=steps,
            warmup=config.warmup_steps,
            horizon=config.horizon,
            day_steps=config.day_steps,
            rngs=[np.random.default_rng(copy.deepcopy(c)) for c in children],
        )

    full = draw(task)
    ramp = event = np.zeros(full.rates.shape, dtype=bool)
    if task.has_ramp:
        ramp = full.rates != draw(task.replace(ramp_amplitude=task.ramp_amplitude / 2)).rates
    if task.has_event:
        event = full.rates != draw(task.replace(event_amplitude=task.event_amplitude / 2)).rates
    return JointEpisodes(workload=full, scale=mu, ramp=ramp, event=event)


def onset_window(active: np.ndarray, window: int = ONSET_WINDOW) -> np.ndarray:
    """(B, L, N) True on the first ``window`` steps of every stretch where ``active`` is True
    (a stretch that begins at index 0 has no observed onset and is left out)."""
    onset = np.zeros_like(active)
    onset[:, 1:] = active[:, 1:] & ~active[:, :-1]
    out = np.zeros_like(active)
    for lag in range(window):
        out[:, lag:] |= onset[:, : active.shape[1] - lag]
    return out


def window_mae(forecast: np.ndarray, episodes: JointEpisodes, mask: np.ndarray | None) -> dict:
    """MAE per horizon step (x node capacity) over the targets inside ``mask`` ((B, L, N), by
    target index; None: all targets), and how many targets that is per horizon step."""
    wl = episodes.workload
    horizon = forecast.shape[-1]
    err = np.abs(forecast - forecast_truth(wl, horizon)) / episodes.scale[:, None, :, None]
    if mask is None:
        return {"mae": err.mean(axis=(0, 1, 2)).tolist(), "targets": int(err[..., 0].size)}
    idx = wl.warmup + np.arange(wl.steps + 1)[:, None] + np.arange(horizon)  # (K, H)
    inside = np.moveaxis(mask[:, idx], 3, 2)  # (B, K, N, H)
    count = inside.sum(axis=(0, 1, 2))
    total = np.where(inside, err, 0.0).sum(axis=(0, 1, 2))
    mae = np.divide(total, count, out=np.full(horizon, np.nan), where=count > 0)
    return {"mae": mae.tolist(), "targets": int(count.min())}


def score_joint(
    forecasters: Mapping[str, Forecaster] | Sequence[str] = DEFAULT_FORECASTERS,
    *,
    episodes: int = 20,
    seed: int = 0,
    window: int = ONSET_WINDOW,
    config: EdgeCloudConfig | None = None,
    tasks: Mapping[str, Task] | None = None,
) -> dict[str, Any]:
    """MAE (x node capacity) per horizon step of each forecaster on held-out episodes of each
    joint preset: over all targets, and over the targets in the first ``window`` steps after
    the ramp's and the event's onsets (on the nodes they load).

    Args:
        forecasters: Names (see :func:`~edgecloud_gym.forecasting.make_forecaster`) or
            instances by name.
        episodes: Episodes per preset.
        seed: Seed of the episodes (see the module doc for the stream).
        window: Steps after each onset.
        config: Simulator configuration (horizon, warm-up, diurnal period, topology).
        tasks: Tasks to score instead of :data:`~edgecloud_gym.tasks.JOINT_PRESETS`.

    Returns:
        Plain data: the settings and, per task and forecaster, ``all``, ``ramp_onset`` and
        ``event_onset``, each ``{"mae": [H values], "targets": count}``.
    """
    config = EdgeCloudConfig() if config is None else config
    if not isinstance(forecasters, Mapping):
        forecasters = {name: make_forecaster(name) for name in forecasters}
    tasks = JOINT_PRESETS if tasks is None else tasks
    results: dict[str, Any] = {
        "episodes": episodes,
        "seed": seed,
        "window": window,
        "horizon": config.horizon,
        "unit": "x node capacity (|forecast - arrivals| / nominal service rate)",
        "tasks": {},
    }
    for index, (name, task) in enumerate(tasks.items()):
        ep = sample_joint_episodes(
            task,
            episodes,
            seed_sequence=np.random.SeedSequence(seed, spawn_key=(JOINT_STREAM, index)),
            config=config,
        )
        masks = {
            "all": None,
            "ramp_onset": onset_window(ep.ramp, window),
            "event_onset": onset_window(ep.event, window),
        }
        block = {}
        for fname, model in forecasters.items():
            fc = model.forecast(ep.workload, config.horizon, ep.scale)
            block[fname] = {key: window_mae(fc, ep, m) for key, m in masks.items()}
        results["tasks"][name] = block
    return results


def table(results: Mapping[str, Any]) -> str:
    """Markdown table of :func:`score_joint`'s results: MAE per horizon step and its mean."""
    h = results["horizon"]
    lines = [
        "| task | targets | forecaster | "
        + " | ".join(f"h={i + 1}" for i in range(h))
        + " | mean |",
        "|" + "---|" * (h + 4),
    ]
    for task, block in results["tasks"].items():
        for key in ("all", "ramp_onset", "event_onset"):
            for fname, scores in block.items():
                s = scores[key]
                cells = " | ".join(f"{v:.4f}" for v in s["mae"])
                lines.append(
                    f"| {task} | {key} ({s['targets']}) | {fname} | {cells} | "
                    f"{np.mean(s['mae']):.4f} |"
                )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m edgecloud_gym.forecasting.joint``: print the table, optionally write JSON."""
    p = argparse.ArgumentParser(
        prog="python -m edgecloud_gym.forecasting.joint",
        description="MAE (x node capacity) of forecasters on held-out episodes of the joint "
        "presets, overall and in the steps after the ramp and event onsets.",
    )
    p.add_argument("--episodes", type=int, default=20, help="episodes per preset (default 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of the episodes (default 0)")
    p.add_argument(
        "--window", type=int, default=ONSET_WINDOW, help="steps after each onset (default 5)"
    )
    p.add_argument(
        "--forecasters",
        default=",".join(DEFAULT_FORECASTERS),
        help=f"comma-separated forecasters (default {','.join(DEFAULT_FORECASTERS)})",
    )
    p.add_argument("--json", help="also write the results to this JSON file")
    args = p.parse_args(argv)
    if args.episodes < 1 or args.seed < 0 or args.window < 1:
        p.error("--episodes and --window must be >= 1 and --seed >= 0")
    names = [n.strip() for n in args.forecasters.split(",") if n.strip()]
    results = score_joint(names, episodes=args.episodes, seed=args.seed, window=args.window)
    print(table(results), end="")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
