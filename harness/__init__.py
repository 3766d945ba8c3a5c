"""ffi-harness: fuzzing and memory-safety tests for C FFI boundaries (cffi + atheris + hypothesis
under ASan/UBSan/LSan).

The public API, for a project's own fuzzers and property tests:

    import harness

    lib = harness.load("mylib.toml")                  # build (cached) and import; .ffi, .lib
    def test_one_input(data):                          # an atheris fuzzer script
        fdp = harness.DataProvider(data)
        harness.session().lib.mylib_parse(harness.exact_buffer(...), ...)
    harness.run_fuzzer(test_one_input)

Names are imported on first use (PEP 562), so a fuzzer worker that needs only the engine does not
import hypothesis; everything else lives in the subpackages and may move.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    # targets: specs, builds, loading
    "Target": "harness.target.spec",
    "resolve_target": "harness.target.spec",
    "Loaded": "harness.target.loader",
    "load": "harness.target.loader",
    # the fuzzing engine inside a fuzzer script
    "Session": "harness.engine.session",
    "session": "harness.engine.session",
    "run_fuzzer": "harness.engine.session",
    "DataProvider": "harness.engine.data_provider",
    "exact_buffer": "harness.engine.driving",
    "addressable": "harness.engine.driving",
    "ContractViolation": "harness.engine.recovery",
    # hypothesis: strategies, forked examples, isolated state machines, the contract machine
    "buffers": "harness.testing.strategies",
    "bytes_with_nul": "harness.testing.strategies",
    "c_strings": "harness.testing.strategies",
    "int_limits": "harness.testing.strategies",
    "invalid_utf8": "harness.testing.strategies",
    "non_bmp_text": "harness.testing.strategies",
    "path_bytes": "harness.testing.strategies",
    "sizes_near": "harness.testing.strategies",
    "isolated": "harness.testing.isolated",
    "run_forked": "harness.testing.forked",
    "SanitizerFinding": "harness.testing.forked",
    "IsolatedMachine": "harness.testing.stateful",
    "Executor": "harness.testing.stateful",
    "sequence_machine": "harness.sequence.machine",
    # findings
    "Finding": "harness.triage",
    "parse_report": "harness.triage",
    # errors
    "HarnessError": "harness.errors",
    "UsageError": "harness.errors",
    "TargetError": "harness.errors",
    "BuildError": "harness.errors",
    "ToolchainError": "harness.errors",
}

__all__ = [
    "BuildError",
    "ContractViolation",
    "DataProvider",
    "Executor",
    "Finding",
    "HarnessError",
    "IsolatedMachine",
    "Loaded",
    "SanitizerFinding",
    "Session",
    "Target",
    "TargetError",
    "ToolchainError",
    "UsageError",
    "addressable",
    "buffers",
    "bytes_with_nul",
    "c_strings",
    "exact_buffer",
    "int_limits",
    "invalid_utf8",
    "isolated",
    "load",
    "non_bmp_text",
    "parse_report",
    "path_bytes",
    "resolve_target",
    "run_forked",
    "run_fuzzer",
    "sequence_machine",
    "session",
    "sizes_near",
]
assert sorted(_EXPORTS) == __all__, "__all__ and _EXPORTS disagree"

if TYPE_CHECKING:  # the same names, for type checkers and editors
    from harness.engine.data_provider import DataProvider
    from harness.engine.driving import addressable, exact_buffer
    from harness.engine.recovery import ContractViolation
    from harness.engine.session import Session, run_fuzzer, session
    from harness.errors import BuildError, HarnessError, TargetError, ToolchainError, UsageError
    from harness.sequence.machine import sequence_machine
    from harness.target.loader import Loaded, load
    from harness.target.spec import Target, resolve_target
    from harness.testing.forked import SanitizerFinding, run_forked
    from harness.testing.isolated import isolated
    from harness.testing.stateful import Executor, IsolatedMachine
    from harness.testing.strategies import (
        buffers,
        bytes_with_nul,
        c_strings,
        int_limits,
        invalid_utf8,
        non_bmp_text,
        path_bytes,
        sizes_near,
    )
    from harness.triage import Finding, parse_report


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
