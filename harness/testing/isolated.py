"""harness.isolated: a test body run in a forked child, so a sanitizer abort is a failing example.

By default the examples of one test share a forked worker (harness.testing.worker): an example
then costs a pipe round trip instead of a fork. Every failure is run again alone in a fresh
fork (harness.testing.forked.run_forked) before hypothesis sees it, so what hypothesis shrinks,
saves and replays is a failure of the example alone. A failure that needs what earlier
examples left in the worker is reported as StateDependentFailure (hypothesis then reports the
test as flaky) instead of being dropped.
"""

from __future__ import annotations

import atexit
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from harness.testing.forked import EXAMPLE_LEAKS, ForkResult, LeakCheckMode, describe, raise_for, run_forked
from harness.testing.worker import ExampleWorker, Unpicklable
from harness.triage import TargetCode

F = TypeVar("F", bound=Callable[..., Any])
_active: list[ExampleWorker] = []  # at most one worker alive: the current test's


class StateDependentFailure(AssertionError):
    """An example failed after earlier examples in the same worker and passed alone."""


def _failed(result: ForkResult) -> bool:
    return bool(result.findings) or result.status != 0


def _activate(worker: ExampleWorker) -> None:
    if _active and _active[0] is not worker:
        _active.pop().close()
    if not _active:
        _active.append(worker)


@atexit.register
def _close_active() -> None:
    while _active:
        _active.pop().close()


def _explain(result: ForkResult, earlier: int) -> str:
    what = describe(result.findings[0], result.output) if result.findings else result.output[-3000:]
    return (f"the example failed in a worker that had run {earlier} earlier example(s) of this test, "
            "and passed when run alone in a fresh fork: the failure needs state an earlier example left "
            "(a module-level handle, a library global). Use harness.isolated(..., reuse=False) to give "
            f"every example a fresh fork.\n\nIn the worker:\n{what}")


def run_isolated(test: Callable[..., Any], worker: ExampleWorker | None, args: tuple, kwargs: dict,
                 *, target: TargetCode | None, timeout: float, leak_check: LeakCheckMode) -> ForkResult:
    """One example: in the worker when there is one (and its arguments can be sent), each
    failure confirmed in a fresh fork; StateDependentFailure when only the worker failed."""
    in_worker = None
    if worker is not None:
        _activate(worker)
        try:
            in_worker = worker.run(args, kwargs)
        except Unpicklable:
            pass
        else:
            if not _failed(in_worker):
                return in_worker
            earlier = worker.examples - 1
    alone = run_forked(test, *args, target=target, timeout=timeout, leak_check=leak_check, **kwargs)
    if in_worker is not None and not _failed(alone) and earlier:
        raise StateDependentFailure(_explain(in_worker, earlier))
    return alone


def isolated(target: TargetCode | None = None, *, timeout: float = 30.0,
             leak_check: LeakCheckMode = EXAMPLE_LEAKS, reuse: bool = True) -> Callable[[F], F]:
    """Decorator: run the test body in a forked child (put it under @given).

    target: the code whose frames are the library's. leak_check: "example" (default) checks
    for target leaks of memory allocated during the example, scanning only when a block it
    allocated through target code survives; True scans the whole heap after every example
    (also finds leaks of memory allocated before it, e.g. at import: 50-500 ms each); False
    does not check. reuse: run the examples of this test in one forked worker (each failure is
    confirmed alone in a fresh fork); False forks every example (10-40 ms each)."""

    def decorate(test: F) -> F:
        worker = ExampleWorker(test, target, leak_check, timeout) if reuse else None

        @functools.wraps(test)
        def wrapper(*args: Any, **kwargs: Any) -> None:
            raise_for(run_isolated(test, worker, args, kwargs, target=target, timeout=timeout,
                                   leak_check=leak_check))

        return wrapper  # type: ignore[return-value]

    return decorate
