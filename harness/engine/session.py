"""The fuzzing engine inside a worker: the target session and run_fuzzer(), the entry point.

A fuzzer script defines test_one_input(data) using session().ffi / .lib and ends with
`run_fuzzer(test_one_input)`. Run on its own it takes any libFuzzer flag; the target and
variant come from --target/FFI_HARNESS_TARGET and FFI_HARNESS_VARIANT (see harness.config).
Around each input run_fuzzer keeps the target-only leak checks (harness.engine.leakwatch),
the recovered reports and contract violations (harness.engine.recovery), and the campaign's
stop request (harness.engine.protocol).
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.config import setting
from harness.engine import hooks
from harness.engine.freshtrace import serve_fresh_trace, trace_in_fresh_process
from harness.engine.leakwatch import LeakWatch, TestOneInput
from harness.engine.protocol import STOP_NOTE, STOP_SIGNAL, final_executions
from harness.engine.recovery import ContractViolation, RecoveredReports, ViolationLog
from harness.runtime.sanitizers import SanitizerOptions, ensure_runtime
from harness.target.loader import Loaded, load, load_binding
from harness.target.spec import resolve_target

STOP_TRACE_SECONDS = 3.0  # within the campaign's grace period: a leak being traced may finish
# at the end of a budget nobody is waiting: a leak found by the last check may take this long to
# trace (well inside the campaign's OVERTIME_SECONDS)
BUDGET_TRACE_SECONDS = 20.0


class Session:
    """The loaded target a fuzzer or an isolated function works with: ffi, lib and, on demand,
    the target's Python binding."""

    def __init__(self, loaded: Loaded) -> None:
        self.loaded = loaded
        self.ffi = loaded.ffi
        self.lib = loaded.lib

    @cached_property
    def binding(self) -> ModuleType:
        return load_binding(self.loaded)


@functools.cache
def session() -> Session:
    """The target variant the settings name, built and loaded under the sanitizer runtime
    (with CPython's own allocator for the fuzzers the spec lists under `pymalloc`, as a campaign
    starts them)."""
    target = resolve_target(setting("target"))
    name = Path(sys.argv[0]).stem.removeprefix("fuzz_")
    ensure_runtime(SanitizerOptions(python_malloc=name not in target.pymalloc))
    return Session(load(target, setting("variant")))


def _flag(argv: list[str], name: str) -> str | None:
    prefix = f"-{name}="
    return next((a[len(prefix):] for a in argv if a.startswith(prefix)), None)


# libFuzzer modes in which -runs and -max_total_time mean something else than a fuzzing budget
_OTHER_MODES = ("merge", "set_cover_merge", "minimize_crash", "cleanse_crash", "fork", "jobs", "workers")


def _fuzzing(argv: list[str]) -> bool:
    return all(_flag(argv, mode) in (None, "0") for mode in _OTHER_MODES)


@dataclass
class _Budget:
    """A fuzzing run's budget (-runs, -max_total_time), kept here and not by libFuzzer: libFuzzer
    exit()s when it is spent, skipping the last leak check and losing a leak being traced. Seed
    inputs always run, as in libFuzzer: the run budget counts from max(runs, seed files)."""

    runs: int | None
    deadline: float | None
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def take(cls, argv: list[str]) -> _Budget | None:
        """Remove the budget flags from argv (in place) and return the budget they set."""
        runs, seconds = _flag(argv, "runs"), _flag(argv, "max_total_time")
        argv[:] = [a for a in argv if not a.startswith(("-runs=", "-max_total_time="))]
        limit = int(runs) if runs is not None and int(runs) >= 0 else None
        if limit is not None:
            limit = max(limit, _seed_files(argv))
        deadline = time.monotonic() + float(seconds) if seconds and float(seconds) > 0 else None
        return cls(limit, deadline) if limit is not None or deadline is not None else None

    def spent(self, execs: int) -> bool:
        """True once the run has made its executions or its time is up."""
        if self.runs is not None and execs >= self.runs:
            return True
        return self.deadline is not None and time.monotonic() > self.deadline


