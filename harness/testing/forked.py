"""Run one piece of a test in a forked child, so a sanitizer abort becomes an exception.

Without this, an ASan report inside a hypothesis example kills the test process before
hypothesis can record, shrink or save anything. run_forked() forks, runs the function in
the child with its output captured, checks target leaks there, and returns the parsed
findings to the parent; raise_for() turns them into a SanitizerFinding (an AssertionError),
which hypothesis treats as an ordinary failing example: it shrinks it (every attempt runs
in a new fork), saves it in its example database and replays it first next time.
"""

from __future__ import annotations

import contextlib
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
from typing import Any, Literal

from harness.engine.protocol import CALL_TRACE, CONTRACT_BANNER
from harness.engine.recovery import ContractViolation
from harness.runtime import allocations, leaks
from harness.testing.draws import DrawChannel, is_data
from harness.triage import Finding, TargetCode, parse_report, patterns

EXIT_PYTHON_ERROR = 3
EXIT_LEAK = 23
EXAMPLE_LEAKS = "example"
LeakCheckMode = bool | Literal["example"]
"""True: a full LeakSanitizer scan after the call; "example": only when a block allocated during
the call survives with target code on its allocation stack (harness.runtime.allocations: a leak
of memory allocated before the call, at import or in a fixture, is then not looked for);
False: none."""


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
    excerpt = _fold_raw_frames([line for line in lines if not line.startswith(CALL_TRACE)])[:REPORT_LINES]
    return "\n".join([f"{finding.title} [{finding.stack_hash}]", *shown, "", *excerpt])


def _fold_raw_frames(lines: list[str]) -> list[str]:
    """The report with each run of unsymbolized frames (`#3 0x7f.. (libpython3.11.so+0x..)`:
    the interpreter, cffi, the harness - the library's own are shown symbolized above) folded
    into one line saying how many there were."""
    folded: list[str] = []
    run = 0
    for line in [*lines, ""]:
        match = patterns.FRAME.match(line)
        if match and match["bare"] is not None:
            run += 1
            continue
        if run:
            folded.append(f"    ... {run} frame(s) without symbols")
            run = 0
        folded.append(line)
    return folded[:-1]


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


def redirect_output(capture: int) -> None:
    """In a child: fd 1 and 2 (and sys.stdout/stderr) write to capture."""
    os.dup2(capture, 1)
    os.dup2(capture, 2)
    # the parent's sys.stdout/stderr may be in-memory captures (pytest): write to the fds
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115


def run_example(function: Callable[..., Any], args: tuple, kwargs: dict, target: TargetCode | None,
                leak_check: LeakCheckMode) -> int:
    """In a child: call function, collect garbage, check leaks; the exit status to report
    (0, EXIT_LEAK or EXIT_PYTHON_ERROR). A sanitizer report ends the process by itself."""
    status = 0
    try:
        if target is not None and leak_check == EXAMPLE_LEAKS:
            allocations.begin()
        function(*args, **kwargs)
        gc.collect()
        if target is not None and leak_check:
            found = leaks.check_since_mark(target) if leak_check == EXAMPLE_LEAKS else leaks.check(target)
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
    return status


def prepare_leak_check(target: TargetCode | None, leak_check: LeakCheckMode) -> None:
    """Before forking children that check leaks per example: set up once, in this process,
    what each child would otherwise set up itself (allocation hooks, target code ranges)."""
    if target is not None and leak_check == EXAMPLE_LEAKS and allocations.prepare():
        allocations.code_ranges(target)


LEAK_CHECK_ATTEMPTS = 3
RSS_POLL_SECONDS = 0.02


def run_forked(function: Callable[..., Any], *args: Any, target: TargetCode | None = None,
               timeout: float = 30.0, leak_check: LeakCheckMode = True, rss_limit_mb: int | None = None,
               **kwargs: Any) -> ForkResult:
    """Call function(*args, **kwargs) in a forked child and return how it ended.

    target: the code whose frames count as the library's (and, with leak_check, whose
    leaks are checked after the call; see LeakCheckMode). A run whose leak check died with
    LeakSanitizer's intermittent tracer crash is run again, up to LEAK_CHECK_ATTEMPTS times.
    rss_limit_mb: the child is killed, as out-of-memory, when its resident memory grows past this."""
    for _ in range(LEAK_CHECK_ATTEMPTS):
        result, pid = _fork_once(function, args, kwargs, target, timeout, leak_check, rss_limit_mb)
        if not (result.status == 1 and not result.findings and leaks.tracer_failed(pid)):
            return result
    return result


