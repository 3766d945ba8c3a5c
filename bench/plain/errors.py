#!/usr/bin/env python3
"""Plain-bytes baseline, errors surface: a failing call (key from the raw input), then every
error call with a status and a capacity from the input's first and last bytes (see strings.py)."""

from __future__ import annotations

from harness.engine.session import run_fuzzer, session

S = session()
ffi, lib = S.ffi, S.lib


def test_one_input(data: bytes) -> None:
    store = lib.kv_open(0)
    lib.kv_delete(store, data)
    lib.kv_putn(store, data, len(data), data, len(data))
    lib.kv_close(store)
    status, cap = (data[0], data[-1]) if data else (0, 0)
    ffi.string(lib.kv_strerror(status))
    ffi.string(lib.kv_last_error())
    buf = ffi.new("char[]", cap or 1)
    lib.kv_last_error_copy(buf, cap, ffi.NULL)
    lib.kv_free(lib.kv_last_error_dup())
    lib.kv_clear_error()


if __name__ == "__main__":
    run_fuzzer(test_one_input)
