"""The offloading learners' critic: scores candidate decisions with the env's own cost model.

:class:`OffloadingCritic` evaluates a frame's candidates exactly as the env scores a decision (DDLO's
cost for MUMT and edge-cloud tasks, DROO's optimal rate for WPMEC modes); :func:`frame_ratio` is a
frame's normalised score (optimum over the played decision's), the figure every offloading
experiment reports.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from edgecloud_gym._validation import check_positive, did_you_mean
from edgecloud_gym.offloading import (
    EdgeCloudOffloadEnv,
    EdgeCloudTask,
    MUMTEnv,
    MUMTTask,
    WPMECEnv,
    WPMECTask,
    edgecloud_cost,
    wpmec_rate,
)

__all__ = ["OffloadingCritic", "frame_ratio", "unwrap_offloading_env"]


def unwrap_offloading_env(env: Any) -> MUMTEnv | EdgeCloudOffloadEnv | WPMECEnv:
    """The offloading env under ``env``'s wrappers; any other env raises ``TypeError``."""
    base = getattr(env, "unwrapped", env)
    if not isinstance(base, (EdgeCloudOffloadEnv, WPMECEnv)):
        raise TypeError(
            "env must be an offloading env (EdgeCloud-Offload-MUMT-v0, "
            "EdgeCloud-Offload-EdgeCloud-v0 or EdgeCloud-Offload-WPMEC-v0, wrapped or not), "
            f"got {type(base).__name__}."
        )
    return base


def frame_ratio(info: dict[str, Any]) -> float:
    """The normalised score of a frame from the env's ``info`` (1 is optimal).

    ``info["ratio"]`` when the env ran its oracle; for ``WPMECEnv(optimum="none")`` replaying a
    data file, the rate over the file's published optimum; NaN when neither is known.
    """
    ratio = float(info.get("ratio", math.nan))
    if math.isfinite(ratio):
        return ratio
    if "rate" in info and "published" in info and info["published"] > 0:
        return float(info["rate"]) / float(info["published"])
    return math.nan


class OffloadingCritic:
    """Scores candidate decisions of one frame with the env's own model (higher is better).

    MUMT and edge-cloud: the score is minus the frame's cost [J + s] under the env's task
    (bandwidth, CPUs, cloud). WPMEC: the weighted sum computation rate [bits/s] with the optimal
    time allocation for the mode (Bi & Zhang's closed form), under the task's weights. This is
    DDLO's and DROO's critic: the learner knows the system model, not the optimal decision.

    Args:
        family: ``"mumt"``, ``"edgecloud"`` or ``"wpmec"``.
        task: the env's task object (:class:`MUMTTask`, :class:`EdgeCloudTask`,
            :class:`WPMECTask`).
        h_scale: WPMEC only: the env's observation factor (observations are ``h * h_scale``).
    """

    def __init__(self, family: str, task: Any, h_scale: float = 1e6) -> None:
        families = ("mumt", "edgecloud", "wpmec")
        if family not in families:
            raise ValueError(
                f"family must be one of {families}, got {family!r}.{did_you_mean(family, families)}"
            )
        expected = WPMECTask if family == "wpmec" else MUMTTask
        if not isinstance(task, expected):
            raise TypeError(
                f"a {family!r} critic needs a {expected.__name__}, got {type(task).__name__}."
            )
        self.family = family
        self.task = task
        self.h_scale = check_positive("h_scale", h_scale)
        if family == "wpmec":
            self.n_entries, self.n_places = task.n_devices, 2
            self._weights = task.weights_array()
        else:
            self.n_entries = task.n_users * task.n_tasks
            cloud = isinstance(task, EdgeCloudTask) and task.cloud_enabled
            self.n_places = 3 if cloud else 2
            self._params = task.params()
            self._cloud = task.cloud_params_or_none() if cloud else None

    @classmethod
    def from_env(cls, env: Any) -> OffloadingCritic:
        """The critic of an offloading env (wrapped or not), for its current task."""
        base = unwrap_offloading_env(env)
        if isinstance(base, WPMECEnv):
            return cls("wpmec", base.task, base.h_scale)
        cloud = isinstance(base.task, EdgeCloudTask) and base.task.cloud_enabled
        family = "edgecloud" if cloud or not isinstance(base, MUMTEnv) else "mumt"
        return cls(family, base.task)

    def score(self, obs: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Scores of ``candidates`` (C, n) for the frame ``obs`` (n,); shape (C,)."""
        obs = np.asarray(obs, dtype=np.float64)
        cands = np.asarray(candidates)
        if self.family == "wpmec":
            h = np.broadcast_to(obs / self.h_scale, cands.shape)
            return np.asarray(wpmec_rate(h, cands, self._weights).rate, dtype=np.float64)
        n, m = self.task.n_users, self.task.n_tasks
        sizes = np.broadcast_to(obs.reshape(1, n, m), (cands.shape[0], n, m))
        cost = edgecloud_cost(sizes, cands.reshape(-1, n, m), self._params, self._cloud)
        return -np.asarray(cost, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """A plain description (family, task type and fields) for saving."""
        return {
            "family": self.family,
            "task_type": type(self.task).__name__,
            "task": dataclasses.asdict(self.task),
            "h_scale": self.h_scale,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "the critic record") -> OffloadingCritic:
        """Inverse of :meth:`to_dict`; a malformed record raises ``ValueError`` naming ``where``."""
        types = {"MUMTTask": MUMTTask, "EdgeCloudTask": EdgeCloudTask, "WPMECTask": WPMECTask}
        try:
            fields = {k: tuple(v) if isinstance(v, list) else v for k, v in data["task"].items()}
            return cls(data["family"], types[data["task_type"]](**fields), data["h_scale"])
        except (AttributeError, KeyError, TypeError) as exc:
            raise ValueError(
                f"{where} is malformed ({type(exc).__name__}: {exc}); save the agent again, or "
                "load it with env= to take the critic from the env."
            ) from None
