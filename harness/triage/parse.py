"""Parse what a crashed or leaking process printed into Findings: one small parser per source.

parse_report(text) finds every report in the text (ASan, UBSan, LeakSanitizer, libFuzzer,
an uncaught Python exception) and returns their Findings, the primary one first. Text that
announces an error none of the parsers understands yields one 'unparsed' Finding; text
without any error yields []. No input makes it raise.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from harness.triage import patterns
from harness.triage.finding import Finding
from harness.triage.frames import Frame, TargetCode, parse_stack
from harness.triage.symbolize import symbolize_report

UBSAN_KINDS = (  # (message start, kind)
    ("signed integer overflow", "signed-integer-overflow"),
    ("negation of", "signed-integer-overflow"),
    ("unsigned integer overflow", "unsigned-integer-overflow"),
    ("load of misaligned address", "misaligned-address"),
    ("store to misaligned address", "misaligned-address"),
    ("member access within misaligned address", "misaligned-address"),
    ("reference binding to misaligned address", "misaligned-address"),
    ("index ", "index-out-of-bounds"),
    ("shift exponent", "invalid-shift"),
    ("left shift of", "invalid-shift"),
    ("null pointer passed as argument", "nonnull-attribute"),
    ("null pointer returned", "nonnull-return"),
    ("load of null pointer", "null-dereference"),
    ("store to null pointer", "null-dereference"),
    ("member access within null pointer", "null-dereference"),
    ("applying non-zero offset", "pointer-overflow"),
    ("applying zero offset to null", "pointer-overflow"),
    ("pointer index expression", "pointer-overflow"),
    ("addition of unsigned offset", "pointer-overflow"),
    ("subtraction of unsigned offset", "pointer-overflow"),
    ("division by zero", "divide-by-zero"),
    ("division of", "signed-integer-overflow"),
    ("load of value", "invalid-value-load"),
    ("execution reached an unreachable", "unreachable"),
    ("execution reached the end of a value-returning", "missing-return"),
    ("implicit conversion", "implicit-conversion"),
    ("variable length array bound", "vla-bound"),
    ("call to function", "function-type-mismatch"),
)

ASAN_SIGNALS = {"SEGV": "segv", "ABRT": "abort", "BUS": "bus-error", "FPE": "floating-point-exception",
                "ILL": "illegal-instruction"}

CONTRACT_VIOLATION = "ContractViolation"  # harness.engine.recovery.ContractViolation: kind in the message
CONTRACT_FUNCTION = re.compile(r"\[in (?P<function>[A-Za-z_]\w*)\]$")

Parser = Callable[[str, int, TargetCode], list[Finding]]


def _lines_from(text: str, offset: int) -> list[str]:
    return text[offset:].splitlines()


def _first_stack(text: str, offset: int, target: TargetCode) -> tuple[Frame, ...]:
    frames, _ = parse_stack(_lines_from(text, offset), 1, target)
    return frames


def parse_asan(text: str, offset: int, target: TargetCode) -> list[Finding]:
    header = patterns.ASAN_ERROR.match(text, offset)
    assert header is not None
    what = header["what"].strip()
    body = text[offset:offset + 4000]
    access = size = None
    if (found := patterns.ASAN_ACCESS.search(body)) is not None:
        access, size = found["access"], int(found["size"])
    first = what.split()[0].rstrip(":")
    if what.startswith("attempting double-free"):
        kind = "double-free"
    elif what.startswith("attempting free on address which was not malloc"):
        kind = "invalid-free"
    elif first in ASAN_SIGNALS and "on unknown address" in what:
        kind = ASAN_SIGNALS[first]
        if (found := patterns.ASAN_SIGNAL_ACCESS.search(body)) is not None:
            access = found["access"]
        if kind == "segv" and patterns.ASAN_ZERO_PAGE.search(body):
            kind = "null-dereference"
    elif patterns.ASAN_OOM.search(what):
        kind = "out-of-memory"
    else:
        kind = first
    frames = _first_stack(text, offset, target)
    return [Finding(kind, "AddressSanitizer", frames, access, size, what)]


def parse_ubsan(text: str, offset: int, target: TargetCode) -> list[Finding]:
    header = patterns.UBSAN_ERROR.match(text, offset)
    assert header is not None
    message = header["message"].strip()
    kind = next((k for start, k in UBSAN_KINDS if message.startswith(start)), "undefined-behavior")
    access = "READ" if message.startswith("load of") else "WRITE" if message.startswith("store to") else None
    frames = _first_stack(text, offset, target)
    if not frames:  # no stack printed: the error line itself locates it
        file, line = header["file"], int(header["line"])
        frames = (Frame(0, "", file, line, "", target("", file, "")),)
    return [Finding(kind, "UndefinedBehaviorSanitizer", frames, access, None, message)]


def parse_lsan(text: str, offset: int, target: TargetCode) -> list[Finding]:
    end = text.find("SUMMARY:", offset)
    section = text[offset:end if end != -1 else len(text)]
    findings = []
    for block in patterns.LSAN_BLOCK.finditer(section):
        frames, _ = parse_stack(section[block.end():].splitlines(), 1, target)
        kind = "leak" if block["which"] == "Direct" else "indirect-leak"
        summary = f"{block['which']} leak of {block['bytes']} byte(s) in {block['objects']} object(s)"
        findings.append(Finding(kind, "LeakSanitizer", frames, None, int(block["bytes"]), summary))
    if not findings:
        findings.append(Finding("unparsed", "LeakSanitizer", (), None, None, "leak report without blocks"))
    return findings


def parse_libfuzzer(text: str, offset: int, target: TargetCode) -> list[Finding]:
    header = patterns.LIBFUZZER_ERROR.match(text, offset)
    assert header is not None
    what = header["what"].strip()
    if what.startswith("timeout"):
        kind = "timeout"
    elif what.startswith("out-of-memory"):
        kind = "out-of-memory"
    else:
        kind = re.sub(r"[^a-z0-9]+", "-", what.split("(")[0].lower()).strip("-") or "unparsed"
    frames = _first_stack(text, offset, target)
    return [Finding(kind, "libFuzzer", frames, None, None, what)]


def parse_python(text: str, offset: int, target: TargetCode) -> list[Finding]:
    start = patterns.PY_TRACEBACK.search(text, offset)
    if start is None:
        return [Finding("python-exception", "Python", (), None, None, "no traceback")]
    lines = text[start.end():].splitlines()
    py_frames: list[tuple[str, int, str]] = []
    summary = ""
    for line in lines[1:]:
        if (found := patterns.PY_FRAME.match(line)) is not None:
            py_frames.append((found["file"], int(found["line"]), found["function"]))
        elif line and not line.startswith(" ") and py_frames and patterns.PY_EXCEPTION.match(line):
            summary = line.strip()
            break
    frames = tuple(Frame(i, fn, file, line, "", target(fn, file, ""))
                   for i, (file, line, fn) in enumerate(reversed(py_frames)))
    # the class name, not its module path: a finding's identity must not change when the class
    # that raised it moves (harness.fuzzing.ContractViolation became harness.engine.recovery's)
    exc_type = (summary.split(":")[0] if summary else "Exception").rpartition(".")[2]
    kind = "python-exception"
    if exc_type == CONTRACT_VIOLATION and summary.count(":") >= 2:
        kind = summary.split(":")[1].strip()  # "ContractViolation: callback-after-free: ..."
        blamed = CONTRACT_FUNCTION.search(summary)  # "... [in cfg_get]": the C function at fault
        if blamed is not None:
            frames = (Frame(0, blamed["function"], "", 0, "", True),
                      *(Frame(f.index + 1, f.function, f.file, f.line, f.module, False) for f in frames))
    # the exception type belongs to the identity: ValueError and KeyError at one spot differ
    return [Finding(kind, "Python", frames, None, None, summary or exc_type, exc_type)]


SOURCES: tuple[tuple[re.Pattern[str], Parser], ...] = (
    (patterns.ATHERIS_PYTHON, parse_python),
    (patterns.ASAN_ERROR, parse_asan),
    (patterns.UBSAN_ERROR, parse_ubsan),
    (patterns.LSAN_ERROR, parse_lsan),
    (patterns.LIBFUZZER_ERROR, parse_libfuzzer),
)
UNRECOGNIZED = re.compile(r"^==\d+==\s?ERROR: (?P<what>.+)$|^ERROR: (?P<bare>\w+Sanitizer.+)$", re.M)


def parse_report(text: str, target: TargetCode | None = None) -> list[Finding]:
    """Every Finding in text, the primary (earliest) report first; [] when there is none."""
    target = target or TargetCode()
    text = symbolize_report(text)
    hits = sorted((m.start(), parser) for pattern, parser in SOURCES for m in pattern.finditer(text))
    findings: list[Finding] = []
    for position, parser in hits:
        if parser is parse_python and patterns.PY_TRACEBACK.search(text, position) is None:
            continue
        try:
            findings.extend(parser(text, position, target))
        except (AssertionError, ValueError, IndexError) as exc:
            findings.append(Finding("unparsed", "unknown", (), None, None, f"parser failed: {exc}"))
    if not findings and (other := UNRECOGNIZED.search(text)) is not None:
        what = (other["what"] or other["bare"] or "").strip()
        findings.append(Finding("unparsed", "unknown", (), None, None, what[:200]))
    return _refine_fatal(text, _drop_followups(findings))


# Fatal Python errors that name a boundary bug: (message part, kind)
FATAL_KINDS = (
    ("from_handle() detected that the address passed points to garbage", "callback-after-free"),
)


FAULTHANDLER_SIGNALS = ("Aborted", "Segmentation fault", "Bus error", "Floating-point exception",
                        "Illegal instruction")


def _refine_fatal(text: str, findings: list[Finding]) -> list[Finding]:
    """CPython aborts on a Fatal Python error; the abort's stack locates it, the message names it."""
    fatal = patterns.PY_FATAL.search(text)
    if fatal is None or not findings or findings[0].kind not in ("abort", "deadly-signal"):
        return findings
    message = fatal["message"].strip()
    if message in FAULTHANDLER_SIGNALS:  # faulthandler echoing the signal: nothing to add
        return findings
    kind = next((k for part, k in FATAL_KINDS if part in message), "python-fatal-error")
    first = findings[0]
    refined = Finding(kind, first.sanitizer, first.frames, None, None, message[:300], message.split(":")[0])
    return [refined, *findings[1:]]


def _drop_followups(findings: list[Finding]) -> list[Finding]:
    """A Python exception makes atheris abort; that abort (or libFuzzer's 'deadly signal')
    is a consequence, not a second bug."""
    if findings and findings[0].sanitizer == "Python":
        consequences = ("abort", "deadly-signal", "fuzz-target-exited")
        return [findings[0]] + [f for f in findings[1:] if f.kind not in consequences]
    if findings and findings[0].sanitizer in ("AddressSanitizer", "UndefinedBehaviorSanitizer"):
        return [findings[0]] + [f for f in findings[1:] if f.kind != "deadly-signal"]
    return findings


def primary_finding(text: str, target: TargetCode | None = None) -> Finding | None:
    """The first Finding of parse_report(text), or None."""
    findings = parse_report(text, target)
    return findings[0] if findings else None
