"""``edgecloud validate network``: the link model (``edgecloud_gym.core.links``) against ns-3.

One point-to-point link (1 Gbit/s, 30 ms, a FIFO DropTail queue of 7.5 MB by default, the
bandwidth-delay product of a 60-ms round trip) carries the model's requests: Poisson request arrivals, each
request of the default application mix (equal shares of AR/VR 1.6 Mbit, video 4.0 Mbit and IoT
0.08 Mbit) sent as a burst of UDP datagrams of at most 1472 payload bytes. Per request, ns-3's
delay is the time from the burst's send to its last packet's arrival; a request with any packet
lost at the full queue counts as dropped. At each link load (offered bits on the wire, headers
included, over the bandwidth) three figures are compared:

- **ns-3** (3.44, through its Python bindings): the packet-level simulation;
- **queue**: the request-level FIFO queue with a work-limited buffer (:func:`simulate_fifo_link`)
  on the very same arrivals, which shows what the packet level adds (nothing but rounding, when
  the model's abstraction holds);
- **model**: the closed-form link model at the same nominal rates.

The ns-3 scenario and its driver are in :mod:`edgecloud_bench.ns3_link`.

ns-3 is an optional dependency (``pip install 'edgecloud-gym[ns3]'``); it is imported only when
the command runs. The scenario itself is a small C++ class compiled once per process by cppyy.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgecloud_bench._io import atomic_write_json, atomic_write_text, check_writable, save_png
from edgecloud_bench.ns3_link import (
    BANDWIDTH_GBPS,
    PROPAGATION_MS,
    QUEUE_BYTES,
    ns3_available,
    ns3_version,
    require_ns3,
    run_ns3_link,
)
from edgecloud_gym import MODEL_VERSION
from edgecloud_gym.config import DEFAULT_APPS
from edgecloud_gym.core._jit import jit
from edgecloud_gym.core.links import (
    MTU_BYTES,
    PACKET_OVERHEAD_BYTES,
    PPP_HEADER_BYTES,
    UDP_PAYLOAD_BYTES,
    link_performance,
    wire_mbit,
)

__all__ = [
    "BANDWIDTH_GBPS",
    "LOADS",
    "PROPAGATION_MS",
    "QUEUE_BYTES",
    "add_parser",
    "ns3_available",
    "run_ns3_link",
    "simulate_fifo_link",
    "validate_network",
]

#: Link loads of the comparison (offered bits on the wire / bandwidth).
LOADS: tuple[float, ...] = (0.3, 0.5, 0.8, 0.9, 0.95, 0.99)
#: Requests of the long request-level queue simulation per load (no ns-3; checks the model).
LONG_REQUESTS = 1_000_000
#: Load band in which the model must be within :data:`TOLERANCE` of ns-3.
TARGET_LOADS = (0.3, 0.9)
#: Largest relative gap of the model's mean delay from ns-3's inside :data:`TARGET_LOADS`.
TOLERANCE = 0.10


@jit
def simulate_fifo_link(
    send_ms: np.ndarray, service_ms: np.ndarray, buffer_ms: float, propagation_ms: float
) -> np.ndarray:
    """Request-level FIFO link with a work-limited buffer: each request's delay (ms).

    The unfinished work ``V`` (ms of transmission) drains at rate 1. A request that finds ``V``
    with ``V + S <= K`` is delivered after ``propagation + V + S``; one that does not fit is cut
    (its head fills the buffer, ``V = K``) and dropped (NaN). This is the queue that the link
    model describes, without its approximations, so it checks the model against a long event
    simulation and separates the packet level from the queueing in the ns-3 comparison.

    Args:
        send_ms: (n,) arrival times (ms), ascending.
        service_ms: (n,) transmission time of each whole request on the wire (ms).
        buffer_ms: Buffer ``K`` in ms of transmission (ms).
        propagation_ms: One-way propagation delay (ms).
    """
    n = send_ms.shape[0]
    delay = np.empty(n)
    work = 0.0
    last = send_ms[0] if n > 0 else 0.0
    for i in range(n):
        work = max(work - (send_ms[i] - last), 0.0)
        last = send_ms[i]
        if work + service_ms[i] <= buffer_ms:
            delay[i] = propagation_ms + work + service_ms[i]
            work += service_ms[i]
        else:
            delay[i] = np.nan
            work = buffer_ms
    return delay


def _arrivals(
    load: float, seconds: float, mix: np.ndarray, wire: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson request arrivals at ``load`` of a 1-unit link: send times (s), classes."""
    rate = load * BANDWIDTH_GBPS * 1e3 / float(mix @ wire)  # requests/s: Mbit/s / Mbit
    n = rng.poisson(rate * seconds)
    send = np.sort(rng.uniform(0.0, seconds, n))
    classes = rng.choice(mix.size, size=n, p=mix)
    return send, classes


