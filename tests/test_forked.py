"""Forked examples (harness.isolated / run_forked): a sanitizer report in the child is a failing
test in the parent whose message starts with the finding and its symbolized target frames, and
the clean build's same call is quiet."""

from __future__ import annotations

import importlib.util

import pytest

import harness
from harness.testing.forked import SanitizerFinding


def _reproducer(target, name):
    spec = importlib.util.spec_from_file_location("_kv_reproducers", target.root / "reproducers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def test_isolated_example_fails_with_the_symbolized_target_frames_first(target):
    bug = target.bug("take-stale-cache")
    session = harness.Session(harness.load(target, bug.id))
    reproduce = _reproducer(target, "take_stale_cache")

    @harness.isolated(target.code)
    def example() -> None:
        reproduce(session)

    with pytest.raises(SanitizerFinding) as raised:
        example()
    finding = raised.value.finding
    assert (finding.kind, finding.function) == (bug.kind, bug.function)
    title, first_frame = str(raised.value).splitlines()[:2]
    assert title.startswith("heap-use-after-free") and finding.stack_hash in title
    assert "kv__find" in first_frame and "target_c/src/kv_store.c:" in first_frame, str(raised.value)[:2000]


def test_isolated_example_is_quiet_on_the_clean_build(target, kv):
    session = harness.Session(kv)
    reproduce = _reproducer(target, "take_stale_cache")

    @harness.isolated(target.code)
    def example() -> None:
        reproduce(session)

    example()  # no exception: the same calls are fine on the clean build


def test_the_plugin_loads_a_profile_fit_for_forked_examples():
    """A forked example with its leak scan takes 50-500 ms: no deadline, and no explain phase
    (it re-runs each failure to blame lines, which here are the harness's)."""
    from hypothesis import Phase, settings

    assert settings.default.deadline is None
    assert Phase.explain not in settings.default.phases and Phase.shrink in settings.default.phases


def _copy_property(loaded, code, seen: list[int] | None = None):
    """A property with an interactive draw: the capacity is drawn near the length the library
    reports for the stored value (st.data() inside the forked example)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    lib, ffi = loaded.lib, loaded.ffi

    @settings(max_examples=60, database=None, derandomize=True)
    @given(value=st.binary(min_size=1, max_size=12).filter(lambda b: b"\0" not in b), data=st.data())
    @harness.isolated(code, leak_check=False)
    def copy_fits(value: bytes, data) -> None:
        store = lib.kv_open(0)
        lib.kv_put(store, b"key", value, len(value))
        needed = ffi.new("size_t *")
        lib.kv_copy_value(store, b"key", ffi.NULL, 0, needed)  # asks the library how long it is
        cap = data.draw(harness.sizes_near(needed[0] - 1, spread=1), label="cap")
        buf = ffi.cast("char *", lib.malloc(cap or 1))
        lib.kv_copy_value(store, b"key", buf, cap, ffi.NULL)
        lib.free(buf)
        lib.kv_close(store)

    return copy_fits


def test_interactive_draws_in_a_forked_example_are_answered_by_the_parent(target, kv):
    """st.data() used to fail with FlakyStrategyDefinition (the child's draws never reached
    hypothesis). Quiet on the clean build; on copy-value-off-by-one the capacity equal to the
    length is found, reported as the library's overflow, and shrunk."""
    _copy_property(kv, target.code)()  # 60 examples, each drawing in the parent: no flaky error
    bug = target.bug("copy-value-off-by-one")
    with pytest.raises(SanitizerFinding) as raised:
        _copy_property(harness.load(target, bug.id), target.code)()
    assert (raised.value.finding.kind, raised.value.finding.function) == (bug.kind, bug.function)


def test_a_draw_the_parent_cannot_rebuild_is_refused_with_the_fix():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from harness.testing.draws import UnanswerableDraw

    class Opaque(st.SearchStrategy):
        def do_draw(self, data):
            return 1

        def __repr__(self):
            return "<Opaque>"

    @settings(max_examples=1, database=None)
    @given(data=st.data())
    @harness.isolated(leak_check=False)
    def uses_a_local_strategy(data) -> None:
        data.draw(Opaque())

    with pytest.raises(AssertionError) as raised:
        uses_a_local_strategy()
    assert UnanswerableDraw.__name__ in str(raised.value) and "draw it in the test before" in str(raised.value)


def test_a_failure_message_lists_the_sequence_calls_as_c_before_the_report():
    """A contract-machine failure used to read `state.lib_watch(data=b'!\\x01')`: the driver's
    calls (traced in the child) are listed as C between the frames and the report."""
    from harness.engine.protocol import CALL_TRACE
    from harness.testing.forked import describe
    from harness.triage import Finding

    finding = Finding("heap-buffer-overflow", "AddressSanitizer", (), None, None, "WRITE 1")
    output = "\n".join([f"{CALL_TRACE}cfg_new()", f'{CALL_TRACE}cfg_escape("a\\x01", out, 1)',
                        "==1==ERROR: AddressSanitizer: heap-buffer-overflow"])
    message = describe(finding, output)
    calls = message.split("calls made, as C:\n", 1)[1].split("\n\n", 1)
    assert calls[0].splitlines() == ["    cfg_new();", '    cfg_escape("a\\x01", out, 1);']
    assert calls[1].startswith("==1==ERROR: AddressSanitizer") and CALL_TRACE not in calls[1]
