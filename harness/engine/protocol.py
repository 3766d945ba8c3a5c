"""The protocol between a campaign (the parent) and its libFuzzer workers, in one place.

Environment a worker is started with, lines a worker prints that the parent parses (libFuzzer's
own and ffi-harness's), artifact naming, and how the parent asks a worker to stop.
"""

from __future__ import annotations

import hashlib
import re
import signal
from pathlib import Path

from harness.atomic import write_atomic

# A worker's settings (target, variant, keep_going) travel as FFI_HARNESS_* variables:
# harness.config.worker_environment() writes them, harness.config.setting() reads them.

# -- stopping ---------------------------------------------------------------------------
# A campaign ends a worker with this signal: the worker finishes the input it is running (so a
# report it printed gets its artifact), runs a last leak check, prints libFuzzer's final count of
# executions and exits 0. SIGINT would raise KeyboardInterrupt wherever Python is, mid-input.
STOP_SIGNAL = signal.SIGUSR1
STOP_NOTE = "INFO: ffi-harness: stop requested: the current input finished, a last leak check, then exit"
STOP_KILLED_NOTE = "INFO: ffi-harness: worker killed"

# -- lines a worker prints ----------------------------------------------------------------
CONTRACT_BANNER = "=== ffi-harness: contract violation (not fatal, fuzzing goes on) ==="
RECOVERED_NOTE = "the sanitizer report above did not end the process (halt_on_error=0): fuzzing goes on"
STACK_WRITE_NOTE = "the sanitizer report above wrote out of bounds on the stack: the process ends"
LEAK_TRACED_NOTE = "INFO: ffi-harness: leak traced to one input"
# ends the note's parenthesis when the input leaked only after the inputs run before it (the
# library's state from them): its replay alone is expected not to reproduce the leak
LEAK_IN_CONTEXT = "it leaked after the inputs before it, not alone"
ATHERIS_BANNER = "=== Uncaught Python exception: ==="
CALL_TRACE = "ffi-harness sequence: "  # a sequence driver call, as C, before it is made (trace)
# libFuzzer: "#4096  pulse  cov: 283 ft: 459 corp: 9/179b ..." and the final statistics
PROGRESS = re.compile(r"^#(?P<execs>\d+)\s+\w+\s+cov: (?P<cov>\d+) ft: (?P<ft>\d+) corp: (?P<corp>\d+)/")
FINAL_EXECS = re.compile(r"^stat::number_of_executed_units: (?P<execs>\d+)", re.M)
# libFuzzer: "artifact_prefix='out/'; Test unit written to out/crash-<sha1>"
ARTIFACT = re.compile(r"Test unit written to (?P<path>\S+)")


def write_artifact(prefix: str, kind: str, data: bytes) -> Path:
    """Write data as libFuzzer names artifacts (PREFIX + KIND-<sha1>), atomically."""
    return write_atomic(Path(prefix + f"{kind}-{hashlib.sha1(data).hexdigest()}"), data)


def artifact_line(prefix: str, path: Path) -> str:
    """The line libFuzzer prints after a report, naming its input (campaigns parse it)."""
    return f"artifact_prefix='{prefix}'; Test unit written to {path}\n"


def final_executions(executions: int) -> str:
    """The line libFuzzer ends a run with, which the parent reads the run's executions from."""
    return f"stat::number_of_executed_units: {executions}\n"
