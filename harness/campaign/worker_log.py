"""What a libFuzzer worker's log says: each input that produced a report, with its primary finding.

A worker prints a report, then the line naming the input's artifact (`Test unit written to
PREFIX/KIND-SHA1`). Non-fatal reports (contract violations, sanitizer reports recovered with
halt_on_error=0) leave several such pairs in one log; one input may leave more than one (a
recovered overflow, then the wrong result it caused, both named by the same SHA-1). The first
report of an input is its finding; the others are consequences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

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
    start = 0
    for match in ARTIFACT.finditer(text):
        chunk, start = text[start:match.end()], match.end()
        artifact = Path(match["path"])
        last = found[-1] if found else None
        if last and last.artifact is not None and input_digest(last.artifact) == input_digest(artifact):
            # the same input again: a consequence of its first report, kept in that report's text
            found[-1] = ReportedInput(last.finding, last.artifact, last.report + chunk)
            continue
        findings = parse_report(chunk, target)
        if findings:
            found.append(ReportedInput(findings[0], artifact, chunk))
    tail = parse_report(text[start:], target)
    if tail:
        found.append(ReportedInput(tail[0], None, text[start:]))
    return found
