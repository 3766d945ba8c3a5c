"""The sequence driver's native loop: a contract's decoding and calls compiled to C, so the hot
loop of the sequence fuzzer runs without the interpreter between calls.

The loop decodes an input exactly as SequenceDriver does and makes the same calls (the
differential test in tests/test_native_loop.py compares both paths' records call by call), so
what it finds is replayed, traced, minimized and triaged through the Python driver unchanged.
It is compiled once per contract and build (cached by the source's hash) with the library's
sanitizer flags; the library's functions are called through the addresses cffi gives for the
loaded module. A contract with forms the loop does not make yet, an exported (prebuilt) module
without a compiler, or FFI_HARNESS_NATIVE_LOOP=0 keeps the Python driver; `reason` says why.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cffi

from harness.config import cache_root, setting, uninstrumented_environment
from harness.engine.recovery import ContractViolation
from harness.errors import BuildError, ToolchainError
from harness.sequence.driver import SequenceDriver
from harness.sequence.native_source import Callback, NativeUnsupported, native_source
from harness.sequence.trace import violation_line
from harness.target.build import COMMON_FLAGS, SANITIZE_FLAGS
from harness.target.spec import Target
from harness.target.toolchain import find_toolchain

RUNTIME = Path(__file__).resolve().parent.parent / "data" / "sequence_loop.h"
LOOP_FORMAT = 1  # bump to rebuild every cached loop
LOOP_SOURCE = "ffih_sequence_loop.c"  # the generated file's name (triage ignores its frames)

_CDEF = """
int ffih_loop_init(const uintptr_t *functions, size_t n);
int ffih_loop_run(const char *data, size_t size, int max_steps, int record);
size_t ffih_loop_record(const char **text);
int ffih_loop_violation(const char **kind, const char **detail, const char **function);
"""


@dataclass
class NativeLoop:
    """A compiled loop bound to a loaded target: run(data) is SequenceDriver.run on that input."""

    path: Path
    max_steps: int
    ffi: Any
    lib: Any

    def run(self, data: bytes) -> None:
        """Make the calls one input decodes to; raise its first ContractViolation at the end."""
        if self.lib.ffih_loop_run(data, len(data), self.max_steps, 0):
            raise self.violation()

    def record(self, data: bytes) -> str:
        """The calls one input makes, one line each, as harness.sequence.trace.record_call writes
        them, and a last line for its contract violation if any."""
        violated = self.lib.ffih_loop_run(data, len(data), self.max_steps, 1)
        text = self.ffi.new("const char **")
        size = self.lib.ffih_loop_record(text)
        calls = bytes(self.ffi.buffer(text[0], size)).decode(errors="replace")
        return calls + (violation_line(self.violation()) if violated else "")

    def violation(self) -> ContractViolation:
        """The contract violation the last input ended with."""
        kind, detail, function = (self.ffi.new("const char **") for _ in range(3))
        self.lib.ffih_loop_violation(kind, detail, function)
        return ContractViolation(*(self.ffi.string(p[0]).decode(errors="replace") for p in (kind, detail, function)))


def _compile(source: str, target: Target) -> tuple[Path, str]:
    """The loop as a cffi API-mode extension (so no _cffi_backend frame sits under the library's
    calls: LeakSanitizer's suppressions of cffi's own allocations match any frame), cached."""
    toolchain = find_toolchain()
    flags = [*COMMON_FLAGS, *SANITIZE_FLAGS, "-std=gnu11", "-Wno-unused", "-Wno-pointer-arith",
             *(f"-I{d}" for d in (*target.include_dirs, target.header.parent)),
             *(f"-D{k}={v}" for k, v in target.defines), f"-I{sysconfig.get_paths()['include']}"]
    key = hashlib.sha256(repr((LOOP_FORMAT, source, RUNTIME.read_bytes(), flags, toolchain.version,
                               target.header.read_bytes(), cffi.__version__)).encode()).hexdigest()[:16]
    name = f"_ffih_loop_{key}"
    path = cache_root() / "loops" / (name + sysconfig.get_config_var("EXT_SUFFIX"))
    if path.exists():
        return path, name
    path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".loop-", dir=path.parent))
    try:
        ffi = cffi.FFI()
        ffi.cdef(_CDEF)
        ffi.set_source(name, source)
        c_file = work / LOOP_SOURCE
        with contextlib.redirect_stdout(io.StringIO()):  # cffi prints "generating ..."
            ffi.emit_c_code(str(c_file))
        out = subprocess.run([str(toolchain.clang), *flags, "-shared", str(c_file), "-o", str(work / path.name)],
                             capture_output=True, text=True, env=uninstrumented_environment(), check=False)
        if out.returncode != 0:
            errors = [line for line in out.stderr.splitlines() if "error" in line] or [out.stderr.strip()]
            raise BuildError(f"compiling the native loop failed: {errors[0][:300]}")
        os.replace(work / path.name, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path, name


def _import(path: Path, name: str) -> Any:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise BuildError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module


def _callbacks(driver: SequenceDriver) -> dict[str, Callback]:
    """The Python driver's callback per function-pointer type, as the loop makes them."""
    api = driver.contract.api
    out = {}
    for ctype in driver._callbacks:
        name = api.callback_externs()[ctype][0]
        contract, _ = driver._callback_contracts[name]
        result = api.callback_decls[ctype].split("(", 1)[0].strip()
        out[ctype] = Callback(contract, api.callback_params.get(ctype, ()), result, name in driver._release_externs)
    return out


def native_loop(driver: SequenceDriver, target: Target) -> tuple[NativeLoop | None, str]:
    """(the loop for driver's contract, bound to its lib; or None) and a line saying which
    path the fuzzer takes and why."""
    if not setting("native_loop"):
        return None, "Python driver (the native loop is off: FFI_HARNESS_NATIVE_LOOP=0)"
    if setting("prebuilt"):
        return None, "Python driver (an exported module: no compiler for the native loop)"
    try:
        source, functions = native_source(driver.contract, driver.ffi, driver.plans, _callbacks(driver),
                                          str(target.header.resolve()), str(RUNTIME))
        path, name = _compile(source, target)
    except NativeUnsupported as why:
        return None, f"Python driver (not in the native loop yet: {why})"
    except (BuildError, ToolchainError) as why:
        return None, f"Python driver ({why})"
    module = _import(path, name)
    ffi, lib = module.ffi, module.lib
    addresses = ffi.new("uintptr_t[]", [int(driver.ffi.cast("uintptr_t", driver.ffi.addressof(driver.lib, name)))
                                        for name in functions] or [0])
    if lib.ffih_loop_init(addresses, len(functions)) != 0:
        raise BuildError(f"{path}: built for another function table")
    loop = NativeLoop(path, driver.max_steps, ffi, lib)
    return loop, f"native loop ({len(driver.plans)} functions, {path.name})"
