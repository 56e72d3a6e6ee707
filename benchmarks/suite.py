"""Benchmark suites: agents x envs x seeds x budgets, run into resumable result files.

A suite is a versioned YAML file (``benchmarks/suites/*.yml``; the format is described at the top
of ``quick.yml``). :func:`run_suite` runs every (agent, env, seed) of a suite and writes:

- ``DIR/runs/{agent}__{env}__{seed}.json``: one file per run, written atomically when the run has
  finished (the run's settings, its evaluation episodes, mean metrics, learning curve and
  convergence speed). Rerunning the same suite into the same folder skips finished runs, so a
  killed suite resumes and loses nothing but the runs in flight; leftover temporary files are
  removed;
- ``DIR/tb/{env}__{agent}__{seed}__{time}_1/``: TensorBoard logs of the learners
  (see :mod:`edgecloud_bench.callbacks`);
- ``DIR/summary.csv``, ``DIR/report.md`` and ``DIR/*.png`` (:mod:`edgecloud_bench.report`).

One run (its spec, :func:`run_one`, its file and its seeds, paired across agents) is
:mod:`edgecloud_bench.run`, whose names this module also exports.

Executors: ``local`` (processes on this machine, default 2 workers; 1 runs in-process) and
``ray`` (``pip install 'edgecloud-gym[ray]'``; ``address`` of a running cluster, or None to start
a local Ray instance). Every executor returns finished records to this process, which writes the
run files; with Ray on several machines the TensorBoard folder must be on a shared file system.
Local workers die with the command, even when it is killed (:func:`~edgecloud_bench.run_lock.
die_with_parent`), and one folder takes one run at a time: a second run into it is refused while
the first lives, and the lock of a killed run is recognised as stale and taken over
(:func:`~edgecloud_bench.run_lock.output_lock`).

One module on purpose, at about the harness's usual limit: a suite's file format, its expansion
into runs and the executors that run them change together (a field of the file reaches a run
through all three); one run itself is :mod:`edgecloud_bench.run`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from edgecloud_bench._io import atomic_write_json, check_writable
from edgecloud_bench.evaluation import check_env_id
from edgecloud_bench.run import RUN_FORMAT, RunSpec, expected_cost, read_run, run_one
from edgecloud_bench.run_lock import die_with_parent, output_lock
from edgecloud_gym._validation import check_keys, did_you_mean

__all__ = [
    "RUN_FORMAT",
    "AgentSpec",
    "RunSpec",
    "Suite",
    "add_parser",
    "builtin_suites",
    "expected_cost",
    "load_suite",
    "read_run",
    "run_one",
    "run_suite",
    "suite_costs",
]


def _int(where: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{where} must be an integer, got {value!r}.")
    if value < minimum:
        hint = " (a budget counts env steps of training)" if "budget" in where else ""
        raise ValueError(f"{where} must be >= {minimum}{hint}, got {value}.")
    return int(value)


@dataclass(frozen=True)
class AgentSpec:
    """How one agent of a suite is trained and evaluated.

    Attributes:
        budget: Env steps of training (0: the agent does not learn).
        eval_freq: Env steps between learning-curve evaluations (0: a tenth of the budget).
        eval_episodes: Episodes per learning-curve evaluation.
        kwargs: Keyword arguments of ``edgecloud_agents.registry.make_agent``.
        agent: The zoo's agent when the suite's key is a label for it (an ablation: the same
            agent with other ``kwargs``); None when the key is the agent's name.
    """

    budget: int = 0
    eval_freq: int = 0
    eval_episodes: int = 2
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    agent: str | None = None

    @classmethod
    def from_dict(cls, where: str, data: Mapping[str, Any] | None) -> AgentSpec:
        """Validate plain data (a suite file's agent entry)."""
        data = dict(data or {})
        check_keys(data, ["agent", "budget", "eval_freq", "eval_episodes", "kwargs"], where)
        budget = _int(f"{where}.budget", data.get("budget", 0), 0)
        freq = _int(f"{where}.eval_freq", data.get("eval_freq", 0), 0)
        kwargs = data.get("kwargs") or {}
        if not isinstance(kwargs, Mapping):
            raise ValueError(f"{where}.kwargs must be a mapping, got {kwargs!r}.")
        return cls(
            budget=budget,
            eval_freq=freq or max(1, budget // 10),
            eval_episodes=_int(f"{where}.eval_episodes", data.get("eval_episodes", 2), 1),
            kwargs=dict(kwargs),
            agent=None if data.get("agent") is None else str(data["agent"]),
        )


@dataclass(frozen=True)
class Suite:
    """A benchmark suite: which agents run on which envs, with which seeds and budgets."""

    name: str
    version: int
    envs: tuple[str, ...]
    seeds: tuple[int, ...]
    episodes: int
    oracle_bound: bool
    agents: Mapping[str, AgentSpec]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "suite") -> Suite:
        """Validate a parsed suite file; errors name the file and the field."""
        from edgecloud_bench import zoo

        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: a suite file must be a YAML mapping, got {data!r}.")
        check_keys(data, ["name", "version", "envs", "seeds", "evaluation", "agents"], source)
        for required in ("name", "version", "envs", "seeds", "agents"):
            if required not in data:
                raise ValueError(f"{source}: missing field {required!r}.")
        envs = tuple(str(e) for e in data["envs"])
        for env_id in envs:
            try:
                check_env_id(env_id)
            except ValueError as exc:
                raise ValueError(f"{source}: envs: {exc}") from None
        seeds = tuple(_int(f"{source}: seeds[{i}]", s, 0) for i, s in enumerate(data["seeds"]))
        if not envs or not seeds:
            raise ValueError(f"{source}: envs and seeds must not be empty.")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"{source}: seeds must be distinct, got {list(seeds)}.")
        evaluation = dict(data.get("evaluation") or {})
        check_keys(evaluation, ["episodes", "oracle_bound"], f"{source}: evaluation")
        agents_data = data["agents"]
        if not isinstance(agents_data, Mapping) or not agents_data:
            raise ValueError(f"{source}: agents must be a non-empty mapping of name to settings.")
        agents = {}
        for label, spec in agents_data.items():
            where = f"{source}: agents.{label}"
            agents[label] = AgentSpec.from_dict(where, spec)
            name = agents[label].agent or label
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.+-]*", str(label)) or "__" in str(label):
                raise ValueError(
                    f"{where}: a label is letters, digits, '.', '+' and single '-' (it names run "
                    f"files), got {label!r}."
                )
            try:
                zoo.check_agent_name(name)
            except ValueError as exc:
                fix = (
                    ""
                    if agents[label].agent
                    else (" (a label for an agent with other settings needs 'agent: <zoo name>')")
                )
                raise ValueError(f"{where}: {exc}{fix}") from None
            if zoo.family(name) != "allocation":
                raise ValueError(
                    f"{where}: {name!r} acts in the offloading envs; a suite "
                    "runs allocation agents (the offloading experiments: 'edgecloud bench "
                    "offloading')."
                )
            if agents[label].budget > 0 and not zoo.learns(name):
                raise ValueError(f"{where}.budget: {name!r} does not learn; remove its budget.")
        return cls(
            name=str(data["name"]),
            version=_int(f"{source}: version", data["version"], 0),
            envs=envs,
            seeds=seeds,
            episodes=_int(f"{source}: evaluation.episodes", evaluation.get("episodes", 5), 1),
            oracle_bound=bool(evaluation.get("oracle_bound", False)),
            agents=agents,
        )

    def runs(self) -> list[RunSpec]:
        """Every (agent, env, seed) of the suite, the longest budgets first (better packing)."""
        specs = [
            RunSpec(
                suite=self.name,
                version=self.version,
                agent=name,
                env=env_id,
                seed=seed,
                budget=a.budget,
                eval_freq=a.eval_freq,
                eval_episodes=a.eval_episodes,
                episodes=self.episodes,
                oracle_bound=self.oracle_bound,
                kwargs=a.kwargs,
                zoo_agent=a.agent if a.agent and a.agent != name else "",
            )
            for name, a in self.agents.items()
            for env_id in self.envs
            for seed in self.seeds
        ]
        return sorted(specs, key=lambda s: -s.budget)


