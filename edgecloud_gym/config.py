"""Typed, frozen and validated configuration of the edge-cloud allocation simulator.

Every physical quantity carries its unit in its name or docstring. Defaults describe a "smart
city" deployment of six heterogeneous edge sites and one cloud region; their sources are listed
in ``docs/environment.md`` (section *Parameters*) and next to each field below.

Configurations are built once and validated at construction: a wrong value raises an exception
that names the field, and an unknown key in :meth:`EdgeCloudConfig.from_dict` raises with the
closest valid key.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edgecloud_gym._validation import (
    check_fraction,
    check_int,
    check_keys,
    check_range,
    in_range,
)

__all__ = ["DEFAULT_APPS", "AppClass", "Capacity", "EdgeCloudConfig", "RewardWeights", "Topology"]


@dataclass(frozen=True)
class AppClass:
    """One application class of requests.

    Attributes:
        name: Identifier, e.g. ``"ar_vr"``.
        data_mbit: Input data sent with one request (Mbit).
        work_mcycles: CPU work of one request (10^6 cycles), executed on one core.
        deadline_ms: Round-trip latency budget (ms): request path, waiting, service and
            response path; a request answered later violates its SLA.
        response_mbit: Result data sent back to the user (Mbit).
    """

    name: str
    data_mbit: float
    work_mcycles: float
    deadline_ms: float
    response_mbit: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"AppClass.name must be a non-empty string, got {self.name!r}.")
        check_range(f"AppClass({self.name}).data_mbit", self.data_mbit, 0, 1e5, "Mbit")
        check_range(f"AppClass({self.name}).work_mcycles", self.work_mcycles, 1e-2, 1e7, "Mcycles")
        check_range(f"AppClass({self.name}).deadline_ms", self.deadline_ms, 1e-3, 1e7, "ms")
        check_range(f"AppClass({self.name}).response_mbit", self.response_mbit, 0, 1e5, "Mbit")


#: Default application classes (model v1). Orders of magnitude follow the MEC literature: an AR
#: frame of ~200 kB offloaded for recognition and answered with a small overlay (~10 kB) within a
#: 100 ms round trip, the bound below which users of wearable cognitive assistants and mobile AR
#: rate responses as immediate (Chen et al., ACM/IEEE SEC 2017, Table 3; Mao et al., IEEE COMST
#: 2017, Table I); video analytics on ~0.5 MB frames answered with labels (~10 kB) within a few
#: hundred ms; and small IoT sensor messages with a 1 kB acknowledgement and relaxed deadlines.
#: Every class can meet its deadline at every placement at low load (``edgecloud validate
#: feasibility``).
DEFAULT_APPS: tuple[AppClass, ...] = (
    AppClass("ar_vr", data_mbit=1.6, work_mcycles=40.0, deadline_ms=100.0, response_mbit=0.08),
    AppClass("video", data_mbit=4.0, work_mcycles=200.0, deadline_ms=300.0, response_mbit=0.08),
    AppClass("iot", data_mbit=0.08, work_mcycles=10.0, deadline_ms=500.0, response_mbit=0.008),
)


def _tuple_of(name: str, values: Any, length: int | None, check: Any) -> tuple[float, ...]:
    try:
        values = tuple(values)
    except TypeError as exc:
        raise TypeError(f"{name} must be a sequence of numbers, got {values!r}.") from exc
    if length is not None and len(values) != length:
        raise ValueError(
            f"{name} must have {length} entries (one per edge node), got {len(values)}."
        )
    return tuple(check(f"{name}[{i}]", v) for i, v in enumerate(values))


@dataclass(frozen=True)
class Topology:
    """Servers and links of the edge-cloud system.

    Edge nodes sit next to base stations; the cloud is one region behind a WAN. Lengths of the
    per-node tuples define the number of edge nodes ``n_edge``.

    Attributes:
        edge_cores: Cores per edge node (count). Default ``(8, 8, 16, 16, 32, 32)``: "a few to
            tens of cores" per site (ETSI GS MEC 003 deployment examples).
        edge_core_ghz: Clock of one edge core (GHz = 10^9 cycles/s).
        cloud_cores: Cores of the cloud region available to this cluster (count); about ten times
            a mean edge node.
        cloud_core_ghz: Clock of one cloud core (GHz).
        edge_buffer_s: Queue buffer of an edge node, in seconds of work at full capacity.
        cloud_buffer_s: Queue buffer of the cloud, in seconds of work at full capacity.
        access_ms: One-way user -> edge radio access latency (ms); 5G targets a few ms
            (3GPP TR 38.913).
        backhaul_hop_ms: Edge <-> edge latency per ring hop (ms).
        backhaul_gbps: Egress bandwidth of each edge node towards the other edges (Gbit/s).
        wan_ms: One-way edge -> cloud WAN latency (ms); tens of ms to a regional cloud.
        wan_gbps: Egress bandwidth of each edge node towards the cloud (Gbit/s).
        backhaul_buffer_ms: Egress buffer of each backhaul link, in ms of transmission at its
            bandwidth (a FIFO DropTail queue; 60 ms is 7.5 MB at 1 Gbit/s).
        wan_buffer_ms: Egress buffer of each WAN link, in ms of transmission at its bandwidth.
        edge_core_idle_w, edge_core_max_w: Power of one edge core idle and at full load (W),
            node overheads (memory, disks, fans, power supply) shared out per core: a node of
            ``c`` cores draws ``c`` times these. Idle power about half of peak follows Fan,
            Weber and Barroso (ISCA 2007) and the full-load figures of published SPECpower_ssj2008
            results of 2-socket servers (about 5-10 W per core at full load).
        cloud_core_idle_w, cloud_core_max_w: The same for a cloud core (W); a hyperscale server
            is more efficient per core (Barroso, Hölzle and Ranganathan, *The Datacenter as a
            Computer*, 3rd ed., 2018, ch. 5).
        backhaul_nj_per_bit, wan_nj_per_bit: Transfer energy (nJ/bit) on the metro backhaul and
            the WAN, orders of magnitude from Baliga et al., Proc. IEEE 2011.
    """

    edge_cores: tuple[float, ...] = (8, 8, 16, 16, 32, 32)
    edge_core_ghz: float = 2.5
    cloud_cores: float = 160
    cloud_core_ghz: float = 3.0
    edge_buffer_s: float = 0.5
    cloud_buffer_s: float = 5.0
    access_ms: float = 5.0
    backhaul_hop_ms: float = 2.0
    backhaul_gbps: float = 1.0
    wan_ms: float = 30.0
    wan_gbps: float = 1.0
    backhaul_buffer_ms: float = 60.0
    wan_buffer_ms: float = 60.0
    edge_core_idle_w: float = 4.0
    edge_core_max_w: float = 10.0
    cloud_core_idle_w: float = 3.0
    cloud_core_max_w: float = 8.0
    backhaul_nj_per_bit: float = 10.0
    wan_nj_per_bit: float = 100.0

    def __post_init__(self) -> None:
        cores = self.edge_cores
        if isinstance(cores, (int, float)):
            raise TypeError(
                f"Topology.edge_cores must be a sequence (one core count per edge node), "
                f"got {cores!r}. For six nodes of 8 cores write edge_cores=(8,) * 6."
            )
        cores = _tuple_of("Topology.edge_cores", cores, None, in_range(0.01, 1e4, "cores"))
        if len(cores) == 0:
            raise ValueError(
                "Topology.edge_cores is empty: the system needs at least one edge node."
            )
        object.__setattr__(self, "edge_cores", cores)
        # plausible ranges (field, low, high, unit), listed in docs/environment.md
        for name, low, high, unit in (
            ("edge_core_ghz", 0.01, 10.0, "GHz"),
            ("cloud_cores", 0.01, 1e6, "cores"),
            ("cloud_core_ghz", 0.01, 10.0, "GHz"),
            ("edge_buffer_s", 1e-3, 3600.0, "s"),
            ("cloud_buffer_s", 1e-3, 3600.0, "s"),
            ("backhaul_gbps", 1e-6, 1e5, "Gbit/s"),
            ("wan_gbps", 1e-6, 1e5, "Gbit/s"),
            ("access_ms", 0.0, 1e4, "ms"),
            ("backhaul_hop_ms", 0.0, 1e4, "ms"),
            ("wan_ms", 0.0, 1e4, "ms"),
            ("backhaul_buffer_ms", 1e-3, 1e5, "ms"),
            ("wan_buffer_ms", 1e-3, 1e5, "ms"),
            ("edge_core_idle_w", 0.0, 1e5, "W"),
            ("cloud_core_idle_w", 0.0, 1e5, "W"),
            ("backhaul_nj_per_bit", 0.0, 1e6, "nJ/bit"),
            ("wan_nj_per_bit", 0.0, 1e6, "nJ/bit"),
        ):
            check_range(f"Topology.{name}", getattr(self, name), low, high, unit)
        for name in ("edge_core_max_w", "cloud_core_max_w"):
            check_range(f"Topology.{name}", getattr(self, name), 0, 1e5, "W", open_low=True)
        for where in ("edge", "cloud"):
            idle, peak = getattr(self, f"{where}_core_idle_w"), getattr(self, f"{where}_core_max_w")
            if peak < idle:
                raise ValueError(
                    f"Topology.{where}_core_max_w ({peak} W) must be >= {where}_core_idle_w "
                    f"({idle} W)."
                )

    @property
    def n_edge(self) -> int:
        """Number of edge nodes."""
        return len(self.edge_cores)

    @property
    def n_servers(self) -> int:
        """Number of servers: the edge nodes plus the cloud (last index)."""
        return self.n_edge + 1


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the named reward parts; the reward is minus their weighted sum.

    Attributes:
        latency: Weight per 100 ms of mean round-trip latency per arrival, a failed request
            (dropped or abandoned) counting as the client timeout.
        sla: Weight of the SLA-violation rate (fraction of arrivals late, dropped or abandoned).
        drops: Weight of the failure rate (fraction of arrivals dropped at a full buffer or a
            full link, or abandoned after waiting the client timeout).
        energy: Weight of the energy used, as a fraction of the energy at full power of all
            servers over one step.
        rejected: Weight of the fraction of arrivals refused by admission control (joint
            control). A refused request also counts at the client timeout in the latency part,
            so refusing one never costs less than serving it within its deadline.
    """

    latency: float = 1.0
    sla: float = 1.0
    drops: float = 2.0
    energy: float = 0.2
    rejected: float = 1.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            check_range(f"RewardWeights.{f.name}", getattr(self, f.name), 0, 1e6)


