"""Run one piece of a test in a forked child, so a sanitizer abort becomes an exception.

Without this, an ASan report inside a hypothesis example kills the test process before
hypothesis can record, shrink or save anything. run_forked() forks, runs the function in
the child with its output captured, checks target leaks there, and returns the parsed
findings to the parent; raise_for() turns them into a SanitizerFinding (an AssertionError),
which hypothesis treats as an ordinary failing example: it shrinks it (every attempt runs
in a new fork), saves it in its example database and replays it first next time.
"""

from __future__ import annotations

import functools
import gc
import os
import select
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from harness.engine.protocol import CALL_TRACE, CONTRACT_BANNER
from harness.engine.recovery import ContractViolation
from harness.runtime import leaks
from harness.testing.draws import DrawChannel, is_data
from harness.triage import Finding, TargetCode, parse_report

EXIT_PYTHON_ERROR = 3
EXIT_LEAK = 23
F = TypeVar("F", bound=Callable[..., Any])


class SanitizerFinding(AssertionError):
    """A sanitizer (or leak) report from code run in a forked child."""

    def __init__(self, finding: Finding, report: str) -> None:
        super().__init__(describe(finding, report))
        self.finding = finding
        self.report = report


SHOWN_FRAMES = 8
SHOWN_CALLS = 30
REPORT_LINES = 40


def describe(finding: Finding, report: str) -> str:
    """A failure message a reader can act on: the finding, then its frames in target code
    (symbolized: function and file:line; the other frames when none is the target's), the C
    calls a sequence driver made (the last SHOWN_CALLS), then the start of the sanitizer's own
    report."""
    frames = [f for f in finding.frames if f.in_target] or [f for f in finding.frames if not f.ignored]
    shown = [f"    #{f.index} {f.describe()}" for f in frames[:SHOWN_FRAMES]]
    lines = report.strip().splitlines()
    calls = [line[len(CALL_TRACE):] for line in lines if line.startswith(CALL_TRACE)]
    if calls:
        skipped = [f"    ... {len(calls) - SHOWN_CALLS} earlier calls"] if len(calls) > SHOWN_CALLS else []
        shown += ["", "calls made, as C:", *skipped, *(f"    {call};" for call in calls[-SHOWN_CALLS:])]
    excerpt = "\n".join([line for line in lines if not line.startswith(CALL_TRACE)][:REPORT_LINES])
    return "\n".join([f"{finding.title} [{finding.stack_hash}]", *shown, "", excerpt])


@dataclass(frozen=True)
class ForkResult:
    """How the child ended: exit status (negative: signal), findings, captured output."""

    status: int
    findings: tuple[Finding, ...]
    output: str
    timed_out: bool
    seconds: float

    @property
    def python_error(self) -> str | None:
        """The child's traceback when the function raised a Python exception."""
        return self.output if self.status == EXIT_PYTHON_ERROR and not self.findings else None


def _child(function: Callable[..., Any], args: tuple, kwargs: dict, capture: int,
           target: TargetCode | None, leak_check: bool) -> None:
    os.dup2(capture, 1)
    os.dup2(capture, 2)
    # the parent's sys.stdout/stderr may be in-memory captures (pytest): write to the fds
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    status = 0
    try:
        function(*args, **kwargs)
        gc.collect()
        if target is not None and leak_check:
            found = leaks.check(target)
            if found:
                sys.stderr.write(found.report)
                status = EXIT_LEAK
    except BaseException as error:  # reported to the parent, which decides
        if isinstance(error, ContractViolation):  # a finding of its own kind, as when fuzzing
            sys.stderr.write(f"{CONTRACT_BANNER}\n")
        traceback.print_exc()
        status = EXIT_PYTHON_ERROR
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


LEAK_CHECK_ATTEMPTS = 3
RSS_POLL_SECONDS = 0.02


