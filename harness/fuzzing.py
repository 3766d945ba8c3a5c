"""What every atheris fuzzer of ffi-harness shares: the target session, leak checks, the entry point.

A fuzzer script defines test_one_input(data) using session().ffi / .lib and ends with
`run_fuzzer(test_one_input)`. Run on its own it takes any libFuzzer flag; the target and
variant come from FFI_HARNESS_TARGET / FFI_HARNESS_VARIANT (default: embedded, clean).

Leaks: libFuzzer's own per-input leak check cannot tell CPython's allocations from the
target's and switches itself off after 1000 inputs whose malloc/free counts differ, which
in CPython is all of them. So libFuzzer runs with -detect_leaks=0 and LeakWatch checks
instead: every `interval` seconds a recoverable LeakSanitizer check that keeps only leaks
allocated through target code; on a hit it bisects the inputs run since the previous check
(re-running them, which leaks again) down to the one that leaks, writes it as a
`leak-<sha1>` artifact and ends the process like a crash.
"""

from __future__ import annotations

import functools
import hashlib
import os
import signal
import sys
import tempfile
import time
import traceback
import zlib
from collections import deque
from collections.abc import Callable
from pathlib import Path

from harness import leaks
from harness.atomic import write_atomic
from harness.child import Session
from harness.errors import EXIT_FINDINGS
from harness.fuzzers import PYMALLOC_FUZZERS
from harness.loader import Loaded, load
from harness.runtime import SanitizerOptions, ensure_runtime
from harness.target import resolve_target
from harness.triage import TargetCode

ENV_TARGET = "FFI_HARNESS_TARGET"
ENV_VARIANT = "FFI_HARNESS_VARIANT"
ENV_LEAK_INTERVAL = "FFI_HARNESS_LEAK_INTERVAL"
ENV_INJECT = "FFI_HARNESS_INJECT"
ENV_KEEP_GOING = "FFI_HARNESS_KEEP_GOING"  # 1: traced leaks do not end the process (campaign workers)
ENV_CANARIES = "FFI_HARNESS_CANARIES"  # set: log when each planted bug is first reached / triggered
CANARY_INTERVAL = 0.2
DEFAULT_LEAK_INTERVAL = 2.0
# a LeakSanitizer scan of a fuzzing process takes 0.1-0.8 s: wait after each check at least
# (1 - share) / share times what it took, so checks cost at most this share of the time
LEAK_CHECK_SHARE = 0.1
RECENT_INPUTS = 200_000
TRACE_WAIT_SECONDS = 60.0  # at exit, how long a forked leak bisection may still take
# A campaign ends a worker with this signal: the worker finishes the input it is running (so a
# report it printed gets its artifact), runs a last leak check, prints libFuzzer's final count of
# executions and exits 0. SIGINT would raise KeyboardInterrupt wherever Python is, mid-input.
STOP_SIGNAL = signal.SIGUSR1
STOP_TRACE_SECONDS = 3.0  # within the campaign's grace period: a leak being traced may finish
STOP_NOTE = "INFO: ffi-harness: stop requested: the current input finished, a last leak check, then exit"
CONTRACT_BANNER = "=== ffi-harness: contract violation (not fatal, fuzzing goes on) ==="
RECOVERED_NOTE = "the sanitizer report above did not end the process (halt_on_error=0): fuzzing goes on"

TestOneInput = Callable[[bytes], None]


class ContractViolation(AssertionError):
    """The library broke its documented contract in a way no sanitizer sees.

    The message starts with the violation kind, e.g. 'callback-after-unsubscribe: ...', and
    ends with '[in FUNCTION]' when a C function is to blame; triage reads both.
    """

    def __init__(self, kind: str, detail: str, function: str | None = None) -> None:
        super().__init__(f"{kind}: {detail}" + (f" [in {function}]" if function else ""))
        self.kind = kind
        self.function = function


@functools.cache
def session() -> Session:
    """The target variant named by the environment, built and loaded under the runtime
    (with pymalloc for the fuzzers of PYMALLOC_FUZZERS, as a campaign would start them)."""
    script = Path(sys.argv[0]).stem
    ensure_runtime(SanitizerOptions(python_malloc=script.removeprefix("fuzz_") not in PYMALLOC_FUZZERS))
    target = resolve_target(os.environ.get(ENV_TARGET) or None)
    return Session(load(target, os.environ.get(ENV_VARIANT, "clean")))


def _flag(argv: list[str], name: str) -> str | None:
    prefix = f"-{name}="
    return next((a[len(prefix):] for a in argv if a.startswith(prefix)), None)


