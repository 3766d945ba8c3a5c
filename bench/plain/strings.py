#!/usr/bin/env python3
"""Plain-bytes baseline, strings surface: every strings call once, in header order, with the
raw input as key, value and capacity (what an atheris harness written from the header alone
looks like: no FuzzedDataProvider, no model, no exact-size buffers, no dictionary)."""

from __future__ import annotations

from harness.engine.session import run_fuzzer, session

S = session()
ffi, lib = S.ffi, S.lib


def test_one_input(data: bytes) -> None:
    store = lib.kv_open(0)
    out, out_len = ffi.new("uint8_t **"), ffi.new("size_t *")
    lib.kv_put(store, data, data, len(data))
    lib.kv_putn(store, data, len(data), data, len(data))
    owned = lib.malloc(len(data) or 1)
    ffi.memmove(owned, data, len(data))
    lib.kv_put_owned(store, data, ffi.cast("uint8_t *", owned), len(data))
    if lib.kv_get_copy(store, data, out, out_len) == 0:
        lib.kv_free(out[0])
    lib.kv_free(lib.kv_get_cstr(store, data))
    lib.kv_free(lib.kv_get_utf8_lossy(store, data, out_len))
    buf = ffi.new("char[]", len(data) or 1)
    lib.kv_copy_value(store, data, buf, len(data), out_len)
    lib.kv_get_borrowed(store, data, out_len)
    lib.kv_delete(store, data)
    lib.kv_close(store)


if __name__ == "__main__":
    run_fuzzer(test_one_input)