def builtin_suites() -> list[str]:
    """Names of the suites shipped in ``edgecloud_bench/suites``."""
    folder = resources.files("edgecloud_bench") / "suites"
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".yml"))


def load_suite(suite: str | Path) -> Suite:
    """A shipped suite by name (``"quick"``, ``"demo"``) or a suite file by path."""
    import yaml

    path = Path(suite)
    if path.suffix in (".yml", ".yaml") or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"--suite: no suite file at {path}.")
        text, source = path.read_text(encoding="utf-8"), str(path)
    else:
        names = builtin_suites()
        if str(suite) not in names:
            raise ValueError(
                f"unknown suite {str(suite)!r}.{did_you_mean(str(suite), names)} "
                f"Shipped suites: {', '.join(names)}; or give the path of a .yml file."
            )
        res = resources.files("edgecloud_bench") / "suites" / f"{suite}.yml"
        text, source = res.read_text(encoding="utf-8"), f"{suite}.yml"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{source} is not valid YAML: {exc}".replace("\n", " ")) from None
    return Suite.from_dict(data, source)


def _execute(spec_data: dict[str, Any], tb_dir: str | None) -> dict[str, Any]:
    """Worker entry point: one run with one torch thread (workers share the machine's cores)."""
    import torch

    torch.set_num_threads(1)
    return run_one(RunSpec.from_dict(spec_data), tb_dir)