def _levels(name: str, values: Any) -> tuple[float, ...]:
    """``values`` as a strictly increasing tuple of fractions in (0, 1] ending at 1."""
    levels = _tuple_of(name, values, None, in_range(0.0, 1.0))
    if not levels:
        raise ValueError(f"{name} is empty: give at least one level, e.g. (1.0,).")
    if levels[0] <= 0.0:
        raise ValueError(f"{name}[0] must be > 0 (a level of 0 would stop the server), got 0.")
    if any(b <= a for a, b in itertools.pairwise(levels)):
        raise ValueError(f"{name} must increase strictly, got {levels}.")
    if levels[-1] != 1.0:
        raise ValueError(
            f"{name} must end at 1.0 (the nominal capacity), got {levels}; append 1.0."
        )
    return levels


@dataclass(frozen=True)
class Capacity:
    """Capacity levers of every server: active cores, their boot delay, DVFS and the built-in
    reactive autoscaler (see ``docs/environment.md``, section *Capacity*).

    A server runs at one of ``levels`` (fractions of its installed cores, rounded up to whole
    cores) and one of ``frequencies`` (fractions of its nominal clock). Cores switched off stop
    at once and draw nothing; cores switched on boot for ``boot_steps`` steps, drawing their
    full-load power, before they serve. The service rate is proportional to the active cores
    times the frequency; a core's dynamic power (``max - idle``) scales as the frequency to the
    power ``dvfs_exponent`` (3: ``P = C V^2 f`` with the voltage proportional to the clock), its
    idle power not at all.

    Attributes:
        levels: Fractions of installed cores a server can run, increasing, ending at 1.0.
        frequencies: DVFS levels as fractions of the nominal clock, increasing, ending at 1.0.
        boot_steps: Steps from switching cores on until they serve (0: at once). The default,
            5 steps of 1 s, is a container's cold start of a few seconds.
        dvfs_exponent: Exponent of the dynamic power in the clock frequency.
        target_utilisation: The autoscaler's target of processed work over active capacity.
        tolerance: The autoscaler acts only when utilisation over target differs from 1 by
            more than this (Kubernetes HPA's default 0.1).
        stabilisation_steps: The autoscaler scales down only to the highest level it recommended
            over this many steps (HPA's scale-down stabilisation window).
    """

    levels: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
    frequencies: tuple[float, ...] = (0.6, 0.8, 1.0)
    boot_steps: int = 5
    dvfs_exponent: float = 3.0
    target_utilisation: float = 0.7
    tolerance: float = 0.1
    stabilisation_steps: int = 30

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", _levels("Capacity.levels", self.levels))
        object.__setattr__(self, "frequencies", _levels("Capacity.frequencies", self.frequencies))
        check_int("Capacity.boot_steps", self.boot_steps, minimum=0, maximum=10**4)
        check_range("Capacity.dvfs_exponent", self.dvfs_exponent, 1.0, 4.0)
        check_range("Capacity.target_utilisation", self.target_utilisation, 0.0, 1.0, open_low=True)
        check_range("Capacity.tolerance", self.tolerance, 0.0, 1.0)
        check_int(
            "Capacity.stabilisation_steps", self.stabilisation_steps, minimum=1, maximum=10**4
        )


