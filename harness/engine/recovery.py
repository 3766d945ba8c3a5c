"""What a fuzzing worker does after a finding that need not end it: sanitizer reports ASan
recovered from, and contract violations. Each is written as an artifact and reported once,
and fuzzing goes on, so one shallow bug cannot mask the deeper ones of the same run."""

from __future__ import annotations

import os
import sys
import traceback

from harness.engine.protocol import CONTRACT_BANNER, RECOVERED_NOTE, STACK_WRITE_NOTE, artifact_line, write_artifact
from harness.errors import EXIT_FINDINGS


class ContractViolation(AssertionError):
    """The library broke its documented contract in a way no sanitizer sees.

    The message starts with the violation kind, e.g. 'callback-after-unsubscribe: ...', and
    ends with '[in FUNCTION]' when a C function is to blame; triage reads both.
    """

    def __init__(self, kind: str, detail: str, function: str | None = None) -> None:
        super().__init__(f"{kind}: {detail}" + (f" [in {function}]" if function else ""))
        self.kind = kind
        self.function = function


class RecoveredReports:
    """Sanitizer reports that did not end the process: in a campaign ASan runs with
    halt_on_error=0 on code built with -fsanitize-recover=address, so a shallow bug found at
    every other input does not restart the worker each time and mask every deeper bug (as
    ViolationLog does for contract violations). ASan prints each report once per code
    location (suppress_equal_pcs); after the input that caused one, its bytes are written as a
    `crash-<sha1>` artifact and the artifact line follows the report, as after a crash.
    A write out of bounds on the stack may have overwritten frames beyond the redzone, so it
    ends the process; so do the crashes ASan cannot recover from (SEGV, UBSan errors)."""

    def __init__(self, lib: object, artifact_prefix: str) -> None:
        self.lib = lib
        self.artifact_prefix = artifact_prefix
        self.enabled = bool(lib.ffih_watch_reports())  # type: ignore[attr-defined]
        self.count = 0

    def after(self, data: bytes) -> None:
        """Store data when a report was printed while it ran."""
        if not self.enabled:
            return
        count = self.lib.ffih_report_count()  # type: ignore[attr-defined]
        if count == self.count:
            return
        self.count = count
        path = write_artifact(self.artifact_prefix, "crash", data)
        smashed = self.lib.ffih_stack_write_count() > 0  # type: ignore[attr-defined]
        note = STACK_WRITE_NOTE if smashed else RECOVERED_NOTE
        sys.stderr.write(f"INFO: ffi-harness: {note}\n" + artifact_line(self.artifact_prefix, path))
        sys.stderr.flush()
        if smashed:  # nothing after it is trustworthy
            os._exit(EXIT_FINDINGS)


class ViolationLog:
    """Contract violations found while fuzzing: reported once per place, fuzzing goes on.

    A ContractViolation is a Python-level finding; the process is not corrupted, so ending
    it would only let a shallow broken promise mask every deeper bug of the same run (as
    UBSan's recover mode avoids). Each distinct violation (kind + the line that raised it)
    is written as a `contract-<sha1>` artifact (atomically, before its report) and printed
    as a traceback report triage parses; replaying an input re-raises it as usual.
    """

    def __init__(self, artifact_prefix: str) -> None:
        self.artifact_prefix = artifact_prefix
        self.seen: set[tuple[str, str, int, str]] = set()

    def record(self, violation: ContractViolation, data: bytes) -> None:
        """Report violation (caused by input data) unless its place (raising line and blamed
        C function) was reported before."""
        where = traceback.extract_tb(violation.__traceback__)[-1]
        key = (violation.kind, where.filename, where.lineno or 0, violation.function or "")
        if key in self.seen:
            return
        self.seen.add(key)
        path = write_artifact(self.artifact_prefix, "contract", data)
        text = "".join(traceback.format_exception(violation))
        sys.stderr.write(f"\n{CONTRACT_BANNER}\n{text}\n" + artifact_line(self.artifact_prefix, path))
        sys.stderr.flush()
