"""Leak detection that never cries wolf: leaks allocated through target code are reported,
CPython's and other foreign allocations never are, and LeakWatch finds the leaking input."""

from __future__ import annotations

import ctypes
import gc
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from harness.engine.leakwatch import LEAK_CHECK_SHARE, UNTRACED_NOTE, LeakWatch, TracingCopy
from harness.errors import EXIT_FINDINGS
from harness.runtime import allocations, leaks
from harness.runtime.support import support_library
from harness.triage.symbolize import symbolize_report


def leak_a_target_copy(kv) -> None:
    """Lose one kv_get_copy result. The calls run on a thread that then ends, so no stale copy
    of the pointer stays in a slot of this thread's stack, where LeakSanitizer's conservative
    scan would find it and call the block reachable for a while."""

    def leak() -> None:
        store = kv.lib.kv_open(0)
        kv.lib.kv_put(store, b"k", b"leaked copy", 11)
        out, out_len = kv.ffi.new("uint8_t **"), kv.ffi.new("size_t *")
        kv.lib.kv_get_copy(store, b"k", out, out_len)  # [owned] and never freed
        kv.lib.kv_close(store)

    worker = threading.Thread(target=leak)
    worker.start()
    worker.join()


def leak_an_error_copy(kv) -> None:
    """Lose one kv_last_error_dup result (on a thread that ends, as leak_a_target_copy)."""

    def leak() -> None:
        store = kv.lib.kv_open(0)
        kv.lib.kv_delete(store, b"missing")  # fails: the thread's last error names the key
        kv.lib.kv_close(store)
        assert kv.lib.kv_last_error_dup() != kv.ffi.NULL  # [owned] and never freed

    worker = threading.Thread(target=leak)
    worker.start()
    worker.join()


def leaks_on(kv, culprit: bytes) -> Callable[[bytes], None]:
    """A fuzz target that loses a kv_get_copy result (leak_a_target_copy) on the input culprit
    and does nothing on any other."""

    def run(data: bytes) -> None:
        if data == culprit:
            leak_a_target_copy(kv)

    return run


def feed(watch: LeakWatch, inputs: Iterable[bytes]) -> None:
    """Run each input and let the watch see it, as a fuzzing loop does."""
    for data in inputs:
        watch.run(data)
        watch.after(data)


def check_and_trace(watch: LeakWatch, capfd) -> str:
    """A leak check now and the forked trace it started, run to its end: what stderr got."""
    watch.check()
    watch.finish_tracing(block=True)
    return capfd.readouterr().err


def test_leak_through_target_code_is_reported_once(kv, target_code):
    leaks.check(target_code)
    leak_a_target_copy(kv)
    found = leaks.check(target_code)
    assert [(f.kind, f.function) for f in found.findings] == [("leak", "kv__dup_value")]
    assert "kv_get_copy" in found.report and "CPython's own filtered out" in found.report
    assert not leaks.check(target_code), "the same leaked object must not be reported twice"


def test_cpython_and_foreign_leaks_are_never_reported(kv, target_code, capfd):
    leaks.check(target_code)
    foreign = kv.lib.malloc(4096)  # allocated by Python code through cffi, then lost
    kv.ffi.memmove(foreign, b"x" * 64, 64)
    del foreign
    junk = [{str(i): bytes(i % 50) for i in range(200)} for _ in range(50)]
    worker = threading.Thread(target=lambda: sum(range(10_000)))
    worker.start()
    worker.join()
    import json  # noqa: F401  (modules allocate caches forever)
    del junk
    assert not leaks.check(target_code)
    capfd.readouterr()
    support_library().ffih_leak_check()  # LeakSanitizer itself did see the foreign block
    assert "_cffi_f_malloc" in symbolize_report(capfd.readouterr().err)


