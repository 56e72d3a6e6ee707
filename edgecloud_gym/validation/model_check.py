"""The model against the request-level simulator, per server and application class.

:func:`compare_model` drives the model (:func:`edgecloud_gym.core.dynamics.step`) and the
request-level simulator (:func:`~edgecloud_gym.validation.des.simulate_requests`) with the same
configuration and the same per-step arrival counts, and reports, for every operating point, each
server size and each class, the mean and 95th-percentile latency of both and their relative gap:

- **steady load**: every edge node (or the cloud) at a constant offered utilisation ``rho``
  for ``steps`` steps from empty queues (``steady_replications`` episodes), each node serving its own arrivals (the cloud: every
  request sent there, over a WAN wide enough that it does not limit);
- **transient overloads**: one step at ``rho = 1.2`` starting empty, and one starting with half
  a step of work queued, over ``replications`` independent episodes.

The model's percentile is that of its own latency law: per step, the wait law of each server
(``StepResult.wait_law``) convolved with the class's exponential service time and shifted by its
path, mixed over steps by the requests each step serves; the simulator's is over its requests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np

from edgecloud_gym.config import EdgeCloudConfig
from edgecloud_gym.core import dynamics
from edgecloud_gym.core.params import build_params
from edgecloud_gym.core.queue_law import late_fraction
from edgecloud_gym.tasks import Task
from edgecloud_gym.validation.des import SERVED, simulate_requests

__all__ = ["LOADS", "ComparisonRow", "compare_model"]

#: Offered utilisations of the steady-load points.
LOADS: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95, 0.99)
#: Offered utilisation of the transient points.
OVERLOAD = 1.2

_STEADY_TASK = Task(name="constant", diurnal_amplitude=0.0, burst_period=0, flash_rate=0.0)


@dataclass(frozen=True)
class ComparisonRow:
    """One (operating point, server, class) of the comparison. Latencies in ms.

    ``*_gap`` is the model's relative error, ``model / reference - 1``.
    """

    scenario: str
    rho: float
    server: str
    cores: int
    app: str
    requests: int
    reference_mean_ms: float
    model_mean_ms: float
    mean_gap: float
    reference_p95_ms: float
    model_p95_ms: float
    p95_gap: float
    reference_failed: float
    model_failed: float

    def as_dict(self) -> dict[str, float | int | str]:
        """Plain-data form (for JSON and CSV)."""
        return asdict(self)


def _law_quantile(laws, paths, weights, service_ms: float, q: float) -> float:
    """The ``q`` quantile of the model's round-trip latency, mixed over steps by ``weights``."""
    keep = weights > 0
    laws, paths, weights = laws[keep], paths[keep], weights[keep] / weights[keep].sum()

    def above(t: float) -> float:
        return sum(
            w * late_fraction(law, service_ms, p, t)
            for law, p, w in zip(laws, paths, weights, strict=True)
        )

    lo, hi = 0.0, 1e3
    while above(hi) > 1.0 - q and hi < 1e7:
        hi *= 2.0
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if above(mid) > 1.0 - q else (lo, mid)
    return 0.5 * (lo + hi)


class _Tally:
    """Per (server, class): the model's latencies with their weights, failures, and the
    simulator's latencies."""

    def __init__(self, s_all: int, k: int) -> None:
        self.model: list[list[list[tuple[np.ndarray, ...]]]] = [
            [[] for _ in range(k)] for _ in range(s_all)
        ]
        self.model_failed = np.zeros(s_all)
        self.model_in = np.zeros(s_all)
        self.ref: list[list[list[np.ndarray]]] = [[[] for _ in range(k)] for _ in range(s_all)]
        self.ref_failed = np.zeros(s_all)
        self.ref_in = np.zeros(s_all)

    def add_model(self, res: dynamics.StepResult, service_ms: np.ndarray) -> None:
        for s in range(res.latency_ms.shape[1]):
            for k in range(res.latency_ms.shape[2]):
                lat = res.latency_ms[:, s, k]
                path = lat - res.wait_law[:, s, 5] - service_ms[s, k]
                self.model[s][k].append((lat, res.served[:, s, k], res.wait_law[:, s], path))
        self.model_failed += (res.dropped + res.abandoned).sum(axis=0)
        self.model_in += res.inflow.sum(axis=0)

    def add_reference(self, log, keep: np.ndarray) -> None:
        for s in range(len(self.ref)):
            at = keep & (log.server == s)
            self.ref_in[s] += at.sum()
            self.ref_failed[s] += (at & (log.outcome != SERVED)).sum()
            for k in range(len(self.ref[s])):
                sel = at & (log.app == k) & (log.outcome == SERVED)
                self.ref[s][k].append(log.latency_ms[sel])

    def rows(self, scenario, rho, servers: dict[int, str], cores, apps, service_ms):
        out = []
        for s, label in servers.items():
            for k, app in enumerate(apps):
                lat = np.concatenate([x[0] for x in self.model[s][k]])
                wts = np.concatenate([x[1] for x in self.model[s][k]])
                laws = np.concatenate([x[2] for x in self.model[s][k]])
                paths = np.concatenate([x[3] for x in self.model[s][k]])
                ref = np.concatenate(self.ref[s][k])
                if ref.size == 0 or wts.sum() <= 0:
                    continue
                m_mean = float((lat * wts).sum() / wts.sum())
                m_p95 = _law_quantile(laws, paths, wts, service_ms[s, k], 0.95)
                r_mean, r_p95 = float(ref.mean()), float(np.quantile(ref, 0.95))
                out.append(
                    ComparisonRow(
                        scenario=scenario,
                        rho=rho,
                        server=label,
                        cores=int(cores[s]),
                        app=app,
                        requests=int(ref.size),
                        reference_mean_ms=r_mean,
                        model_mean_ms=m_mean,
                        mean_gap=m_mean / r_mean - 1.0,
                        reference_p95_ms=r_p95,
                        model_p95_ms=m_p95,
                        p95_gap=m_p95 / r_p95 - 1.0,
                        reference_failed=float(self.ref_failed[s] / max(self.ref_in[s], 1)),
                        model_failed=float(self.model_failed[s] / max(self.model_in[s], 1e-12)),
                    )
                )
        return out


