"""Time and peak memory of loading a large trace CSV (docs/traces.md, "Large files").

Run: ``python -m edgecloud_bench.trace_loading`` (installed) or
``PYTHONPATH=. python benchmarks/trace_loading.py`` (from a checkout). It writes a synthetic
trace of ``--rows`` rows (default 15 million: epoch seconds at a 1 s step and a diurnal request
count, about 200 MB) into a temporary folder, then loads it with
:func:`edgecloud_gym.traces.load_trace` in a fresh process per case (as written, and resampled
to ``--resample-s`` bins), and prints for each case the wall time, the process's peak resident
memory, the same for a process that only imports the package, and the size of the loaded
arrays, so the peak reads as a multiple of the series it produced. The folder is removed after.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgecloud_bench._help import DefaultsHelpFormatter

__all__ = ["run", "write_trace"]

_CHILD = """
import json, resource, sys, time
import edgecloud_gym.traces.loading as loading
path, resample, step = sys.argv[1], sys.argv[2] == "1", float(sys.argv[3])
start = time.perf_counter()
if path:
    data = loading.load_trace(path, resample=resample, step_s=step if resample else None)
    rows, nbytes = len(data), data.times.nbytes + data.counts.nbytes + data.lines.nbytes
else:
    rows, nbytes = 0, 0
seconds = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_mb": peak_kib / 1024, "rows": rows,
                  "arrays_mb": nbytes / 2**20}))
"""


def write_trace(path: Path, rows: int, seed: int = 0, chunk: int = 1_000_000) -> int:
    """Write a synthetic trace CSV of ``rows`` rows (epoch seconds, 1 s step); return its bytes."""
    rng = np.random.default_rng(seed)
    start = 1_700_000_000
    with path.open("w", encoding="utf-8") as f:
        f.write("timestamp,requests\n")
        for lo in range(0, rows, chunk):
            t = np.arange(lo, min(lo + chunk, rows), dtype=np.int64)
            rate = 40.0 * (1.0 + 0.5 * np.sin(2 * np.pi * t / 86_400.0))
            counts = rng.poisson(rate)
            f.write("\n".join(map("{},{}".format, (start + t).tolist(), counts.tolist())))
            f.write("\n")
    return path.stat().st_size


def _measure(path: str, resample: bool, step_s: float) -> dict[str, Any]:
    args = [sys.executable, "-c", _CHILD, path, "1" if resample else "0", str(step_s)]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"loading failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(rows: int = 15_000_000, resample_s: float = 60.0) -> dict[str, Any]:
    """Write the trace, load it as written and resampled, and return the figures."""
    with tempfile.TemporaryDirectory(prefix="trace-loading-") as folder:
        path = Path(folder) / "trace.csv"
        start = time.perf_counter()
        size = write_trace(path, rows)
        written = time.perf_counter() - start
        base = _measure("", False, 0.0)
        plain = _measure(str(path), False, 0.0)
        binned = _measure(str(path), True, resample_s)
    return {
        "rows": rows,
        "file_mb": size / 2**20,
        "write_seconds": written,
        "import_only": base,
        "as_written": plain,
        "resampled": {**binned, "step_s": resample_s},
    }


def main(argv: list[str] | None = None) -> None:
    """``python -m edgecloud_bench.trace_loading``: print the figures of :func:`run`."""
    parser = argparse.ArgumentParser(
        prog="python -m edgecloud_bench.trace_loading",
        description="Time and peak memory of loading a large synthetic trace CSV.",
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument("--rows", type=int, default=15_000_000, help="rows of the trace")
    parser.add_argument("--resample-s", type=float, default=60.0, help="bin of the resampled case")
    args = parser.parse_args(argv)
    if args.rows < 2:
        parser.error(f"--rows must be >= 2, got {args.rows}.")
    out = run(args.rows, args.resample_s)
    print(
        f"trace: {out['rows']:,} rows, {out['file_mb']:.0f} MB (written in "
        f"{out['write_seconds']:.1f} s)"
    )
    base = out["import_only"]["peak_mb"]
    print(f"import only: peak {base:.0f} MB")
    for case in ("as_written", "resampled"):
        r = out[case]
        print(
            f"{case}: {r['seconds']:.1f} s, peak {r['peak_mb']:.0f} MB ({r['peak_mb'] - base:.0f} "
            f"MB above import), {r['rows']:,} rows of arrays {r['arrays_mb']:.0f} MB"
        )


if __name__ == "__main__":
    main()