def rss_mb(pid: int) -> float:
    """Resident memory of process pid in MB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


@dataclass
class Watch:
    """Waiting on a child: it ends, overruns its time or memory (then it is killed), or a
    reader says the wait is over. readers: fd -> handler called when fd is readable, returning
    WAITING (go on), CLOSED (stop selecting on this fd) or DONE (stop waiting)."""

    pid: int
    timeout: float
    rss_limit_mb: int | None
    base_rss: float
    readers: dict[int, Callable[[], str]]
    status: int | None = None  # wait status, once the child ended or was killed
    timed_out: bool = False
    blown: float = 0.0

    def wait(self, started: float) -> Watch:
        pidfd = os.pidfd_open(self.pid)  # readable when the child ends: no polling delay after it does
        try:
            while True:
                left = self.timeout - (time.monotonic() - started)
                ready, _, _ = select.select([pidfd, *self.readers], [], [], max(0.0, min(left, RSS_POLL_SECONDS)))
                for fd in (fd for fd in ready if fd in self.readers):
                    outcome = self.readers[fd]()
                    if outcome == DONE:
                        return self
                    if outcome == CLOSED:
                        del self.readers[fd]
                if pidfd in ready:
                    self.status = os.waitpid(self.pid, 0)[1]
                    return self
                over_time = time.monotonic() - started > self.timeout
                if self.rss_limit_mb and not over_time:
                    grown = rss_mb(self.pid) - self.base_rss
                    self.blown = grown if grown > self.rss_limit_mb else 0.0
                if over_time or self.blown:
                    self.kill()
                    self.timed_out = over_time
                    return self
        finally:
            os.close(pidfd)

    def kill(self) -> None:
        """Kill the child and reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.status = os.waitpid(self.pid, 0)[1]

    def result(self, output: str, target: TargetCode | None, seconds: float) -> ForkResult:
        """The ForkResult of an ended child that printed output."""
        findings = tuple(parse_report(output, target or TargetCode()))
        if self.timed_out and not findings:
            findings = (Finding("timeout", "harness", (), None, None, f"no result after {self.timeout:.0f} s"),)
        if self.blown and not findings:
            findings = (Finding("out-of-memory", "harness", (), None, None,
                                f"resident memory grew by {self.blown:.0f} MB, over the {self.rss_limit_mb} MB limit"),)
        code = os.waitstatus_to_exitcode(self.status) if self.status is not None else 0
        return ForkResult(code, findings, output, self.timed_out, seconds)


WAITING, CLOSED, DONE = "waiting", "closed", "done"


def _fork_once(function: Callable[..., Any], args: tuple, kwargs: dict, target: TargetCode | None,
               timeout: float, leak_check: LeakCheckMode, rss_limit_mb: int | None) -> tuple[ForkResult, int]:
    fd, path = tempfile.mkstemp(prefix="ffih-fork-", suffix=".txt")
    data = next((v for v in (*args, *kwargs.values()) if is_data(v)), None)
    channel = DrawChannel() if data is not None else None
    prepare_leak_check(target, leak_check)
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
        redirect_output(fd)
        os._exit(run_example(function, args, kwargs, target, leak_check))
    gc.unfreeze()
    os.close(fd)
    readers = {channel.parent_side(): lambda: WAITING if channel.serve(data) else CLOSED} if channel else {}
    watch = Watch(pid, timeout, rss_limit_mb, rss_mb(os.getpid()), readers)  # the child starts as a copy
    try:
        watch.wait(started)
    except BaseException:  # hypothesis ended the example inside a draw: so does the child
        watch.kill()
        os.unlink(path)
        raise
    finally:
        if channel is not None:
            channel.close()
    seconds = time.monotonic() - started
    with open(path, "rb") as handle:
        output = handle.read().decode("utf-8", "replace")
    os.unlink(path)
    return watch.result(output, target, seconds), pid


def raise_for(result: ForkResult) -> None:
    """Raise SanitizerFinding for a finding, AssertionError for a Python failure in the child."""
    if result.findings:
        raise SanitizerFinding(result.findings[0], result.output)
    if result.python_error:
        raise AssertionError("in the isolated child:\n" + result.python_error)
    if result.status != 0:
        raise AssertionError(f"the isolated child ended with status {result.status}:\n{result.output[-3000:]}")