@dataclass(frozen=True)
class EdgeCloudConfig:
    """Everything that defines the simulator apart from the workload task.

    Attributes:
        topology: Servers and links.
        apps: Application classes; a task's ``app_mix`` gives their fractions.
        reward: Weights of the reward parts.
        step_s: Decision interval (s); arrivals are counted per step.
        day_steps: Length of one (compressed) diurnal cycle (steps).
        timeout_ms: Client timeout (ms): a request that has waited this long at a server without
            starting service abandons (it fails, as a drop does), and a failed request counts
            at this latency in the reward's latency part.
        share_step: Share moved by one discrete shift action, as a fraction of the server's
            capacity-proportional share (see :mod:`edgecloud_gym.core.actions`).
        obs_window: Number of past steps of per-node arrivals in the observation.
        horizon: Forecast horizon H (steps) in the observation.
        warmup_steps: Steps of workload history sampled before an episode starts, so the
            arrival window and the forecasters have a past at reset.
        capacity: Capacity levers (active cores, boot delay, DVFS) and the autoscaler; used by
            the ``joint`` control mode and by the autoscaler, inert otherwise.
    """

    topology: Topology = field(default_factory=Topology)
    apps: tuple[AppClass, ...] = DEFAULT_APPS
    reward: RewardWeights = field(default_factory=RewardWeights)
    step_s: float = 1.0
    day_steps: int = 200
    timeout_ms: float = 1000.0
    share_step: float = 0.25
    obs_window: int = 5
    horizon: int = 5
    warmup_steps: int = 64
    capacity: Capacity = field(default_factory=Capacity)

    def __post_init__(self) -> None:
        if not isinstance(self.capacity, Capacity):
            raise TypeError(f"EdgeCloudConfig.capacity must be a Capacity, got {self.capacity!r}.")
        if not isinstance(self.topology, Topology):
            raise TypeError(f"EdgeCloudConfig.topology must be a Topology, got {self.topology!r}.")
        if not isinstance(self.reward, RewardWeights):
            raise TypeError(f"EdgeCloudConfig.reward must be a RewardWeights, got {self.reward!r}.")
        apps = tuple(self.apps)
        if not apps or not all(isinstance(a, AppClass) for a in apps):
            raise TypeError(
                f"EdgeCloudConfig.apps must be a non-empty sequence of AppClass, got {self.apps!r}."
            )
        object.__setattr__(self, "apps", apps)
        check_range("EdgeCloudConfig.step_s", self.step_s, 1e-3, 86_400, "s")
        check_int("EdgeCloudConfig.day_steps", self.day_steps, minimum=2, maximum=10**7)
        check_range("EdgeCloudConfig.timeout_ms", self.timeout_ms, 1e-3, 1e7, "ms")
        step = check_fraction("EdgeCloudConfig.share_step", self.share_step)
        if step == 0:
            raise ValueError("EdgeCloudConfig.share_step must be > 0, got 0.")
        check_int("EdgeCloudConfig.obs_window", self.obs_window, minimum=1, maximum=1000)
        check_int("EdgeCloudConfig.horizon", self.horizon, minimum=1, maximum=1000)
        check_int("EdgeCloudConfig.warmup_steps", self.warmup_steps, minimum=1, maximum=10**6)
        if self.warmup_steps < self.obs_window:
            raise ValueError(
                f"EdgeCloudConfig.warmup_steps ({self.warmup_steps}) must be >= obs_window "
                f"({self.obs_window}): the first observation's window of past arrivals comes "
                "from the warm-up; raise warmup_steps or shorten obs_window."
            )

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> EdgeCloudConfig:
        """Build a config from plain data (e.g. parsed YAML or ``gym.make`` kwargs).

        ``topology``, ``reward`` and ``capacity`` may be nested mappings; ``apps`` a list of mappings. Unknown
        keys raise ``TypeError`` with the closest valid key.
        """
        if not isinstance(values, Mapping):
            raise TypeError(f"config must be a mapping or EdgeCloudConfig, got {values!r}.")
        check_keys(values, [f.name for f in dataclasses.fields(cls)], "EdgeCloudConfig")
        kwargs = dict(values)
        if isinstance(kwargs.get("topology"), Mapping):
            sub = kwargs["topology"]
            check_keys(sub, [f.name for f in dataclasses.fields(Topology)], "Topology")
            kwargs["topology"] = Topology(**sub)
        if isinstance(kwargs.get("reward"), Mapping):
            sub = kwargs["reward"]
            check_keys(sub, [f.name for f in dataclasses.fields(RewardWeights)], "RewardWeights")
            kwargs["reward"] = RewardWeights(**sub)
        if isinstance(kwargs.get("capacity"), Mapping):
            sub = kwargs["capacity"]
            check_keys(sub, [f.name for f in dataclasses.fields(Capacity)], "Capacity")
            kwargs["capacity"] = Capacity(**sub)
        if "apps" in kwargs:
            apps = []
            for app in kwargs["apps"]:
                if isinstance(app, Mapping):
                    check_keys(app, [f.name for f in dataclasses.fields(AppClass)], "AppClass")
                    app = AppClass(**app)
                apps.append(app)
            kwargs["apps"] = tuple(apps)
        return cls(**kwargs)

    def replace(self, **changes: Any) -> EdgeCloudConfig:
        """Return a copy with ``changes`` applied (validated, unknown keys rejected)."""
        check_keys(changes, [f.name for f in dataclasses.fields(self)], "EdgeCloudConfig")
        return dataclasses.replace(self, **changes)
