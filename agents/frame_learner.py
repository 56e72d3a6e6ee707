"""The offloading learner base: the online loop that DDLO, DROO and DMRO share.

The three agents act in the per-frame offloading envs of :mod:`edgecloud_gym.offloading`
(``MUMTEnv``, ``EdgeCloudOffloadEnv``, ``WPMECEnv``). They share one loop (:class:`FrameLearner`):

1. the DNN(s) map the frame's observation to a *relaxed* decision,
2. the relaxed decision is quantised into a few candidate decisions (each agent its own way),
3. the :class:`OffloadingCritic` scores every candidate with the env's own cost model (DDLO's
   cost or DROO's optimal rate for the mode), the best is played and stored with its
   observation in a :class:`ReplayMemory`,
4. every ``training_interval`` frames the DNN(s) take a gradient step on a batch from memory,
   with the stored best decisions as labels.

The critic is :mod:`edgecloud_agents.offloading_critic`; the networks, losses and replay are
:mod:`edgecloud_agents.offloading_nets`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch

from edgecloud_agents._io import AgentFile, AgentFileError, read_agent_file, write_agent_file
from edgecloud_agents.offloading_critic import OffloadingCritic, frame_ratio, unwrap_offloading_env
from edgecloud_agents.offloading_nets import (
    ParallelMLP,
    ReplayMemory,
    decision_loss,
    relaxed,
    threshold_candidates,
)
from edgecloud_gym._validation import check_int, check_positive
from edgecloud_gym.offloading import (
    WPMECEnv,
)

__all__ = ["ADAM_BETAS", "INPUT_NORMALISATION", "FrameLearner", "make_offloading_env"]

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


def _check_finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}.")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}.")
    return float(value)


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
            base = unwrap_offloading_env(env)
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
        file = read_agent_file(path, trusted=trusted)
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
