"""Every planted bug: its reproducer, run in an isolated process under the bug's own variant,
yields a sanitizer report of the catalogued kind pointing at the catalogued function; the
same reproducer under the clean build is quiet (exit 0, no report, leak check included)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.target.spec import resolve_target
from harness.testing.isolate import run_function

BUGS = resolve_target(None).bugs


def _reproducer(target, bug) -> str:
    return f"{target.root / 'reproducers.py'}:{bug.id.replace('-', '_')}"


@pytest.mark.parametrize("bug", BUGS, ids=[b.id for b in BUGS])
def test_reproducer_fires_under_its_variant(target, bug):
    result = run_function(_reproducer(target, bug), target, bug.id)
    finding = result.finding
    assert finding is not None, f"quiet (exit {result.returncode}):\n{result.stderr[-3000:]}"
    assert (finding.kind, finding.function) == (bug.kind, bug.function), finding.title
    assert finding.in_target
    if bug.access:
        assert finding.access == bug.access
    assert result.returncode != 0


@pytest.mark.parametrize("bug", BUGS, ids=[b.id for b in BUGS])
def test_same_reproducer_is_quiet_on_the_clean_build(target, bug):
    result = run_function(_reproducer(target, bug), target, "clean")
    assert result.returncode == 0 and not result.findings, result.stderr[-3000:]


def test_planted_variant_has_every_bug_and_canaries(target):
    result = run_function(_reproducer(target, target.bug("strerror-oob")), target, "planted")
    assert result.finding is not None and result.finding.kind == "global-buffer-overflow"


def test_canaries_tell_reached_from_triggered(target):
    probe = f"{Path(__file__).parent / 'helpers' / 'canary_probe.py'}:probe"
    result = run_function(probe, target, "strerror-oob")
    assert result.returncode == 0, result.stderr[-2000:]
    canaries = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(canaries) == {b.id for b in target.bugs if not b.in_binding}
    assert canaries["take-stale-cache"] == [1, 1]
    assert canaries["replace-leak"][0] >= 1 and canaries["replace-leak"][1] == 0
    assert canaries["abort-on-type"] == [0, 0]
    clean = run_function(probe, target, "clean")
    assert json.loads(clean.stdout.strip().splitlines()[-1]) == {}
