#!/usr/bin/env python3
"""The generic sequence fuzzer: any target's API, driven from its header and ownership contract.

Nothing here knows the library: harness.sequence decodes each input into calls that honour the
[contract] of the target spec (FFI_HARNESS_TARGET, else the project's target), so a sanitizer
report is the library's bug, and the contract violations sanitizers cannot see are findings too.

    FFI_HARNESS_TARGET=path/to/target.toml python -m harness.fuzzers.fuzz_sequence corpus/sequence -runs=1000
    FFI_HARNESS_TRACE=1 python -m harness.fuzzers.fuzz_sequence crash-1234   # show the calls of one input

When the contract allows, the calls are made by a loop compiled from it (harness.sequence.native):
the same decoding and the same calls, without the interpreter between them. Tracing, and
FFI_HARNESS_NATIVE_LOOP=0, use the Python driver; the first line on stderr says which runs.
"""

from __future__ import annotations

import sys

from harness.config import setting
from harness.contract.spec import target_contract
from harness.engine.coverage import BehaviourCoverage
from harness.engine.session import run_fuzzer, session
from harness.sequence.driver import FuzzedChoices, SequenceDriver
from harness.sequence.native import native_loop

S = session()
# libFuzzer sees the library's coverage, not the driver's decisions: the calls made (each with
# the one before it) and their outcomes are features too. For a prebuilt library they are all
# the feedback there is; for an instrumented one they keep an input that reaches a new state
# through known code (libzs's dict-offset: not found in 600k executions without, in 300k with)
FEEDBACK = BehaviourCoverage()
DRIVER = SequenceDriver(target_contract(S.loaded.target), S.ffi, S.lib, trace=setting("trace"),
                        observe=FEEDBACK)
LOOP, PATH = (None, "Python driver (tracing)") if setting("trace") else native_loop(DRIVER, S.loaded.target)
sys.stderr.write(f"ffi-harness: sequence calls made by the {PATH}\n")


def test_one_input(data: bytes) -> None:
    if LOOP is not None:
        LOOP.run(data)
    else:
        DRIVER.run(FuzzedChoices(data))


if __name__ == "__main__":
    import sys

    # a call sequence needs few bytes per step; longer inputs only make each execution slower
    argv = sys.argv if any(a.startswith("-max_len=") for a in sys.argv) else [*sys.argv, "-max_len=512"]
    run_fuzzer(test_one_input, argv)
