"""Workload tasks: frozen, hashable descriptions of a workload scenario.

A :class:`Task` fixes the statistics of the arrival process (profile level, diurnal swing,
bursts, flash crowds, per-node popularity, application mix), the capacity scenario (degraded or
failed servers) and an optional shift in the middle of an episode. The arrival *realisation* is
drawn from the environment's generator at reset, so one task gives many episodes.

Presets :data:`LOW`, :data:`MEDIUM` and :data:`HIGH` are the source paper's three profiles;
:data:`SCENARIOS` adds a degraded node, a failed node, a flash-crowd-heavy mix and a mid-episode
shift. :func:`train_tasks` and :func:`test_tasks` draw disjoint, seeded task sets for
meta-learning (Meta-World's pattern: ``env.unwrapped.set_task(task)``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgecloud_gym._validation import (
    check_fraction,
    check_int,
    check_keys,
    check_nonnegative,
    check_range,
    did_you_mean,
    in_range,
)
from edgecloud_gym.traces import TraceSpec, as_trace_spec

__all__ = [
    "HIGH",
    "LOW",
    "MEDIUM",
    "PRESETS",
    "SCENARIOS",
    "Task",
    "TrainTaskSampler",
    "get_task",
    "test_tasks",
    "train_tasks",
]


def _floats(name: str, values: Any, check: Any) -> tuple[float, ...] | None:
    if values is None:
        return None
    try:
        values = tuple(values)
    except TypeError as exc:
        raise TypeError(f"{name} must be a sequence of numbers or None, got {values!r}.") from exc
    return tuple(check(f"{name}[{i}]", v) for i, v in enumerate(values))


@dataclass(frozen=True)
class Task:
    """A workload scenario. All rates are relative to each edge node's own service rate.

    Attributes:
        name: Label used in logs and reports.
        load: Base arrival rate of every edge node as a fraction of its service rate (requests/s
            over requests/s); 1.0 keeps a node exactly busy on its own.
        diurnal_amplitude: Relative swing of the slow periodic component, in [0, 1).
        burst_period: Steps between the starts of two periodic bursts (0: no bursts).
        burst_duration: Length of one burst (steps).
        burst_amplitude: Extra rate during a burst, relative to the base (1.0 doubles it).
        burst_fraction: Fraction of edge nodes hit by each burst (drawn per burst).
        flash_rate: Expected flash crowds per step in the whole system (Poisson).
        flash_amplitude: Extra rate at a flash crowd's peak, relative to the base.
        flash_duration: Decay time of a flash crowd (steps, exponential).
        node_weights: Per-node popularity multipliers (mean 1 is customary), or None for equal.
        app_mix: Fractions of the configuration's application classes (sum 1), or None for
            equal fractions.
        capacity_factors: Multipliers of each server's capacity (edge nodes, then the cloud);
            0.5 is a degraded server, 0 a failed one. None keeps every server at full capacity.
        shift_at: Step of the episode at which the load shifts (None: no shift).
        shift_load: Multiplier of the base load from ``shift_at`` on.
        trace: A real request trace that drives the arrivals instead of the synthetic generator
            (a :class:`~edgecloud_gym.traces.TraceSpec`, a bundled name such as ``"nasa"``, a CSV
            path or a mapping of TraceSpec fields). With a trace, ``load`` is each node's mean
            utilisation over the trace's train period, ``node_weights``, ``app_mix``,
            ``capacity_factors`` and the shift apply as usual, and the diurnal, burst and flash
            crowd fields are not used (the trace has its own). See ``docs/traces.md``.
    """

    name: str = "custom"
    load: float = 0.6
    diurnal_amplitude: float = 0.2
    burst_period: int = 40
    burst_duration: int = 6
    burst_amplitude: float = 0.8
    burst_fraction: float = 0.5
    flash_rate: float = 0.01
    flash_amplitude: float = 1.5
    flash_duration: float = 5.0
    node_weights: tuple[float, ...] | None = None
    app_mix: tuple[float, ...] | None = None
    capacity_factors: tuple[float, ...] | None = None
    shift_at: int | None = None
    shift_load: float = 1.0
    trace: TraceSpec | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"Task.name must be a string, got {self.name!r}.")
        check_range("Task.load", self.load, 0, 100, "x node capacity")
        check_fraction("Task.diurnal_amplitude", self.diurnal_amplitude, closed_top=False)
        check_int("Task.burst_period", self.burst_period, minimum=0, maximum=10**7)
        check_int("Task.burst_duration", self.burst_duration, minimum=0, maximum=10**7)
        if self.burst_period and self.burst_duration > self.burst_period:
            raise ValueError(
                f"Task.burst_duration ({self.burst_duration}) must not exceed burst_period "
                f"({self.burst_period})."
            )
        check_range("Task.burst_amplitude", self.burst_amplitude, 0, 1000, "x base rate")
        check_fraction("Task.burst_fraction", self.burst_fraction)
        check_range("Task.flash_rate", self.flash_rate, 0, 100, "per step")
        check_range("Task.flash_amplitude", self.flash_amplitude, 0, 1000, "x base rate")
        check_range("Task.flash_duration", self.flash_duration, 0, 1e6, "steps")
        weights = _floats("Task.node_weights", self.node_weights, in_range(0, 1000))
        if weights is not None and not sum(weights) > 0:
            raise ValueError(
                f"Task.node_weights are all 0 ({weights}): no node would receive any request; "
                "give at least one node a positive weight, or None for equal weights."
            )
        object.__setattr__(self, "node_weights", weights)
        mix = _floats("Task.app_mix", self.app_mix, check_nonnegative)
        if mix is not None and not np.isclose(sum(mix), 1.0, atol=1e-6):
            raise ValueError(
                f"Task.app_mix must sum to 1, got {mix} (sum {sum(mix):.6g}); divide by the sum."
            )
        object.__setattr__(self, "app_mix", mix)
        object.__setattr__(
            self,
            "capacity_factors",
            _floats("Task.capacity_factors", self.capacity_factors, in_range(0, 100)),
        )
        if self.shift_at is not None:
            check_int("Task.shift_at", self.shift_at, minimum=0, maximum=10**9)
        check_range("Task.shift_load", self.shift_load, 0, 100, "x base load")
        if self.trace is not None:
            object.__setattr__(self, "trace", as_trace_spec(self.trace))

    def replace(self, **changes: Any) -> Task:
        """Return a copy with ``changes`` applied (validated; unknown fields rejected)."""
        check_keys(changes, [f.name for f in dataclasses.fields(self)], "Task")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Task:
        """Build a task from plain data; unknown keys raise with the closest valid one."""
        check_keys(values, [f.name for f in dataclasses.fields(cls)], "Task")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-serialisable) of this task."""
        return {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()
        }

    def check_compatible(self, n_edge: int, n_apps: int) -> None:
        """Raise ``ValueError`` if per-node or per-app fields don't fit the configuration."""
        if self.node_weights is not None and len(self.node_weights) != n_edge:
            raise ValueError(
                f"Task {self.name!r}: node_weights has {len(self.node_weights)} entries but the "
                f"topology has {n_edge} edge nodes; give one weight per edge node or None."
            )
        if self.app_mix is not None and len(self.app_mix) != n_apps:
            raise ValueError(
                f"Task {self.name!r}: app_mix has {len(self.app_mix)} entries but the "
                f"configuration has {n_apps} application classes."
            )
        if self.trace is not None:
            self.trace.check_compatible(n_edge)
        if self.capacity_factors is not None:
            if len(self.capacity_factors) != n_edge + 1:
                raise ValueError(
                    f"Task {self.name!r}: capacity_factors has {len(self.capacity_factors)} "
                    f"entries; it needs {n_edge + 1} (each edge node, then the cloud)."
                )
            if max(self.capacity_factors) <= 0:
                raise ValueError(
                    f"Task {self.name!r}: capacity_factors are all 0; at least one server "
                    "must keep some capacity."
                )


