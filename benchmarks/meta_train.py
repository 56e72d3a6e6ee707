"""``edgecloud meta-train``: MAML meta-training of the DQN Q-network (DYNAMIC-ALLOCATOR).

Writes into ``--out``:

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

from edgecloud_bench._io import atomic_write_json, check_writable
from edgecloud_bench.run_lock import output_lock

__all__ = ["add_parser", "meta_train"]


def meta_train(
    out: str | Path,
    outer_steps: int,
    *,
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
        resume: Continue from ``out/checkpoint.pt`` when it exists (its settings must match).
        checkpoint_every: Outer steps between checkpoints.
        eval_every: Outer steps between greedy evaluations of the meta-network.
        tensorboard: Write ``out/tb``.
        progress: Show a progress bar.
        **config: Fields of :class:`~edgecloud_agents.meta_dqn.MetaTrainConfig`.
    """
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
        choices=("dynamic-allocator", "dmro"),
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
    p.add_argument("--task-seed", type=int, default=0, help="seed of train_tasks (default 0)")
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


_DEFAULTS = {
    "steps": 2000,
    "tasks": 64,
    "meta_batch": 8,
    "inner_steps": 3,
    "inner_lr": 0.01,
    "outer_lr": 3e-4,
}


def _run_cli(args: argparse.Namespace) -> int:
    if args.agent == "dmro":
        from edgecloud_bench.offloading_suite import meta_train_dmro_cli

        return meta_train_dmro_cli(args)
    for key, value in _DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    started = time.perf_counter()
    path = meta_train(
        args.out,
        args.steps,
        resume=not args.no_resume,
        checkpoint_every=args.checkpoint_every,
        eval_every=args.eval_every,
        tensorboard=not args.no_tensorboard,
        progress=not args.no_progress,
        forecaster=args.forecaster,
        n_train_tasks=args.tasks,
        task_seed=args.task_seed,
        meta_batch=args.meta_batch,
        inner_steps=args.inner_steps,
        inner_lr=args.inner_lr,
        outer_lr=args.outer_lr,
        first_order=args.first_order,
        seed=args.seed,
    )
    print(f"meta-initialisation: {path} ({time.perf_counter() - started:.0f} s)")
    return 0
