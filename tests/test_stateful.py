"""Stateful hypothesis suites on the raw API (ownership, callbacks) and on the binding.

Clean build: each suite runs its full example budget with zero findings, leaks included.
Planted bugs of their surfaces: found, reported with the parsed finding, shrunk to a
short call sequence, saved in hypothesis's database and replayed first on the next run.
"""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.stateful import run_state_machine_as_test

from harness import leaks
from harness.forked import SanitizerFinding
from harness.loader import load
from harness.target import resolve_target

from machines import BASE, counting, make_machines

SURFACES = ("ownership", "callbacks", "binding")
BUGS = [b for b in resolve_target(None).bugs if b.surface in SURFACES]


@pytest.fixture(autouse=True)
def forget_earlier_leaks(target_code):
    leaks.check(target_code)  # forked children inherit this process's leak bookkeeping




@pytest.mark.parametrize("surface", SURFACES)
def test_clean_suite_runs_its_full_budget_quietly(kv, surface):
    machine = counting(make_machines(kv)[surface])
    run_state_machine_as_test(machine, settings=settings(BASE, max_examples=40))
    assert machine.runs >= 40


@pytest.mark.parametrize("bug", BUGS, ids=[b.id for b in BUGS])
def test_suite_finds_and_shrinks_the_planted_bug(target, bug):
    machine = counting(make_machines(load(target, bug.id))[bug.surface])
    machine.check_leaks = bug.kind == "leak"  # a LeakSanitizer scan costs ~150 ms per example
    with pytest.raises(SanitizerFinding) as raised:
        run_state_machine_as_test(machine, settings=settings(BASE, max_examples=3000))
    finding = raised.value.finding
    assert (finding.kind, finding.function) == (bug.kind, bug.function), finding.title
    # the bug needs 3 to 5 steps; how far hypothesis gets depends on which shorter programs
    # reproduce, and a use-after-free is seen only while the block sits in the quarantine
    assert len(machine.last) <= 10, machine.last
    print(f"{bug.id}: {machine.runs} test cases, shrunk to {len(machine.last)} steps")


def test_failing_example_is_saved_and_replayed_first(target, tmp_path):
    database = DirectoryBasedExampleDatabase(str(tmp_path / "examples"))
    bug = target.bug("take-stale-cache")
    machines = make_machines(load(target, bug.id))
    first = counting(machines["ownership"])
    first.check_leaks = False
    with pytest.raises(SanitizerFinding):
        run_state_machine_as_test(first, settings=settings(BASE, max_examples=400, database=database))
    assert first.runs > 1
    again = counting(machines["ownership"])
    again.check_leaks = False
    with pytest.raises(SanitizerFinding):
        run_state_machine_as_test(again, settings=settings(BASE, max_examples=400, database=database,
                                                           derandomize=False))
    assert again.runs <= 2, "the saved example must be replayed before any new one"
