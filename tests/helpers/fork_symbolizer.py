#!/usr/bin/env python3
"""Symbolizes a stack in a sanitized process, forks, and symbolizes again in the copy (after
harness.runtime.symbolizer.detach_symbolizer unless argv[1] is "shared"). Prints one JSON line:
the pipes the copy moved, the symbolizer processes of parent and copy, and whether the copy's
stack trace (and the parent's, after) named its frames."""

from __future__ import annotations

import ctypes
import json
import os
import sys
import tempfile

from harness.runtime.symbolizer import child_processes, detach_symbolizer

runtime = ctypes.CDLL(None)


def symbolized_stack() -> str:
    """This process's stack as the sanitizer runtime prints it (symbolized), read back from stderr."""
    with tempfile.TemporaryFile() as capture:
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            runtime.__sanitizer_print_stack_trace()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        return capture.read().decode(errors="replace")


def symbolizers(pid: int) -> list[int]:
    return [child for child, name in child_processes(pid) if "symbolizer" in name]


symbolized_stack()  # the parent's symbolizer starts
parent_symbolizers = symbolizers(os.getpid())
read, write = os.pipe()
pid = os.fork()
if pid == 0:  # pragma: no cover - the copy
    os.close(read)
    moved = 0 if sys.argv[1:] == ["shared"] else detach_symbolizer()
    stack = symbolized_stack()
    result = {"moved": moved, "copy_symbolizers": symbolizers(os.getpid()),
              "named": "symbolized_stack" in stack or "_PyEval_EvalFrameDefault" in stack, "stack": stack[-600:]}
    os.write(write, json.dumps(result).encode())
    os._exit(0)
os.close(write)
data = b""
while chunk := os.read(read, 65536):
    data += chunk
os.waitpid(pid, 0)
again = symbolized_stack()
print(json.dumps({**json.loads(data), "parent_symbolizers": parent_symbolizers,
                  "parent_named": "symbolized_stack" in again or "_PyEval_EvalFrameDefault" in again}))