#: Low profile: light load, mild bursts; edge nodes are mostly idle.
LOW = Task(name="low", load=0.3, burst_amplitude=0.5, flash_rate=0.005)
#: Medium profile: moderate load with periodic bursts.
MEDIUM = Task(name="medium", load=0.6, burst_amplitude=0.8, flash_rate=0.01)
#: High profile: heavy load; bursts overload the nodes they hit.
HIGH = Task(name="high", load=0.9, burst_amplitude=1.0, flash_rate=0.02)

PRESETS: dict[str, Task] = {"low": LOW, "medium": MEDIUM, "high": HIGH}

#: Scenarios beyond the three profiles (for the default six-node topology).
SCENARIOS: dict[str, Task] = {
    "degraded-node": MEDIUM.replace(name="degraded-node", capacity_factors=(0.4, 1, 1, 1, 1, 1, 1)),
    "failed-node": MEDIUM.replace(name="failed-node", capacity_factors=(1, 1, 0, 1, 1, 1, 1)),
    "flash-crowds": MEDIUM.replace(
        name="flash-crowds", flash_rate=0.08, flash_amplitude=2.5, flash_duration=8.0
    ),
    "shift": LOW.replace(name="shift", shift_at=100, shift_load=3.0),
    "hotspot": MEDIUM.replace(name="hotspot", node_weights=(2.2, 1.2, 0.8, 0.7, 0.6, 0.5)),
}