# --------------------------------------------------------------------------- expected cost


def suite_costs(suite: Suite) -> dict[str, float]:
    """:func:`expected_cost` of every run of ``suite``, by run key (bound solves shared)."""
    runs = suite.runs()
    sharing: dict[tuple[str, int], int] = {}
    for spec in runs:
        if spec.oracle_bound:
            sharing[(spec.env, spec.seed)] = sharing.get((spec.env, spec.seed), 0) + 1
    return {s.key: expected_cost(s, sharing.get((s.env, s.seed), 1)) for s in runs}


# --------------------------------------------------------------------------- run files


def _remove_leftovers(runs_dir: Path, tb_dir: Path, todo: Sequence[RunSpec]) -> None:
    for tmp in runs_dir.glob(".*.json.*"):  # temporary files of atomic writes cut short
        tmp.unlink(missing_ok=True)
    if tb_dir.is_dir():
        for spec in todo:
            for stale in tb_dir.glob(f"{spec.env}__{spec.agent}__{spec.seed}__*"):
                shutil.rmtree(stale, ignore_errors=True)


def _same_run(ours: Mapping[str, Any], theirs: Mapping[str, Any]) -> bool:
    """Whether two run specs make the same run: equal in everything but the suite's name and
    version (which name where a run was made, not what it did)."""
    skip = ("suite", "version")
    return {k: v for k, v in ours.items() if k not in skip} == {
        k: v for k, v in theirs.items() if k not in skip
    }


def _reuse(
    todo: Sequence[RunSpec], runs_dir: Path, tb_dir: Path, sources: Sequence[Path]
) -> list[RunSpec]:
    """Copy into ``runs_dir`` the finished runs of other suites' folders that are the same run as
    one of ``todo`` (:func:`_same_run`, same model version); return what is left to run.

    A copied record keeps its numbers and says where it came from (``reused_from``); its
    TensorBoard folders are copied with it.
    """
    left = []
    for spec in todo:
        record, source = None, None
        for src in sources:
            path = src / "runs" / f"{spec.key}.json"
            if path.exists():
                candidate = read_run(path)
                if _same_run(spec.to_dict(), candidate["spec"]):
                    record, source = candidate, src
                    break
        if record is None:
            left.append(spec)
            continue
        theirs = record["spec"]
        record["reused_from"] = {
            "folder": str(source),
            "suite": theirs.get("suite"),
            "version": theirs.get("version"),
        }
        record["spec"] = spec.to_dict()
        for tb in (source / "tb").glob(f"{spec.env}__{spec.agent}__{spec.seed}__*"):
            shutil.copytree(tb, tb_dir / tb.name, dirs_exist_ok=True)
        atomic_write_json(runs_dir / f"{spec.key}.json", record)
    return left


def runs_left(
    suite: Suite, out: str | Path | None = None, reuse: Sequence[str | Path] = ()
) -> list[RunSpec]:
    """The runs of ``suite`` that ``edgecloud bench run --out OUT --reuse ...`` would still
    compute: neither finished in ``out`` nor the same run as a finished one of a ``reuse``
    folder. Reads files only."""
    left = []
    for spec in suite.runs():
        if out is not None and (Path(out) / "runs" / f"{spec.key}.json").exists():
            continue
        for src in reuse:
            path = Path(src) / "runs" / f"{spec.key}.json"
            if path.exists() and _same_run(spec.to_dict(), read_run(path)["spec"]):
                break
        else:
            left.append(spec)
    return left


