"""Hypothesis state machines whose C calls run isolated, so a crash is a shrinkable failure.

A RuleBasedStateMachine normally calls C from its rules, in the test process: the first
ASan abort kills pytest. Here rules only *record* steps (and update a pure-Python model);
Bundles hold symbolic names, not pointers. At teardown the recorded program runs in a
forked child against the real library (one worker per machine class, see harness.isolated:
each failure is confirmed alone in a fresh fork); a sanitizer report, a leak or a failed
expectation there fails the test case. Hypothesis then shrinks the rule sequence as usual,
saves it in its database and replays it first on the next run, and prints it as the
readable list of rule calls.

Subclass IsolatedMachine, set `executor` to a class whose methods perform the steps
(same names as recorded) and `target` to the TargetCode whose leaks count.
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hypothesis.stateful import RuleBasedStateMachine

from harness.testing.forked import EXAMPLE_LEAKS, LeakCheckMode, raise_for
from harness.testing.isolated import run_isolated
from harness.testing.worker import ExampleWorker
from harness.triage import TargetCode


@dataclass
class Program:
    """Steps recorded by the rules: (method name, arguments)."""

    steps: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    def call(self, name: str, *args: Any) -> None:
        self.steps.append((name, args))


class Executor:
    """Performs a Program's steps against the real library, inside the forked child."""

    def finish(self) -> None:
        """Called after the last step: release everything (leaks are checked after)."""


def execute(program: Program, executor_type: type[Executor]) -> None:
    """Run every step of program on a new executor (in the child)."""
    executor = executor_type()
    for name, args in program.steps:
        getattr(executor, name)(*args)
    executor.finish()


_workers: weakref.WeakKeyDictionary[type, ExampleWorker] = weakref.WeakKeyDictionary()


class IsolatedMachine(RuleBasedStateMachine):
    """Base for machines whose recorded program runs in a forked child at teardown."""

    executor: ClassVar[type[Executor]]
    target: ClassVar[TargetCode | None] = None
    check_leaks: ClassVar[LeakCheckMode] = EXAMPLE_LEAKS
    reuse: ClassVar[bool] = True  # programs run in one forked worker per machine class (see isolated)
    timeout: ClassVar[float] = 30.0

    def __init__(self) -> None:
        super().__init__()
        self.program = Program()
        self._names = 0

    def fresh(self, prefix: str) -> str:
        """A new symbolic name for a handle a rule creates."""
        self._names += 1
        return f"{prefix}{self._names}"

    def teardown(self) -> None:
        if self.program.steps:
            machine = type(self)
            run = functools.partial(execute, executor_type=machine.executor)
            worker = None
            if machine.reuse:
                if machine not in _workers:
                    _workers[machine] = ExampleWorker(run, machine.target, machine.check_leaks, machine.timeout)
                worker = _workers[machine]
            raise_for(run_isolated(run, worker, (self.program,), {}, target=machine.target,
                                   timeout=machine.timeout, leak_check=machine.check_leaks))
