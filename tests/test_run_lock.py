"""The harness's output folder takes one run at a time, a killed run's lock is recognised as
stale, and workers die with the command that started them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from edgecloud_bench import cli
from edgecloud_bench.run_lock import LOCK_NAME, OutputLockedError, output_lock

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads process trees from /proc"
)

TINY = """
name: tiny
version: 1
envs: [EdgeCloud-Low-v0]
seeds: [0]
evaluation: {episodes: 1}
agents:
  static: {}
"""


def _children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


def _holder(out: Path) -> subprocess.Popen:
    """Another process that holds the lock of ``out`` until killed."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from edgecloud_bench.run_lock import output_lock
        with output_lock({str(out)!r}, "edgecloud bench run --suite other"):
            print("held", flush=True)
            time.sleep(600)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_run_into_the_same_folder_is_refused_and_a_stale_lock_taken_over(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    suite = tmp_path / "tiny.yml"
    suite.write_text(TINY)
    argv = ["bench", "run", "--suite", str(suite), "--out", str(out), "--workers", "1"]
    holder = _holder(out)
    try:
        assert cli.main([*argv, "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert f"output folder {out} is in use by another run (pid {holder.pid}" in err
        assert "--suite other" in err and "pass another --out" in err
        assert not (out / "runs").exists()  # nothing was written
        with pytest.raises(OutputLockedError), output_lock(out):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (out / LOCK_NAME).read_text()  # the killed run's record is left behind
    assert cli.main([*argv, "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "found a stale lock" in err and f"pid {holder.pid}" in err
    assert not (out / LOCK_NAME).exists()  # a finished run leaves no lock


def test_meta_training_into_a_busy_folder_is_refused(tmp_path: Path) -> None:
    from edgecloud_bench.meta_train import meta_train

    out = tmp_path / "meta"
    holder = _holder(out)
    try:
        with pytest.raises(OutputLockedError, match="is in use by another run"):
            meta_train(out, 1, progress=False, tensorboard=False)
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # nothing else written
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def test_pool_workers_die_with_a_killed_parent(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import multiprocessing as mp, os, time
        from concurrent.futures import ProcessPoolExecutor
        from edgecloud_bench.run_lock import die_with_parent
        if __name__ == "__main__":
            pool = ProcessPoolExecutor(2, mp_context=mp.get_context("spawn"),
                                       initializer=die_with_parent, initargs=(os.getpid(),))
            futures = [pool.submit(time.sleep, 600) for _ in range(2)]
            time.sleep(600)
        """
    )
    script = tmp_path / "parent.py"
    script.write_text(code)
    _kill_and_check_workers(subprocess.Popen([sys.executable, str(script)]), timeout=60)


def _kill_and_check_workers(parent: subprocess.Popen, timeout: float) -> None:
    """Wait for two workers of ``parent``, SIGKILL it, and assert they end within 2 s."""
    try:
        workers = _wait_for_workers(parent.pid, 2, timeout)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    _assert_gone(workers, within=2.0)


def _wait_for_workers(pid: int, n: int, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = [
            c for c in _children(pid) if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()
        ]
        if len(workers) >= n:
            time.sleep(1.0)  # let them start their work
            return workers
        time.sleep(0.2)
    raise AssertionError(f"process {pid} started no {n} workers within {timeout} s")


def _assert_gone(pids: list[int], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    alive = [p for p in pids if _alive(p)]
    for p in alive:
        os.kill(p, signal.SIGKILL)
    assert not alive, f"workers {alive} outlived their parent by {within} s"


@pytest.mark.slow
def test_sigkill_of_bench_run_leaves_no_live_worker(tmp_path: Path) -> None:
    suite = tmp_path / "busy.yml"
    suite.write_text(
        TINY.replace("seeds: [0]", "seeds: [0, 1]").replace("static: {}", "dqn: {budget: 200000}")
    )
    cmd = [sys.executable, "-m", "edgecloud_bench", "bench", "run", "--suite", str(suite)]
    cmd += ["--out", str(tmp_path / "out"), "--workers", "2", "--no-progress", "--no-tensorboard"]
    command = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _kill_and_check_workers(command, timeout=120)
