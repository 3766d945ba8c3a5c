"""What a libFuzzer worker's log says: each input that produced a report, with its primary finding.

A worker prints a report, then the line naming the input's artifact (`Test unit written to
PREFIX/KIND-SHA1`). Non-fatal reports (contract violations, sanitizer reports recovered with
halt_on_error=0) leave several such pairs in one log; one input may leave more than one (a
recovered overflow, then the wrong result it caused, both named by the same SHA-1). The first
report of an input is its finding; the others are consequences. A leak traced in a forked copy
of the worker is a block of its own (its report, the note, its artifact line), printed whole
wherever the worker was: it takes nothing from the input around it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.engine.protocol import LEAK_TRACED_NOTE
from harness.triage import Finding, TargetCode, parse_report

ARTIFACT = re.compile(r"Test unit written to (?P<path>\S+)")


@dataclass(frozen=True)
class ReportedInput:
    """One input's finding, its artifact (None when the log names none) and everything the log
    says about it (its reports and notes, consequences included)."""

    finding: Finding
    artifact: Path | None
    report: str


def input_digest(artifact: Path) -> str:
    """The SHA-1 an artifact is named by (KIND-SHA1): the input's name in a corpus, too."""
    return artifact.name.split("-", 1)[-1]


def reported_inputs(text: str, target: TargetCode) -> list[ReportedInput]:
    """Every input of the log that produced a report, in order, with its primary finding."""
    found: list[ReportedInput] = []
    start, carry = 0, ""
    for match in ARTIFACT.finditer(text):
        chunk, start = carry + text[start:match.end()], match.end()
        carry, chunk = _split_traced_leak(chunk)
        artifact = Path(match["path"])
        last = found[-1] if found else None
        if last and last.artifact is not None and input_digest(last.artifact) == input_digest(artifact):
            # the same input again: a consequence of its first report, kept in that report's text
            found[-1] = ReportedInput(last.finding, last.artifact, last.report + chunk)
            continue
        findings = parse_report(chunk, target)
        if findings:
            found.append(ReportedInput(findings[0], artifact, chunk))
    rest = carry + text[start:]
    tail = parse_report(rest, target)
    if tail:
        found.append(ReportedInput(tail[0], None, rest))
    return found


def _split_traced_leak(chunk: str) -> tuple[str, str]:
    """(text before, the leak's own block) when chunk ends with a leak traced in a forked copy:
    its report is printed whole between two inputs - or while a crashing input ends - so what
    came before it belongs to the input after it, not to the leak. Else ("", chunk)."""
    note = chunk.rfind(LEAK_TRACED_NOTE)
    begin = chunk.rfind("ERROR: LeakSanitizer", 0, note) if note >= 0 else -1
    if begin < 0:
        return "", chunk
    begin = chunk.rfind("\n", 0, begin) + 1
    rule = chunk.rfind("\n", 0, max(begin - 1, 0)) + 1  # the ==== line ASan prints first
    if chunk[rule:begin].strip().startswith("====="):
        begin = rule
    return chunk[:begin], chunk[begin:]
