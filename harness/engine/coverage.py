"""Coverage feedback for what libFuzzer cannot see (a prebuilt library has no instrumentation)."""

from __future__ import annotations

import zlib


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
