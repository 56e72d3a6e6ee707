"""The meta-initialisation of the DQN Q-network: the network, the object and its file.

:class:`MetaInit` holds a meta-learned initialisation of :func:`q_network` (the source paper's
3 x 128 ReLU MLP) with what it fits (observation size, actions, forecaster, hidden layers), so
that it is never loaded into an incompatible network. :func:`save_meta_init` /
:func:`load_meta_init` write and read it as a torch file read with ``weights_only=True``, with
the model version checked (:mod:`edgecloud_agents._io`). ``edgecloud meta-train``
(:class:`edgecloud_agents.meta_dqn.MetaTrainer`) makes it; ``dynamic-allocator`` starts from it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgecloud_agents._io import check_finite_weights, load_torch, save_torch
from edgecloud_gym.model_version import MODEL_VERSION, check_model_version

__all__ = [
    "META_INIT_FORMAT",
    "MetaInit",
    "load_meta_init",
    "meta_init_from_state",
    "meta_init_state",
    "q_network",
    "save_meta_init",
]

#: ``format`` field of a meta-initialisation file.
META_INIT_FORMAT = "edgecloud-meta-init/1"


def q_network(
    obs_size: int, n_actions: int, net_arch: Sequence[int] = (128, 128, 128)
) -> nn.Module:
    """The Q-network exactly as SB3's ``QNetwork.q_net`` builds it (same layers and key names),
    so its state dict loads into ``DQN.policy.q_net.q_net`` and ``q_net_target.q_net``."""
    from stable_baselines3.common.torch_layers import create_mlp

    return nn.Sequential(*create_mlp(int(obs_size), int(n_actions), list(net_arch), nn.ReLU))


@dataclass(frozen=True)
class MetaInit:
    """A meta-learned Q-network initialisation and what it fits.

    Attributes:
        state_dict: Parameters of :func:`q_network` (keys ``0.weight``, ``0.bias``, ...).
        obs_size: Length of the observation it reads.
        n_actions: Number of discrete actions it scores.
        forecaster: Forecaster of the observations it was trained on.
        net_arch: Hidden layer widths.
        metadata: Everything else (meta-training settings, outer steps, versions).
    """

    state_dict: dict[str, torch.Tensor]
    obs_size: int
    n_actions: int
    forecaster: str
    net_arch: tuple[int, ...]
    metadata: dict[str, Any]

    def network(self) -> nn.Module:
        """A fresh :func:`q_network` holding these parameters."""
        net = q_network(self.obs_size, self.n_actions, self.net_arch)
        net.load_state_dict(self.state_dict)
        return net

    def check_compatible(
        self,
        obs_size: int,
        n_actions: int,
        net_arch: Sequence[int] | None = None,
        forecaster: str | None = None,
        where: str = "meta-initialisation",
    ) -> None:
        """Raise ``ValueError`` naming the mismatch and the fix if this does not fit a network."""
        if forecaster is not None and forecaster != self.forecaster:
            raise ValueError(
                f"{where} was meta-trained on observations with forecaster {self.forecaster!r} "
                f"but the env uses {forecaster!r}; make the env with "
                f"forecaster={self.forecaster!r} or meta-train with --forecaster {forecaster}."
            )
        if obs_size != self.obs_size:
            raise ValueError(
                f"{where} expects observations of size {self.obs_size} (forecaster "
                f"{self.forecaster!r}) but the network reads size {obs_size}; use an env with "
                "the same configuration and forecaster, or meta-train for this one."
            )
        if n_actions != self.n_actions:
            raise ValueError(
                f"{where} scores {self.n_actions} actions but the network has {n_actions}; use "
                "an env with the same number of edge nodes, or meta-train for this one."
            )
        if net_arch is not None and tuple(net_arch) != self.net_arch:
            raise ValueError(
                f"{where} has hidden layers {list(self.net_arch)} but the network has "
                f"{list(net_arch)}; build the DQN with policy_kwargs=dict(net_arch="
                f"{list(self.net_arch)})."
            )


def meta_init_state(init: MetaInit) -> dict[str, Any]:
    """``init`` as the plain dict of tensors and values that :func:`save_meta_init` writes."""
    return {
        "format": META_INIT_FORMAT,
        "model_version": MODEL_VERSION,
        "state_dict": {k: v.detach().cpu().clone() for k, v in init.state_dict.items()},
        "obs_size": int(init.obs_size),
        "n_actions": int(init.n_actions),
        "forecaster": init.forecaster,
        "net_arch": list(init.net_arch),
        "activation": "relu",
        "metadata_json": json.dumps(init.metadata, sort_keys=True),
    }


def save_meta_init(init: MetaInit, path: str | Path) -> None:
    """Write ``init`` to ``path`` (a torch file loadable with ``weights_only=True``), atomically."""
    save_torch(meta_init_state(init), path)


_META_INIT_FIX = "Create one with 'edgecloud meta-train'."


def load_meta_init(source: str | Path | bytes) -> MetaInit:
    """Read a meta-initialisation from a file written by :func:`save_meta_init` (or its bytes);
    a foreign, corrupt or non-finite one raises ``ValueError`` naming it."""
    data = load_torch(source, "meta-initialisation", _META_INIT_FIX)
    where = "meta-initialisation" if isinstance(source, bytes) else str(source)
    return meta_init_from_state(data, where)


def meta_init_from_state(data: Any, where: str) -> MetaInit:
    """The :class:`MetaInit` of a dict written by :func:`meta_init_state`, checked: its format,
    model version, keys, shapes and finiteness (``ValueError`` naming ``where`` otherwise)."""
    if not isinstance(data, dict) or data.get("format") != META_INIT_FORMAT:
        raise ValueError(
            f"{where} is not a meta-initialisation of format {META_INIT_FORMAT!r} (a checkpoint? "
            "pass the meta_init.pt that 'edgecloud meta-train' writes)."
        )
    check_model_version(data.get("model_version"), f"meta-initialisation {where}")
    missing = sorted({"state_dict", "obs_size", "n_actions", "forecaster", "net_arch"} - set(data))
    if missing or not isinstance(data["state_dict"], dict):
        raise ValueError(
            f"{where}: the meta-initialisation lacks {missing or ['a state_dict']}; it is "
            f"damaged. {_META_INIT_FIX}"
        )
    check_finite_weights(data["state_dict"], f"meta-initialisation {where}")
    init = MetaInit(
        state_dict=dict(data["state_dict"]),
        obs_size=int(data["obs_size"]),
        n_actions=int(data["n_actions"]),
        forecaster=str(data["forecaster"]),
        net_arch=tuple(int(w) for w in data["net_arch"]),
        metadata=json.loads(data.get("metadata_json", "{}")),
    )
    expected = q_network(init.obs_size, init.n_actions, init.net_arch).state_dict()
    bad = sorted(set(expected) ^ set(init.state_dict))
    shapes = [
        k
        for k in expected
        if k in init.state_dict and init.state_dict[k].shape != expected[k].shape
    ]
    if bad or shapes:
        raise ValueError(
            f"{where}: parameters do not match its own metadata (keys {bad}, shapes {shapes}); "
            "the file is damaged, create it again with 'edgecloud meta-train'."
        )
    return init
