#!/usr/bin/env python3
"""A fuzzer whose every input overflows kv_copy_value's buffer by one byte on the
copy-value-off-by-one build: a report ASan recovers from (halt_on_error=0), so the worker
fuzzes on after it - or, with halt_on_error, dies on its first input every time."""

from __future__ import annotations

from harness.engine.session import run_fuzzer, session

S = session()


def test_one_input(data: bytes) -> None:
    lib, ffi = S.lib, S.ffi
    store = lib.kv_open(0)
    lib.kv_put(store, b"k", b"12345678", 8)
    exact = ffi.gc(lib.malloc(8), lib.free)  # no room for the NUL: the planted bug writes it anyway
    lib.kv_copy_value(store, b"k", ffi.cast("char *", exact), 8, ffi.new("size_t *"))
    lib.kv_close(store)


if __name__ == "__main__":
    run_fuzzer(test_one_input)
