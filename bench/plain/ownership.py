#!/usr/bin/env python3
"""Plain-bytes baseline, ownership surface: a fixed sequence of puts, takes, copies and a
cursor walk with a delete, keys and values taken from the raw input (see strings.py)."""

from __future__ import annotations

from harness.engine.session import run_fuzzer, session

S = session()
ffi, lib = S.ffi, S.lib


def test_one_input(data: bytes) -> None:
    half = len(data) // 2
    first, second = data[:half], data[half:]
    store = lib.kv_open(0)
    out, out_len = ffi.new("uint8_t **"), ffi.new("size_t *")
    key, value = ffi.new("char **"), ffi.new("uint8_t **")
    lib.kv_put(store, first, data, len(data))
    lib.kv_put(store, second, first, len(first))
    lib.kv_put(store, first, second, len(second))
    if lib.kv_get_copy(store, first, out, out_len) == 0:
        lib.kv_free(out[0])
    cursor = lib.kv_cursor_open(store)
    while lib.kv_cursor_next(cursor, key, value, out_len) == 0:
        lib.kv_delete(store, key[0])
    lib.kv_cursor_close(cursor)
    lib.kv_put(store, second, data, len(data))
    lib.kv_get_borrowed(store, second, out_len)
    if lib.kv_take(store, second, out, out_len) == 0:
        lib.kv_free(out[0])
    lib.kv_get_borrowed(store, second, out_len)
    lib.kv_close(store)


if __name__ == "__main__":
    run_fuzzer(test_one_input)
