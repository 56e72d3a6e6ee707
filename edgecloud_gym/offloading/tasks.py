"""Tasks of the offloading family and their distributions, for meta-learning.

A task is a frozen, hashable description of one offloading scenario; an environment draws its
frames (task sizes or channel gains) from the task with the env's ``Generator``. Tasks are
swapped with ``env.unwrapped.set_task(task)`` (Meta-World's pattern).

``offloading_train_tasks(family, n, seed)`` and ``offloading_test_tasks(family, n, seed)`` draw from the family's
distribution and split the task space deterministically: a task belongs to the test split when a
hash of its parameters falls in one bucket of five, so the two splits are disjoint for every
``n`` and ``seed``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np

from edgecloud_gym._validation import (
    check_fraction,
    check_int,
    check_nonnegative,
    check_positive,
    did_you_mean,
)

from .mumt import CloudParams, MUMTParams
from .wpmec import default_weights

__all__ = [
    "FAMILIES",
    "EdgeCloudTask",
    "EdgeCloudTaskDistribution",
    "Family",
    "MUMTTask",
    "MUMTTaskDistribution",
    "WPMECTask",
    "WPMECTaskDistribution",
    "offloading_test_tasks",
    "offloading_train_tasks",
]

Family = Literal["mumt", "edgecloud", "wpmec"]
FAMILIES: tuple[str, ...] = ("mumt", "edgecloud", "wpmec")


def _check_range(
    name: str, value: Sequence[float], *, positive: bool = True
) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name} must be a (low, high) pair, got {value!r}.")
    check = check_positive if positive else check_nonnegative
    lo, hi = check(f"{name}[0]", value[0]), check(f"{name}[1]", value[1])
    if lo > hi:
        raise ValueError(f"{name} must have low <= high, got {value!r}; swap the bounds.")
    return (lo, hi)


@dataclass(frozen=True)
class MUMTTask:
    """A DDLO multi-user multi-task scenario (defaults: the published DDLO data set).

    Attributes:
        n_users: N users.
        n_tasks: M tasks per user.
        size_low_mb: smallest task size [MB]; DDLO: 10.
        size_high_mb: largest task size [MB]; DDLO: 30.
        integer_sizes: draw integer sizes uniformly in [low, high] (as DDLO) instead of reals.
        bandwidth_mbps: uplink bandwidth shared by the users [Mbit/s]; DDLO: 100.
        edge_cpu_hz: edge CPU frequency [cycles/s]; DDLO: 1e10.
    """

    n_users: int = 3
    n_tasks: int = 3
    size_low_mb: float = 10.0
    size_high_mb: float = 30.0
    integer_sizes: bool = True
    bandwidth_mbps: float = 100.0
    edge_cpu_hz: float = 1e10

    def __post_init__(self) -> None:
        name = type(self).__name__
        object.__setattr__(self, "n_users", check_int(f"{name}.n_users", self.n_users, minimum=1))
        object.__setattr__(self, "n_tasks", check_int(f"{name}.n_tasks", self.n_tasks, minimum=1))
        low = check_nonnegative(f"{name}.size_low_mb", self.size_low_mb)
        high = check_positive(f"{name}.size_high_mb", self.size_high_mb)
        if low > high:
            raise ValueError(
                f"{name}: size_low_mb ({low}) must be <= size_high_mb ({high}); swap them."
            )
        if not isinstance(self.integer_sizes, bool):
            raise TypeError(f"{name}.integer_sizes must be a bool, got {self.integer_sizes!r}.")
        if self.integer_sizes and np.floor(high) < np.ceil(low):
            raise ValueError(
                f"{name}: no integer lies in [size_low_mb, size_high_mb] = [{low}, {high}]; "
                "widen the range or set integer_sizes=False."
            )
        object.__setattr__(self, "size_low_mb", low)
        object.__setattr__(self, "size_high_mb", high)
        for key in ("bandwidth_mbps", "edge_cpu_hz"):
            object.__setattr__(self, key, check_positive(f"{name}.{key}", getattr(self, key)))

    def params(self) -> MUMTParams:
        """The cost-model parameters of this task (DDLO's, with its bandwidth and edge CPU)."""
        return MUMTParams(bandwidth_mbps=self.bandwidth_mbps, edge_cpu_hz=self.edge_cpu_hz)

    def sample_sizes(self, rng: np.random.Generator) -> np.ndarray:
        """One frame of task sizes [MB], shape ``(n_users, n_tasks)``."""
        shape = (self.n_users, self.n_tasks)
        if self.integer_sizes:
            lo, hi = int(np.ceil(self.size_low_mb)), int(np.floor(self.size_high_mb))
            return rng.integers(lo, hi, size=shape, endpoint=True).astype(np.float64)
        return rng.uniform(self.size_low_mb, self.size_high_mb, size=shape)


@dataclass(frozen=True)
class EdgeCloudTask(MUMTTask):
    """A MUMT scenario with a cloud as third place (parameters: :class:`CloudParams`).

    Attributes:
        cloud_enabled: offer the cloud place; False reduces the scenario exactly to MUMT.
        cloud_cpu_hz: cloud CPU frequency per task [cycles/s]; default 1e11.
        wan_bandwidth_mbps: edge-to-cloud WAN bandwidth shared by the users [Mbit/s]; default 20.
        wan_latency_s: WAN round-trip latency, once per user using the cloud [s]; default 0.05.
    """

    cloud_enabled: bool = True
    cloud_cpu_hz: float = 1e11
    wan_bandwidth_mbps: float = 20.0
    wan_latency_s: float = 0.05

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.cloud_enabled, bool):
            raise TypeError(
                f"EdgeCloudTask.cloud_enabled must be a bool, got {self.cloud_enabled!r}."
            )
        for key in ("cloud_cpu_hz", "wan_bandwidth_mbps"):
            object.__setattr__(
                self, key, check_positive(f"EdgeCloudTask.{key}", getattr(self, key))
            )
        object.__setattr__(
            self,
            "wan_latency_s",
            check_nonnegative("EdgeCloudTask.wan_latency_s", self.wan_latency_s),
        )

    def cloud_params_or_none(self) -> CloudParams | None:
        """The cloud parameters, or ``None`` when the cloud is disabled."""
        if not self.cloud_enabled:
            return None
        return CloudParams(
            cloud_cpu_hz=self.cloud_cpu_hz,
            wan_bandwidth_mbps=self.wan_bandwidth_mbps,
            wan_latency_s=self.wan_latency_s,
        )


