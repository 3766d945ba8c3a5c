"""Leak checks that never cry wolf: LeakSanitizer's recoverable check, target leaks only.

LeakSanitizer reports every unreachable block each time it runs, CPython's deliberate
leftovers included. check() runs the recoverable check with stderr captured, keeps only
leaks whose allocation stack passes through target code, and reports each leaked object
once per process (LSAN_OPTIONS=report_objects=1 lists their addresses).
"""

from __future__ import annotations

import ctypes
import itertools
import os
import re
import sys
import tempfile
from dataclasses import dataclass

from harness.runtime import allocations
from harness.runtime.support import support_library
from harness.triage import Finding, TargetCode, parse_report, patterns
from harness.triage.symbolize import symbolize_report

OBJECTS = re.compile(r"^0x(?P<address>[0-9a-f]+) \((?P<bytes>\d+) bytes\)$", re.M)
_reported: set[str] = set()


@dataclass(frozen=True)
class LeakCheck:
    """The outcome of one check: new target leaks and the report text that shows them."""

    findings: tuple[Finding, ...]
    report: str
    blocks: tuple[str, ...] = ()  # each finding's LeakSanitizer block, in the same order

    def __bool__(self) -> bool:
        return bool(self.findings)

    def report_of(self, stacks: set[str]) -> str:
        """The report with only the blocks of the leaks whose stack hash is in stacks."""
        return _report_text([b for f, b in zip(self.findings, self.blocks, strict=True) if f.stack_hash in stacks])


def _report_text(blocks: list[str]) -> str:
    """A LeakSanitizer report of this process that shows blocks."""
    return ("=================================================================\n"
            f"=={os.getpid()}==ERROR: LeakSanitizer: detected memory leaks\n\n"
            + "".join(blocks)
            + f"SUMMARY: LeakSanitizer: {len(blocks)} target leak(s) (CPython's own filtered out).\n")


def available() -> bool:
    """True when LeakSanitizer is loaded in this process (the sanitizer runtime is preloaded)."""
    return hasattr(ctypes.CDLL(None), "__lsan_do_recoverable_leak_check")


TRACER_FAILURE = "LeakSanitizer has encountered a fatal error"


def capture_path(pid: int) -> str:
    """Where process pid's leak check writes LeakSanitizer's output while it runs."""
    return os.path.join(tempfile.gettempdir(), f"ffih-lsan-{pid}.txt")


def tracer_failed(pid: int) -> bool:
    """True when process pid died inside a leak check because LeakSanitizer's tracer crashed
    (an intermittent upstream failure, google/sanitizers#1353: the fix is to run again).
    Removes the leftover capture file."""
    path = capture_path(pid)
    try:
        with open(path, "rb") as handle:
            failed = TRACER_FAILURE.encode() in handle.read()
        os.unlink(path)
    except OSError:
        return False
    return failed


def _capture_stderr(function: ctypes._CFuncPtr) -> str:  # type: ignore[name-defined]
    """Call function with fd 2 redirected to this process's capture file; return its output.

    If LeakSanitizer dies during the call, the file stays for the parent (tracer_failed).
    """
    sys.stderr.flush()
    path = capture_path(os.getpid())
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    saved = os.dup(2)
    try:
        os.dup2(fd, 2)
        try:
            function()
        finally:
            os.dup2(saved, 2)
        with open(path, "rb") as capture:
            return capture.read().decode("utf-8", "replace")
    finally:
        os.close(saved)
        os.close(fd)
        os.unlink(path)


def _blocks(report: str) -> list[str]:
    """The report split into one text per 'Direct/Indirect leak of' block."""
    starts = [m.start() for m in patterns.LSAN_BLOCK.finditer(report)]
    end = report.find("SUMMARY:")
    bounds = [*starts, end if end != -1 else len(report)]
    return [report[a:b] for a, b in itertools.pairwise(bounds)]


def check(target: TargetCode) -> LeakCheck:
    """Run LeakSanitizer now; return the target leaks not reported before in this process."""
    if not available():
        return LeakCheck((), "")
    report = _capture_stderr(support_library().ffih_leak_check)
    kept_blocks: list[str] = []
    findings: list[Finding] = []
    for block in _blocks(report):
        found = parse_report("==0==ERROR: LeakSanitizer: detected memory leaks\n" + block, target)
        addresses = {m["address"] for m in OBJECTS.finditer(block)}
        if not found or not found[0].in_target or (addresses and addresses <= _reported):
            continue
        _reported.update(addresses)
        kept_blocks.append(symbolize_report(block))  # raw frames under symbolize=0
        findings.append(found[0])
    if not findings:
        return LeakCheck((), "")
    return LeakCheck(tuple(findings), _report_text(kept_blocks), tuple(kept_blocks))


def check_since_mark(target: TargetCode) -> LeakCheck:
    """check(), skipped when no block allocated since allocations.begin() is still allocated
    with target code on its allocation stack (then no scan can find a new target leak).

    Leaks of blocks allocated before the mark are found only by check() itself."""
    if allocations.target_survivors(target) == 0:
        return LeakCheck((), "")
    return check(target)
