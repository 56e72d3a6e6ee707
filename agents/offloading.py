"""Shared pieces of the offloading learners DDLO, DROO and DMRO.

The three agents act in the per-frame offloading envs of :mod:`edgecloud_gym.offloading`
(``MUMTEnv``, ``EdgeCloudOffloadEnv``, ``WPMECEnv``). They share one loop (:class:`FrameLearner`):

1. the DNN(s) map the frame's observation to a *relaxed* decision,
2. the relaxed decision is quantised into a few candidate decisions (each agent its own way),
3. the :class:`OffloadingCritic` scores every candidate with the env's own cost model (DDLO's
   cost or DROO's optimal rate for the mode), the best is played and stored with its
   observation in a :class:`ReplayMemory`,
4. every ``training_interval`` frames the DNN(s) take a gradient step on a batch from memory,
   with the stored best decisions as labels.

The networks are :class:`ParallelMLP`: K independent MLPs stored as stacked weight tensors, so
that K DNNs cost one batched matrix product per layer (DDLO's K parallel DNNs; DROO uses K = 1).
An entry with two places (local / offload) has one sigmoid output, as in DDLO and DROO; with
three places (device / edge / cloud) it has three softmax outputs.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from edgecloud_agents._io import AgentFile, AgentFileError, read_agent_file, write_agent_file
from edgecloud_gym._validation import check_int, check_positive, did_you_mean
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

__all__ = [
    "FrameLearner",
    "OffloadingCritic",
    "ParallelMLP",
    "ReplayMemory",
    "frame_ratio",
    "make_offloading_env",
    "threshold_candidates",
]

#: Default DNN input normalisation per family, ``(shift, scale)``: the DNN sees
#: ``(obs - shift) * scale``. MUMT / edge-cloud observations are task sizes of about 5..45 MB;
#: DDLO's pretreatment ``10 * size - 200`` centres them on 20 MB and spreads them, so that the
#: initial DNNs already respond to the sizes (with sizes scaled into [0.3, 1] all K DNNs
#: collapsed onto one constant decision, gain ratio 0.96, in our trials). WPMEC observations
#: are already ``h * 1e6`` (DROO's scaling, values around 0.1..10) and are used as they are.
#: Adam's (beta1, beta2) in DDLO's and DROO's TensorFlow code.
ADAM_BETAS: tuple[float, float] = (0.09, 0.999)

INPUT_NORMALISATION: dict[str, tuple[float, float]] = {
    "mumt": (20.0, 10.0),
    "edgecloud": (20.0, 10.0),
    "wpmec": (0.0, 1.0),
}


def _unwrap_offloading(env: Any) -> MUMTEnv | EdgeCloudOffloadEnv | WPMECEnv:
    base = getattr(env, "unwrapped", env)
    if not isinstance(base, (EdgeCloudOffloadEnv, WPMECEnv)):
        raise TypeError(
            "env must be an offloading env (EdgeCloud-Offload-MUMT-v0, "
            "EdgeCloud-Offload-EdgeCloud-v0 or EdgeCloud-Offload-WPMEC-v0, wrapped or not), "
            f"got {type(base).__name__}."
        )
    return base


def _check_finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}.")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}.")
    return float(value)


def frame_ratio(info: dict[str, Any]) -> float:
    """The normalised score of a frame from the env's ``info`` (1 is optimal).

    ``info["ratio"]`` when the env ran its oracle; for ``WPMECEnv(oracle="none")`` replaying a
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
        base = _unwrap_offloading(env)
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