def test_what_a_library_keeps_in_thread_local_storage_is_not_a_leak(kv, target_code):
    """The runtime runs with intercept_tls_get_addr=0 (its interceptor's garbage ranges crash
    LeakSanitizer's tracer); kv keeps each thread's last-error message in a __thread pointer of
    a dlopen'ed library (dynamic TLS), on the main thread and on a live worker: still no leak."""
    assert "intercept_tls_get_addr=0" in os.environ["ASAN_OPTIONS"]
    leaks.check(target_code)
    store = kv.lib.kv_open(0)
    failed, release = threading.Event(), threading.Event()

    def fail_on_a_worker() -> None:
        assert kv.lib.kv_delete(store, b"missing") != kv.lib.KV_OK
        failed.set()
        release.wait(30)
        kv.lib.kv_clear_error()

    assert kv.lib.kv_delete(store, b"missing") != kv.lib.KV_OK
    assert kv.lib.kv_last_error() != kv.ffi.NULL
    worker = threading.Thread(target=fail_on_a_worker)
    worker.start()
    assert failed.wait(30)
    try:
        assert not leaks.check(target_code)
    finally:
        release.set()
        worker.join()
        kv.lib.kv_clear_error()
        kv.lib.kv_close(store)
    lost = kv.lib.kv_last_error_dup()  # [owned] and dropped: a leak the same check must see
    assert lost != kv.ffi.NULL
    del lost
    assert [f.kind for f in leaks.check(target_code).findings] == ["leak"]


def test_leak_watch_bisects_to_the_leaking_input(kv, target_code):
    leaks.check(target_code)

    run = leaks_on(kv, b"leaks")

    watch = LeakWatch(run, target_code, interval=3600, artifact_prefix="unused/")
    inputs = [f"input {i}".encode() for i in range(300)]
    inputs.insert(217, b"leaks")
    for data in inputs:
        run(data)
    found = leaks.check(target_code)
    traced = watch._trace(inputs, {f.stack_hash for f in found.findings})
    assert traced is not None
    culprit, report, alone = traced
    assert culprit == b"leaks" and alone
    assert "in kv__dup_value" in report


def test_a_leak_hidden_during_the_bisection_is_still_traced_to_its_input(kv, target_code, monkeypatch):
    """A stale pointer hides the leak of one rerun from the bisection's fourth check and the
    leak shows up three checks later (in a fresh clone's CI run, the culprit became an innocent
    input that way; the old bisection fails this): it must still end at the leaking input."""
    hide_at, surface_after = 4, 3
    leaks.check(target_code)
    real_check = leaks.check
    checks: list[int] = []
    hidden: list[leaks.LeakCheck] = []

    def check_hiding(target):
        checks.append(len(checks) + 1)
        found = real_check(target)
        if found and len(checks) == hide_at:
            hidden.append(found)
            return leaks.LeakCheck((), "")
        if hidden and len(checks) == hide_at + surface_after:
            return hidden.pop()
        return found

    run = leaks_on(kv, b"leaks")

    inputs = [f"input {i}".encode() for i in range(300)]
    inputs.insert(123, b"leaks")
    for data in inputs:
        run(data)
    found = leaks.check(target_code)
    monkeypatch.setattr(leaks, "check", check_hiding)
    watch = LeakWatch(run, target_code, interval=3600, artifact_prefix="unused/")
    traced = watch._trace(inputs, {f.stack_hash for f in found.findings})
    assert traced is not None and traced[0] == b"leaks" and traced[2], (traced, len(checks))
    assert "in kv__dup_value" in traced[1]


