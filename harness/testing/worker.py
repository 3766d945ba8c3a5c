"""A forked child that runs many examples of one test, so an example costs no fork.

Forking a Python process under ASan costs 10-40 ms (its page tables are copied), most of a
forked example. An ExampleWorker is forked once, at the first example of a test; each later
example's arguments are pickled to it and it answers with the example's status. It runs the
same body as a fresh fork (harness.testing.forked.run_example), so a crash, a leak or a failed
assertion looks the same; after one the worker is gone and the next example starts a new one.

State left by earlier examples stays in the worker, as it does in a hypothesis test that is
not forked. The caller (harness.testing.isolated) therefore confirms every failure in a fresh
fork before hypothesis sees it, so what hypothesis shrinks and replays never depends on it.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from harness.testing.draws import is_data, receive, send
from harness.testing.forked import (
    DONE,
    ForkResult,
    LeakCheckMode,
    Watch,
    prepare_leak_check,
    redirect_output,
    rss_mb,
    run_example,
)
from harness.triage import TargetCode

EXAMPLES_PER_WORKER = 500  # then a new worker: what examples leave behind does not pile up


class Unpicklable(Exception):
    """Arguments that cannot be sent to a worker (the caller forks for them instead)."""


class ExampleWorker:
    """One forked child running the examples of one function, started on first use."""

    def __init__(self, function: Callable[..., Any], target: TargetCode | None, leak_check: LeakCheckMode,
                 timeout: float, rss_limit_mb: int | None = None) -> None:
        self.function = function
        self.target = target
        self.leak_check = leak_check
        self.timeout = timeout
        self.rss_limit_mb = rss_limit_mb
        self.pid = 0
        self.examples = 0

    @property
    def alive(self) -> bool:
        return self.pid != 0

    def run(self, args: tuple, kwargs: dict) -> ForkResult:
        """Run one example in the worker; Unpicklable when its arguments cannot be sent (among
        them st.data(): its draws are answered by the parent of a fresh fork)."""
        if any(is_data(v) for v in (*args, *kwargs.values())):
            raise Unpicklable("st.data() is drawn from interactively")
        try:
            message = pickle.dumps((args, kwargs))
        except Exception as error:  # pickling raises many kinds (TypeError, AttributeError, ...)
            raise Unpicklable(str(error)) from error
        if not self.alive or self.examples >= EXAMPLES_PER_WORKER:
            self.close()
            self._start()
        self.examples += 1
        os.ftruncate(self.capture, 0)
        started = time.monotonic()
        send(self.requests, message)
        watch = Watch(self.pid, self.timeout, self.rss_limit_mb, self.base_rss, {self.replies: lambda: DONE})
        try:
            watch.wait(started)
        except BaseException:  # interrupted (Ctrl-C): the worker goes too
            self._end(kill=True)
            raise
        if watch.status is None:  # the worker answered
            reply = os.read(self.replies, 1)
            if reply == b"\0":
                return ForkResult(0, (), "", False, time.monotonic() - started)
            watch.status = os.waitpid(self.pid, 0)[1]  # it reported a failure and exits
        output = _read(self.capture)
        self._end(kill=False)
        return watch.result(output, self.target, time.monotonic() - started)

    def _start(self) -> None:
        requests_read, self.requests = os.pipe()
        self.replies, replies_write = os.pipe()
        self.capture, path = tempfile.mkstemp(prefix="ffih-worker-", suffix=".txt")
        os.unlink(path)  # the fd is enough; nothing is left behind
        prepare_leak_check(self.target, self.leak_check)
        sys.stdout.flush()
        sys.stderr.flush()
        gc.freeze()  # the worker's collections skip (and do not copy-on-write) this process's objects
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the worker never returns
            os.close(self.requests)
            os.close(self.replies)
            append = os.open(f"/proc/self/fd/{self.capture}", os.O_WRONLY | os.O_APPEND)
            redirect_output(append)
            self._serve(requests_read, replies_write)
        gc.unfreeze()
        os.close(requests_read)
        os.close(replies_write)
        self.pid = pid
        self.examples = 0
        self.base_rss = rss_mb(os.getpid())  # the worker starts as a copy of this process

    def _serve(self, requests: int, replies: int) -> None:  # pragma: no cover - in the worker
        while True:
            try:
                args, kwargs = pickle.loads(receive(requests))
            except EOFError:
                os._exit(0)
            status = run_example(self.function, args, kwargs, self.target, self.leak_check)
            gc.freeze()  # what this example left alive is not collected again by the next
            if status:
                os._exit(status)
            os.write(replies, b"\0")

    def _end(self, kill: bool) -> None:
        """Close this side's pipes (the worker's loop ends on them) and reap the worker."""
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        for fd in (self.requests, self.replies, self.capture):
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        self.pid = 0

    def close(self) -> None:
        """End the worker, if one runs."""
        if self.alive:
            self._end(kill=False)


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")
