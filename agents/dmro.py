"""DMRO: deep meta reinforcement learning-based offloading (Qu, Wu, Li, Jiao, IEEE TNSM 2021).

Our reading of DMRO (its abstract is all that is public; ``docs/dmro.md`` documents every
choice): DDLO's K parallel DNNs, whose quantised candidates are scored by the environment's cost
model (the Q-learning step: the critic's value of each candidate action, and the greedy choice of
the best), a shared replay memory of the best decisions as labels, and a *meta-learned
initialisation* of the K DNNs across a distribution of offloading environments (task sizes,
bandwidths, CPU speeds, cloud link), so that on a new environment the online learner starts from
a policy that is already good on average and adapts in few frames.

Meta-training (:meth:`DMRO.meta_train`) runs DDLO on every training task at once, each task with
its own replay memory and frame generator, and moves the shared initialisation by one of:

* ``"fomaml"`` (default) / ``"maml"``: MAML (Finn et al. 2017) through
  :class:`edgecloud_agents.maml.MAML`: ``inner_steps`` SGD steps of size ``inner_lr`` on a support
  batch from the task's memory, the loss of the adapted nets on a query batch from the same
  memory as the meta-loss (first order: without differentiating through the inner gradients);
* ``"reptile"`` (Nichol et al. 2018): the same inner steps, then the initialisation moves
  towards the adapted weights.

Each iteration the adapted nets of every sampled task play ``frames_per_task`` new frames of that
task (the best of their K candidates under the task's critic goes into its memory), so the labels
improve as in DDLO. Test-time adaptation (:meth:`DMRO.adapt`) is DDLO's online loop on the new
env (Adam, the same settings as a DDLO trained from scratch) started from the meta-learned
initialisation; only the initialisation differs from DDLO.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from edgecloud_gym._validation import check_int, check_positive, did_you_mean
from edgecloud_gym.offloading import EdgeCloudTask, MUMTTask, WPMECTask

from .frame_learner import FrameLearner
from .maml import MAML
from .offloading_critic import OffloadingCritic
from .offloading_nets import ReplayMemory, decision_loss, relaxed, threshold_candidates

__all__ = ["DMRO", "META_METHODS"]

#: Accepted ``meta_method`` values.
META_METHODS: tuple[str, ...] = ("fomaml", "maml", "reptile")


class _TaskState:
    """One training task during meta-training: its critic, frame generator and memory."""

    def __init__(self, agent: DMRO, task: Any, seed: int, index: int) -> None:
        self.task = task
        self.critic = OffloadingCritic(agent.critic.family, task, agent.critic.h_scale)
        if (self.critic.n_entries, self.critic.n_places) != (agent.n_entries, agent.n_places):
            raise ValueError(
                f"meta_train: task {index} has {self.critic.n_entries} entries with "
                f"{self.critic.n_places} places, the agent {agent.n_entries} with "
                f"{agent.n_places}; all tasks must match the agent's env."
            )
        self.rng = np.random.default_rng([seed, 2, index])
        self.memory = ReplayMemory(agent.memory_size, agent.obs_dim, agent.n_entries)

    def frames(self, n: int) -> np.ndarray:
        """``n`` fresh observations of this task, (n, D) float32."""
        if self.critic.family == "wpmec":
            obs = [self.task.sample_h(self.rng) * self.critic.h_scale for _ in range(n)]
        else:
            obs = [self.task.sample_sizes(self.rng).reshape(-1) for _ in range(n)]
        return np.asarray(obs, dtype=np.float32)


class DMRO(FrameLearner):
    """DMRO behind the zoo's meta-agent protocol (see the module docstring).

    ``learn`` continues DDLO's online loop on :attr:`env` from the current weights;
    ``meta_train`` learns the initialisation over training tasks; ``adapt`` returns a new agent
    adapted to another env, leaving this one (the meta-learned initialisation) unchanged.

    Args:
        env: an offloading env (its family and sizes fix the network; edge-cloud is DMRO's home).
        n_nets: K parallel DNNs (default 10, as our DDLO).
        meta_method: ``"fomaml"``, ``"maml"`` (second order) or ``"reptile"``.
        inner_lr: SGD step of the inner loop.
        inner_steps: inner SGD steps per task and iteration.
        meta_lr: Adam step of the meta-update (betas 0.9, 0.999).
        meta_batch_size: tasks per meta-iteration.
        support_size: batch per DNN of the inner loop and of the query loss.
        frames_per_task: new frames each sampled task plays per iteration.
        **kwargs: the :class:`~edgecloud_agents.offloading.FrameLearner` arguments of the online
            loop (``hidden``, ``learning_rate``, ``memory_size``, ``batch_size``,
            ``training_interval``, ``input_shift``, ``input_scale``, ``seed``).
    """

    name: ClassVar[str] = "dmro"
    n_nets_default: ClassVar[int] = 10
    _param_names: ClassVar[tuple[str, ...]] = (
        *FrameLearner._param_names,
        "meta_method",
        "inner_lr",
        "inner_steps",
        "meta_lr",
        "meta_batch_size",
        "support_size",
        "frames_per_task",
    )

    def __init__(
        self,
        env: Any,
        *,
        meta_method: str = "fomaml",
        inner_lr: float = 0.1,
        inner_steps: int = 3,
        meta_lr: float = 0.003,
        meta_batch_size: int = 8,
        support_size: int = 32,
        frames_per_task: int = 8,
        **kwargs: Any,
    ) -> None:
        super().__init__(env, **kwargs)
        if meta_method not in META_METHODS:
            raise ValueError(
                f"meta_method must be one of {META_METHODS}, got {meta_method!r}."
                f"{did_you_mean(str(meta_method), META_METHODS)}"
            )
        self.meta_method = meta_method
        self.inner_lr = check_positive("inner_lr", inner_lr)
        self.inner_steps = check_int("inner_steps", inner_steps, minimum=1)
        self.meta_lr = check_positive("meta_lr", meta_lr)
        self.meta_batch_size = check_int("meta_batch_size", meta_batch_size, minimum=1)
        self.support_size = check_int("support_size", support_size, minimum=1)
        self.frames_per_task = check_int("frames_per_task", frames_per_task, minimum=1)
        self.meta_iterations = 0
        #: per meta-iteration: ``query_loss``, the mean loss per DNN of the adapted nets on a
        #: query batch of the sampled tasks (Reptile: after its inner steps)
        self.meta_history: dict[str, list[float]] = {"query_loss": []}

    # -- meta-training --------------------------------------------------------------------------

    def _check_tasks(self, tasks: Sequence[Any]) -> list[Any]:
        expected = WPMECTask if self.critic.family == "wpmec" else MUMTTask
        tasks = list(tasks)
        if not tasks:
            raise ValueError(
                "meta_train needs at least one task; draw them with "
                "edgecloud_gym.offloading.offloading_train_tasks(family, n)."
            )
        for i, task in enumerate(tasks):
            if not isinstance(task, expected):
                raise TypeError(
                    f"tasks[{i}] must be a {expected.__name__} (the agent's family is "
                    f"{self.critic.family!r}), got {type(task).__name__}."
                )
            if self.critic.family == "edgecloud" and not isinstance(task, EdgeCloudTask):
                raise TypeError(f"tasks[{i}] must be an EdgeCloudTask for the edge-cloud env.")
        return tasks

    def _label(self, state: _TaskState, params_call: Callable[[torch.Tensor], Any]) -> None:
        """Play ``frames_per_task`` frames of a task with the given nets; store the best."""
        obs = state.frames(self.frames_per_task)
        with torch.no_grad():
            probs = relaxed(params_call(self._net_input(obs))).numpy()  # (K, F, n[, P])
        for f in range(obs.shape[0]):
            cands = threshold_candidates(probs[:, f])
            best = int(np.argmax(state.critic.score(obs[f], cands)))
            state.memory.add(obs[f], cands[best])

    def meta_train(
        self,
        tasks: Sequence[Any],
        iterations: int,
        callback: Callable[[DMRO, dict[str, float]], bool | None] | None = None,
    ) -> DMRO:
        """Meta-learn the K DNNs' initialisation over ``tasks`` for ``iterations`` updates.

        Args:
            tasks: training tasks of the agent's family (e.g. ``offloading_train_tasks("edgecloud", 32)``).
            iterations: meta-updates; each samples ``meta_batch_size`` tasks.
            callback: called after each update with ``(agent, {"iteration", "query_loss"})``;
                returning False stops.

        Returns:
            self, with the meta-learned weights; the online-learning state is reset.
        """
        tasks = self._check_tasks(tasks)
        iterations = check_int("iterations", iterations, minimum=0)
        torch.manual_seed(self.seed)
        rng = np.random.default_rng([self.seed, 3])
        states = [_TaskState(self, t, self.seed, i) for i, t in enumerate(tasks)]
        for state in states:  # a first memory, labelled by the initial nets
            self._label(state, self.net)
        maml = MAML(self.net, lr=self.inner_lr, first_order=self.meta_method != "maml")
        meta_opt = torch.optim.Adam(self.net.parameters(), lr=self.meta_lr)
        k = self.n_nets
        for _ in range(iterations):
            batch = rng.choice(
                len(states), size=min(self.meta_batch_size, len(states)), replace=False
            )
            meta_opt.zero_grad()
            losses = []
            for i in batch:
                state = states[i]
                learner = maml.clone()
                for _ in range(self.inner_steps):
                    obs, dec = state.memory.sample(state.rng, (k, self.support_size))
                    learner.adapt(
                        decision_loss(learner(self._net_input(obs)), torch.as_tensor(dec))
                    )
                if self.meta_method == "reptile":
                    for p, q in zip(self.net.parameters(), learner.parameters(), strict=True):
                        step = (p.detach() - q.detach()) / len(batch)
                        p.grad = step if p.grad is None else p.grad + step
                    with torch.no_grad():
                        obs, dec = state.memory.sample(state.rng, (k, self.support_size))
                        losses.append(
                            float(
                                decision_loss(learner(self._net_input(obs)), torch.as_tensor(dec))
                            )
                            / k
                        )
                else:
                    obs, dec = state.memory.sample(state.rng, (k, self.support_size))
                    query = decision_loss(learner(self._net_input(obs)), torch.as_tensor(dec))
                    (query / len(batch)).backward()
                    losses.append(float(query.detach()) / k)
                self._label(state, learner)
            meta_opt.step()
            self.meta_iterations += 1
            mean_loss = float(np.mean(losses))
            self.meta_history["query_loss"].append(mean_loss)
            if callback is not None and (
                callback(self, {"iteration": self.meta_iterations, "query_loss": mean_loss})
                is False
            ):
                break
        self._reset_training_state()
        return self

    # -- adaptation -----------------------------------------------------------------------------

    def adapt(self, env: Any, total_timesteps: int, **kwargs: Any) -> DMRO:
        """A new agent on ``env``, started from this agent's weights and trained online for
        ``total_timesteps`` frames (DDLO's loop); this agent is left unchanged.

        ``kwargs`` go to :meth:`learn` (``callback``).
        """
        total = check_int("total_timesteps", total_timesteps, minimum=0)
        adapted = type(self)(env, **self.params())
        if (adapted.n_entries, adapted.n_places) != (self.n_entries, self.n_places):
            raise ValueError(
                f"adapt: env has {adapted.n_entries} entries with {adapted.n_places} places, the "
                f"agent was built for {self.n_entries} with {self.n_places}."
            )
        adapted.net.load_state_dict(copy.deepcopy(self.net.state_dict()))
        adapted.optimizer = adapted._make_optimizer()
        adapted.meta_iterations = self.meta_iterations
        return adapted.learn(total, **kwargs)

    def _extra_state(self) -> dict[str, Any]:
        return {"meta_iterations": self.meta_iterations}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.meta_iterations = int(state["meta_iterations"])