def write_artifact(prefix: str, kind: str, data: bytes) -> Path:
    """Write data as libFuzzer names artifacts (PREFIX + KIND-<sha1>), atomically."""
    return write_atomic(Path(prefix + f"{kind}-{hashlib.sha1(data).hexdigest()}"), data)


def artifact_line(prefix: str, path: Path) -> str:
    """The line libFuzzer prints after a report, naming its input (campaigns parse it)."""
    return f"artifact_prefix='{prefix}'; Test unit written to {path}\n"


class LeakWatch:
    """Periodic target-only leak checks over the inputs run since the last check.

    interval: the shortest wait between checks; a check that took t seconds waits at least
    t * (1 - LEAK_CHECK_SHARE) / LEAK_CHECK_SHARE before the next one. keep_going: a traced
    leak is reported and fuzzing goes on (a campaign's workers), each leak stack once per
    process; otherwise the process ends like a crash.

    With keep_going, the culprit is searched for in a forked copy of the process (the leaked
    blocks and the library's state come with it): the bisection re-runs up to RECENT_INPUTS
    inputs, which under load can take longer than libFuzzer's per-input timeout, and that time
    must not count against the input that happened to be running (a false `timeout`). The copy
    writes its report to a file; this process prints it between two inputs, so it never
    interleaves with libFuzzer's own lines."""

    def __init__(self, run: TestOneInput, target: TargetCode, *, interval: float,
                 artifact_prefix: str, every_input: bool = False, keep_going: bool = False) -> None:
        self.run = run
        self.keep_going = keep_going
        self.reported: set[str] = set()  # stack hashes of leaks already traced (keep_going)
        self.target = target
        self.interval = interval
        self.every_input = every_input
        self.artifact_prefix = artifact_prefix
        self.recent: deque[bytes] = deque(maxlen=RECENT_INPUTS)
        self.execs = 0
        self.checks = 0
        self.last_check = time.monotonic()
        self.wait = interval  # until the next check: interval, or longer after a slow check
        self.tracing: tuple[int, Path] | None = None  # (pid, report file) of the forked bisection

    def after(self, data: bytes) -> None:
        """Record an input that just ran; check for leaks when the interval is over."""
        self.execs += 1
        if self.interval <= 0:
            return
        self.recent.append(data)
        if self.tracing is not None:
            self.finish_tracing(block=False)
            if self.tracing is not None:
                return  # no check while a copy traces the last leak: the copy holds its objects
        if self.every_input or time.monotonic() - self.last_check >= self.wait:
            self.check()

    def check(self) -> None:
        """Run the leak check now; on a target leak, find the culprit input and report it."""
        self.checks += 1
        started = time.monotonic()
        found = leaks.check(self.target)
        self.last_check = time.monotonic()
        took = self.last_check - started
        self.wait = max(self.interval, took * (1 - LEAK_CHECK_SHARE) / LEAK_CHECK_SHARE)
        hashes = {f.stack_hash for f in found.findings}
        if not found or (self.keep_going and hashes <= self.reported):
            self.recent.clear()
            return
        if self.keep_going:
            self.reported |= hashes
            self._trace_in_copy(list(self.recent), found)
        else:
            culprit, confirmed = self._bisect(list(self.recent))
            sys.stderr.write(self._report(culprit, confirmed or found))
            sys.stderr.flush()
            os._exit(EXIT_FINDINGS)
        self.recent.clear()

    def _trace_in_copy(self, inputs: list[bytes], found: leaks.LeakCheck) -> None:
        """Bisect in a forked copy of this process and let fuzzing go on (see the class)."""
        fd, name = tempfile.mkstemp(prefix="ffih-leak-trace-", suffix=".txt")
        os.close(fd)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the copy never returns
            status = 0
            try:
                culprit, confirmed = self._bisect(inputs)
                write_atomic(Path(name), self._report(culprit, confirmed or found).encode())
            except BaseException:
                status = 1
            finally:
                os._exit(status)
        self.tracing = (pid, Path(name))

    def finish_tracing(self, block: bool, timeout: float = TRACE_WAIT_SECONDS) -> None:
        """Print the forked bisection's report once it is done (block: wait for it, at most
        timeout seconds, then kill it)."""
        if self.tracing is None:
            return
        pid, path = self.tracing
        deadline = time.monotonic() + timeout
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done or not block:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                done, status = os.waitpid(pid, 0)
                break
            time.sleep(0.01)
        if not done:
            return
        self.tracing = None
        text = path.read_text(errors="replace") if path.exists() and path.stat().st_size else \
            f"INFO: ffi-harness: the leak's input was not traced (the tracing copy ended with status {status})\n"
        path.unlink(missing_ok=True)
        sys.stderr.write(text)
        sys.stderr.flush()

    def _bisect(self, inputs: list[bytes]) -> tuple[bytes, leaks.LeakCheck | None]:
        """The input that leaks when run again, found by halving; the last input if none does."""
        confirmed = None
        while len(inputs) > 1:
            half = inputs[: len(inputs) // 2]
            for data in half:
                self.run(data)
            found = leaks.check(self.target)
            if found:
                inputs, confirmed = half, found
            else:
                inputs = inputs[len(inputs) // 2:]
        if inputs:
            self.run(inputs[0])
            again = leaks.check(self.target)
            confirmed = again or confirmed
        return (inputs[0] if inputs else b""), confirmed

    def _report(self, culprit: bytes, found: leaks.LeakCheck) -> str:
        """Write the culprit as a leak artifact; the report that names it."""
        path = write_artifact(self.artifact_prefix, "leak", culprit)
        return (found.report + f"INFO: ffi-harness: leak traced to one input ({self.execs} executions, "
                f"{self.checks} leak checks)\n" + artifact_line(self.artifact_prefix, path))


class BehaviourCoverage:
    """Coverage for what the fuzzer cannot see: named events become libFuzzer features.

    A prebuilt library has no coverage instrumentation, so libFuzzer would keep no input.
    Each event (say "cfg_get:null" or "cfg_set>cfg_get:ptr") bumps one of `size` atheris
    counters, reserved before fuzzing starts; a new event is new coverage.
    """

    def __init__(self, size: int = 1 << 14) -> None:
        import atheris

        self.atheris = atheris  # atheris.Setup replaces _trace_branch: look it up per call
        self.counters = [atheris._reserve_counter() for _ in range(size)]

    def __call__(self, event: str) -> None:
        self.atheris._trace_branch(self.counters[zlib.crc32(event.encode()) % len(self.counters)])


class CanaryLog:
    """For benchmarks: logs, with wall-clock time, the first time each planted bug's code is
    reached and its condition triggered (the canaries a planted build compiles in)."""

    def __init__(self, loaded: Loaded) -> None:
        self.loaded = loaded
        self.seen: set[tuple[str, str]] = set()
        self.last = 0.0

    def after(self) -> None:
        """Read the canaries when CANARY_INTERVAL has passed; print what is new."""
        now = time.time()
        if now - self.last < CANARY_INTERVAL:
            return
        self.last = now
        for bug, counts in self.loaded.canaries().items():
            for event, count in zip(("reached", "triggered"), counts, strict=True):
                if count and (bug, event) not in self.seen:
                    self.seen.add((bug, event))
                    sys.stderr.write(f"INFO: ffi-harness: canary {bug} {event} at {now:.3f}\n")


class RecoveredReports:
    """Sanitizer reports that did not end the process: in a campaign ASan runs with
    halt_on_error=0 on code built with -fsanitize-recover=address, so a shallow bug found at
    every other input does not restart the worker each time and mask every deeper bug (as
    ViolationLog does for contract violations). ASan prints each report once per code
    location (suppress_equal_pcs); after the input that caused one, its bytes are written as a
    `crash-<sha1>` artifact and the artifact line follows the report, as after a crash.
    A write out of bounds on the stack may have overwritten frames beyond the redzone, so it
    ends the process; so do the crashes ASan cannot recover from (SEGV, UBSan errors)."""

    def __init__(self, lib: object, artifact_prefix: str) -> None:
        self.lib = lib
        self.artifact_prefix = artifact_prefix
        self.enabled = bool(lib.ffih_watch_reports())  # type: ignore[attr-defined]
        self.count = 0

    def after(self, data: bytes) -> None:
        """Store data when a report was printed while it ran."""
        if not self.enabled:
            return
        count = self.lib.ffih_report_count()  # type: ignore[attr-defined]
        if count == self.count:
            return
        self.count = count
        path = write_artifact(self.artifact_prefix, "crash", data)
        smashed = self.lib.ffih_stack_write_count() > 0  # type: ignore[attr-defined]
        note = "the sanitizer report above wrote out of bounds on the stack: the process ends" if smashed \
            else RECOVERED_NOTE
        sys.stderr.write(f"INFO: ffi-harness: {note}\n" + artifact_line(self.artifact_prefix, path))
        sys.stderr.flush()
        if smashed:  # nothing after it is trustworthy
            os._exit(EXIT_FINDINGS)


class ViolationLog:
    """Contract violations found while fuzzing: reported once per place, fuzzing goes on.

    A ContractViolation is a Python-level finding; the process is not corrupted, so ending
    it would only let a shallow broken promise mask every deeper bug of the same run (as
    UBSan's recover mode avoids). Each distinct violation (kind + the line that raised it)
    is written as a `contract-<sha1>` artifact (atomically, before its report) and printed
    as a traceback report triage parses; replaying an input re-raises it as usual.
    """

    def __init__(self, artifact_prefix: str) -> None:
        self.artifact_prefix = artifact_prefix
        self.seen: set[tuple[str, str, int, str]] = set()

    def record(self, violation: ContractViolation, data: bytes) -> None:
        """Report violation (caused by input data) unless its place (raising line and blamed
        C function) was reported before."""
        where = traceback.extract_tb(violation.__traceback__)[-1]
        key = (violation.kind, where.filename, where.lineno or 0, violation.function or "")
        if key in self.seen:
            return
        self.seen.add(key)
        path = write_artifact(self.artifact_prefix, "contract", data)
        text = "".join(traceback.format_exception(violation))
        sys.stderr.write(f"\n{CONTRACT_BANNER}\n{text}\n" + artifact_line(self.artifact_prefix, path))
        sys.stderr.flush()


def _injection(argv_inputs: bool) -> tuple[int, bytes] | None:
    """FFI_HARNESS_INJECT='FILE@N': run FILE's bytes as input number N (proves late checks)."""
    spec = os.environ.get(ENV_INJECT)
    if not spec or argv_inputs:
        return None
    path, _, at = spec.rpartition("@")
    return int(at), Path(path).read_bytes()


def run_fuzzer(test_one_input: TestOneInput, argv: list[str] | None = None) -> None:
    """Run test_one_input under atheris/libFuzzer (argv: its command line, default sys.argv)
    with ffi-harness's leak checks. Never returns normally under -runs=N (libFuzzer _exits)."""
    loaded = session()
    import atheris

    args = list(sys.argv if argv is None else argv)
    if _flag(args, "detect_leaks") is None:
        args.insert(1, "-detect_leaks=0")
    replaying = any(Path(a).is_file() for a in args[1:] if not a.startswith("-"))
    interval = float(os.environ.get(ENV_LEAK_INTERVAL, DEFAULT_LEAK_INTERVAL))
    target = loaded.loaded.target.code
    watch = LeakWatch(test_one_input, target, interval=interval,
                      artifact_prefix=_flag(args, "artifact_prefix") or "./", every_input=replaying,
                      keep_going=not replaying and os.environ.get(ENV_KEEP_GOING) == "1")
    inject = _injection(replaying)

    violations = ViolationLog(watch.artifact_prefix)
    recovered = RecoveredReports(loaded.lib, watch.artifact_prefix)
    canaries = CanaryLog(loaded.loaded) if os.environ.get(ENV_CANARIES) and loaded.loaded.built.canaries else None

    def one_input(data: bytes) -> None:
        if inject is not None and watch.execs + 1 == inject[0]:
            data = inject[1]
            sys.stderr.write(f"INFO: ffi-harness: injected input at execution {inject[0]}\n")
        if inject is None or watch.execs + 1 >= inject[0]:
            if replaying:
                test_one_input(data)
            else:
                try:
                    test_one_input(data)
                except ContractViolation as violation:
                    violations.record(violation, data)
        recovered.after(data)
        watch.after(data)
        if canaries is not None:
            canaries.after()
        if stop_requested:
            sys.stderr.write(STOP_NOTE + "\n")
            watch.finish_tracing(block=True, timeout=STOP_TRACE_SECONDS)
            if watch.interval > 0 and watch.recent:
                watch.check()
                watch.finish_tracing(block=True, timeout=STOP_TRACE_SECONDS)
            sys.stderr.write(f"stat::number_of_executed_units: {watch.execs}\n")
            sys.stderr.flush()
            sys.stdout.flush()
            os._exit(0)

    stop_requested: list[int] = []
    atheris.Setup(args, one_input)
    signal.signal(STOP_SIGNAL, lambda signum, frame: stop_requested.append(signum))
    try:
        atheris.Fuzz()
    finally:
        watch.finish_tracing(block=True)
        if watch.interval > 0 and watch.recent:
            watch.check()
            watch.finish_tracing(block=True)
