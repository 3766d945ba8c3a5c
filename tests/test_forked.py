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