def _tuple_of(name: str, value: Sequence[float] | None, n: int) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"WPMECTask.{name} must be a sequence of numbers, got {value!r}.") from exc
    if arr.shape != (n,):
        raise ValueError(
            f"WPMECTask.{name} must have one entry per device, shape ({n},), got {arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"WPMECTask.{name} must be finite, got {value!r}.")
    return tuple(float(v) for v in arr)


@dataclass(frozen=True)
class WPMECTask:
    """A wireless-powered MEC scenario (defaults: DROO's simulation set-up, N = 10).

    Channel gains follow DROO (Huang, Bi, Zhang 2020, section VI): mean gain
    ``A_d (c / (4 pi f_c d_i))^d_e`` with antenna gain ``A_d`` = 4.11, carrier ``f_c`` = 915 MHz,
    path-loss exponent ``d_e`` = 2.8, and Rayleigh fading: the gain of each frame is the mean
    times an exponential variable of unit mean (the published data matches: per-device
    ``h / mean(h)`` has standard deviation 1.00 and median ln 2).

    Attributes:
        n_devices: N devices.
        distances_m: device-to-AP distances [m]; None: evenly spaced over [2.5, 5.2] m.
        path_loss_exponent: d_e; 2.8.
        antenna_gain: A_d; 4.11.
        carrier_hz: f_c [Hz]; 915e6.
        weights: per-device rate weights; None: DROO's 1 / 1.5 alternation.
        active: per-device on/off; None: all on. An off device has gain 0 in every frame.
    """

    n_devices: int = 10
    distances_m: tuple[float, ...] | None = None
    path_loss_exponent: float = 2.8
    antenna_gain: float = 4.11
    carrier_hz: float = 915e6
    weights: tuple[float, ...] | None = None
    active: tuple[bool, ...] | None = None

    def __post_init__(self) -> None:
        n = check_int("WPMECTask.n_devices", self.n_devices, minimum=1)
        object.__setattr__(self, "n_devices", n)
        dist = _tuple_of("distances_m", self.distances_m, n)
        if dist is not None and min(dist) <= 0:
            raise ValueError(f"WPMECTask.distances_m must be > 0 (m), got {self.distances_m!r}.")
        object.__setattr__(self, "distances_m", dist)
        w = _tuple_of("weights", self.weights, n)
        if w is not None and min(w) < 0:
            raise ValueError(f"WPMECTask.weights must be >= 0, got {self.weights!r}.")
        object.__setattr__(self, "weights", w)
        if self.active is not None:
            act = tuple(self.active)
            if len(act) != n or not all(isinstance(v, (bool, np.bool_)) for v in act):
                raise ValueError(
                    f"WPMECTask.active must be {n} booleans (one per device), got {self.active!r}."
                )
            object.__setattr__(self, "active", tuple(bool(v) for v in act))
        for key in ("path_loss_exponent", "antenna_gain", "carrier_hz"):
            object.__setattr__(self, key, check_positive(f"WPMECTask.{key}", getattr(self, key)))

    def distances(self) -> np.ndarray:
        """Device distances [m], shape (N,)."""
        if self.distances_m is None:
            return np.linspace(2.5, 5.2, self.n_devices)
        return np.asarray(self.distances_m)

    def mean_gains(self) -> np.ndarray:
        """Mean channel power gains (free-space path loss), shape (N,)."""
        wavelength = 299_792_458.0 / self.carrier_hz
        free_space = wavelength / (4.0 * np.pi * self.distances())
        return self.antenna_gain * free_space**self.path_loss_exponent

    def weights_array(self) -> np.ndarray:
        """Per-device weights, shape (N,)."""
        if self.weights is None:
            return default_weights(self.n_devices)
        return np.asarray(self.weights)

    def active_array(self) -> np.ndarray:
        """Per-device on (True) / off (False), shape (N,)."""
        if self.active is None:
            return np.ones(self.n_devices, dtype=bool)
        return np.asarray(self.active, dtype=bool)

    def sample_h(self, rng: np.random.Generator) -> np.ndarray:
        """One frame of channel power gains, shape (N,); 0 for switched-off devices."""
        fading = rng.exponential(1.0, size=self.n_devices)
        return self.mean_gains() * fading * self.active_array()


def _round(x: float) -> float:
    return float(f"{x:.6g}")


@dataclass(frozen=True)
class MUMTTaskDistribution:
    """Uniform ranges from which MUMT tasks are drawn (values rounded to 6 significant digits).

    Attributes:
        n_users, n_tasks: fixed problem size (the action space depends on it).
        size_low_range_mb: range of a task's smallest size [MB].
        size_span_range_mb: range of (largest - smallest) size [MB].
        bandwidth_range_mbps: range of the shared uplink bandwidth [Mbit/s].
        edge_cpu_range_hz: range of the edge CPU frequency [cycles/s].
    """

    n_users: int = 3
    n_tasks: int = 3
    size_low_range_mb: tuple[float, float] = (5.0, 15.0)
    size_span_range_mb: tuple[float, float] = (10.0, 30.0)
    bandwidth_range_mbps: tuple[float, float] = (50.0, 150.0)
    edge_cpu_range_hz: tuple[float, float] = (5e9, 2e10)

    def __post_init__(self) -> None:
        name = type(self).__name__
        check_int(f"{name}.n_users", self.n_users, minimum=1)
        check_int(f"{name}.n_tasks", self.n_tasks, minimum=1)
        for f in fields(self):
            if f.name.endswith(("_mb", "_mbps", "_hz", "_s")):
                positive = f.name not in ("size_low_range_mb", "wan_latency_range_s")
                value = _check_range(f"{name}.{f.name}", getattr(self, f.name), positive=positive)
                object.__setattr__(self, f.name, value)

    def _common(self, rng: np.random.Generator) -> dict[str, float | int]:
        low = _round(rng.uniform(*self.size_low_range_mb))
        return {
            "n_users": self.n_users,
            "n_tasks": self.n_tasks,
            "size_low_mb": low,
            "size_high_mb": _round(low + rng.uniform(*self.size_span_range_mb)),
            "integer_sizes": False,
            "bandwidth_mbps": _round(rng.uniform(*self.bandwidth_range_mbps)),
            "edge_cpu_hz": _round(rng.uniform(*self.edge_cpu_range_hz)),
        }

    def sample(self, rng: np.random.Generator) -> MUMTTask:
        """Draw one task."""
        return MUMTTask(**self._common(rng))


@dataclass(frozen=True)
class EdgeCloudTaskDistribution(MUMTTaskDistribution):
    """MUMT ranges plus ranges of the cloud parameters.

    Attributes:
        cloud_cpu_range_hz: range of the cloud CPU frequency [cycles/s].
        wan_bandwidth_range_mbps: range of the WAN bandwidth [Mbit/s].
        wan_latency_range_s: range of the WAN round-trip latency [s].
    """

    cloud_cpu_range_hz: tuple[float, float] = (5e10, 2e11)
    wan_bandwidth_range_mbps: tuple[float, float] = (10.0, 50.0)
    wan_latency_range_s: tuple[float, float] = (0.02, 0.1)

    def sample(self, rng: np.random.Generator) -> EdgeCloudTask:
        """Draw one task."""
        return EdgeCloudTask(
            **self._common(rng),
            cloud_cpu_hz=_round(rng.uniform(*self.cloud_cpu_range_hz)),
            wan_bandwidth_mbps=_round(rng.uniform(*self.wan_bandwidth_range_mbps)),
            wan_latency_s=_round(rng.uniform(*self.wan_latency_range_s)),
        )


@dataclass(frozen=True)
class WPMECTaskDistribution:
    """Distribution of wireless-powered MEC tasks.

    Attributes:
        n_devices: fixed N (the action space depends on it).
        distance_range_m: each device's distance is uniform in this range [m] (DROO: 2.5..5.2).
        path_loss_exponent_range: range of d_e.
        alternating_weights_prob: probability of DROO's 1 / 1.5 weights; otherwise each weight is
            uniform in ``weight_range``.
        weight_range: range of random weights.
        off_prob: probability that each device is switched off for the task (at least one stays
            on).
    """

    n_devices: int = 10
    distance_range_m: tuple[float, float] = (2.5, 5.2)
    path_loss_exponent_range: tuple[float, float] = (2.6, 3.0)
    alternating_weights_prob: float = 0.5
    weight_range: tuple[float, float] = (0.5, 2.0)
    off_prob: float = 0.1

    def __post_init__(self) -> None:
        check_int("WPMECTaskDistribution.n_devices", self.n_devices, minimum=1)
        for key in ("distance_range_m", "path_loss_exponent_range", "weight_range"):
            value = _check_range(f"WPMECTaskDistribution.{key}", getattr(self, key))
            object.__setattr__(self, key, value)
        for key in ("alternating_weights_prob", "off_prob"):
            value = check_fraction(f"WPMECTaskDistribution.{key}", getattr(self, key))
            object.__setattr__(self, key, value)

    def sample(self, rng: np.random.Generator) -> WPMECTask:
        """Draw one task."""
        n = self.n_devices
        dist = tuple(_round(d) for d in rng.uniform(*self.distance_range_m, size=n))
        exponent = _round(rng.uniform(*self.path_loss_exponent_range))
        weights = None
        if rng.random() >= self.alternating_weights_prob:
            weights = tuple(_round(w) for w in rng.uniform(*self.weight_range, size=n))
        on = rng.random(n) >= self.off_prob
        if not on.any():
            on[rng.integers(n)] = True
        active = None if on.all() else tuple(bool(v) for v in on)
        return WPMECTask(
            n_devices=n,
            distances_m=dist,
            path_loss_exponent=exponent,
            weights=weights,
            active=active,
        )


_DEFAULT_DISTRIBUTIONS = {
    "mumt": MUMTTaskDistribution,
    "edgecloud": EdgeCloudTaskDistribution,
    "wpmec": WPMECTaskDistribution,
}


def _in_test_split(task: object) -> bool:
    digest = hashlib.sha256(repr(task).encode()).digest()
    return digest[0] % 5 == 0


def _draw(family: str, n: int, seed: int, distribution: object, test: bool) -> list:
    if family not in _DEFAULT_DISTRIBUTIONS:
        raise ValueError(
            f"family must be one of {FAMILIES}, got {family!r}."
            f"{did_you_mean(str(family), FAMILIES)}"
        )
    n = check_int("n", n, minimum=0)
    seed = check_int("seed", seed, minimum=0)
    dist = _DEFAULT_DISTRIBUTIONS[family]() if distribution is None else distribution
    if not hasattr(dist, "sample"):
        raise TypeError(f"distribution must have a sample(rng) method, got {distribution!r}.")
    rng = np.random.default_rng([seed, int(test)])
    tasks: list = []
    seen: set = set()
    while len(tasks) < n:
        task = dist.sample(rng)
        if _in_test_split(task) == test and task not in seen:
            seen.add(task)
            tasks.append(task)
    return tasks


def offloading_train_tasks(
    family: Family, n: int, seed: int = 0, distribution: object = None
) -> list[MUMTTask] | list[EdgeCloudTask] | list[WPMECTask]:
    """``n`` distinct training tasks of ``family`` (``"mumt"``, ``"edgecloud"`` or ``"wpmec"``).

    Args:
        family: the environment family.
        n: number of tasks.
        seed: seed of the draw; the same seed gives the same tasks.
        distribution: a task distribution (default: the family's default distribution).

    Never shares a task with :func:`offloading_test_tasks` of any ``n`` and ``seed``.
    """
    return _draw(family, n, seed, distribution, test=False)


def offloading_test_tasks(
    family: Family, n: int, seed: int = 0, distribution: object = None
) -> list[MUMTTask] | list[EdgeCloudTask] | list[WPMECTask]:
    """``n`` distinct held-out tasks of ``family``, disjoint from :func:`offloading_train_tasks`."""
    return _draw(family, n, seed, distribution, test=True)