def test_a_leak_that_no_rerun_repeats_is_untraced_never_pinned_on_another_input(kv, target_code,
                                                                                  tmp_path, capfd):
    """An input that leaks only the first time it runs (state from before it): no input of the
    window leaks again, so the leak is reported untraced - with no artifact - and a later leak
    of the same stack is traced again."""
    leaks.check(target_code)
    leaked_once: list[bytes] = []

    def run(data: bytes) -> None:
        if (data == b"leaks" and not leaked_once) or data == b"leaks again":
            leaked_once.append(data)
            leak_a_target_copy(kv)

    watch = LeakWatch(run, target_code, interval=3600, artifact_prefix=f"{tmp_path}/", keep_going=True)
    feed(watch, [*(f"input {i}".encode() for i in range(20)), b"leaks", b"input 20"])
    capfd.readouterr()
    err = check_and_trace(watch, capfd)
    assert "a target leak was not traced to one input (kv__dup_value" in err, err[-2000:]
    assert "leak traced to one input" not in err and "ERROR: LeakSanitizer" not in err
    assert not list(tmp_path.glob("leak-*")) and not watch.reported
    feed(watch, [b"input 21", b"leaks again"])
    err = check_and_trace(watch, capfd)
    assert "leak traced to one input" in err and "kv__dup_value" in err, err[-2000:]
    assert (tmp_path / f"leak-{hashlib.sha1(b'leaks again').hexdigest()}").read_bytes() == b"leaks again"


def test_two_leaks_one_check_finds_are_each_traced_to_their_input(kv, target_code, tmp_path, capfd):
    """One check can show the leaks of two inputs, with two stacks: each is traced to its own
    input (before, the second stack was taken as reported with the first and never traced)."""
    leaks.check(target_code)

    def run(data: bytes) -> None:
        if data == b"copy":
            leak_a_target_copy(kv)
        elif data == b"error":
            leak_an_error_copy(kv)

    watch = LeakWatch(run, target_code, interval=3600, artifact_prefix=f"{tmp_path}/", keep_going=True)
    feed(watch, [*(f"input {i}".encode() for i in range(30)), b"copy", b"input 30", b"error", b"input 31"])
    capfd.readouterr()
    err = check_and_trace(watch, capfd)
    assert err.count("leak traced to one input") == 2, err[-3000:]
    assert "in kv_get_copy" in err and "in kv_last_error_dup" in err
    assert sorted(p.name for p in tmp_path.glob("leak-*")) == \
        sorted(f"leak-{hashlib.sha1(name).hexdigest()}" for name in (b"copy", b"error"))


def test_a_process_that_ends_on_a_leak_shows_the_block_of_the_stack_it_could_not_trace(kv, target_code, tmp_path):
    """Without keep_going the process ends at its first leak. One check with a traced stack and
    one no rerun repeats: the untraced stack's LeakSanitizer block is printed with its note
    (before, only the traced report was, and the other leak was seen only as a note)."""
    leaks.check(target_code)
    errors_lost: list[bytes] = []

    def run(data: bytes) -> None:
        if data == b"copy":
            leak_a_target_copy(kv)
        elif data == b"error" and not errors_lost:
            errors_lost.append(data)
            leak_an_error_copy(kv)

    watch = LeakWatch(run, target_code, interval=3600, artifact_prefix=f"{tmp_path}/")
    inputs = [*(f"input {i}".encode() for i in range(30)), b"copy", b"input 30", b"error", b"input 31"]
    log = tmp_path / "stderr"
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the process that ends on the leak (this one must not)
        try:
            sys.stderr = open(log, "w")  # noqa: SIM115 - the child ends in watch.check()
            for data in inputs:
                run(data)
                watch.recent.append(data)
            watch.check()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    err = log.read_text(errors="replace")
    assert os.waitstatus_to_exitcode(status) == EXIT_FINDINGS, err[-3000:]
    assert err.count("leak traced to one input") == 1, err[-3000:]
    assert "a target leak was not traced to one input (kv_last_error_dup" in err, err[-3000:]
    shown_first = err.split("SUMMARY: LeakSanitizer")[0]  # the check's report, the untraced stack only
    assert "in kv_last_error_dup" in shown_first and "in kv_get_copy" not in shown_first, err[-3000:]
    traced = err.split("leak traced to one input")[0].split("SUMMARY: LeakSanitizer")[1]
    assert "in kv_get_copy" in traced and "in kv_last_error_dup" not in traced, err[-3000:]
    assert [p.name for p in tmp_path.glob("leak-*")] == [f"leak-{hashlib.sha1(b'copy').hexdigest()}"]


