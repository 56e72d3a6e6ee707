"""One ns-3 point-to-point link driven from Python: the reference of ``edgecloud validate network``.

:func:`run_ns3_link` sends requests (each a burst of UDP datagrams) over one ns-3 link with a
FIFO DropTail device queue and no queue disc, and returns each request's delay and whether it
arrived whole. The scenario is a small C++ class compiled once per process by cppyy, the ``ns3``
wheel's bindings; ns-3 is an optional dependency (``pip install 'edgecloud-gym[ns3]'``), imported
only when a link runs.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np

from edgecloud_gym.core.links import UDP_PAYLOAD_BYTES

__all__ = [
    "BANDWIDTH_GBPS",
    "PROPAGATION_MS",
    "QUEUE_BYTES",
    "ns3_available",
    "ns3_version",
    "require_ns3",
    "run_ns3_link",
]

#: Bandwidth of the simulated link (Gbit/s).
BANDWIDTH_GBPS = 1.0
#: One-way propagation delay of the simulated link (ms).
PROPAGATION_MS = 30.0
#: DropTail queue capacity (bytes): 1 Gbit/s x 60 ms, the link's bandwidth-delay product.
QUEUE_BYTES = 7_500_000

_INSTALL = (
    "edgecloud validate network needs ns-3's Python bindings, which are not installed: "
    "run `pip install 'edgecloud-gym[ns3]'` (the ns3 3.44 wheel; about 10 minutes to install, "
    "and its C++ bindings compile on first import)."
)

_SCENARIO = r"""
#include <algorithm>
#include <cstring>
#include <vector>

namespace edgecloud_validation {
using namespace ns3;

// One point-to-point link, node 0 -> node 1, FIFO DropTail device queue, no queue disc.
// Request i (send time send_s[i], payload bytes[i]) leaves node 0 as back-to-back UDP datagrams
// whose first 4 bytes hold i; node 1 counts them and keeps the last arrival time.
class LinkRun {
 public:
  std::vector<double> last_rx_s;
  std::vector<uint32_t> rx_packets;
  std::vector<uint32_t> tx_packets;

  void Run(double bandwidth_gbps, double propagation_ms, uint32_t queue_bytes,
           const std::vector<double>& send_s, const std::vector<uint32_t>& bytes,
           uint32_t payload, double stop_s) {
    const size_t n = send_s.size();
    last_rx_s.assign(n, -1.0);
    rx_packets.assign(n, 0);
    tx_packets.assign(n, 0);
    m_payload = payload;

    NodeContainer nodes;
    nodes.Create(2);
    PointToPointHelper p2p;
    p2p.SetDeviceAttribute(
        "DataRate", DataRateValue(DataRate(static_cast<uint64_t>(bandwidth_gbps * 1e9))));
    p2p.SetChannelAttribute(
        "Delay", TimeValue(NanoSeconds(static_cast<int64_t>(propagation_ms * 1e6))));
    p2p.SetQueue("ns3::DropTailQueue<Packet>", "MaxSize",
                 QueueSizeValue(QueueSize(QueueSizeUnit::BYTES, queue_bytes)));
    NetDeviceContainer devices = p2p.Install(nodes);
    InternetStackHelper stack;
    stack.Install(nodes);
    Ipv4AddressHelper address;
    address.SetBase("10.1.1.0", "255.255.255.252");
    Ipv4InterfaceContainer interfaces = address.Assign(devices);
    // Address assignment installs a default queue disc; remove it so that the device's DropTail
    // queue is the only buffer. (The traffic-control layer then drops a packet when that queue
    // has no room for one more full-size packet.)
    TrafficControlHelper tch;
    tch.Uninstall(devices);

    Ptr<Socket> sink = Socket::CreateSocket(nodes.Get(1), UdpSocketFactory::GetTypeId());
    sink->Bind(InetSocketAddress(Ipv4Address::GetAny(), 9));
    sink->SetRecvCallback(MakeCallback(&LinkRun::Receive, this));
    m_source = Socket::CreateSocket(nodes.Get(0), UdpSocketFactory::GetTypeId());
    m_source->Connect(InetSocketAddress(interfaces.GetAddress(1), 9));
    for (size_t i = 0; i < n; ++i) {
      Simulator::Schedule(Seconds(send_s[i]), &LinkRun::Send, this, static_cast<uint32_t>(i),
                          bytes[i]);
    }
    Simulator::Stop(Seconds(stop_s));
    Simulator::Run();
    Simulator::Destroy();
    m_source = nullptr;
  }

 private:
  Ptr<Socket> m_source;
  uint32_t m_payload = 1472;

