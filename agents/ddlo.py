"""DDLO: distributed deep learning-based offloading (Huang, Feng, Feng, Huang, Qian, MONET 2018).

K parallel DNNs, each with its own initialisation, map the frame's observation (task sizes) to a
relaxed decision; each relaxed decision is quantised to one candidate (offload where the DNN's
output exceeds 0.5), the env's cost model scores the K candidates, and the cheapest is played and
stored in one replay memory shared by all DNNs. Every ``training_interval`` frames each DNN takes
one Adam step on its own random batch from the shared memory. The DNNs diverge through their
initialisation and their batches, so the K candidates differ; the best of them becomes the label
every DNN learns from.

**Three places** (our generalisation, for the edge-cloud env: device / edge / cloud): each entry
gets three softmax outputs instead of one sigmoid, the quantisation takes the most probable place
(the two-place case of this rule is DDLO's 0.5 threshold), and the loss is the cross-entropy
against the stored best place. With two places the net has DDLO's single sigmoid output per task.

Defaults: K = 10 DNNs with hidden layers 120 and 80, memory 1024, batch 128, interval 10, Adam
lr 0.01 (DDLO's repository settings, except K, which DDLO varies; 10 is in its range).
"""

from __future__ import annotations

from typing import ClassVar

from .frame_learner import FrameLearner

__all__ = ["DDLO"]


class DDLO(FrameLearner):
    """DDLO behind the zoo's protocol (see the module docstring).

    Args:
        env: an offloading env (MUMT, edge-cloud or WPMEC).
        n_nets: K parallel DNNs (default 10).
        **kwargs: the :class:`~edgecloud_agents.offloading.FrameLearner` arguments (``hidden``,
            ``learning_rate``, ``memory_size``, ``batch_size``, ``training_interval``,
            ``input_scale``, ``seed``).
    """

    name: ClassVar[str] = "ddlo"
    n_nets_default: ClassVar[int] = 10