def test_leak_watch_waits_longer_after_a_slow_check(target_code, monkeypatch):
    """Leak checks take at most LEAK_CHECK_SHARE of a fuzzer's time, however slow a scan is."""
    real_check = leaks.check
    took: list[float] = []

    def slow_check(target):
        started = time.monotonic()
        time.sleep(0.2)
        result = real_check(target)
        took.append(time.monotonic() - started)
        return result

    monkeypatch.setattr(leaks, "check", slow_check)
    runs: list[bytes] = []
    watch = LeakWatch(runs.append, target_code, interval=0.01, artifact_prefix="unused/")
    watch.check()
    factor = (1 - LEAK_CHECK_SHARE) / LEAK_CHECK_SHARE
    assert factor * took[0] <= watch.wait <= factor * (took[0] + 0.05)
    watch.after(b"soon after")
    assert watch.checks == 1, "checked again before the longer wait was over"
    watch.last_check -= watch.wait
    watch.after(b"after the wait")
    assert watch.checks == 2


def test_campaign_leak_watch_traces_in_a_copy_and_goes_on(kv, target_code, tmp_path, capfd):
    """keep_going (a campaign worker): the check returns after one scan while a forked copy
    bisects (its time never counts against the running input's timeout); the copy's report,
    naming a leak-<sha1> artifact of the culprit, is printed by the watching process."""
    leaks.check(target_code)

    run = leaks_on(kv, b"leaks")

    watch = LeakWatch(run, target_code, interval=3600, artifact_prefix=f"{tmp_path}/", keep_going=True)
    inputs = [f"input {i}".encode() for i in range(300)]
    inputs.insert(123, b"leaks")
    feed(watch, inputs)
    capfd.readouterr()
    watch.check()
    assert watch.tracing is not None, "the bisection ran in this process"
    pid = watch.tracing.pid
    watch.after(b"next input")  # fuzzing goes on; no new check while the copy traces
    assert watch.checks == 1
    watch.finish_tracing(block=True)
    assert watch.tracing is None
    err = capfd.readouterr().err
    assert "leak traced to one input" in err and "kv__dup_value" in err, err[-2000:]
    artifact = tmp_path / f"leak-{hashlib.sha1(b'leaks').hexdigest()}"
    assert f"Test unit written to {artifact}" in err and artifact.read_bytes() == b"leaks"
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # already reaped: no zombie left
    assert not list(tmp_path.glob(".*")), "a temporary file was left"


def _free_copy_and_close(kv) -> None:
    store = kv.lib.kv_open(0)
    kv.lib.kv_put(store, b"k", b"a copy freed by its owner", 25)
    out, out_len = kv.ffi.new("uint8_t **"), kv.ffi.new("size_t *")
    kv.lib.kv_get_copy(store, b"k", out, out_len)
    kv.lib.kv_free(out[0])
    kv.lib.kv_close(store)


def test_a_block_kept_from_target_code_survives_and_the_scan_reports_it(kv, target_code):
    """The per-example check (leak_check="example") scans when a block allocated through target
    code since the mark is still allocated - here the leaked copy."""
    leaks.check(target_code)
    assert allocations.begin()
    try:
        leak_a_target_copy(kv)
        gc.collect()
        assert allocations.target_survivors(target_code) >= 1
        found = leaks.check_since_mark(target_code)
    finally:
        allocations.end()
    assert [(f.kind, f.function) for f in found.findings] == [("leak", "kv__dup_value")]


