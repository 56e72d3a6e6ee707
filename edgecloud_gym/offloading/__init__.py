"""The offloading family: DDLO multi-user multi-task, its edge-cloud extension, and DROO's
wireless-powered MEC, with exact optima validated on the authors' published data.

Pure array models (leading batch axis, no Gymnasium):

* :func:`mumt_cost`, :func:`edgecloud_cost`: cost of a decision [J + s];
  :func:`mumt_optimum`, :func:`edgecloud_optimum`: exact minimum over all decisions.
* :func:`wpmec_rate`: optimal (a, tau) and weighted sum computation rate [bits/s] of a mode;
  :func:`wpmec_optimum`: best mode (exact enumeration, or coordinate descent, not exact).

Environments (thin adapters): :class:`MUMTEnv`, :class:`EdgeCloudOffloadEnv`, :class:`WPMECEnv`, and
:class:`DiscreteDecisionWrapper` for SB3 DQN. Tasks: :class:`MUMTTask`, :class:`EdgeCloudTask`,
:class:`WPMECTask`, their distributions, and :func:`offloading_train_tasks` / :func:`offloading_test_tasks`.
Published data: :func:`load_mumt_data`, :func:`load_wpmec_data`. See ``docs/offloading.md``.
"""

from edgecloud_gym.registration import OFFLOADING_ENV_IDS, register_offloading_envs

from .data import BUNDLED_FILES, MUMTData, WPMECData, load_mumt_data, load_wpmec_data
from .envs import DiscreteDecisionWrapper, EdgeCloudOffloadEnv, MUMTEnv, WPMECEnv
from .mumt import (
    CLOUD,
    EDGE,
    LOCAL,
    CloudParams,
    MUMTParams,
    OffloadOptimum,
    all_decisions,
    edgecloud_cost,
    edgecloud_optimum,
    mumt_cost,
    mumt_optimum,
)
from .tasks import (
    FAMILIES,
    EdgeCloudTask,
    EdgeCloudTaskDistribution,
    MUMTTask,
    MUMTTaskDistribution,
    WPMECTask,
    WPMECTaskDistribution,
    offloading_test_tasks,
    offloading_train_tasks,
)
from .wpmec import (
    MAX_ENUMERATE_DEVICES,
    WPMECOptimum,
    WPMECParams,
    WPMECResult,
    default_weights,
    wpmec_objective,
    wpmec_optimum,
    wpmec_rate,
)

__all__ = [
    "BUNDLED_FILES",
    "CLOUD",
    "EDGE",
    "FAMILIES",
    "LOCAL",
    "MAX_ENUMERATE_DEVICES",
    "OFFLOADING_ENV_IDS",
    "CloudParams",
    "DiscreteDecisionWrapper",
    "EdgeCloudOffloadEnv",
    "EdgeCloudTask",
    "EdgeCloudTaskDistribution",
    "MUMTData",
    "MUMTEnv",
    "MUMTParams",
    "MUMTTask",
    "MUMTTaskDistribution",
    "OffloadOptimum",
    "WPMECData",
    "WPMECEnv",
    "WPMECOptimum",
    "WPMECParams",
    "WPMECResult",
    "WPMECTask",
    "WPMECTaskDistribution",
    "all_decisions",
    "default_weights",
    "edgecloud_cost",
    "edgecloud_optimum",
    "load_mumt_data",
    "load_wpmec_data",
    "mumt_cost",
    "mumt_optimum",
    "offloading_test_tasks",
    "offloading_train_tasks",
    "register_offloading_envs",
    "wpmec_objective",
    "wpmec_optimum",
    "wpmec_rate",
]

#: Former names, kept as deprecated aliases: the allocation family has its own ``EdgeCloudEnv``
#: and ``train_tasks`` / ``test_tasks`` (:mod:`edgecloud_gym`), and "oracle" names the
#: clairvoyant forecaster and agent of that family, not these exact optima.
_DEPRECATED = {
    "EdgeCloudEnv": "EdgeCloudOffloadEnv",
    "train_tasks": "offloading_train_tasks",
    "test_tasks": "offloading_test_tasks",
    "mumt_oracle": "mumt_optimum",
    "edgecloud_oracle": "edgecloud_optimum",
    "wpmec_oracle": "wpmec_optimum",
    "OffloadOracleResult": "OffloadOptimum",
    "WPMECOracleResult": "WPMECOptimum",
}


def __getattr__(name: str) -> object:
    if name in _DEPRECATED:
        import warnings

        new = _DEPRECATED[name]
        warnings.warn(
            f"edgecloud_gym.offloading.{name} is deprecated; use {new}.",
            DeprecationWarning,
            stacklevel=2,
        )
        return globals()[new]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
