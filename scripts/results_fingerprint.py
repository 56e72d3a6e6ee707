"""Fingerprint every public result command's files, to show that a refactor changes no number.

Runs, on tiny seeds and budgets, into ``OUT``:

- ``edgecloud bench run`` on a small suite (every allocation agent, a profile and a held-out
  env, two seeds), then ``edgecloud report`` on the same folder and
  ``edgecloud bench paper-report``;
- ``edgecloud bench offloading`` for each of its parts (``convergence`` and ``adaptation`` with
  ``--frames``; ``meta`` with reduced settings);

and writes ``OUT/fingerprints.json``: the SHA-256 of every results file (run files, CSV,
Markdown, JSON parts, PNG plots). Fields that measure time (seconds, CPU time, the finishing
date, the start time in a run's name, package versions) are blanked first; everything else
counts to the byte. The fingerprints are computed again from the files by ``--compare``, so
folders made before a change of the blanked fields compare as well.

Run it on two commits and compare::

    python scripts/results_fingerprint.py /tmp/before      # on the old commit
    python scripts/results_fingerprint.py /tmp/after       # on the new one
    python scripts/results_fingerprint.py --compare /tmp/before /tmp/after

``--compare`` prints one line per file and exits with status 1 when any file differs or is
missing on one side.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

#: Run-file and part-file fields that measure time or the machine, not results (``run_name``
#: is the TensorBoard run's name, which ends with its start time).
VOLATILE_KEYS = frozenset(
    {"train_seconds", "eval_seconds", "cpu_seconds", "finished_at", "versions", "seconds",
     "run_name"}
)  # fmt: skip

SUITE = """\
name: fingerprint
version: 1
envs: [EdgeCloud-Low-v0, EdgeCloud-Heldout0-v0]
seeds: [0, 1]
evaluation:
  episodes: 1
  oracle_bound: true
agents:
  static: {}
  reactive: {}
  least-loaded: {}
  random: {}
  oracle: {}
  dqn: {budget: 400, eval_freq: 100, eval_episodes: 1, kwargs: {learning_starts: 100}}
  dqn-forecast: {budget: 400, eval_freq: 100, eval_episodes: 1, kwargs: {learning_starts: 100}}
  maml-dqn: {budget: 400, eval_freq: 100, eval_episodes: 1, kwargs: {learning_starts: 100}}
  dynamic-allocator: {budget: 400, eval_freq: 100, eval_episodes: 1,
                      kwargs: {learning_starts: 100}}
"""

#: Reduced settings of the offloading suite's ``meta`` part.
META = {
    "train_tasks": 4,
    "test_tasks": 2,
    "meta_iterations": 3,
    "adapt_frames": 60,
    "dqn_frames": 100,
    "eval_frames": 30,
}

_META_RUN = """
import sys
from edgecloud_bench import offloading_suite
offloading_suite.META_SETTINGS.update({meta!r})
sys.exit(offloading_suite.main(["offloading", "--out", {out!r}, "--part", "meta",
                                "--seeds", "0", "1"]))
"""


def _edgecloud(*args: str) -> None:
    cmd = [sys.executable, "-m", "edgecloud_bench", *args]
    print("$ edgecloud " + " ".join(args), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def run_all(out: Path) -> None:
    """Run every public result command into ``out`` (which must not exist yet)."""
    out.mkdir(parents=True)
    suite, off = out / "suite", out / "offloading"
    (out / "fingerprint.yml").write_text(SUITE, encoding="utf-8")
    _edgecloud("bench", "run", "--suite", str(out / "fingerprint.yml"), "--out", str(suite),
               "--workers", "1", "--no-tensorboard", "--no-progress")  # fmt: skip
    _edgecloud("report", str(suite))
    _edgecloud("bench", "paper-report", "--out", str(suite))
    for part in ("convergence", "adaptation"):
        _edgecloud("bench", "offloading", "--out", str(off), "--part", part,
                   "--seeds", "0", "1", "--frames", "300")  # fmt: skip
    code = textwrap.dedent(_META_RUN.format(meta=META, out=str(off)))
    print("$ edgecloud bench offloading --part meta (reduced settings)", flush=True)
    subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL)


def _blank(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: None if k in VOLATILE_KEYS else _blank(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank(v) for v in value]
    return value


#: Markdown lines that state time: the report's CPU-time line and the convergence table's
#: seconds column.
_MD_TIME = (
    (re.compile(r"^CPU time of the runs: .*$", re.M), "CPU time of the runs: <blank>"),
    (re.compile(r"^(\| (?:droo|ddlo) \| [^\n]*\| )\d+ \|$", re.M), r"\1<s> |"),
)


def normalised(path: Path) -> bytes:
    """The bytes of ``path`` with the time-measuring fields blanked."""
    data = path.read_bytes()
    if path.suffix == ".json":
        return json.dumps(_blank(json.loads(data)), indent=2, sort_keys=True).encode()
    if path.suffix == ".md":
        text = data.decode("utf-8")
        for pattern, repl in _MD_TIME:
            text = pattern.sub(repl, text)
        return text.encode("utf-8")
    return data


def fingerprints(out: Path) -> dict[str, str]:
    """SHA-256 of every results file under ``out``, by relative path."""
    files = sorted(
        p
        for p in out.rglob("*")
        if p.is_file() and p.suffix in (".json", ".csv", ".md", ".png")
        and p.name != "fingerprints.json"
    )  # fmt: skip
    return {str(p.relative_to(out)): hashlib.sha256(normalised(p)).hexdigest() for p in files}


def compare(a: Path, b: Path) -> int:
    """Print the comparison of two fingerprint folders; 0 when every file is identical."""
    fa, fb = fingerprints(a), fingerprints(b)
    differ = 0
    for name in sorted(set(fa) | set(fb)):
        if name not in fa or name not in fb:
            state = f"only in {a if name in fa else b}"
        else:
            state = "identical" if fa[name] == fb[name] else "DIFFERS"
        differ += state != "identical"
        print(f"{state:>10}  {name}")
    print(f"{len(set(fa) | set(fb)) - differ} identical, {differ} differ or missing")
    return 1 if differ else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="a new folder for the results")
    parser.add_argument("other", type=Path, nargs="?", help="with --compare: the second folder")
    parser.add_argument("--compare", action="store_true", help="compare two fingerprint folders")
    args = parser.parse_args(argv)
    if args.compare:
        if args.other is None:
            parser.error("--compare needs two folders")
        return compare(args.out, args.other)
    if args.out.exists():
        parser.error(f"{args.out} exists; give a new folder")
    run_all(args.out)
    prints = fingerprints(args.out)
    (args.out / "fingerprints.json").write_text(json.dumps(prints, indent=1) + "\n")
    print(f"{len(prints)} results files fingerprinted in {args.out / 'fingerprints.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