def run_forked(function: Callable[..., Any], *args: Any, target: TargetCode | None = None,
               timeout: float = 30.0, leak_check: bool = True, rss_limit_mb: int | None = None,
               **kwargs: Any) -> ForkResult:
    """Call function(*args, **kwargs) in a forked child and return how it ended.

    target: the code whose frames count as the library's (and, with leak_check, whose
    leaks are checked after the call). A run whose leak check died with LeakSanitizer's
    intermittent tracer crash is run again, up to LEAK_CHECK_ATTEMPTS times. rss_limit_mb:
    the child is killed, as out-of-memory, when its resident memory grows past this."""
    for _ in range(LEAK_CHECK_ATTEMPTS):
        result, pid = _fork_once(function, args, kwargs, target, timeout, leak_check, rss_limit_mb)
        if not (result.status == 1 and not result.findings and leaks.tracer_failed(pid)):
            return result
    return result


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def _fork_once(function: Callable[..., Any], args: tuple, kwargs: dict, target: TargetCode | None,
               timeout: float, leak_check: bool, rss_limit_mb: int | None) -> tuple[ForkResult, int]:
    fd, path = tempfile.mkstemp(prefix="ffih-fork-", suffix=".txt")
    data = next((v for v in (*args, *kwargs.values()) if is_data(v)), None)
    channel = DrawChannel() if data is not None else None
    sys.stdout.flush()
    sys.stderr.flush()
    started = time.monotonic()
    gc.freeze()  # the child's collections skip (and do not copy-on-write) the parent's objects
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        if channel is not None:  # st.data(): its draws are answered by this parent
            stand_in = channel.child_side()
            args = tuple(stand_in if is_data(v) else v for v in args)
            kwargs = {k: stand_in if is_data(v) else v for k, v in kwargs.items()}
        _child(function, args, kwargs, fd, target, leak_check)
    gc.unfreeze()
    os.close(fd)
    timed_out = False
    blown = 0.0
    base_rss = _rss_mb(os.getpid())  # the child starts as a copy of this process
    pidfd = os.pidfd_open(pid)  # readable when the child ends: no polling delay after it does
    requests = channel.parent_side() if channel is not None else None
    try:
        while True:
            left = timeout - (time.monotonic() - started)
            watched = [pidfd] if requests is None else [pidfd, requests]
            ready, _, _ = select.select(watched, [], [], max(0.0, min(left, RSS_POLL_SECONDS)))
            if requests is not None and requests in ready:
                try:
                    if not channel.serve(data):  # type: ignore[union-attr]
                        requests = None  # the child closed its end
                except BaseException:  # hypothesis ended the example inside the draw: so does the child
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    os.unlink(path)
                    raise
                continue
            if ready:
                _, status = os.waitpid(pid, 0)
                break
            over_time = time.monotonic() - started > timeout
            if rss_limit_mb and not over_time and (rss := _rss_mb(pid) - base_rss) > rss_limit_mb:
                blown = rss
            if over_time or blown:
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                timed_out = over_time
                break
    finally:
        os.close(pidfd)
        if channel is not None:
            channel.close()
    seconds = time.monotonic() - started
    with open(path, "rb") as handle:
        output = handle.read().decode("utf-8", "replace")
    os.unlink(path)
    code = os.waitstatus_to_exitcode(status)
    findings = tuple(parse_report(output, target or TargetCode()))
    if timed_out and not findings:
        findings = (Finding("timeout", "harness", (), None, None, f"no result after {timeout:.0f} s"),)
    if blown and not findings:
        findings = (Finding("out-of-memory", "harness", (), None, None,
                            f"resident memory grew by {blown:.0f} MB, over the {rss_limit_mb} MB limit"),)
    return ForkResult(code, findings, output, timed_out, seconds), pid


def raise_for(result: ForkResult) -> None:
    """Raise SanitizerFinding for a finding, AssertionError for a Python failure in the child."""
    if result.findings:
        raise SanitizerFinding(result.findings[0], result.output)
    if result.python_error:
        raise AssertionError("in the isolated child:\n" + result.python_error)
    if result.status != 0:
        raise AssertionError(f"the isolated child ended with status {result.status}:\n{result.output[-3000:]}")


def isolated(target: TargetCode | None = None, *, timeout: float = 30.0, leak_check: bool = True
             ) -> Callable[[F], F]:
    """Decorator: run the test body in a forked child (put it under @given). target: the code
    whose frames are the library's; leak_check: scan for leaks through target code after each
    example (a LeakSanitizer scan of the child costs 50-500 ms, the fork itself ~10-20 ms)."""

    def decorate(test: F) -> F:
        @functools.wraps(test)
        def wrapper(*args: Any, **kwargs: Any) -> None:
            raise_for(run_forked(test, *args, target=target, timeout=timeout, leak_check=leak_check, **kwargs))

        return wrapper  # type: ignore[return-value]

    return decorate