def _pending(suite: Suite, runs_dir: Path) -> tuple[list[RunSpec], int]:
    todo, done = [], 0
    for spec in suite.runs():
        path = runs_dir / f"{spec.key}.json"
        if not path.exists():
            todo.append(spec)
            continue
        record = read_run(path)
        if record["spec"] != spec.to_dict():
            raise ValueError(
                f"{path} was made with other settings (suite {record['spec'].get('suite')!r} "
                f"version {record['spec'].get('version')}) than suite {suite.name!r} version "
                f"{suite.version}; use another --out folder or delete that run file."
            )
        done += 1
    return todo, done


# --------------------------------------------------------------------------- executors


def _local(
    specs: Sequence[RunSpec], tb: str | None, workers: int
) -> Iterator[tuple[RunSpec, dict]]:
    if workers == 1:
        for spec in specs:
            try:
                record: dict[str, Any] | Exception = _execute(spec.to_dict(), tb)
            except Exception as exc:  # one failed run must not stop the others
                record = exc
            yield spec, record
        return
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=mp.get_context("spawn"),
        initializer=die_with_parent,  # a killed command takes its workers with it
        initargs=(os.getpid(),),
    )
    try:
        futures = {pool.submit(_execute, s.to_dict(), tb): s for s in specs}
        while futures:
            done, _ = wait(futures, return_when=FIRST_COMPLETED)
            for fut in done:
                spec = futures.pop(fut)
                try:
                    yield spec, fut.result()
                except Exception as exc:  # one failed run must not stop the others
                    yield spec, exc
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _ray(
    specs: Sequence[RunSpec], tb: str | None, workers: int, address: str | None
) -> Iterator[tuple[RunSpec, dict[str, Any] | Exception]]:
    try:
        import ray
    except ImportError:
        raise ValueError(
            "--executor ray needs Ray: pip install 'edgecloud-gym[ray]' (or 'ray[default]')."
        ) from None
    started = not ray.is_initialized()
    if started:
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address is None:
            options["num_cpus"] = workers
        ray.init(address=address, **options)
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(_execute)
        pending = {task.remote(s.to_dict(), tb): s for s in specs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                spec = pending.pop(ref)
                try:
                    yield spec, ray.get(ref)
                except Exception as exc:  # ray.exceptions.RayTaskError wraps the run's error
                    yield spec, exc
    finally:
        if started:
            ray.shutdown()


def run_suite(
    suite: Suite | str | Path,
    out: str | Path,
    *,
    executor: str = "local",
    workers: int = 2,
    address: str | None = None,
    tensorboard: bool = True,
    progress: bool = True,
    reuse: Sequence[str | Path] = (),
) -> list[dict[str, Any]]:
    """Run every unfinished run of ``suite`` into ``out`` and return all of its run records.

    Args:
        suite: A :class:`Suite`, a shipped suite's name or a suite file's path.
        out: Output folder (``runs/``, ``tb/``; the report is written by the caller or
            :func:`edgecloud_bench.report.write_report`).
        executor: ``"local"`` (processes) or ``"ray"``.
        workers: Parallel runs (local processes, or the CPUs of a local Ray instance).
        address: Address of a running Ray cluster (``executor="ray"`` only; None starts a local
            instance).
        tensorboard: Write TensorBoard logs of the learners under ``out/tb``.
        progress: Show a progress bar.
        reuse: Output folders of other suites whose finished runs are copied instead of run
            again where they are the same run (same agent, env, seed, budget, evaluation and
            keyword arguments, same model version; the suite's name and version may differ).
    """
    if not isinstance(suite, Suite):
        suite = load_suite(suite)
    if executor not in ("local", "ray"):
        raise ValueError(
            f"--executor must be 'local' or 'ray', got {executor!r}.{did_you_mean(executor, ['local', 'ray'])}"
        )
    workers = _int("--workers", workers, 1)
    if address is not None and executor != "ray":
        raise ValueError("--address applies only with --executor ray.")
    sources = [Path(r) for r in reuse]
    for src in sources:
        if not (src / "runs").is_dir():
            raise ValueError(
                f"--reuse {src}: no runs/ folder there; name the --out folder of an earlier "
                "`edgecloud bench run`."
            )
    out = check_writable(Path(out))
    if any(src.resolve() == out.resolve() for src in sources):
        raise ValueError(f"--reuse {out} is the output folder itself; name another suite's folder.")
    with output_lock(out, f"edgecloud bench run --suite {suite.name} --out {out}"):
        return _run_locked(suite, out, executor, workers, address, tensorboard, progress, sources)


def _run_locked(
    suite: Suite,
    out: Path,
    executor: str,
    workers: int,
    address: str | None,
    tensorboard: bool,
    progress: bool,
    reuse: Sequence[Path] = (),
) -> list[dict[str, Any]]:
    """:func:`run_suite` once it holds the output folder's lock."""
    runs_dir, tb_dir = out / "runs", out / "tb"
    runs_dir.mkdir(exist_ok=True)
    todo, done = _pending(suite, runs_dir)
    _remove_leftovers(runs_dir, tb_dir, todo)
    if reuse:
        left = _reuse(todo, runs_dir, tb_dir, reuse)
        done += len(todo) - len(left)
        todo = left
    tb = str(tb_dir) if tensorboard else None
    if todo:
        from tqdm.auto import tqdm

        runs = (
            _local(todo, tb, workers) if executor == "local" else _ray(todo, tb, workers, address)
        )
        # The bar advances by each run's expected cost, not by one per run: with the long
        # learners first, a count of runs would promise hours for minutes of work.
        costs = suite_costs(suite)
        todo_keys = {s.key for s in todo}
        total = len(costs)
        bar = tqdm(
            total=sum(costs.values()),
            initial=sum(c for k, c in costs.items() if k not in todo_keys),
            desc=f"suite {suite.name} ({done}/{total} runs)",
            bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]",
            smoothing=0.0,  # the mean rate since the start: parallel runs finish in bursts
            disable=not progress,
            file=sys.stderr,
        )
        failed: list[str] = []
        with bar:
            for spec, record in runs:
                done += 1
                bar.set_description_str(f"suite {suite.name} ({done}/{total} runs)", refresh=False)
                bar.set_postfix_str(spec.key, refresh=False)
                bar.update(costs[spec.key])
                if isinstance(record, Exception):
                    failed.append(f"{spec.key}: {type(record).__name__}: {record}")
                    bar.write(f"run {spec.key} failed: {record!r}", file=sys.stderr)
                    continue
                atomic_write_json(runs_dir / f"{spec.key}.json", record)
        if failed:
            first = failed[0].splitlines()[0]
            raise ValueError(
                f"{len(failed)} of {len(todo)} runs failed (first: {first}); the others are "
                "saved, rerun the same command to retry the failed ones."
            )
    return [read_run(runs_dir / f"{s.key}.json") for s in suite.runs()]