def _long_arrivals(
    rates_per_s: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """:data:`LONG_REQUESTS` Poisson arrivals (send times in ms, classes) at the given rates."""
    total = float(rates_per_s.sum())
    gaps_ms = rng.exponential(1e3 / total, LONG_REQUESTS)
    classes = rng.choice(rates_per_s.size, size=LONG_REQUESTS, p=rates_per_s / total)
    return np.cumsum(gaps_ms), classes


def _stats(delay: np.ndarray, keep: np.ndarray, batches: int) -> dict[str, float]:
    """Mean, p95, drop fraction and a batch-means 95 % half-width of the mean (ms)."""
    kept = delay[keep]
    ok = kept[~np.isnan(kept)]
    parts = [p[~np.isnan(p)] for p in np.array_split(kept, batches)]
    means = np.array([p.mean() for p in parts if p.size])
    half = 2.0 * means.std(ddof=1) / math.sqrt(means.size) if means.size > 1 else math.nan
    return {
        "mean_ms": float(ok.mean()) if ok.size else math.nan,
        "p95_ms": float(np.percentile(ok, 95)) if ok.size else math.nan,
        "drop_fraction": float(1.0 - ok.size / kept.size) if kept.size else math.nan,
        "mean_ci95_ms": float(half),
    }


def validate_network(
    out: str | Path,
    loads: Sequence[float] = LOADS,
    *,
    seconds: float = 8.0,
    warmup_s: float = 1.0,
    seed: int = 0,
    queue_bytes: int = QUEUE_BYTES,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the comparison and write ``network.{md,csv,json,png}`` to ``out``.

    Args:
        out: Output folder, created if needed.
        loads: Link loads in (0, 1.5] (offered bits on the wire over the bandwidth).
        seconds: Measured simulated time per load (s), after the warm-up.
        warmup_s: Simulated time first run and left out of the statistics (s).
        seed: Seed of the arrivals (one stream per load, derived from it).
        queue_bytes: DropTail queue capacity (bytes), at least one full-size packet.
        progress: Called with one line per load point (default: print it at once).

    Returns:
        The results also written to ``network.json``.

    Raises:
        ImportError: ns-3 is not installed (the message gives the install command).
        ValueError: A bad argument; nothing is written then.
    """
    loads = [float(x) for x in loads]
    if not loads or any(not (0.0 < x <= 1.5) for x in loads):
        raise ValueError(f"--loads must be numbers in (0, 1.5], got {loads}.")
    if not (seconds > 0 and math.isfinite(seconds)) or not (0 <= warmup_s < math.inf):
        raise ValueError(
            f"--seconds must be > 0 and --warmup >= 0 (s), got {seconds} and {warmup_s}."
        )
    if seed < 0:
        raise ValueError(f"--seed must be >= 0, got {seed}.")
    if not (MTU_BYTES + PPP_HEADER_BYTES <= queue_bytes < 2**32):
        raise ValueError(
            f"--queue-bytes must hold at least one full-size packet ({MTU_BYTES + PPP_HEADER_BYTES} "
            f"bytes) and be below 2**32, got {queue_bytes}."
        )
    if Path(out).exists() and not Path(out).is_dir():
        raise ValueError(f"--out must be a folder, but {out} is a file; choose a folder path.")
    require_ns3()  # fail on a missing ns-3 before anything is written
    out = check_writable(Path(out))

    data = np.array([a.data_mbit for a in DEFAULT_APPS])
    names = [a.name for a in DEFAULT_APPS]
    mix = np.full(data.size, 1.0 / data.size)
    wire = np.array([wire_mbit(float(d)) for d in data])
    payload = np.rint(data * 1e6 / 8).astype(np.uint32)
    buffer_ms = queue_bytes * 8 / (BANDWIDTH_GBPS * 1e6)
    if progress is None:

        def progress(line: str) -> None:
            print(line, flush=True)

    rows = []
    for i, load in enumerate(loads):
        rng = np.random.default_rng([seed, i])
        send, classes = _arrivals(load, warmup_s + seconds, mix, wire, rng)
        keep = send >= warmup_s
        counts = np.bincount(classes[keep], minlength=data.size)
        if counts.sum() == 0:
            raise ValueError(
                f"no request arrived in the {seconds:g} s measured at load {load:g}; "
                "raise --seconds or the load."
            )
        start = time.perf_counter()
        ns3_delay, _, lost_packets = run_ns3_link(send, payload[classes], queue_bytes=queue_bytes)
        wall = time.perf_counter() - start
        queue_delay = simulate_fifo_link(
            send * 1e3, wire[classes] / BANDWIDTH_GBPS, buffer_ms, PROPAGATION_MS
        )
        # The model gets the rates ns-3 was offered in the measured window, so that the
        # comparison is not blurred by the sample's own load (a few % off the nominal one).
        rates = counts / seconds
        model = link_performance(
            rates,
            data,
            bandwidth_gbps=BANDWIDTH_GBPS,
            propagation_ms=PROPAGATION_MS,
            buffer_bytes=queue_bytes,
        )
        long_send, long_classes = _long_arrivals(rates, rng)
        long_delay = simulate_fifo_link(
            long_send, wire[long_classes] / BANDWIDTH_GBPS, buffer_ms, PROPAGATION_MS
        )
        row = {
            "load": load,
            "offered_load": float(model.load[0]),
            "requests": int(keep.sum()),
            "ns3": _stats(ns3_delay, keep, batches=8),
            "queue": _stats(queue_delay, keep, batches=8),
            "queue_long": _stats(long_delay, long_send >= 0.0, batches=8),
            "model": {
                "mean_ms": float(model.mean_delay_ms[0]),
                "p95_ms": float(model.p95_delay_ms[0]),
                "drop_fraction": float(model.drop_fraction[0]),
            },
            "by_class": {
                name: {
                    "ns3": _stats(ns3_delay, keep & (classes == k), batches=8),
                    "model": {
                        "mean_ms": float(model.delay_ms[0, k]),
                        "drop_fraction": float(model.p_drop[0, k]),
                    },
                }
                for k, name in enumerate(names)
            },
            "ns3_lost_packets": lost_packets,
            "ns3_wall_s": wall,
        }
        row["gap_mean"] = row["model"]["mean_ms"] / row["ns3"]["mean_ms"] - 1.0
        row["gap_p95"] = row["model"]["p95_ms"] / row["ns3"]["p95_ms"] - 1.0
        rows.append(row)
        progress(
            f"load {load:.2f}: {row['requests']} requests; mean delay ns-3 "
            f"{row['ns3']['mean_ms']:.1f} ms, queue {row['queue']['mean_ms']:.1f}, model "
            f"{row['model']['mean_ms']:.1f} ({row['gap_mean']:+.1%}); drops ns-3 "
            f"{row['ns3']['drop_fraction']:.2%}, model {row['model']['drop_fraction']:.2%} "
            f"[{wall:.1f} s]"
        )
    result = {
        "model_version": MODEL_VERSION,
        "setup": {
            "bandwidth_gbps": BANDWIDTH_GBPS,
            "propagation_ms": PROPAGATION_MS,
            "queue": "ns3::DropTailQueue<Packet> on the sending PointToPointNetDevice, no queue disc",
            "queue_bytes": queue_bytes,
            "buffer_ms": buffer_ms,
            "classes": names,
            "mix": mix.tolist(),
            "payload_bytes": payload.tolist(),
            "wire_mbit": wire.tolist(),
            "udp_payload_bytes_per_packet": UDP_PAYLOAD_BYTES,
            "overhead_bytes_per_packet": PACKET_OVERHEAD_BYTES,
            "warmup_s": warmup_s,
            "seconds": seconds,
            "seed": seed,
            "ns3_version": ns3_version(),
        },
        "target": {"loads": list(TARGET_LOADS), "tolerance": TOLERANCE},
        "rows": rows,
    }
    _write(out, result)
    return result


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    cols = ["mean_ms", "mean_ci95_ms", "p95_ms", "drop_fraction"]
    w.writerow(
        ["load", "offered_load", "requests"]
        + [f"ns3_{c}" for c in cols]
        + [f"queue_{c}" for c in cols]
        + [f"queue_long_{c}" for c in cols]
        + [f"model_{c}" for c in ("mean_ms", "p95_ms", "drop_fraction")]
        + ["gap_mean", "gap_p95"]
    )
    for r in rows:
        w.writerow(
            [r["load"], f"{r['offered_load']:.4f}", r["requests"]]
            + [f"{r['ns3'][c]:.6g}" for c in cols]
            + [f"{r['queue'][c]:.6g}" for c in cols]
            + [f"{r['queue_long'][c]:.6g}" for c in cols]
            + [f"{r['model'][c]:.6g}" for c in ("mean_ms", "p95_ms", "drop_fraction")]
            + [f"{r['gap_mean']:.4f}", f"{r['gap_p95']:.4f}"]
        )
    return buf.getvalue()


def _markdown(result: dict[str, Any]) -> str:
    s = result["setup"]
    lo, hi = result["target"]["loads"]
    tol = result["target"]["tolerance"]
    lines = [
        "# Links against ns-3",
        "",
        f"One point-to-point link, {s['bandwidth_gbps']:g} Gbit/s, {s['propagation_ms']:g} ms, "
        f"FIFO DropTail queue of {s['queue_bytes']:,} bytes ({s['buffer_ms']:g} ms of "
        f"transmission); Poisson requests of the default mix "
        f"({', '.join(f'{n} {b:,} B' for n, b in zip(s['classes'], s['payload_bytes'], strict=True))}, "
        f"equal shares) as bursts of UDP datagrams of at most {s['udp_payload_bytes_per_packet']} "
        f"payload bytes ({s['overhead_bytes_per_packet']} B of IPv4/UDP/PPP headers each); "
        f"{s['seconds']:g} s measured after {s['warmup_s']:g} s of warm-up per load, seed "
        f"{s['seed']}, ns-3 {s['ns3_version']}. Delay: a request's send to its last packet's "
        f"arrival (ms), delivered requests only; ± is a 95 % batch-means half-width. *offered*: "
        f"the load ns-3 was offered in the measured window, which the model is given; *queue, "
        f"same arrivals*: the request-level FIFO queue on ns-3's arrivals; *queue, 10⁶ "
        f"requests*: the same queue over a million requests at the offered rates.",
        "",
        "| load | offered | requests | ns-3 mean | queue, same arrivals | model mean | gap "
        "| queue, 10⁶ requests | ns-3 p95 | model p95 | gap | ns-3 drops | model drops |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        n, q, m, g = r["ns3"], r["queue"], r["model"], r["queue_long"]
        lines.append(
            f"| {r['load']:.2f} | {r['offered_load']:.3f} | {r['requests']:,} | "
            f"{n['mean_ms']:.1f} ± {n['mean_ci95_ms']:.1f} | {q['mean_ms']:.1f} | "
            f"{m['mean_ms']:.1f} | {r['gap_mean']:+.1%} | {g['mean_ms']:.1f} | "
            f"{n['p95_ms']:.1f} | {m['p95_ms']:.1f} | {r['gap_p95']:+.1%} | "
            f"{n['drop_fraction']:.2%} | {m['drop_fraction']:.2%} |"
        )
    lines += [
        "",
        "Per class, mean delay of delivered requests (ms) and requests dropped, ns-3 / model:",
        "",
        "| load | " + " | ".join(s["classes"]) + " |",
        "|---|" + "---|" * len(s["classes"]),
    ]
    for r in result["rows"]:
        cells = []
        for name in s["classes"]:
            n, m = r["by_class"][name]["ns3"], r["by_class"][name]["model"]
            cells.append(
                f"{n['mean_ms']:.1f} / {m['mean_ms']:.1f} ms, "
                f"{n['drop_fraction']:.2%} / {m['drop_fraction']:.2%}"
            )
        lines.append(f"| {r['load']:.2f} | " + " | ".join(cells) + " |")
    inside = [r for r in result["rows"] if lo <= r["load"] <= hi]
    worst = max((abs(r["gap_mean"]) for r in inside), default=math.nan)
    verdict = "met" if inside and worst <= tol else "not met"
    lines += [
        "",
        f"Target: model mean delay within {tol:.0%} of ns-3 at load {lo:g} to {hi:g}: {verdict} "
        f"(largest gap {worst:.1%}).",
        "",
        "Regenerate: `edgecloud validate network --out DIR`.",
        "",
    ]
    return "\n".join(lines)


def _plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = result["setup"]
    rows = result["rows"]
    loads = np.array([r["offered_load"] for r in rows])
    grid = np.linspace(0.05, max(1.1, loads.max() + 0.05), 200)
    data = np.array([a.data_mbit for a in DEFAULT_APPS])
    mix = np.array(s["mix"])
    wire = np.array(s["wire_mbit"])
    rates = grid[:, None] * mix[None, :] * s["bandwidth_gbps"] * 1e3 / float(mix @ wire)
    model = link_performance(
        rates,
        data,
        bandwidth_gbps=s["bandwidth_gbps"],
        propagation_ms=s["propagation_ms"],
        buffer_bytes=s["queue_bytes"],
    )
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    ax.plot(grid, model.mean_delay_ms, color="C0", label="model, mean")
    ax.plot(grid, model.p95_delay_ms, color="C0", ls="--", label="model, p95")
    ax.errorbar(
        loads,
        [r["ns3"]["mean_ms"] for r in rows],
        yerr=[r["ns3"]["mean_ci95_ms"] for r in rows],
        fmt="o",
        color="C3",
        capsize=3,
        label="ns-3, mean (95 % CI)",
    )
    ax.plot(
        loads, [r["ns3"]["p95_ms"] for r in rows], "s", color="C3", mfc="none", label="ns-3, p95"
    )
    ax.set_xlabel("link load offered (bits on the wire / bandwidth)")
    ax.set_ylabel("request delay (ms)")
    ax.set_title(
        f"{s['bandwidth_gbps']:g} Gbit/s, {s['propagation_ms']:g} ms, "
        f"{s['queue_bytes'] / 1e6:g} MB DropTail"
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax2.plot(grid, 100 * model.drop_fraction, color="C0", label="model")
    ax2.plot(loads, [100 * r["ns3"]["drop_fraction"] for r in rows], "o", color="C3", label="ns-3")
    ax2.set_xlabel("link load")
    ax2.set_ylabel("requests dropped (%)")
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    save_png(fig, path)
    plt.close(fig)


def _write(out: Path, result: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    _plot(result, out / "network.png")
    atomic_write_json(out / "network.json", result)
    atomic_write_text(out / "network.csv", _csv(result["rows"]))
    atomic_write_text(out / "network.md", _markdown(result))


def _main(args: argparse.Namespace) -> int:
    try:
        loads = [float(x) for x in args.loads.split(",")]
    except ValueError as exc:
        raise ValueError(
            f"--loads must be comma-separated numbers such as 0.3,0.9, got {args.loads!r}."
        ) from exc
    validate_network(
        args.out,
        loads,
        seconds=args.seconds,
        warmup_s=args.warmup,
        seed=args.seed,
        queue_bytes=args.queue_bytes,
    )
    print(f"wrote {Path(args.out) / 'network.md'} (and .csv, .json, .png)")
    return 0


def add_parser(subparsers: Any) -> None:
    """Add ``network`` to the ``edgecloud validate`` subcommands."""
    p = subparsers.add_parser(
        "network",
        help="the link model against ns-3 (needs `pip install 'edgecloud-gym[ns3]'`)",
        description="Run one point-to-point link in ns-3 (1 Gbit/s, 30 ms, FIFO DropTail "
        "queue, 7.5 MB unless --queue-bytes) with the model's requests as UDP bursts at several link loads, run "
        "the link model at the same points, and write network.md, network.csv, network.json "
        "and network.png to --out.",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--loads",
        default=",".join(f"{x:g}" for x in LOADS),
        help=f"comma-separated link loads (default {','.join(f'{x:g}' for x in LOADS)})",
    )
    p.add_argument("--seconds", type=float, default=8.0, help="measured simulated s per load")
    p.add_argument("--warmup", type=float, default=1.0, help="simulated warm-up s per load")
    p.add_argument("--seed", type=int, default=0, help="seed of the arrivals")
    p.add_argument(
        "--queue-bytes",
        type=int,
        default=QUEUE_BYTES,
        help=f"DropTail queue capacity in bytes ({QUEUE_BYTES / 1e6:g} MB is 60 ms at 1 Gbit/s)",
    )
    p.set_defaults(func=_main)
