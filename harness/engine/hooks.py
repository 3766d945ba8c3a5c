"""Hooks for benchmarks and tests, off unless asked for, and kept out of the per-input path
when off: canaries (when each planted bug is first reached and triggered) and an injected
input (proves that late leak checks still work)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from harness.target.loader import Loaded

CANARY_INTERVAL = 0.2


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


def injecting(run: Callable[[bytes], None], spec: str) -> Callable[[bytes], None]:
    """run, with the bytes of FILE run as input number N for spec 'FILE@N' (the inputs before
    N are skipped, so N can be a million without a million real executions)."""
    path, _, at = spec.rpartition("@")
    number, data = int(at), Path(path).read_bytes()
    count = 0

    def one_input(given: bytes) -> None:
        nonlocal count
        count += 1
        if count == number:
            sys.stderr.write(f"INFO: ffi-harness: injected input at execution {number}\n")
            run(data)
        elif count > number:
            run(given)

    return one_input