def _servers(config: EdgeCloudConfig, cloud: bool) -> dict[int, str]:
    """One server per distinct edge size (or the cloud), labelled by its size."""
    topo = config.topology
    if cloud:
        return {topo.n_edge: f"cloud ({topo.cloud_cores:g} cores)"}
    first: dict[float, int] = {}
    for i, c in enumerate(topo.edge_cores):
        first.setdefault(c, i)
    return {i: f"edge {c:g} cores" for c, i in sorted(first.items())}


def _run(
    config: EdgeCloudConfig,
    rho: float,
    steps: int,
    replications: int,
    cloud: bool,
    backlog_steps: float,
    rng: np.random.Generator,
    tally: _Tally,
) -> None:
    """``replications`` episodes of ``steps`` steps at offered utilisation ``rho``."""
    n = config.topology.n_edge
    params = build_params(config, [_STEADY_TASK])
    mu = params.mu[0]  # (S,) requests per step
    mix = params.mix[0]
    if cloud:
        rate = np.full(n, rho * mu[n] / n)
        shares = np.zeros((1, n + 1))
        shares[0, n] = 1.0
    else:
        rate = rho * mu[:n]
    for _ in range(replications):
        arrivals = rng.poisson(rate, size=(steps, n)).astype(np.float64)
        start = np.zeros(n + 1)
        if backlog_steps:
            start = np.floor(backlog_steps * mu) * (np.arange(n + 1) == n if cloud else 1.0)
            start[n if not cloud else slice(0, 0)] = 0.0
        # the simulator's requests present; in the model, those beyond the cores wait
        backlog = np.maximum(start - params.cores[0], 0.0)[None]
        queue = None
        flows = np.zeros((steps, n, n + 1))
        for t in range(steps):
            a = arrivals[t][None]
            if not cloud:
                total = a.sum()
                shares = np.append(a[0] / total if total > 0 else np.full(n, 1 / n), 0.0)[None]
            res = dynamics.step(params, backlog, shares, a, queue)
            backlog, queue = res.backlog, res.queue_state
            tally.add_model(res, params.service_ms)
            if cloud:
                flows[t, :, n] = 1.0
            else:
                flows[t, np.arange(n), np.arange(n)] = 1.0
        log = simulate_requests(
            config,
            arrivals,
            rng,
            mix=mix,
            flows=flows,
            patience_ms=config.timeout_ms,
            initial_backlog=start.astype(np.int64),
        )
        tally.add_reference(log, log.step >= 0)


def compare_model(
    config: EdgeCloudConfig | None = None,
    *,
    loads: tuple[float, ...] = LOADS,
    steps: int = 200,
    replications: int = 200,
    seed: int = 0,
    progress: Callable[[str], object] | None = None,
    steady_replications: int = 1,
) -> list[ComparisonRow]:
    """Run every operating point (see the module docstring) and return the comparison rows.

    Args:
        config: The configuration to validate (default: the default configuration).
        loads: Offered utilisations of the steady-load points.
        steps: Steps of each steady-load episode.
        replications: Episodes of each one-step transient point.
        seed: Seed of the arrivals and of the simulator.
        steady_replications: Episodes of each steady-load point (near the critical load one
            episode's mean wait varies much from one episode to the next).
        progress: Optional callable ``progress(label)`` told about each point as it starts.
    """
    config = EdgeCloudConfig() if config is None else config
    # the cloud points: a WAN wide enough not to limit (it is validated separately)
    wide = config.replace(topology=replace(config.topology, wan_gbps=1e4))
    apps = [a.name for a in config.apps]
    rng = np.random.default_rng(seed)
    rows: list[ComparisonRow] = []
    points = [("steady", rho, steps, steady_replications, 0.0) for rho in loads]
    points += [("1-s step from empty", OVERLOAD, 1, replications, 0.0)]
    points += [("1-s step with 0.5 s backlog", OVERLOAD, 1, replications, 0.5)]
    for scenario, rho, n_steps, reps, backlog in points:
        for cloud in (False, True):
            cfg = wide if cloud else config
            if progress is not None:
                progress(f"{scenario} rho={rho} {'cloud' if cloud else 'edge'}")
            tally = _Tally(cfg.topology.n_servers, len(apps))
            _run(cfg, rho, n_steps, reps, cloud, backlog, rng, tally)
            cores = [*cfg.topology.edge_cores, cfg.topology.cloud_cores]
            service = build_params(cfg, [_STEADY_TASK]).service_ms
            rows += tally.rows(scenario, rho, _servers(cfg, cloud), cores, apps, service)
    return rows