# --------------------------------------------------------------------------- command line


def add_parser(subparsers: Any) -> None:
    """Add ``edgecloud bench run`` to the ``bench`` subcommands."""
    p = subparsers.add_parser(
        "run",
        help="run an evaluation suite (agents x envs x seeds) and write runs, summary and report",
        description="Run a benchmark suite into --out: one JSON file per (agent, env, seed) in "
        "runs/, TensorBoard logs in tb/, then summary.csv, report.md and plots; prints the "
        "results table. Rerunning skips finished runs.",
    )
    p.add_argument(
        "--suite", default="demo", help="shipped suite name (demo, quick) or a .yml path"
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--executor", default="local", choices=("local", "ray"), help="where runs execute"
    )
    p.add_argument("--workers", type=int, default=2, help="parallel runs (default 2)")
    p.add_argument("--address", default=None, help="Ray cluster address (with --executor ray)")
    p.add_argument("--no-tensorboard", action="store_true", help="skip the TensorBoard logs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--reuse",
        action="append",
        default=[],
        metavar="DIR",
        help="output folder of another suite whose finished runs are copied where they are the "
        "same run (same agent, env, seed, budget, evaluation, kwargs and model version); "
        "repeatable",
    )
    p.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:
    from edgecloud_bench import report

    suite = load_suite(args.suite)
    started = time.perf_counter()
    records = run_suite(
        suite,
        args.out,
        executor=args.executor,
        workers=args.workers,
        address=args.address,
        tensorboard=not args.no_tensorboard,
        progress=not args.no_progress,
        reuse=args.reuse,
    )
    table = report.write_report(args.out, records)
    print(table)
    print(
        f"\n{len(records)} runs of suite {suite.name!r} in {args.out} "
        f"({time.perf_counter() - started:.0f} s); report: {Path(args.out) / 'report.md'}"
    )
    return 0
