#!/usr/bin/env python3
"""A fuzzer whose 50th input in a process - and only that one - overflows kv_copy_value's buffer
by one byte on the copy-value-off-by-one build: a finding that depends on the inputs run before
it (as one does through a library's global state), so its input alone is quiet."""

from __future__ import annotations

from harness.engine.session import run_fuzzer, session

S = session()
CRASHING_INPUT = 50
inputs = 0


def test_one_input(data: bytes) -> None:
    global inputs
    inputs += 1
    lib, ffi = S.lib, S.ffi
    store = lib.kv_open(0)
    lib.kv_put(store, b"k", b"12345678", 8)
    room = 8 if inputs == CRASHING_INPUT else 9  # 8: no room for the NUL the planted bug writes anyway
    exact = ffi.gc(lib.malloc(room), lib.free)
    lib.kv_copy_value(store, b"k", ffi.cast("char *", exact), room, ffi.new("size_t *"))
    lib.kv_close(store)


if __name__ == "__main__":
    run_fuzzer(test_one_input)