class ParallelMLP(nn.Module):
    """K independent MLPs evaluated together (stacked weights, one ``bmm`` per layer).

    Input (B, D) or (K, B, D); output logits (K, B, n, P) with P = 1 (sigmoid, two places) or
    P = ``n_places`` (softmax, three or more places). ReLU hidden layers; each of the K nets has
    its own initialisation (PyTorch's default uniform fan-in scheme, drawn from ``generator``).

    Args:
        n_nets: K.
        in_dim: D, the observation size.
        n_entries: n, decisions per frame.
        n_places: places per entry (2: one sigmoid output each).
        hidden: hidden layer sizes (DDLO and DROO: 120, 80).
        generator: the torch generator of the initial weights.
        init_std: if given, weights are drawn from N(0, init_std^2) and biases set to
            ``init_bias`` (DDLO / DROO: std 1 / in_dim, bias 0 / 0.1); None: PyTorch's default
            uniform fan-in scheme for weights and biases.
        init_bias: constant initial bias with ``init_std``.
    """

    def __init__(
        self,
        n_nets: int,
        in_dim: int,
        n_entries: int,
        n_places: int,
        hidden: tuple[int, ...] = (120, 80),
        generator: torch.Generator | None = None,
        init_std: float | None = None,
        init_bias: float = 0.0,
    ) -> None:
        super().__init__()
        self.n_nets = check_int("n_nets", n_nets, minimum=1)
        self.n_entries = check_int("n_entries", n_entries, minimum=1)
        self.n_places = check_int("n_places", n_places, minimum=2)
        self.out_per_entry = 1 if n_places == 2 else n_places
        sizes = [check_int("in_dim", in_dim, minimum=1)]
        sizes += [check_int("hidden[i]", h, minimum=1) for h in hidden]
        sizes.append(n_entries * self.out_per_entry)
        self.sizes = tuple(sizes)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in itertools.pairwise(sizes):
            if init_std is None:
                bound = 1.0 / math.sqrt(fan_in)
                w = (torch.rand(n_nets, fan_in, fan_out, generator=generator) * 2 - 1) * bound
                b = (torch.rand(n_nets, 1, fan_out, generator=generator) * 2 - 1) * bound
            else:
                w = torch.randn(n_nets, fan_in, fan_out, generator=generator) * init_std
                b = torch.full((n_nets, 1, fan_out), float(init_bias))
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(b))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (K, B, n, P) for inputs (B, D) (shared by all nets) or (K, B, D)."""
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.n_nets, -1, -1)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = torch.relu(x)
        return x.reshape(self.n_nets, x.shape[1], self.n_entries, self.out_per_entry)


def decision_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of logits (K, B, n, P) against integer decisions (K, B, n), summed over
    the K nets and averaged over batch and entries (binary: sigmoid; else softmax)."""
    if logits.shape[-1] == 1:
        per = nn.functional.binary_cross_entropy_with_logits(
            logits.squeeze(-1), labels.to(logits.dtype), reduction="none"
        )
    else:
        per = nn.functional.cross_entropy(
            logits.permute(0, 3, 1, 2), labels.long(), reduction="none"
        )
    return per.mean(dim=(1, 2)).sum()


def relaxed(logits: torch.Tensor) -> torch.Tensor:
    """Relaxed decisions: P(offload) (..., n) for binary logits, else probabilities (..., n, P)."""
    if logits.shape[-1] == 1:
        return torch.sigmoid(logits.squeeze(-1))
    return torch.softmax(logits, dim=-1)


def threshold_candidates(probs: np.ndarray) -> np.ndarray:
    """DDLO's quantisation: one decision per net, (K, n) int8 from relaxed decisions.

    Binary relaxed decisions (K, n): 1 where the offloading probability exceeds 0.5. Multi-place
    probabilities (K, n, P): the most probable place of each entry (the 0.5 threshold is the
    two-place case of this rule).
    """
    if probs.ndim == 2:
        return (probs > 0.5).astype(np.int8)
    return np.argmax(probs, axis=-1).astype(np.int8)


