"""harness.isolated runs the examples of one test in a shared forked worker: a crash there is
the library's own finding (confirmed alone in a fresh fork), the next example gets a new worker,
a failure that needs earlier examples' state says so, and leaks are found per example."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import harness
from harness.testing.forked import SanitizerFinding
from harness.testing.isolated import StateDependentFailure


def _pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()]


def test_examples_share_a_worker_and_a_crash_replaces_it(target, tmp_path):
    bug = target.bug("take-stale-cache")
    loaded = harness.load(target, bug.id)
    lib = loaded.lib
    pids = tmp_path / "pids"

    @harness.isolated(target.code)
    def example(crash: bool) -> None:
        with open(pids, "a") as out:
            out.write(f"{os.getpid()}\n")
        store = lib.kv_open(0)
        lib.kv_put(store, b"a", b"1", 1)
        if crash:  # take-stale-cache: kv_take leaves the entry in the lookup cache
            out_value, out_len = loaded.ffi.new("uint8_t **"), loaded.ffi.new("size_t *")
            lib.kv_take(store, b"a", out_value, out_len)
            lib.kv_free(out_value[0])
            lib.kv_get_borrowed(store, b"b", loaded.ffi.NULL)
        lib.kv_close(store)

    example(False)
    example(False)
    with pytest.raises(SanitizerFinding) as raised:
        example(True)
    example(False)
    first, second, crashed, confirmed, after = _pids(pids)
    assert first == second != os.getpid(), "the first two examples ran in one worker"
    assert crashed == first and confirmed != crashed, "the crash was run again alone in a fresh fork"
    assert after not in (first, confirmed), "the example after the crash ran in a new worker"
    assert (raised.value.finding.kind, raised.value.finding.function) == (bug.kind, bug.function)


def test_a_failure_that_needs_earlier_examples_is_reported_as_such():
    calls: list[int] = []

    def counts_calls() -> None:
        calls.append(1)
        assert len(calls) < 3, "the third example in this process"

    shared = harness.isolated(leak_check=False)(counts_calls)
    shared()
    shared()
    with pytest.raises(StateDependentFailure) as raised:
        shared()
    assert "had run 2 earlier example(s)" in str(raised.value)
    assert "the third example in this process" in str(raised.value) and "reuse=False" in str(raised.value)
    calls.clear()
    fresh = harness.isolated(leak_check=False, reuse=False)(counts_calls)
    for _ in range(4):
        fresh()  # every example starts from this process's state: no failure


def test_arguments_that_cannot_be_pickled_run_in_a_fresh_fork(kv, target_code):
    @harness.isolated(target_code)
    def example(function) -> None:
        assert function(2) == 3

    example(lambda n: n + 1)  # a lambda cannot be sent to the worker: forked for this example


def _replace_property(loaded, code):
    """Replacing a value with a longer one: quiet on the clean build; on replace-leak the old
    buffer is lost (a target leak, found by the per-example check)."""
    lib = loaded.lib

    @settings(max_examples=40, database=None, derandomize=True)
    @given(first=st.binary(min_size=1, max_size=8), second=st.binary(min_size=1, max_size=40))
    @harness.isolated(code)
    def replace(first: bytes, second: bytes) -> None:
        store = lib.kv_open(0)
        lib.kv_put(store, b"k", first, len(first))
        lib.kv_put(store, b"k", second, len(second))
        lib.kv_close(store)

    return replace


def test_a_property_finds_a_leak_per_example_in_the_worker_and_the_clean_twin_is_quiet(target, kv):
    _replace_property(kv, target.code)()
    bug = target.bug("replace-leak")
    with pytest.raises(SanitizerFinding) as raised:
        _replace_property(harness.load(target, bug.id), target.code)()
    assert (raised.value.finding.kind, raised.value.finding.function) == (bug.kind, bug.function)