def get_task(name: str) -> Task:
    """Return a preset or scenario by name (case-insensitive)."""
    if not isinstance(name, str):
        raise TypeError(f"task name must be a string, got {name!r}.")
    every = {**PRESETS, **SCENARIOS}
    key = name.lower()
    if key not in every:
        raise ValueError(
            f"unknown task {name!r}.{did_you_mean(key, every)} Known tasks: {', '.join(every)}."
        )
    return every[key]


def _draw_tasks(n: int, seed: int, split: int, prefix: str, n_edge: int, n_apps: int) -> list[Task]:
    check_int("n", n, minimum=0)
    check_int("seed", seed, minimum=0)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(split,)))
    tasks = []
    for i in range(n):
        weights = rng.lognormal(0.0, 0.35, size=n_edge)
        weights = weights / weights.mean()
        caps: tuple[float, ...] | None = None
        if rng.random() < 0.2:  # a degraded or failed edge node in one task of five
            factors = np.ones(n_edge + 1)
            factors[rng.integers(n_edge)] = rng.choice([0.0, 0.3, 0.6])
            caps = tuple(round(float(f), 3) for f in factors)
        period = int(rng.choice([0, 20, 30, 40, 60]))
        shift = rng.random() < 0.25
        tasks.append(
            Task(
                name=f"{prefix}-{seed}-{i}",
                load=round(float(rng.uniform(0.2, 1.0)), 4),
                diurnal_amplitude=round(float(rng.uniform(0.0, 0.4)), 4),
                burst_period=period,
                burst_duration=int(rng.integers(3, 9)) if period else 0,
                burst_amplitude=round(float(rng.uniform(0.2, 1.5)), 4),
                burst_fraction=round(float(rng.uniform(0.2, 0.8)), 4),
                flash_rate=round(float(rng.uniform(0.0, 0.04)), 5),
                flash_amplitude=round(float(rng.uniform(0.5, 2.5)), 4),
                flash_duration=round(float(rng.uniform(2.0, 10.0)), 3),
                node_weights=tuple(round(float(w), 4) for w in weights),
                app_mix=tuple(float(m) for m in rng.dirichlet(np.full(n_apps, 2.0))),
                capacity_factors=caps,
                shift_at=int(rng.integers(50, 150)) if shift else None,
                shift_load=round(float(rng.uniform(0.5, 2.0)), 4) if shift else 1.0,
            )
        )
    return tasks


def train_tasks(n: int, seed: int = 0, *, n_edge: int = 6, n_apps: int = 3) -> list[Task]:
    """Draw ``n`` training tasks from the task distribution.

    Train and test tasks come from independent streams of one seed (``SeedSequence`` spawn keys
    0 and 1), so they are disjoint; the same arguments always give the same tasks.

    Args:
        n: Number of tasks.
        seed: Seed of the task distribution.
        n_edge: Edge nodes of the topology the tasks are for.
        n_apps: Application classes of the configuration.
    """
    return _draw_tasks(n, seed, 0, "train", n_edge, n_apps)


def test_tasks(n: int, seed: int = 0, *, n_edge: int = 6, n_apps: int = 3) -> list[Task]:
    """Draw ``n`` held-out test tasks, disjoint from :func:`train_tasks` of the same seed."""
    return _draw_tasks(n, seed, 1, "test", n_edge, n_apps)


test_tasks.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


class TrainTaskSampler:
    """Callable ``rng -> Task`` drawing uniformly from a fixed pool of training tasks.

    Used by ``EdgeCloud-Random-v0`` to switch to a new training task at every reset; the pool is
    :func:`train_tasks` of ``(n_tasks, seed)``, so it never contains a test task.
    """

    def __init__(self, n_tasks: int = 100, seed: int = 0, *, n_edge: int = 6, n_apps: int = 3):
        self.n_tasks, self.seed = n_tasks, seed
        self.pool = train_tasks(n_tasks, seed, n_edge=n_edge, n_apps=n_apps)
        if not self.pool:
            raise ValueError("TrainTaskSampler needs n_tasks >= 1.")

    def __call__(self, rng: np.random.Generator) -> Task:
        return self.pool[int(rng.integers(len(self.pool)))]

    def __repr__(self) -> str:
        return f"TrainTaskSampler(n_tasks={self.n_tasks}, seed={self.seed})"