class ReplayMemory:
    """A ring buffer of (observation, best decision) pairs (DDLO / DROO: 1024 entries).

    Args:
        capacity: entries kept; the oldest is overwritten first.
        obs_dim: observation size.
        n_entries: decision size.
    """

    def __init__(self, capacity: int, obs_dim: int, n_entries: int) -> None:
        self.capacity = check_int("memory_size", capacity, minimum=1)
        self.obs = np.zeros((self.capacity, obs_dim), dtype=np.float32)
        self.decision = np.zeros((self.capacity, n_entries), dtype=np.int8)
        self.size = 0
        self._next = 0

    def add(self, obs: np.ndarray, decision: np.ndarray) -> None:
        """Store one pair."""
        self.obs[self._next] = obs
        self.decision[self._next] = decision
        self._next = (self._next + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
        """Observations ``shape + (D,)`` and decisions ``shape + (n,)`` drawn with replacement."""
        if self.size == 0:
            raise ValueError("ReplayMemory.sample: the memory is empty; add frames first.")
        idx = rng.integers(0, self.size, size=shape)
        return self.obs[idx], self.decision[idx]


class FrameLearner:
    """The online loop shared by DDLO, DROO and DMRO (see the module docstring).

    Subclasses set :attr:`name`, :attr:`n_nets_default` and implement :meth:`_candidates` (relaxed
    decision -> candidates) and optionally :meth:`_on_choice` (DROO's adaptive K).

    Args:
        env: an offloading env (wrapped or not); the learner steps it in :meth:`learn`.
        n_nets: number of parallel DNNs K.
        hidden: hidden layer sizes of each DNN.
        learning_rate: Adam step size (DDLO / DROO: 0.01). Adam runs with DDLO's and DROO's
            ``beta1 = 0.09`` (their TensorFlow code; a short memory of past gradients, suited
            to labels that change as the candidates improve), ``beta2 = 0.999``.
        memory_size: replay memory entries (1024).
        batch_size: training batch per DNN (128).
        training_interval: frames between two training steps (10).
        input_shift, input_scale: the DNN sees ``(obs - input_shift) * input_scale`` (default per
            family, see :data:`INPUT_NORMALISATION`).
        seed: seed of the weights, the memory sampling and the env's first reset.
    """

    name: ClassVar[str] = "frame-learner"
    n_nets_default: ClassVar[int] = 1
    #: initial bias of the DNNs (weights start N(0, (1 / obs_dim)^2), as DDLO's and DROO's)
    init_bias: ClassVar[float] = 0.0
    _param_names: ClassVar[tuple[str, ...]] = (
        "n_nets",
        "hidden",
        "learning_rate",
        "memory_size",
        "batch_size",
        "training_interval",
        "input_shift",
        "input_scale",
        "seed",
    )

    def __init__(
        self,
        env: Any,
        *,
        n_nets: int | None = None,
        hidden: tuple[int, ...] = (120, 80),
        learning_rate: float = 0.01,
        memory_size: int = 1024,
        batch_size: int = 128,
        training_interval: int = 10,
        input_shift: float | None = None,
        input_scale: float | None = None,
        seed: int = 0,
        critic: OffloadingCritic | None = None,
    ) -> None:
        self.env = env
        self.critic = OffloadingCritic.from_env(env) if critic is None else critic
        if env is not None:
            base = _unwrap_offloading(env)
            if isinstance(base, WPMECEnv) and self.critic.family != "wpmec":
                raise TypeError("the critic's family does not match the WPMEC env.")
        self.n_nets = check_int(
            "n_nets", self.n_nets_default if n_nets is None else n_nets, minimum=1
        )
        if not isinstance(hidden, (tuple, list)) or not hidden:
            raise TypeError(f"hidden must be a non-empty tuple of layer sizes, got {hidden!r}.")
        self.hidden = tuple(check_int("hidden[i]", h, minimum=1) for h in hidden)
        self.learning_rate = check_positive("learning_rate", learning_rate)
        self.memory_size = check_int("memory_size", memory_size, minimum=1)
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.training_interval = check_int("training_interval", training_interval, minimum=1)
        shift, scale = INPUT_NORMALISATION[self.critic.family]
        self.input_shift = _check_finite(
            "input_shift", shift if input_shift is None else input_shift
        )
        self.input_scale = check_positive(
            "input_scale", scale if input_scale is None else input_scale
        )
        self.seed = check_int("seed", seed, minimum=0)
        self.n_entries, self.n_places = self.critic.n_entries, self.critic.n_places
        self.obs_dim = self.n_entries  # one observation entry per decision entry
        gen = torch.Generator().manual_seed(self.seed)
        self.net = ParallelMLP(
            self.n_nets,
            self.obs_dim,
            self.n_entries,
            self.n_places,
            self.hidden,
            gen,
            init_std=1.0 / self.obs_dim,
            init_bias=self.init_bias,
        )
        self._reset_training_state()

    # -- construction helpers ------------------------------------------------------------------

    def _reset_training_state(self) -> None:
        self.optimizer = self._make_optimizer()
        self.memory = ReplayMemory(self.memory_size, self.obs_dim, self.n_entries)
        self.rng = np.random.default_rng([self.seed, 1])
        self.num_timesteps = 0
        self._obs: np.ndarray | None = None
        #: per-frame log of :meth:`learn`: ``ratio`` (normalised score), ``loss`` per training
        self.history: dict[str, list[float]] = {"ratio": [], "loss": [], "n_candidates": []}

    def _make_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.net.parameters(), lr=self.learning_rate, betas=ADAM_BETAS)

    def params(self) -> dict[str, Any]:
        """The constructor arguments (without env and critic)."""
        return {k: getattr(self, k) for k in self._param_names}

    # -- acting -------------------------------------------------------------------------------

    def _check_obs(self, obs: Any) -> np.ndarray:
        arr = np.asarray(obs, dtype=np.float32)
        if arr.shape[-1:] != (self.obs_dim,) or arr.ndim not in (1, 2):
            raise ValueError(
                f"obs must have shape ({self.obs_dim},) or (B, {self.obs_dim}), got {arr.shape}."
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError("obs must be finite (no NaN or inf).")
        return arr

    def _net_input(self, obs: np.ndarray) -> torch.Tensor:
        return torch.as_tensor((obs - self.input_shift) * self.input_scale, dtype=torch.float32)

    def _relaxed(self, obs: np.ndarray) -> np.ndarray:
        """Relaxed decisions of all nets for one observation: (K, n) or (K, n, P)."""
        with torch.no_grad():
            x = self._net_input(obs[None, :])
            return relaxed(self.net(x))[:, 0].numpy()

    def _candidates(self, obs: np.ndarray) -> np.ndarray:
        """Candidate decisions (C, n) for one observation."""
        return threshold_candidates(self._relaxed(obs))

    def _on_choice(self, index: int, n_candidates: int) -> None:
        """Called with the index of the best candidate after each learning frame."""

    def _decide(self, obs: np.ndarray) -> tuple[np.ndarray, int, int]:
        cands = self._candidates(obs)
        scores = self.critic.score(obs, cands)
        best = int(np.argmax(scores))
        return cands[best], best, len(cands)

    def predict(self, obs: Any, deterministic: bool = True) -> np.ndarray:
        """The decision for one observation (n,) or a batch (B, n): the critic's best candidate.

        The learners are deterministic given their weights; ``deterministic`` is accepted for
        the protocol and ignored.
        """
        arr = self._check_obs(obs)
        if arr.ndim == 1:
            return self._decide(arr)[0]
        return np.stack([self._decide(row)[0] for row in arr])

    # -- learning -----------------------------------------------------------------------------

    def train_step(self) -> float:
        """One gradient step of every net on its own batch from memory; returns the loss."""
        obs, dec = self.memory.sample(self.rng, (self.n_nets, self.batch_size))
        x = self._net_input(obs)
        loss = decision_loss(self.net(x), torch.as_tensor(dec))
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return float(loss.detach()) / self.n_nets

    def learn(
        self,
        total_timesteps: int,
        callback: Callable[[FrameLearner, dict[str, Any]], bool | None] | None = None,
        **kwargs: Any,
    ) -> FrameLearner:
        """Run the online loop for ``total_timesteps`` frames of :attr:`env`.

        Args:
            total_timesteps: frames to play (each is one env step).
            callback: called after every frame with ``(agent, info)``; returning False stops.
            **kwargs: ``progress_bar`` and ``reset_num_timesteps`` are accepted and ignored
                (SB3-compatible signature); anything else is an error.
        """
        unknown = set(kwargs) - {"progress_bar", "reset_num_timesteps", "tb_log_name"}
        if unknown:
            raise TypeError(f"learn() got unknown keyword(s) {sorted(unknown)}.")
        total = check_int("total_timesteps", total_timesteps, minimum=0)
        if self.env is None:
            raise ValueError(
                f"{type(self).__name__}.learn needs an env; pass env= to the constructor or load()."
            )
        torch.manual_seed(self.seed + self.num_timesteps)
        if self._obs is None:
            self._obs, _ = self.env.reset(seed=self.seed)
        for _ in range(total):
            obs = np.asarray(self._obs, dtype=np.float32)
            decision, best, n_cands = self._decide(obs)
            next_obs, _, terminated, truncated, info = self.env.step(decision)
            self.memory.add(obs, decision)
            self._on_choice(best, n_cands)
            self.num_timesteps += 1
            self.history["ratio"].append(frame_ratio(info))
            self.history["n_candidates"].append(float(n_cands))
            if self.num_timesteps % self.training_interval == 0:
                self.history["loss"].append(self.train_step())
            self._obs = next_obs
            if terminated or truncated:
                self._obs, _ = self.env.reset()
            if callback is not None and callback(self, info) is False:
                break
        return self

    # -- persistence --------------------------------------------------------------------------

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def save(self, path: str | Path) -> None:
        """Write the agent file (:mod:`edgecloud_agents._io`): hyperparameters, critic and
        counters as JSON, the network's weights as tensors."""
        config = {
            "params": {k: list(v) if isinstance(v, tuple) else v for k, v in self.params().items()},
            "critic": self.critic.to_dict(),
            "num_timesteps": self.num_timesteps,
            "extra": self._extra_state(),
        }
        write_agent_file(
            path,
            agent=self.name,
            family="offloading",
            config=config,
            weights={"net": self.net.state_dict()},
        )

    @classmethod
    def load(
        cls, path: str | Path | AgentFile, env: Any = None, *, trusted: bool = False
    ) -> FrameLearner:
        """Read an agent written by :meth:`save`; with ``env`` it can :meth:`learn` further and
        its critic follows the env's task, else the saved task is used.

        ``trusted`` is accepted for the loaders' common signature; these files never need it.
        """
        file = path if isinstance(path, AgentFile) else read_agent_file(path, trusted=trusted)
        if file.agent != cls.name:
            raise AgentFileError(
                f"{file.path} holds a {file.agent!r} agent; load it with that agent's class or "
                f"load_offloading_agent (this is {cls.__name__}, {cls.name!r})."
            )
        params = file.require("params")
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
        critic = None
        if env is None:
            critic = OffloadingCritic.from_dict(file.require("critic"), f"agent file {file.path}")
        agent = cls(env, critic=critic, **params)
        try:
            agent.net.load_state_dict(file.weight("net"))
        except RuntimeError as exc:
            raise AgentFileError(
                f"agent file {file.path}: its 'net' weights do not fit the network its "
                f"parameters build ({str(exc).splitlines()[0]}); save the agent again."
            ) from None
        agent.optimizer = agent._make_optimizer()
        agent.num_timesteps = int(file.require("num_timesteps"))
        agent._load_extra_state(file.require("extra"))
        return agent


def make_offloading_env(env_id: str, **kwargs: Any) -> gym.Env:
    """``gym.make(env_id, **kwargs)`` after registering the offloading family."""
    from edgecloud_gym.offloading import register_offloading_envs

    register_offloading_envs()
    return gym.make(env_id, **kwargs)