  void Send(uint32_t id, uint32_t bytes) {
    std::vector<uint8_t> buffer(std::max<uint32_t>(m_payload, 4), 0);
    std::memcpy(buffer.data(), &id, 4);
    uint32_t left = bytes;
    while (left > 0) {
      const uint32_t chunk = std::min(left, m_payload);
      m_source->Send(Create<Packet>(buffer.data(), std::max<uint32_t>(chunk, 4)));
      tx_packets[id] += 1;
      left -= chunk;
    }
  }

  void Receive(Ptr<Socket> socket) {
    Ptr<Packet> packet;
    while ((packet = socket->Recv())) {
      uint32_t id = 0;
      packet->CopyData(reinterpret_cast<uint8_t*>(&id), 4);
      rx_packets[id] += 1;
      last_rx_s[id] = Simulator::Now().GetSeconds();
    }
  }
};
}  // namespace edgecloud_validation
"""

_SCENARIO_CLASS: Any = None


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[io.StringIO]:
    """Hold back what C++ writes to stderr (cling's start-up chatter); yield it as text."""
    captured = io.StringIO()
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            captured.write(tmp.read().decode("utf-8", "replace"))


def _scenario() -> Any:
    """The compiled ns-3 scenario class; ImportError with the install command without ns-3."""
    global _SCENARIO_CLASS
    if _SCENARIO_CLASS is None:
        try:
            with _quiet_stderr() as chatter:
                from ns import ns  # the ns3 wheel's cppyy bindings

                ns.cppyy.cppdef(_SCENARIO)
                _SCENARIO_CLASS = ns.cppyy.gbl.edgecloud_validation.LinkRun
        except ModuleNotFoundError as exc:
            if exc.name not in ("ns", "cppyy"):
                raise
            raise ImportError(_INSTALL) from exc
        except Exception as exc:
            raise RuntimeError(
                f"ns-3 could not compile the link scenario: {exc}\n{chatter.getvalue()}"
            ) from exc
    return _SCENARIO_CLASS


def require_ns3() -> None:
    """Compile the scenario now: ImportError with the install command without ns-3."""
    _scenario()


def ns3_available() -> bool:
    """Whether ns-3's Python bindings (the ``ns3`` wheel) are installed."""
    import importlib.util

    return importlib.util.find_spec("ns") is not None


def run_ns3_link(
    send_s: np.ndarray,
    payload_bytes: np.ndarray,
    *,
    bandwidth_gbps: float = BANDWIDTH_GBPS,
    propagation_ms: float = PROPAGATION_MS,
    queue_bytes: int = QUEUE_BYTES,
    stop_s: float | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Send requests over one ns-3 point-to-point link; per-request delay and loss.

    Args:
        send_s: (n,) send time of each request (s), ascending.
        payload_bytes: (n,) UDP payload of each request (bytes), split into datagrams of at
            most :data:`~edgecloud_gym.core.links.UDP_PAYLOAD_BYTES`.
        bandwidth_gbps: Link data rate (Gbit/s).
        propagation_ms: Channel delay (ms).
        queue_bytes: DropTail queue capacity of the sending device (bytes).
        stop_s: Simulated end (s); default the last send plus the largest possible delay.

    Returns:
        ``(delay_ms, delivered, lost_packets)``: per request the delay from the send to its
        last packet's arrival (ms; NaN unless delivered), whether every packet arrived, and the
        number of packets lost (sent but not received).
    """
    send_s = np.asarray(send_s, dtype=np.float64)
    payload_bytes = np.asarray(payload_bytes, dtype=np.uint32)
    if stop_s is None:
        drain_s = (queue_bytes * 8 / (bandwidth_gbps * 1e9)) + propagation_ms / 1e3
        stop_s = float(send_s[-1] if send_s.size else 0.0) + 2 * drain_s + 0.1
    cls = _scenario()
    from ns import ns

    std = ns.cppyy.gbl.std
    run = cls()
    with _quiet_stderr():
        run.Run(
            float(bandwidth_gbps),
            float(propagation_ms),
            int(queue_bytes),
            std.vector["double"](send_s.tolist()),
            std.vector["uint32_t"](payload_bytes.tolist()),
            int(UDP_PAYLOAD_BYTES),
            float(stop_s),
        )
    n = send_s.size
    last = np.fromiter(run.last_rx_s, dtype=np.float64, count=n)
    rx = np.fromiter(run.rx_packets, dtype=np.int64, count=n)
    tx = np.fromiter(run.tx_packets, dtype=np.int64, count=n)
    delivered = (rx == tx) & (last >= 0)
    delay = np.where(delivered, (last - send_s) * 1e3, np.nan)
    return delay, delivered, int(tx.sum() - rx.sum())


def ns3_version() -> str:
    """The installed ns3 wheel's version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ns3")
    except PackageNotFoundError:  # pragma: no cover - bindings from a source build
        return "unknown"
