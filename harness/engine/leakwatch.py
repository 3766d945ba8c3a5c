"""LeakWatch: target-only leak checks while fuzzing, and the input that leaked.

libFuzzer's own per-input leak check cannot tell CPython's allocations from the target's and
switches itself off after 1000 inputs whose malloc/free counts differ, which in CPython is all
of them. So libFuzzer runs with -detect_leaks=0 and LeakWatch checks instead: a recoverable
LeakSanitizer check that keeps only leaks allocated through target code, at most
LEAK_CHECK_SHARE of the fuzzing time; on a hit it bisects the inputs run since the previous
check (re-running them, which leaks again) down to the one that leaks and writes it as a
`leak-<sha1>` artifact.

LeakSanitizer scans conservatively: a stale copy of a leaked pointer in a stack slot nobody has
overwritten yet hides the block from one check, and a later check finds it. So a clean check
keeps its inputs as the window before the next one, and the bisection searches both windows;
within it, a half whose check misses is not taken as clean on that check alone (the other half
is run too, and a step where neither leaks is run again), and the culprit must leak again when
run alone. A leak the copy cannot repeat (a first-time path: a buffer that leaks its old block
only when it grows past anything seen before) is traced again from the library's first state,
in a fresh process of the same fuzzer (harness.engine.freshtrace). A leak that cannot be pinned
on one input is said to be untraced, never pinned on an innocent one (its stack is traced again
when it is seen again, UNTRACED_RETRIES times).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from harness.atomic import fork_child, write_atomic
from harness.engine.freshtrace import FreshTrace
from harness.engine.protocol import LEAK_IN_CONTEXT, LEAK_TRACED_NOTE, artifact_line, write_artifact
from harness.errors import EXIT_FINDINGS
from harness.runtime import leaks
from harness.runtime.symbolizer import detach_symbolizer
from harness.triage import TargetCode

DEFAULT_LEAK_INTERVAL = 2.0
# a LeakSanitizer scan of a fuzzing process takes 0.1-0.8 s: wait after each check at least
# (1 - share) / share times what it took, so checks cost at most this share of the time
LEAK_CHECK_SHARE = 0.1
RECENT_INPUTS = 200_000
TRACE_WAIT_SECONDS = 60.0  # at exit, how long a forked leak bisection may still take
TRACE_ATTEMPTS = 2  # bisections of one window before its leak is called untraced
STEP_MISSES = 2  # bisection steps where neither half leaked, before a bisection gives up
REPORT_POLL_SECONDS = 0.5  # while a copy traces, how often its finished reports are looked for
UNTRACED_RETRIES = 2  # times an untraced leak stack is traced again when it leaks again
UNTRACED_NOTE = "INFO: ffi-harness: a target leak was not traced to one input"

TestOneInput = Callable[[bytes], None]
# inputs, the stack hashes wanted -> where a fresh process of the fuzzer found the leak, or None
FreshTracer = Callable[[list[bytes], set[str]], FreshTrace | None]


class Bisection(NamedTuple):
    """Where one bisection of a window ended: the input left and the check that saw its own run
    leak (None when it gave up), and whether any of its reruns leaked a wanted stack at all."""

    culprit: bytes | None
    check: leaks.LeakCheck | None
    seen: bool


@dataclass
class TracingCopy:
    """A forked copy tracing leak stacks: the report of stacks[n] appears as folder/<n>.txt."""

    pid: int
    folder: Path
    stacks: list[str]
    printed: set[int] = field(default_factory=set)
    polled: float = 0.0  # when the folder was last looked at


class LeakWatch:
    """Periodic target-only leak checks over the inputs run since the last check.

    interval: the shortest wait between checks; a check that took t seconds waits at least
    t * (1 - LEAK_CHECK_SHARE) / LEAK_CHECK_SHARE before the next one. keep_going: a traced
    leak is reported and fuzzing goes on (a campaign's workers), each leak stack once per
    process; otherwise the process ends like a crash. fresh: how to trace a leak the copy
    cannot repeat from the library's first state (none: such a leak is untraced).

    With keep_going, the culprit is searched for in a forked copy of the process (the leaked
    blocks and the library's state come with it): the bisection re-runs up to RECENT_INPUTS
    inputs, which under load can take longer than libFuzzer's per-input timeout, and that time
    must not count against the input that happened to be running (a false `timeout`). The copy
    writes its report to a file; this process prints it between two inputs, so it never
    interleaves with libFuzzer's own lines."""

    def __init__(self, run: TestOneInput, target: TargetCode, *, interval: float,
                 artifact_prefix: str, every_input: bool = False, keep_going: bool = False,
                 fresh: FreshTracer | None = None) -> None:
        self.run = run
        self.fresh = fresh
        self.keep_going = keep_going
        self.reported: set[str] = set()  # stack hashes of leaks already traced (keep_going)
        self.untraced: dict[str, int] = {}  # times each stack hash was not traced to one input
        self.target = target
        self.interval = interval
        self.every_input = every_input
        self.artifact_prefix = artifact_prefix
        self.recent: deque[bytes] = deque(maxlen=RECENT_INPUTS)
        self.earlier: list[bytes] = []  # the inputs before the last clean check (see the module)
        self.execs = 0
        self.checks = 0
        self.last_check = time.monotonic()
        self.wait = interval  # until the next check: interval, or longer after a slow check
        self.tracing: TracingCopy | None = None  # the forked copy tracing the last check's leaks

    def after(self, data: bytes) -> None:
        """Record an input that just ran; check for leaks when the interval is over."""
        self.execs += 1
        if self.interval <= 0:
            return
        self.recent.append(data)
        if self.tracing is not None:
            self.finish_tracing(block=False)
            if self.tracing is not None:
                return  # no check while a copy traces the last leak: the copy holds its objects
        if self.every_input or time.monotonic() - self.last_check >= self.wait:
            self.check()

    def check(self) -> None:
        """Run the leak check now; on a target leak, find the culprit input and report it."""
        self.checks += 1
        started = time.monotonic()
        found = leaks.check(self.target)
        self.last_check = time.monotonic()
        took = self.last_check - started
        self.wait = max(self.interval, took * (1 - LEAK_CHECK_SHARE) / LEAK_CHECK_SHARE)
        # each new leak stack is traced on its own: one check can show two leaks of two inputs
        stacks = [h for h in dict.fromkeys(f.stack_hash for f in found.findings)
                  if not (self.keep_going and h in self.reported)]
        if not stacks:
            self.earlier = list(self.recent)
            self.recent.clear()
            return
        inputs = self.earlier + list(self.recent)
        if self.keep_going:
            self.reported |= set(stacks)
            self._trace_in_copy(inputs, found, stacks)
        else:  # the process ends: the leaks of untraced stacks are shown as they were found
            texts = [self._report_stack(inputs, found, stack) for stack in stacks]
            untraced = {stack for stack, text in zip(stacks, texts, strict=True) if LEAK_TRACED_NOTE not in text}
            sys.stderr.write((found.report_of(untraced) if untraced else "") + "".join(texts))
            sys.stderr.flush()
            os._exit(EXIT_FINDINGS)
        self.earlier = []
        self.recent.clear()

    def finish(self, timeout: float = TRACE_WAIT_SECONDS) -> None:
        """The run ends: a trace in progress is finished, then the inputs since the last check
        are checked (and a leak among them traced), each wait at most timeout seconds."""
        self.finish_tracing(block=True, timeout=timeout)
        if self.interval > 0 and self.recent:
            self.check()
            self.finish_tracing(block=True, timeout=timeout)

    def _trace_in_copy(self, inputs: list[bytes], found: leaks.LeakCheck, stacks: list[str]) -> None:
        """Bisect in a forked copy of this process and let fuzzing go on (see the class). The
        copy writes each stack's report to a file of its own as soon as it is done, so a copy
        killed at the end of the run loses only the stack it was tracing."""
        folder = Path(tempfile.mkdtemp(prefix="ffih-leak-trace-"))

        def copy() -> int:  # pragma: no cover - in the forked copy
            # the worker may symbolize a report of its own meanwhile; if no symbolizer of the
            # copy's own starts, the shared one: a trace with garbled frames beats none
            with contextlib.suppress(OSError):
                detach_symbolizer()
            for number, stack in enumerate(stacks):
                write_atomic(folder / f"{number}.txt", self._report_stack(inputs, found, stack).encode())
            return 0

        self.tracing = TracingCopy(fork_child(copy), folder, stacks)

    def finish_tracing(self, block: bool, timeout: float = TRACE_WAIT_SECONDS) -> None:
        """Print the reports the forked bisection has finished (at most every REPORT_POLL_SECONDS
        while it runs, all of them when it is done); block: wait for it to end, at most timeout
        seconds, then kill it."""
        if self.tracing is None:
            return
        tracing = self.tracing
        deadline = time.monotonic() + timeout
        while True:
            done, status = os.waitpid(tracing.pid, os.WNOHANG)
            if done or not block:
                break
            if time.monotonic() > deadline:
                os.kill(tracing.pid, signal.SIGKILL)
                done, status = os.waitpid(tracing.pid, 0)
                break
            time.sleep(0.01)
        if not done:
            if time.monotonic() - tracing.polled >= REPORT_POLL_SECONDS:
                tracing.polled = time.monotonic()
                self._print_reports(tracing, ended=None)
            return
        self.tracing = None
        self._print_reports(tracing, ended=status)
        shutil.rmtree(tracing.folder, ignore_errors=True)

    def _print_reports(self, tracing: TracingCopy, ended: int | None) -> None:
        """Print the reports of tracing's stacks the copy has written and not yet printed; when
        it has ended (with status ended), a note for each stack it did not finish."""
        for number, stack in enumerate(tracing.stacks):
            if number in tracing.printed:
                continue
            path = tracing.folder / f"{number}.txt"
            if path.exists():
                text = path.read_text(errors="replace")
            elif ended is not None:
                text = f"{UNTRACED_NOTE} ([{stack}]; the tracing copy ended with status {ended})\n"
            else:
                continue
            tracing.printed.add(number)
            # an untraced stack is traced again when it leaks again, a few times (a leak no
            # input repeats would keep a copy busy at every check)
            if LEAK_TRACED_NOTE not in text:
                self.untraced[stack] = self.untraced.get(stack, 0) + 1
                if self.untraced[stack] <= UNTRACED_RETRIES:
                    self.reported.discard(stack)
            sys.stderr.write(text)
        sys.stderr.flush()

    def _trace(self, inputs: list[bytes], wanted: set[str]) -> tuple[bytes, str, bool] | None:
        """The input of inputs that leaks a stack of wanted again when run alone (in this
        process, else from the library's first state in a fresh one), with the report of the check
        that showed it and True; else one whose run leaked it right after the inputs before it
        (a leak that needs the library's state from them), with False; None when no bisection
        (TRACE_ATTEMPTS of them, then the fresh process's) ends at an input that leaked."""
        in_context = None
        for _ in range(TRACE_ATTEMPTS):
            bisected = self._bisect(inputs, wanted)
            if not bisected.seen:
                break  # no rerun leaked it at all: this process's state cannot repeat it
            if bisected.culprit is None or bisected.check is None:
                continue
            for _ in range(2):  # a stale pointer may hide the rerun's block from one check
                confirmed = self._leaks([bisected.culprit], wanted)
                if confirmed:
                    return bisected.culprit, confirmed.report, True
            in_context = in_context or (bisected.culprit, bisected.check.report, False)
        fresh = self.fresh(inputs, wanted) if self.fresh is not None else None
        if fresh is not None and (fresh.alone or in_context is None):
            return inputs[fresh.index], fresh.report, fresh.alone
        return in_context

    def _bisect(self, inputs: list[bytes], wanted: set[str]) -> Bisection:
        """Halve inputs, keeping the half whose rerun leaks a stack of wanted (the second half is
        run too when the first one's check finds nothing), down to one input whose own run was
        seen leaking; no culprit when STEP_MISSES steps found the leak in neither half (the first
        one, when a fresh process can trace it), or the last input left was never seen leaking."""
        misses, last, seen = 0, None, False
        if len(inputs) == 1:
            last = self._leaks(inputs, wanted)
            seen = last is not None
        while len(inputs) > 1:
            middle = len(inputs) // 2
            if found := self._leaks(inputs[:middle], wanted):
                inputs = inputs[:middle]
            elif found := self._leaks(inputs[middle:], wanted):
                inputs = inputs[middle:]
            else:  # a step where neither half leaked is run again, unless no rerun leaked
                misses += 1  # yet and a fresh process can trace it from the library's first state
                if misses > STEP_MISSES or (not seen and self.fresh is not None):
                    return Bisection(None, None, seen)
                continue
            seen = True
            last = found if len(inputs) == 1 else None
        if not inputs or last is None:
            return Bisection(None, None, seen)
        return Bisection(inputs[0], last, True)

    def _leaks(self, inputs: list[bytes], wanted: set[str]) -> leaks.LeakCheck | None:
        """Run inputs, then check: the check when it found a leak with a stack of wanted."""
        for data in inputs:
            self.run(data)
        found = leaks.check(self.target)
        return found if wanted & {f.stack_hash for f in found.findings} else None

    def _report_stack(self, inputs: list[bytes], found: leaks.LeakCheck, stack: str) -> str:
        """Trace found's leak of stack to one of inputs, write that input as a leak artifact and
        return the report that names it; when it cannot be traced, a note that says so (with the
        stack hash in brackets)."""
        if len(inputs) == self.execs == 1:  # the process's only input (a replay): nothing to search
            traced: tuple[bytes, str, bool] | None = (inputs[0], found.report, True)
        else:
            traced = self._trace(inputs, {stack})
        if traced is None:
            functions = ", ".join(sorted({f.function or "?" for f in found.findings if f.stack_hash == stack}))
            return f"{UNTRACED_NOTE} ({functions} [{stack}]; {len(inputs)} inputs searched)\n"
        culprit, report, alone = traced
        path = write_artifact(self.artifact_prefix, "leak", culprit)
        context = "" if alone else f"; {LEAK_IN_CONTEXT}"
        return (report + f"{LEAK_TRACED_NOTE} ({self.execs} executions, {self.checks} leak "
                f"checks{context})\n" + artifact_line(self.artifact_prefix, path))
