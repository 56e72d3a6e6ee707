"""Validation of the simulator's fluid model against a request-level reference.

:mod:`~edgecloud_gym.validation.des` simulates every request of an episode (arrival instant,
class, route, FCFS multi-core service, finite buffer, patience) with the same configuration and
the same per-step arrivals as the fluid model; :mod:`~edgecloud_gym.validation.model_check`
runs both side by side per server and application class and reports the gaps
(``edgecloud validate model``). Used for validation only: environments never import it.
"""

from edgecloud_gym.validation.des import RequestLog, path_latency_ms, simulate_requests

__all__ = ["RequestLog", "path_latency_ms", "simulate_requests"]