def test_no_surviving_target_block_means_no_scan(kv, target_code, monkeypatch):
    """Python's own allocations kept alive (a list, caches) are not target blocks: after calls
    that free everything they allocated the scan is skipped - and a scan would be quiet too."""
    leaks.check(target_code)
    assert allocations.begin()
    try:
        _free_copy_and_close(kv)
        kept = [bytes(i % 7) * 3 for i in range(500)]
        gc.collect()
        assert allocations.target_survivors(target_code) == 0 and kept
        monkeypatch.setattr(leaks, "check", lambda target: pytest.fail("scanned although nothing survived"))
        assert not leaks.check_since_mark(target_code)
    finally:
        allocations.end()
    monkeypatch.undo()
    assert not leaks.check(target_code)


def test_target_code_ranges_hold_the_library_and_not_python(kv, target_code):
    ranges = allocations.code_ranges(target_code)
    library = int(kv.ffi.cast("uintptr_t", kv.ffi.addressof(kv.lib, "kv_open")))
    python = ctypes.cast(ctypes.pythonapi.Py_IncRef, ctypes.c_void_p).value
    assert any(start <= library < end for start, end in ranges)
    assert not any(start <= python < end for start, end in ranges)
    assert allocations.target_survivors(target_code) == -1  # not following: unknown, never "none"


def test_a_leak_hidden_from_one_check_is_still_traced_to_its_input(kv, target_code, tmp_path,
                                                                   capfd, monkeypatch):
    """LeakSanitizer's scan is conservative: a stale pointer can hide a leak from the check
    after its input, and the next check finds it. The culprit is then in the window before."""
    leaks.check(target_code)
    real_check = leaks.check
    hidden = [True]

    def check_hiding_once(target):
        if hidden[0]:
            hidden[0] = False
            return leaks.LeakCheck((), "")
        return real_check(target)

    run = leaks_on(kv, b"leaks")

    monkeypatch.setattr(leaks, "check", check_hiding_once)
    watch = LeakWatch(run, target_code, interval=3600, artifact_prefix=f"{tmp_path}/", keep_going=True)
    feed(watch, [b"leaks", *(f"input {i}".encode() for i in range(40))])
    watch.check()  # the leak is missed here
    assert watch.tracing is None
    feed(watch, (f"later {i}".encode() for i in range(40)))
    capfd.readouterr()
    err = check_and_trace(watch, capfd)
    assert "leak traced to one input" in err and "kv__dup_value" in err, err[-2000:]
    assert (tmp_path / f"leak-{hashlib.sha1(b'leaks').hexdigest()}").read_bytes() == b"leaks"


def test_an_untraced_leak_stack_is_traced_again_a_few_times_only(target_code, tmp_path, capfd):
    """A leak no input repeats would keep a forked copy bisecting at every check: its stack is
    traced again after an untraced report UNTRACED_RETRIES times, then left reported."""
    from harness.engine.leakwatch import UNTRACED_RETRIES

    watch = LeakWatch(lambda data: None, target_code, interval=3600, artifact_prefix=f"{tmp_path}/",
                      keep_going=True)
    for attempt in range(UNTRACED_RETRIES + 1):
        watch.reported.add("stack")
        reports = tmp_path / f"trace-{attempt}"
        reports.mkdir()
        (reports / "0.txt").write_text(f"{UNTRACED_NOTE} (kv__dup_value [stack]; 9 inputs searched)\n")
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the stand-in for a tracing copy
            os._exit(0)
        watch.tracing = TracingCopy(pid, reports, ["stack"])
        watch.finish_tracing(block=True)
        assert UNTRACED_NOTE in capfd.readouterr().err and not reports.exists()
        assert ("stack" in watch.reported) == (attempt == UNTRACED_RETRIES), attempt

