"""One run at a time per output folder, and workers that die with their command.

:func:`output_lock` holds ``.edgecloud.lock`` in an output folder for the duration of a command:
an advisory ``flock`` on the file, which the operating system releases when the process ends,
however it ends. A second command on the same folder is refused with the first one's process
id, command line and start time. A lock file left by a killed run is not held by anyone, so it is
recognised as stale, reported, and taken over.

:func:`die_with_parent` is the initializer of worker processes: on Linux the kernel sends them
SIGKILL when the command's process ends (``PR_SET_PDEATHSIG``), and everywhere a watchdog thread
ends the worker within a fraction of a second once its parent is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["LOCK_NAME", "OutputLockedError", "die_with_parent", "output_lock"]

#: Name of the lock file in an output folder.
LOCK_NAME = ".edgecloud.lock"

_PR_SET_PDEATHSIG = 1
_WATCH_S = 0.2


class OutputLockedError(ValueError):
    """Another live command is writing into the same output folder."""


def _describe(info: dict[str, Any]) -> str:
    started = info.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "?"
    return f"pid {info.get('pid', '?')} on {info.get('host', '?')}, started {when}: " + str(
        info.get("command", "?")
    )


@contextlib.contextmanager
def output_lock(folder: str | Path, command: str | None = None) -> Iterator[Path]:
    """Hold the lock of output folder ``folder`` inside the block.

    Args:
        folder: The output folder (created if needed).
        command: What holds it, for the message a second command gets (default: this process's
            command line).

    Raises:
        OutputLockedError: A live command holds the folder; the message names it and the fix.
    """
    import fcntl  # POSIX only, like the harness's process handling

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = _read(fd)
            os.close(fd)
            raise OutputLockedError(
                f"output folder {folder} is in use by another run ({_describe(info)}); wait for "
                "it to finish (rerunning the same command later resumes where it stopped), or "
                "pass another --out."
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file as we opened it: take the new one
    try:
        previous = _read(fd)
        if previous:
            print(
                f"edgecloud: found a stale lock in {folder} from a run that was killed "
                f"({_describe(previous)}); taking it over and resuming.",
                file=sys.stderr,
            )
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.time(),
            "command": command or " ".join(sys.argv),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)  # a clean exit leaves nothing behind
    finally:
        os.close(fd)  # releases the flock


def _read(fd: int) -> dict[str, Any]:
    try:
        raw = os.pread(fd, 65536, 0)
        info = json.loads(raw) if raw.strip() else {}
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def die_with_parent(parent: int) -> None:
    """Make this (worker) process end when process ``parent`` ends: ``PR_SET_PDEATHSIG`` on
    Linux and a watchdog thread everywhere. Pass it as a process pool's ``initializer`` with
    ``initargs=(os.getpid(),)``."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_WATCH_S)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()
