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

from collections import deque
from dataclasses import dataclass
from pathlib import Path

from harness.engine.protocol import ARTIFACT, LEAK_TRACED_NOTE
from harness.triage import Finding, TargetCode, parse_report

LIVE_REPORT_LINES = 100_000  # lines kept between artifact lines (a leak report lists every object)


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


class LogReader:
    """Reads a worker's log as it is written: line() by line (or add() the text up to each
    artifact line), and finish() with the rest. reported_inputs() reads a whole log the same way."""

    def __init__(self, target: TargetCode) -> None:
        self.target = target
        self.inputs: list[ReportedInput] = []
        self._carry = ""
        self._pending: deque[str] = deque(maxlen=LIVE_REPORT_LINES)  # lines since the last artifact line

    def line(self, line: str) -> ReportedInput | None:
        """One more line of the log: the new input it reports when it is an artifact line (see add)."""
        artifact = ARTIFACT.search(line)
        if artifact is None:
            self._pending.append(line)
            return None
        self._pending.append(line[:artifact.end()])
        chunk = "".join(self._pending)
        self._pending.clear()
        self._pending.append(line[artifact.end():])
        return self.add(chunk, Path(artifact["path"]))

    def add(self, chunk: str, artifact: Path) -> ReportedInput | None:
        """The log's text since the last artifact line up to the end of this one's path: the
        new input it reports, or None (no report, or the previous input's consequence)."""
        self._carry, chunk = _split_traced_leak(self._carry + chunk)
        last = self.inputs[-1] if self.inputs else None
        if last and last.artifact is not None and input_digest(last.artifact) == input_digest(artifact):
            # the same input again: a consequence of its first report, kept in that report's text
            self.inputs[-1] = ReportedInput(last.finding, last.artifact, last.report + chunk)
            return None
        findings = parse_report(chunk, self.target)
        if not findings:
            return None
        self.inputs.append(ReportedInput(findings[0], artifact, chunk))
        return self.inputs[-1]

    def finish(self, rest: str) -> list[ReportedInput]:
        """Every input of the log that produced a report, in order, with its primary finding;
        rest: the text after the last artifact line (a report there has no artifact)."""
        rest = self._carry + rest
        self._carry = ""
        tail = parse_report(rest, self.target)
        if tail:
            self.inputs.append(ReportedInput(tail[0], None, rest))
        return self.inputs


def reported_inputs(text: str, target: TargetCode) -> list[ReportedInput]:
    """Every input of the log that produced a report, in order, with its primary finding."""
    reader, start = LogReader(target), 0
    for match in ARTIFACT.finditer(text):
        reader.add(text[start:match.end()], Path(match["path"]))
        start = match.end()
    return reader.finish(text[start:])


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
