"""Triage on real reports captured from this project's own runs (tests/fixtures/reports),
plus malformed and truncated ones: a clear finding or 'unparsed', never an exception."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.triage import Finding, TargetCode, parse_report, primary_finding

FIXTURES = Path(__file__).parent / "fixtures" / "reports"
PROJECT = str(Path(__file__).resolve().parent.parent)


def report(name: str) -> str:
    """A captured report, its @PROJECT@ placeholder set to this checkout's path."""
    return (FIXTURES / name).read_text().replace("@PROJECT@", PROJECT)


def parse(name: str, target_code: TargetCode) -> Finding:
    finding = primary_finding(report(name), target_code)
    assert finding is not None, name
    return finding


def test_every_planted_bug_report_parses_to_its_catalogue_entry(target, target_code):
    for bug in target.bugs:
        finding = parse(f"{bug.id}.txt", target_code)
        assert (finding.kind, finding.function) == (bug.kind, bug.function), bug.id
        assert finding.access == bug.access or not bug.access, bug.id
        assert finding.file.startswith(str(target.root)) and finding.line > 0, bug.id


@pytest.mark.parametrize(("name", "kind", "title"), [
    ("copy-value-off-by-one.txt", "heap-buffer-overflow", "heap-buffer-overflow WRITE 1 in kv_copy_value"),
    ("take-stale-cache.txt", "heap-use-after-free", "heap-use-after-free READ 8 in kv__find"),
    ("strerror-oob.txt", "global-buffer-overflow", "global-buffer-overflow READ 8 in kv_strerror"),
    ("destroy-twice.txt", "double-free", "double-free in sub_release"),
    ("count-overflow.txt", "signed-integer-overflow", "signed-integer-overflow in read_header"),
    ("replace-leak.txt", "leak", "leak in kv__dup_value"),
    ("abort-on-type.txt", "abort", "abort in parse_record"),
    ("binding-handle-not-kept-alive.txt", "callback-after-free", "callback-after-free in sub_release"),
])
def test_titles_read_like_clusterfuzz(name, kind, title, target_code):
    finding = parse(name, target_code)
    assert finding.kind == kind and finding.title == title


def test_libfuzzer_timeout_and_out_of_memory(target_code):
    timeout = parse("libfuzzer-timeout.txt", target_code)
    assert timeout.kind == "timeout" and timeout.sanitizer == "libFuzzer"
    oom = parse("libfuzzer-oom.txt", target_code)
    assert oom.kind == "out-of-memory" and "1024Mb" in oom.summary


def test_uncaught_python_exception_beats_the_exit_that_follows(target_code):
    findings = parse_report(report("python-exception.txt"), target_code)
    assert [f.kind for f in findings] == ["python-exception"]
    assert findings[0].signature == "KeyError" and findings[0].function == "one"


def test_fuzz_target_exit_is_its_own_kind(target_code):
    assert parse("fuzz-target-exited.txt", target_code).kind == "fuzz-target-exited"


def test_contract_violation_kind_comes_from_its_message(target_code):
    text = (" === Uncaught Python exception: ===\nContractViolation: destroy-twice: sub 2\n"
            "Traceback (most recent call last):\n"
            '  File "/x/fuzzers/fuzz_callbacks.py", line 9, in on_destroy\n    violation()\n'
            "harness.fuzzing.ContractViolation: destroy-twice: subscriber 2 destroyed 2 times\n")
    finding = primary_finding(text, target_code)
    assert finding.kind == "destroy-twice" and finding.function == "on_destroy"


def _scrub(text: str) -> str:
    """The same report as another machine would print it: other addresses, other paths."""
    text = re.sub(r"0x[0-9a-f]{6,}", lambda m: hex(int(m.group(0), 16) ^ 0x5A5A00), text)
    return text.replace("/root/.cache/ffi-harness", "/home/ci/.cache/ffi-harness")


def test_stack_hash_ignores_addresses_and_build_paths(target, target_code):
    for bug in target.bugs:
        text = report(f"{bug.id}.txt")
        assert primary_finding(_scrub(text), target_code).stack_hash == \
            primary_finding(text, target_code).stack_hash, bug.id


def test_different_bugs_hash_differently(target, target_code):
    hashes = {parse(f"{bug.id}.txt", target_code).stack_hash for bug in target.bugs}
    assert len(hashes) == len(target.bugs)


@pytest.mark.parametrize("cut", [40, 200, 400, 700])
def test_truncated_reports_still_give_a_finding(cut, target, target_code):
    for bug in target.bugs:
        text = report(f"{bug.id}.txt")
        start = text.find("ERROR:") if "ERROR:" in text else text.find("runtime error")
        if start < 0:
            continue
        findings = parse_report(text[: start + cut], target_code)
        assert findings and all(isinstance(f, Finding) for f in findings), bug.id


@pytest.mark.parametrize("text", [
    "", "hello\n", "==1==ERROR: SomethingSanitizer: who knows\n", "#0 0x12 in\n" * 5,
    "==1==ERROR: AddressSanitizer: \n", "Direct leak of x byte(s)\n", "\x00\xff garbage ==ERROR",
    "==2==ERROR: LeakSanitizer: detected memory leaks\n\nSUMMARY: nothing\n",
])
def test_malformed_reports_never_raise(text, target_code):
    findings = parse_report(text, target_code)
    assert all(isinstance(f, Finding) for f in findings)
    if "ERROR:" in text and "Sanitizer" in text:
        assert findings, "an announced error must give at least an 'unparsed' finding"


def test_finding_round_trips_through_json(target_code):
    finding = parse("cursor-delete-uaf.txt", target_code)
    assert Finding.from_dict(finding.to_dict()) == finding


def test_a_library_function_ending_in_a_tail_call_is_named_by_its_cffi_wrapper(target_code):
    """`return strlen(label);` leaves no frame of the library function: the cffi wrapper that
    called it names it (it used to be a pybind11/std:: frame of atheris). Not target code: a
    leak through the harness's own lib.malloc wrapper must stay CPython-side noise."""
    text = report("tail-call-uaf.txt")
    (finding,) = parse_report(text, target_code)
    assert (finding.kind, finding.function, finding.crash_state) == \
        ("heap-use-after-free", "shp_node_label_length", ("shp_node_label_length",))
    assert not finding.in_target
    leak = text.replace("AddressSanitizer: heap-use-after-free", "LeakSanitizer: detected memory leaks")
    assert not any(f.in_target for f in parse_report(leak, target_code))
