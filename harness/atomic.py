"""Atomic file writes and the processes the harness starts: a reader sees the old file or the
whole new one, never a half-written one; a child never outlives the harness process."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

PR_SET_PDEATHSIG = 1


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _umask()  # read once: os.umask is process-wide, changing it from threads would race


def write_atomic(path: Path, data: bytes) -> Path:
    """Write data to path through a unique temporary file in the same folder (fsync'd, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~UMASK)  # as open() would create it: a teammate or CI upload can read it
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def readable_folder(path: Path) -> Path:
    """Give a folder made by tempfile.mkdtemp (mode 0700) the permissions mkdir would have."""
    os.chmod(path, 0o777 & ~UMASK)
    return path


def die_with_parent() -> None:
    """subprocess preexec_fn: the child gets SIGKILL when the process that started it dies (a
    killed campaign leaves no orphaned workers)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def fork_child(body: Callable[[], int]) -> int:
    """Fork: the child runs body and exits with what it returns (1 if it raised), never
    returning here; the parent gets the child's pid. Pending output is flushed first, so the
    child does not print it again."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        status = 1
        try:
            status = body()
        finally:
            os._exit(status)
    return pid
