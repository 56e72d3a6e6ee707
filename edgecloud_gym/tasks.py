"""Workload tasks: frozen, hashable descriptions of a workload scenario.

A :class:`Task` fixes the statistics of the arrival process (profile level, diurnal swing,
bursts, flash crowds, per-node popularity, application mix), the capacity scenario (degraded or
failed servers) and an optional shift in the middle of an episode. The arrival *realisation* is
drawn from the environment's generator at reset, so one task gives many episodes.

Presets :data:`LOW`, :data:`MEDIUM` and :data:`HIGH` are the source paper's three profiles;
:data:`SCENARIOS` adds a degraded node, a failed node, a flash-crowd-heavy mix and a mid-episode
shift; :data:`JOINT_PRESETS` (:data:`JOINT_LOW`, :data:`JOINT_MEDIUM`, :data:`JOINT_HIGH`) are the
three profiles with forecastable structure: a steep daily ramp and a daily scheduled event whose
timing repeats across days (``docs/environment.md``, "Forecastable structure").
:func:`train_tasks` and :func:`test_tasks` draw disjoint, seeded task sets for meta-learning
(Meta-World's pattern: ``env.unwrapped.set_task(task)``).
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
    "JOINT_HIGH",
    "JOINT_LOW",
    "JOINT_MEDIUM",
    "JOINT_PRESETS",
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


def _node_indices(name: str, values: Any) -> tuple[int, ...] | None:
    """``values`` as a non-empty tuple of distinct node indices >= 0, or None."""
    if values is None:
        return None
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of edge node indices or None, got {values!r}.")
    try:
        values = tuple(values)
    except TypeError as exc:
        raise TypeError(
            f"{name} must be a sequence of edge node indices or None, got {values!r}; "
            "write (0,) for the first node alone."
        ) from exc
    if not values:
        raise ValueError(
            f"{name} is empty: name at least one edge node, or None for the first node alone."
        )
    indices = tuple(check_int(f"{name}[{i}]", v, minimum=0) for i, v in enumerate(values))
    if len(set(indices)) != len(indices):
        raise ValueError(f"{name} names a node twice ({indices}); list each node once.")
    return indices


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
            ``capacity_factors`` and the shift apply as usual, and the diurnal, burst, flash
            crowd, ramp and event fields are not used (the trace has its own). See
            ``docs/traces.md``.
        ramp_amplitude: Extra load at the top of the daily ramp, relative to the base shape
            (0.5 multiplies the rate by 1.5; 0: no ramp). The ramp multiplies every node's rate.
        ramp_phase: Start of the ramp's rise as a fraction of the day, in [0, 1) (the phase
            that the observation's sin/cos carry).
        ramp_rise: Steps over which the ramp rises linearly from 0 to ``ramp_amplitude``; it
            falls back over as many steps after the hold (0: a step up and down).
        ramp_hold: Steps the ramp stays at its top between rise and fall.
        event_amplitude: Extra rate of a scheduled event at each of ``event_nodes``, relative to
            the node's base rate ``load * mu_i`` (1.0 adds the base rate once; 0: no events).
        event_phase: Planned start of each day's event as a fraction of the day, in [0, 1).
        event_jitter: Half-width of the uniform jitter of the event's start (steps, may be
            fractional): each day's event starts ``U(-event_jitter, event_jitter)`` steps from
            its planned start, drawn per day from the episode's generator.
        event_onset: Steps over which an event's extra rate rises linearly from 0 to its full
            value (0: at once); at most ``event_duration``.
        event_duration: Length of one event from its start to its abrupt end (steps).
        event_nodes: Indices of the edge nodes an event loads (each gets the full extra rate),
            or None for the first edge node (index 0) alone.
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
    ramp_amplitude: float = 0.0
    ramp_phase: float = 0.0
    ramp_rise: int = 0
    ramp_hold: int = 0
    event_amplitude: float = 0.0
    event_phase: float = 0.0
    event_jitter: float = 0.0
    event_onset: int = 0
    event_duration: int = 0
    event_nodes: tuple[int, ...] | None = None

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
        self._check_structure()

    def _check_structure(self) -> None:
        """Validate the ramp and event fields (see the class docstring)."""
        check_range("Task.ramp_amplitude", self.ramp_amplitude, 0, 1000, "x base rate")
        check_fraction("Task.ramp_phase", self.ramp_phase, closed_top=False)
        check_int("Task.ramp_rise", self.ramp_rise, minimum=0, maximum=10**7)
        check_int("Task.ramp_hold", self.ramp_hold, minimum=0, maximum=10**7)
        if self.ramp_amplitude > 0 and self.ramp_rise + self.ramp_hold == 0:
            raise ValueError(
                f"Task.ramp_amplitude is {self.ramp_amplitude!r} but ramp_rise and ramp_hold are "
                "0, so the ramp would last no step: give it a ramp_rise and/or ramp_hold in "
                "steps, or set ramp_amplitude=0 for no ramp."
            )
        check_range("Task.event_amplitude", self.event_amplitude, 0, 1000, "x base rate")
        check_fraction("Task.event_phase", self.event_phase, closed_top=False)
        check_range("Task.event_jitter", self.event_jitter, 0, 1e6, "steps")
        check_int("Task.event_onset", self.event_onset, minimum=0, maximum=10**7)
        check_int("Task.event_duration", self.event_duration, minimum=0, maximum=10**7)
        if self.event_onset > self.event_duration:
            raise ValueError(
                f"Task.event_onset ({self.event_onset}) must not exceed event_duration "
                f"({self.event_duration}): the onset is the first part of the event; lengthen "
                "event_duration or shorten event_onset."
            )
        if self.event_amplitude > 0 and self.event_duration == 0:
            raise ValueError(
                f"Task.event_amplitude is {self.event_amplitude!r} but event_duration is 0, so "
                "the event would last no step: give it an event_duration in steps, or set "
                "event_amplitude=0 for no events."
            )
        object.__setattr__(self, "event_nodes", _node_indices("Task.event_nodes", self.event_nodes))

    @property
    def has_ramp(self) -> bool:
        """Whether the synthetic workload has a daily ramp (amplitude and length non-zero)."""
        return self.ramp_amplitude > 0 and self.ramp_rise + self.ramp_hold > 0

    @property
    def has_event(self) -> bool:
        """Whether the synthetic workload has daily scheduled events."""
        return self.event_amplitude > 0 and self.event_duration > 0

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
        if self.event_nodes is not None and max(self.event_nodes) >= n_edge:
            raise ValueError(
                f"Task {self.name!r}: event_nodes {self.event_nodes} names node "
                f"{max(self.event_nodes)} but the topology has {n_edge} edge nodes (indices 0 to "
                f"{n_edge - 1}); name existing nodes, or None for node 0."
            )
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

#: The forecastable structure of the joint presets: a morning ramp on every node (rising over 3
#: steps from phase 0.2, held 30 steps, falling over 3 steps) and an evening event on node 0
#: (from phase 0.65 +- 4 steps, onset 2 steps, 20 steps long). The amplitudes of each profile
#: below add the same absolute load in all three: the ramp about 0.27 x the nodes' capacity at
#: the base rate (ramp_amplitude x load), the event 0.9 x node 0's capacity.
_JOINT_STRUCTURE: dict[str, Any] = {
    "ramp_phase": 0.2,
    "ramp_rise": 3,
    "ramp_hold": 30,
    "event_phase": 0.65,
    "event_jitter": 4.0,
    "event_onset": 2,
    "event_duration": 20,
    "event_nodes": (0,),
}
#: Low profile with the daily ramp (+90 %) and the evening event (+3x node 0's base rate).
JOINT_LOW = LOW.replace(
    name="joint-low", ramp_amplitude=0.9, event_amplitude=3.0, **_JOINT_STRUCTURE
)
#: Medium profile with the daily ramp (+45 %) and the evening event (+1.5x).
JOINT_MEDIUM = MEDIUM.replace(
    name="joint-medium", ramp_amplitude=0.45, event_amplitude=1.5, **_JOINT_STRUCTURE
)
#: High profile with the daily ramp (+30 %) and the evening event (+1x): the edge overflows to
#: the cloud during both, while the day's peak total demand stays below the edge and cloud
#: capacity.
JOINT_HIGH = HIGH.replace(
    name="joint-high", ramp_amplitude=0.3, event_amplitude=1.0, **_JOINT_STRUCTURE
)

#: The three profiles with forecastable structure (reachable through :func:`get_task`).
JOINT_PRESETS: dict[str, Task] = {
    "joint-low": JOINT_LOW,
    "joint-medium": JOINT_MEDIUM,
    "joint-high": JOINT_HIGH,
}

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
    """Return a preset, joint preset or scenario by name (case-insensitive)."""
    if not isinstance(name, str):
        raise TypeError(f"task name must be a string, got {name!r}.")
    every = {**PRESETS, **JOINT_PRESETS, **SCENARIOS}
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
