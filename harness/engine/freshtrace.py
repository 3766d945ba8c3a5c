"""Leak tracing from the library's first state, in a fresh process of the same fuzzer.

LeakWatch bisects in a forked copy of the fuzzing process, which re-runs inputs in the state the
run has left the library in. A leak on a first-time path cannot happen again there: a buffer
that leaks its old block only when it grows past the longest message seen so far, a cache that
is filled once. A fresh process of the same fuzzer script starts where the fuzzing run started.
It runs the inputs in forked children of itself, each from its untouched state: one child runs
them in order with a leak check at 1, 2, 4, ... inputs, the first checkpoint that leaks bounds a
binary search over prefixes (in a child that moves forward through the inputs as the search
does, so each input runs about twice), and the input that ends the shortest leaking prefix is
run alone.
When it does not leak alone (the leak needs a state the inputs before it left), the longest
inputs are run alone, the ones most likely to build that state themselves; when none of them
leaks either, the answer is the prefix's last input, in context.

The copy asks (trace_in_fresh_process) with a request file named by the `leak_trace` setting;
the fresh process answers (serve_fresh_trace) in a result file next to it and prints nothing to
the fuzzing run's log.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.atomic import die_with_parent, fork_child, write_atomic
from harness.config import environment_with
from harness.runtime import leaks
from harness.triage import TargetCode

FRESH_TRACE_SECONDS = 300.0  # the whole search, process start included
LEAKED = 3  # a probe child's exit status when its check found the traced stack
ALONE_CANDIDATES = 8  # longest inputs run alone when the one that ends the leaking prefix does not leak alone
_LENGTH = struct.Struct("<I")


@dataclass(frozen=True)
class FreshTrace:
    """What a fresh process found: the input that ends the shortest prefix of the inputs whose
    run leaks the stack, whether it leaks it when run alone, and the check that showed it."""

    index: int
    alone: bool
    report: str


def _pack(inputs: list[bytes]) -> bytes:
    return b"".join(_LENGTH.pack(len(data)) + data for data in inputs)


def _unpack(blob: bytes) -> list[bytes]:
    inputs, at = [], 0
    while at < len(blob):
        (size,) = _LENGTH.unpack_from(blob, at)
        at += _LENGTH.size
        inputs.append(blob[at:at + size])
        at += size
    return inputs


def trace_in_fresh_process(inputs: list[bytes], wanted: set[str], *, script: str,
                           timeout: float = FRESH_TRACE_SECONDS) -> FreshTrace | None:
    """Start the fuzzer script again (this process's environment: the same target and variant)
    with a request to trace wanted's leak among inputs from the library's first state; None when
    it is not found there (or the search took longer than timeout seconds)."""
    with tempfile.TemporaryDirectory(prefix="ffih-fresh-trace-") as folder:
        request = Path(folder) / "request"
        write_atomic(request.with_suffix(".inputs"), _pack(inputs))
        write_atomic(request, json.dumps(sorted(wanted)).encode())
        with open(Path(folder) / "log", "wb") as log:
            try:
                subprocess.run([sys.executable, script], env=environment_with(leak_trace=request),
                               stdin=subprocess.DEVNULL, stdout=log, stderr=log, timeout=timeout,
                               preexec_fn=die_with_parent, check=False)
            except subprocess.TimeoutExpired:
                return None
        result = request.with_suffix(".result")
        if not result.exists():
            return None
        found = json.loads(result.read_text())
        return FreshTrace(found["index"], found["alone"], found["report"])


def serve_fresh_trace(request: Path, run: Callable[[bytes], None], target: TargetCode) -> None:
    """In the fresh process, before any input ran: answer request (see the module)."""
    wanted = set(json.loads(request.read_text()))
    inputs = _unpack(request.with_suffix(".inputs").read_bytes())
    probes = _Probes(inputs, wanted, run, target, request.with_suffix(".probe"))
    bounds = probes.first_leaking_checkpoint()
    searched = probes.shortest_leaking_prefix(*bounds) if bounds is not None else None
    if searched is None:
        return
    culprit, report = searched[0] - 1, searched[1]
    alone = probes.alone(culprit, tries=2)
    for other in _longest(inputs, ALONE_CANDIDATES, but=culprit) if alone is None else ():
        if (alone := probes.alone(other, tries=1)) is not None:
            culprit = other
            break
    answer = {"index": culprit, "alone": alone is not None, "report": alone or report}
    write_atomic(request.with_suffix(".result"), json.dumps(answer).encode())


def _longest(inputs: list[bytes], count: int, but: int) -> list[int]:
    """Indexes of the count longest distinct inputs (the input at but left out)."""
    first: dict[bytes, int] = {}
    for index, data in enumerate(inputs):
        if index != but and data != inputs[but]:
            first.setdefault(data, index)
    return sorted(first.values(), key=lambda index: -len(inputs[index]))[:count]


class _Probes:
    """Runs of inputs in forked children of the fresh process, each followed by a leak check."""

    def __init__(self, inputs: list[bytes], wanted: set[str], run: Callable[[bytes], None],
                 target: TargetCode, report: Path) -> None:
        self.inputs, self.wanted, self.run, self.target, self.report = inputs, wanted, run, target, report

    def first_leaking_checkpoint(self) -> tuple[int, int, str] | None:
        """(a, b, report): the checkpoints (1, 2, 4, ..., all inputs) around the first check that
        found the stack, and that check's report, in one child that runs the inputs in order;
        None when no check did."""
        checkpoints, size = [], 1
        while size < len(self.inputs):
            checkpoints.append(size)
            size *= 2
        checkpoints.append(len(self.inputs))

        def forward() -> int:
            done = 0
            for number, checkpoint in enumerate(checkpoints):
                self._run_all(self.inputs[done:checkpoint])
                done = checkpoint
                if self._leaked():
                    return LEAKED + number
            return 0

        self.report.unlink(missing_ok=True)
        status = self._child(forward)
        if status < LEAKED or status - LEAKED >= len(checkpoints) or not self.report.exists():
            return None
        number = status - LEAKED
        return (checkpoints[number - 1] if number else 0), checkpoints[number], self.report.read_text()

    def shortest_leaking_prefix(self, low: int, high: int, report: str) -> tuple[int, str] | None:
        """(n, its report): the shortest prefix of the inputs whose run leaks the stack, given that
        the first low inputs did not and the first high did (with report). One child runs the
        first low inputs, then asks a child of its own whether the first half of the rest leaks:
        if not, it runs that half itself and goes on from there, so no input runs more than about
        twice. None when that child's own check finds the stack after the first low inputs (a
        block an earlier check missed: the search could not tell which input leaked it)."""
        result = self.report.with_suffix(".search")

        def search() -> int:
            nonlocal low, high, report
            self._run_all(self.inputs[:low])
            if self._leaked():
                return 0
            while high - low > 1:
                middle = (low + high) // 2
                if (found := self._probe(self.inputs[low:middle])) is not None:
                    high, report = middle, found
                else:
                    self._run_all(self.inputs[low:middle])
                    low = middle
            write_atomic(result, json.dumps([high, report]).encode())
            return 0

        result.unlink(missing_ok=True)
        self._child(search)
        if not result.exists():
            return None
        high, report = json.loads(result.read_text())
        return high, report

    def alone(self, index: int, tries: int) -> str | None:
        """The report of the check after input index alone, when one of tries found the stack."""
        for _ in range(tries):
            if (found := self._probe([self.inputs[index]])) is not None:
                return found
        return None

    def _probe(self, inputs: list[bytes]) -> str | None:
        def probe() -> int:
            self._run_all(inputs)
            return LEAKED if self._leaked() else 0
        self.report.unlink(missing_ok=True)
        return self.report.read_text() if self._child(probe) == LEAKED and self.report.exists() else None

    def _run_all(self, inputs: list[bytes]) -> None:
        for data in inputs:
            with contextlib.suppress(Exception):  # a contract violation is not what is traced
                self.run(data)

    def _leaked(self) -> bool:
        """Check now; when the check found the stack, write its report for the parent."""
        found = leaks.check(self.target)
        if not self.wanted & {f.stack_hash for f in found.findings}:
            return False
        write_atomic(self.report, found.report.encode())
        return True

    def _child(self, body: Callable[[], int]) -> int:
        """body's result, computed in a forked child (which then exits); 0 if it died."""
        def child() -> int:  # pragma: no cover - in the child
            die_with_parent()
            return body()
        _, status = os.waitpid(fork_child(child), 0)
        return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 0
