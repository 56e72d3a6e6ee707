"""``edgecloud meta-train``: meta-training of either family's meta-learner, one entry point.

:func:`meta_train` dispatches on the agent's family in the zoo's registry (``AGENTS[agent].
family``), with one set of option names for both:

- ``allocation`` (``dynamic-allocator``): MAML over the allocation training tasks for the DQN
  Q-network (:class:`edgecloud_agents.meta_dqn.MetaTrainer`);
- ``offloading`` (``dmro``): MAML over the offloading training tasks for DMRO's parallel DNNs
  (:meth:`edgecloud_agents.dmro.DMRO.meta_train`), see ``docs/dmro.md``; it writes
  ``dmro_meta_init.zip`` (load it with ``DMRO.load``) and ``dmro_config.json``.

For ``dynamic-allocator`` it writes into ``--out``:

- ``checkpoint.pt``: the whole run state (every ``--checkpoint-every`` outer steps, atomically);
  running the same command again continues from it, exactly as if never interrupted;
- ``meta_init.pt``: the meta-initialisation with its metadata (written with each checkpoint), the
  file ``dynamic-allocator`` loads (``meta_init=...``);
- ``config.json``: the settings; ``tb/``: TensorBoard scalars under ``meta/``.

The algorithm and every default are described in ``docs/dynamic_allocator.md``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from edgecloud_bench import zoo
from edgecloud_bench._io import atomic_write_json, check_writable
from edgecloud_bench.run_lock import output_lock

__all__ = ["DEFAULTS", "META_LEARNERS", "add_parser", "meta_train", "meta_train_dmro"]

#: The agents that meta-train, one per family.
META_LEARNERS: tuple[str, ...] = ("dynamic-allocator", "dmro")

#: Defaults of the options both families share, per family (the CLI's ``None``).
DEFAULTS: dict[str, dict[str, Any]] = {
    "allocation": {
        "steps": 2000,
        "tasks": 64,
        "meta_batch": 8,
        "inner_steps": 3,
        "inner_lr": 0.01,
        "outer_lr": 3e-4,
    },
    "offloading": {
        "steps": 300,
        "tasks": 32,
        "meta_batch": 8,
        "inner_steps": 3,
        "inner_lr": 0.1,
        "outer_lr": 0.003,
    },
}


def meta_train(
    out: str | Path,
    outer_steps: int,
    *,
    agent: str = "dynamic-allocator",
    resume: bool = True,
    checkpoint_every: int = 100,
    eval_every: int = 100,
    tensorboard: bool = True,
    progress: bool = True,
    **config: Any,
) -> Path:
    """Meta-train into ``out`` and return the path of the meta-initialisation.

    Args:
        out: Output folder.
        outer_steps: Total outer steps (a resumed run continues up to it).
        agent: The meta-learner, one of :data:`META_LEARNERS`; its family picks the trainer.
        resume: Continue from ``out/checkpoint.pt`` when it exists (its settings must match;
            allocation family).
        checkpoint_every: Outer steps between checkpoints (allocation family).
        eval_every: Outer steps between greedy evaluations of the meta-network (allocation
            family).
        tensorboard: Write ``out/tb`` (allocation family).
        progress: Show a progress bar (allocation family).
        **config: Fields of :class:`~edgecloud_agents.meta_dqn.MetaTrainConfig`; for the
            offloading family the arguments of :func:`meta_train_dmro`.
    """
    if agent not in META_LEARNERS:
        raise ValueError(f"agent must be one of {META_LEARNERS}, got {agent!r}.")
    if zoo.family(agent) == "offloading":
        return meta_train_dmro(out, outer_steps, **config)
    import torch

    from edgecloud_agents.meta_dqn import MetaTrainConfig, MetaTrainer

    settings = MetaTrainConfig.from_dict(config)
    out = check_writable(Path(out))
    with output_lock(out, f"edgecloud meta-train --out {out}"):  # one run per folder
        checkpoint = out / "checkpoint.pt"
        if checkpoint.exists() and not resume:
            checkpoint.unlink()
        torch.set_num_threads(1)
        trainer = MetaTrainer(settings, tensorboard_log=out / "tb" if tensorboard else None)
        if checkpoint.exists():
            trainer.load_checkpoint(checkpoint)
        atomic_write_json(
            out / "config.json", {"meta_train": settings.to_dict(), "outer_steps": outer_steps}
        )

        try:
            trainer.train(
                outer_steps,
                checkpoint=checkpoint,
                meta_init=out / "meta_init.pt",
                checkpoint_every=checkpoint_every,
                eval_every=eval_every,
                progress=progress,
            )
        finally:
            trainer.close()
    return out / "meta_init.pt"


def meta_train_dmro(
    out: str | Path,
    iterations: int,
    *,
    family: str = "edgecloud",
    n_train_tasks: int = 32,
    task_seed: int = 0,
    seed: int = 0,
    meta_batch: int = 8,
    inner_steps: int = 3,
    inner_lr: float = 0.1,
    outer_lr: float = 0.003,
    first_order: bool = False,
    **dmro_kwargs: Any,
) -> Path:
    """Meta-train DMRO on ``offloading_train_tasks(family, n_train_tasks, task_seed)`` into
    ``out/dmro_meta_init.zip`` (load it with ``DMRO.load``) and ``out/dmro_config.json``.

    Args:
        out: Output folder.
        iterations: Meta-iterations (outer steps).
        family: The offloading task family: ``edgecloud``, ``mumt`` or ``wpmec``.
        n_train_tasks: Training tasks in the pool.
        task_seed: Seed of the task pool.
        seed: Seed of DMRO.
        meta_batch: Tasks per meta-iteration.
        inner_steps: Inner SGD steps per task.
        inner_lr: Inner SGD step size.
        outer_lr: Outer (meta) step size.
        first_order: First-order MAML instead of MAML.
        **dmro_kwargs: Other parameters of :class:`~edgecloud_agents.dmro.DMRO`.
    """
    import torch

    from edgecloud_agents.dmro import DMRO
    from edgecloud_gym.offloading import (
        EdgeCloudOffloadEnv,
        MUMTEnv,
        WPMECEnv,
        offloading_train_tasks,
    )

    envs = {"edgecloud": EdgeCloudOffloadEnv, "mumt": MUMTEnv, "wpmec": WPMECEnv}
    if family not in envs:
        raise ValueError(f"family must be one of {tuple(envs)}, got {family!r}.")
    out = check_writable(Path(out))
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    tasks = offloading_train_tasks(family, n_train_tasks, seed=task_seed)
    env = envs[family](task=tasks[0])
    agent = DMRO(
        env,
        seed=seed,
        meta_method="fomaml" if first_order else "maml",
        inner_lr=inner_lr,
        inner_steps=inner_steps,
        meta_lr=outer_lr,
        meta_batch_size=meta_batch,
        **dmro_kwargs,
    )
    t0 = time.perf_counter()
    agent.meta_train(tasks, iterations)
    path = out / "dmro_meta_init.zip"
    agent.save(path)
    atomic_write_json(
        out / "dmro_config.json",
        {
            "agent": "dmro",
            "family": family,
            "iterations": iterations,
            "n_train_tasks": n_train_tasks,
            "task_seed": task_seed,
            "params": {
                k: list(v) if isinstance(v, tuple) else v for k, v in agent.params().items()
            },
            "query_loss": agent.meta_history["query_loss"],
            "seconds": time.perf_counter() - t0,
        },
    )
    return path


def add_parser(subparsers: Any) -> None:
    """Add ``edgecloud meta-train``."""
    p = subparsers.add_parser(
        "meta-train",
        help="meta-train the DQN Q-network with MAML over the training tasks (DYNAMIC-ALLOCATOR)",
        description="MAML over the train task distribution for the paper's 3 x 128 Q-network. "
        "Writes checkpoint.pt (resumable: rerun the same command), meta_init.pt, config.json "
        "and TensorBoard logs (meta/) into --out. See docs/dynamic_allocator.md.",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--agent",
        choices=META_LEARNERS,
        default="dynamic-allocator",
        help="dynamic-allocator (default) or dmro (offloading; see docs/dmro.md)",
    )
    p.add_argument(
        "--family", default=None, help="dmro only: edgecloud (default), mumt or wpmec tasks"
    )
    p.add_argument(
        "--steps", type=int, default=None, help="outer steps in total (default 2000; dmro 300)"
    )
    p.add_argument(
        "--forecaster", default="lstm", help="observation forecaster (lstm; none for the ablation)"
    )
    p.add_argument(
        "--tasks", type=int, default=None, help="training tasks in the pool (default 64; dmro 32)"
    )
    p.add_argument(
        "--task-seed", type=int, default=0, help="seed of offloading_train_tasks (default 0)"
    )
    p.add_argument("--meta-batch", type=int, default=None, help="tasks per outer step (default 8)")
    p.add_argument("--inner-steps", type=int, default=None, help="inner SGD steps (default 3)")
    p.add_argument(
        "--inner-lr", type=float, default=None, help="inner SGD step (default 0.01; dmro 0.1)"
    )
    p.add_argument(
        "--outer-lr", type=float, default=None, help="outer Adam step (default 3e-4; dmro 3e-3)"
    )
    p.add_argument("--first-order", action="store_true", help="first-order MAML")
    p.add_argument("--seed", type=int, default=0, help="seed of the run (default 0)")
    p.add_argument("--checkpoint-every", type=int, default=100, help="outer steps per checkpoint")
    p.add_argument("--eval-every", type=int, default=100, help="outer steps per evaluation")
    p.add_argument(
        "--no-resume", action="store_true", help="start over even if a checkpoint exists"
    )
    p.add_argument("--no-tensorboard", action="store_true", help="skip the TensorBoard logs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:
    family = zoo.family(args.agent)
    if args.family is not None and family != "offloading":
        raise ValueError(
            f"--family chooses the offloading task family; {args.agent!r} meta-trains on the "
            "allocation tasks (drop --family, or pass --agent dmro)."
        )
    for key, value in DEFAULTS[family].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    shared = {
        "n_train_tasks": args.tasks,
        "task_seed": args.task_seed,
        "meta_batch": args.meta_batch,
        "inner_steps": args.inner_steps,
        "inner_lr": args.inner_lr,
        "outer_lr": args.outer_lr,
        "first_order": args.first_order,
        "seed": args.seed,
    }
    if family == "offloading":
        shared["family"] = args.family or "edgecloud"
    else:
        shared["forecaster"] = args.forecaster
    started = time.perf_counter()
    path = meta_train(
        args.out,
        args.steps,
        agent=args.agent,
        resume=not args.no_resume,
        checkpoint_every=args.checkpoint_every,
        eval_every=args.eval_every,
        tensorboard=not args.no_tensorboard,
        progress=not args.no_progress,
        **shared,
    )
    print(f"meta-initialisation of {args.agent}: {path} ({time.perf_counter() - started:.0f} s)")
    return 0