def test_a_stack_traced_while_the_copy_still_traces_another_is_printed_before_the_copy_ends(
        target_code, tmp_path, capfd):
    """A copy traces a check's stacks one after the other: the first one's report is printed
    as soon as its file is there (the finding is recorded then), not when the copy ends."""
    watch = LeakWatch(lambda data: None, target_code, interval=3600, artifact_prefix=f"{tmp_path}/",
                      keep_going=True)
    reports = tmp_path / "trace"
    reports.mkdir()
    release = tmp_path / "release"
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the stand-in for a tracing copy, on its second stack
        try:
            (reports / "0.txt").write_text("first report\nINFO: ffi-harness: leak traced to one input (1 executions)\n")
            while not release.exists():
                time.sleep(0.01)
        finally:
            os._exit(0)
    watch.reported |= {"first", "second"}
    watch.tracing = TracingCopy(pid, reports, ["first", "second"])
    deadline = time.monotonic() + 60
    while "first report" not in (err := capfd.readouterr().err) and time.monotonic() < deadline:
        watch.finish_tracing(block=False)
        time.sleep(0.05)
    assert "first report" in err and watch.tracing is not None, "printed only when the copy ends"
    release.touch()
    watch.finish_tracing(block=True)
    err = capfd.readouterr().err
    assert "first report" not in err, "printed twice"
    assert f"{UNTRACED_NOTE} ([second]; the tracing copy ended with status 0)" in err, err
    assert watch.reported == {"first"}, "the unfinished stack is traced again when it leaks again"


def test_the_wait_for_a_leak_being_traced_at_the_end_is_no_input_timeout(tmp_path):
    """A run whose budget ends while a leak is traced waits for the trace inside libFuzzer's
    callback; that wait is the harness's, so libFuzzer's per-input alarm must not count it
    (it took seconds here, with -timeout=1: a false `timeout` finding, and the trace lost)."""
    import subprocess
    import sys
    from pathlib import Path

    from harness.runtime.sanitizers import child_environment
    from harness.target.spec import resolve_target

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "leak").write_bytes(b"leak!")
    env = child_environment()
    env.update({"FFI_HARNESS_TARGET": str(resolve_target(None).spec_path), "FFI_HARNESS_VARIANT": "clean",
                "FFI_HARNESS_LEAK_INTERVAL": "3600", "FFI_HARNESS_KEEP_GOING": "1"})
    script = Path(__file__).parent / "helpers" / "fuzz_slow_trace.py"
    out = subprocess.run([sys.executable, str(script), str(seeds), "-runs=1500", "-timeout=1", "-seed=1",
                          f"-artifact_prefix={tmp_path}/"], capture_output=True, text=True, env=env, timeout=300)
    assert "ALARM" not in out.stderr and not list(tmp_path.glob("timeout-*")), out.stderr[-3000:]
    assert out.returncode == 0 and "leak traced to one input" in out.stderr, out.stderr[-3000:]
    assert (tmp_path / f"leak-{hashlib.sha1(b'leak!').hexdigest()}").read_bytes() == b"leak!"


@pytest.mark.parametrize("shared", [False, True])
def test_a_forked_copy_symbolizes_through_a_symbolizer_of_its_own(shared):
    """A worker's leak-tracing copy is forked from it: without detach_symbolizer both talk to the
    worker's llvm-symbolizer over the same pipes and read each other's answers. With it, the copy
    starts its own (same command line) behind the same fds; both still name their frames. The
    shared case is the control: there the copy has no symbolizer of its own."""
    from harness.runtime.sanitizers import child_environment

    script = Path(__file__).parent / "helpers" / "fork_symbolizer.py"
    out = subprocess.run([sys.executable, str(script), *(["shared"] if shared else [])], capture_output=True,
                         text=True, env=child_environment(), timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout)
    assert seen["parent_symbolizers"] and seen["named"] and seen["parent_named"], seen
    if shared:
        assert seen["moved"] == 0 and seen["copy_symbolizers"] == [], seen
    else:
        assert seen["moved"] == 1 and len(seen["copy_symbolizers"]) == 1, seen
        assert seen["copy_symbolizers"] != seen["parent_symbolizers"], seen