def _seed_files(argv: list[str]) -> int:
    """How many inputs libFuzzer reads from the corpus folders of argv (recursively)."""
    folders = [Path(a) for a in argv[1:] if not a.startswith("-") and Path(a).is_dir()]
    return sum(1 for folder in folders for p in folder.rglob("*") if p.is_file())


def run_fuzzer(test_one_input: TestOneInput, argv: list[str] | None = None) -> None:
    """Run test_one_input under atheris/libFuzzer (argv: its command line, default sys.argv)
    with ffi-harness's leak checks. A fuzzing run whose -runs or -max_total_time is spent ends
    the process (exit 0) after its last leak check."""
    loaded = session()
    import atheris

    request = setting("leak_trace")
    if request:  # a fresh process that traces a fuzzing run's leak: no fuzzing
        serve_fresh_trace(Path(request), test_one_input, loaded.loaded.target.code)
        return
    args = list(sys.argv if argv is None else argv)
    if _flag(args, "detect_leaks") is None:
        args.insert(1, "-detect_leaks=0")
    replaying = any(Path(a).is_file() for a in args[1:] if not a.startswith("-"))
    budget = _Budget.take(args) if not replaying and _fuzzing(args) else None
    watch = LeakWatch(test_one_input, loaded.loaded.target.code, interval=setting("leak_interval"),
                      artifact_prefix=_flag(args, "artifact_prefix") or "./", every_input=replaying,
                      keep_going=not replaying and setting("keep_going"),
                      fresh=None if replaying else functools.partial(trace_in_fresh_process, script=sys.argv[0]))
    violations = ViolationLog(watch.artifact_prefix)
    recovered = RecoveredReports(loaded.lib, watch.artifact_prefix)
    stop_requested: list[int] = []

    def run(data: bytes) -> None:
        try:
            test_one_input(data)
        except ContractViolation as violation:
            violations.record(violation, data)

    def one_input(data: bytes) -> None:
        if replaying:
            test_one_input(data)  # a contract violation is fatal on replay
        else:
            run(data)
        recovered.after(data)
        watch.after(data)
        if stop_requested:
            sys.stderr.write(STOP_NOTE + "\n")
            _stop(watch)
        elif budget is not None and budget.spent(watch.execs):
            _stop(watch, done=budget.started)

    per_input = _with_hooks(one_input, loaded.loaded, replaying)
    atheris.Setup(args, per_input)
    signal.signal(STOP_SIGNAL, lambda signum, frame: stop_requested.append(signum))
    try:
        atheris.Fuzz()  # a fuzzing budget ends in _stop; other modes return or exit by themselves
    finally:
        watch.finish()


def _stop(watch: LeakWatch, done: float | None = None) -> None:
    """The run ends between two inputs (a stop request, or its budget spent): the input is
    done; a last leak check, libFuzzer's closing lines (`Done N runs` when the budget is spent:
    done is when it started), then exit."""
    # the run ends inside libFuzzer's callback: its per-input alarm would count the wait for a
    # leak being traced (up to BUDGET_TRACE_SECONDS) against the last input, a false `timeout`
    signal.setitimer(signal.ITIMER_REAL, 0)
    watch.finish(STOP_TRACE_SECONDS if done is None else BUDGET_TRACE_SECONDS)
    if done is not None:
        sys.stderr.write(f"Done {watch.execs} runs in {int(time.monotonic() - done)} second(s)\n")
    sys.stderr.write(final_executions(watch.execs))
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(0)


def _with_hooks(one_input: Callable[[bytes], None], loaded: Loaded, replaying: bool) -> Callable[[bytes], Any]:
    """one_input, wrapped by the benchmark and test hooks the settings ask for (none: as is)."""
    if loaded.built.canaries and setting("canaries"):
        canaries = hooks.CanaryLog(loaded)

        def with_canaries(data: bytes, run: Callable[[bytes], None] = one_input) -> None:
            run(data)
            canaries.after()

        one_input = with_canaries
    inject = setting("inject")
    if inject and not replaying:
        one_input = hooks.injecting(one_input, inject)
    return one_input
