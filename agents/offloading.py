"""The offloading learners' shared pieces, one module each (this module hands their names on).

* :mod:`edgecloud_agents.frame_learner`: :class:`FrameLearner`, the online loop of DDLO, DROO and
  DMRO, with its input normalisation and :func:`make_offloading_env`;
* :mod:`edgecloud_agents.offloading_critic`: :class:`OffloadingCritic` (the env's cost model as a
  critic) and :func:`frame_ratio`;
* :mod:`edgecloud_agents.offloading_nets`: :class:`ParallelMLP`, the losses,
  :func:`threshold_candidates` and :class:`ReplayMemory`.
"""

from edgecloud_agents.frame_learner import (
    ADAM_BETAS,
    INPUT_NORMALISATION,
    FrameLearner,
    make_offloading_env,
)
from edgecloud_agents.offloading_critic import OffloadingCritic, frame_ratio
from edgecloud_agents.offloading_nets import ParallelMLP, ReplayMemory, threshold_candidates

__all__ = [
    "ADAM_BETAS",
    "INPUT_NORMALISATION",
    "FrameLearner",
    "OffloadingCritic",
    "ParallelMLP",
    "ReplayMemory",
    "frame_ratio",
    "make_offloading_env",
    "threshold_candidates",
]
