"""Known failing programs of the state machines, one per planted bug, in hypothesis's database.

Searching for each planted bug from scratch takes the forked state machines 10-300 s a bug
(a fork per example, a LeakSanitizer scan per example for leaks): that search is a slow test
(tests/test_stateful.py, `make test-slow`). The fast tests instead start from the failing
example a seeded search found once, stored as hypothesis stores it (`choices_to_bytes`, the
unshrunk first failure), and prove what happens next: the report, the shrinking, the saving
in the example database and the replay from it.

After changing a machine (tests/machines.py) or the sequence driver, regenerate:

    .venv/bin/python tests/machine_examples.py [BUG ...]
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path

from hypothesis import Phase, settings
from hypothesis.database import InMemoryExampleDatabase
from hypothesis.stateful import run_state_machine_as_test

from harness.sequence.machine import sequence_machine
from harness.target.loader import load
from harness.target.spec import resolve_target
from harness.testing.forked import SanitizerFinding
from harness.testing.stateful import IsolatedMachine

from machines import BASE, counting, make_machines

EXAMPLES = Path(__file__).parent / "fixtures" / "machine-examples.json"
CFG_SPEC = Path(__file__).parent / "targets" / "cfgdoc" / "cfg.toml"
MACHINE_SURFACES = ("ownership", "callbacks", "binding")
SEQUENCE_BUGS = ("escape-truncated-nul", "free-skips-release")  # the cfg library through its spec alone
SEARCH_EXAMPLES = 3000


class SeededDatabase(InMemoryExampleDatabase):
    """An example database that offers the given failing examples to every test (a test's key
    is a digest of the machine's source, which a fixture cannot know), besides what hypothesis
    saves into it. They are offered as hypothesis keeps the unshrunk failures a shrunk one came
    from (its secondary corpus), so it replays them first and then shrinks: a primary entry
    counts as already shrunk."""

    def __init__(self, seeds: Iterable[bytes]) -> None:
        super().__init__()
        self.seeds = tuple(seeds)

    def fetch(self, key: bytes) -> Iterable[bytes]:
        if key.endswith(b".secondary"):
            yield from self.seeds
        yield from super().fetch(key)

    def saved(self) -> list[bytes]:
        """What hypothesis saved as primary examples (the shrunk failures)."""
        return [v for k, values in self.data.items() if not k.endswith((b".secondary", b".pareto")) for v in values]


def machine_for(bug_id: str, variant: str | None = None) -> tuple[type[IsolatedMachine], tuple[str, str]]:
    """The counting machine that should find bug_id (on the build of variant, default the bug's
    own), and the (kind, function) it must report."""
    if bug_id in SEQUENCE_BUGS:
        cfg = resolve_target(str(CFG_SPEC))
        bug = cfg.bug(bug_id)
        machine = counting(sequence_machine(load(cfg, variant or bug_id)))
    else:
        kv = resolve_target(None)
        bug = kv.bug(bug_id)
        machine = counting(make_machines(load(kv, variant or bug_id))[bug.surface])
    machine.check_leaks = bug.kind == "leak"  # a LeakSanitizer scan costs ~150-600 ms per example
    return machine, (bug.kind, bug.function)


def bug_ids() -> list[str]:
    """Every planted bug a state machine is expected to find."""
    kv = [b.id for b in resolve_target(None).bugs if b.surface in MACHINE_SURFACES]
    return [*kv, *SEQUENCE_BUGS]


def stored(bug_id: str) -> bytes:
    """The stored failing example of bug_id (hypothesis's encoding of its choices)."""
    entries = json.loads(EXAMPLES.read_text())
    if bug_id not in entries:
        raise KeyError(f"no stored failing example for {bug_id}: run "
                       f".venv/bin/python tests/machine_examples.py {bug_id}")
    return bytes.fromhex(entries[bug_id]["choices"])


def replay(bug_id: str, *, shrink: bool, database: InMemoryExampleDatabase | None = None, variant: str | None = None,
           max_examples: int = 400) -> tuple[type[IsolatedMachine], SanitizerFinding | None]:
    """Run bug_id's machine (on variant's build, default the bug's) from its stored failing
    example, generating no new ones; the machine (its runs and last program) and what it raised."""
    machine, _ = machine_for(bug_id, variant)
    database = database if database is not None else SeededDatabase([stored(bug_id)])
    phases = [Phase.reuse, Phase.shrink] if shrink else [Phase.reuse]
    try:
        run_state_machine_as_test(machine, settings=settings(BASE, max_examples=max_examples, database=database,
                                                             phases=phases))
    except SanitizerFinding as finding:
        return machine, finding
    return machine, None


def search(bug_id: str) -> tuple[bytes, int, list]:
    """A seeded search (generation only) for the first example that fails with the catalogued
    kind and function (a bug may first show elsewhere, e.g. a callback-after-free at the call
    site instead of in the release function): its choices, the test cases it took, its program."""
    found, expected = machine_for(bug_id)

    class Catalogued(found):  # type: ignore[misc, valid-type]
        def teardown(self) -> None:
            try:
                super().teardown()
            except SanitizerFinding as raised:
                if (raised.finding.kind, raised.finding.function) == expected:
                    raise

    database = InMemoryExampleDatabase()
    try:
        run_state_machine_as_test(Catalogued, settings=settings(BASE, max_examples=SEARCH_EXAMPLES, database=database,
                                                                phases=[Phase.generate]))
    except SanitizerFinding:
        (choices,) = [v for values in database.data.values() for v in values]
        return choices, Catalogued.runs, Catalogued.last
    raise SystemExit(f"{bug_id}: not found in {SEARCH_EXAMPLES} examples")


def main(argv: list[str]) -> int:
    from harness.runtime.sanitizers import SanitizerOptions, ensure_runtime

    ensure_runtime(SanitizerOptions(symbolize=False).with_asan(quarantine_size_mb=16))
    entries = json.loads(EXAMPLES.read_text()) if EXAMPLES.exists() else {}
    for bug_id in argv or bug_ids():
        choices, runs, program = search(bug_id)
        entries[bug_id] = {"choices": choices.hex(), "found_after": runs, "program": repr(program)}
        print(f"{bug_id}: failing example after {runs} test cases, {len(program)} steps", flush=True)
    EXAMPLES.write_text(json.dumps(entries, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
