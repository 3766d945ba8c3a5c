#!/usr/bin/env python3
"""Records surface of libkv: the binary snapshot format (packed header, entry table at any
offset, length fields, counts).

The input is a snapshot, given to kv_snapshot_load in a heap buffer of exactly its size.
Contract checks: a refused snapshot leaves the store unchanged (all or nothing); an
accepted one saves and loads back to the same entries.

    python fuzzers/fuzz_records.py corpus/records -runs=1000
"""

from __future__ import annotations

from harness.engine.driving import exact_buffer
from harness.engine.recovery import ContractViolation
from harness.engine.session import run_fuzzer, session

S = session()
ffi, lib = S.ffi, S.lib
REFUSALS = (lib.KV_ERR_CORRUPT, lib.KV_ERR_NOMEM, lib.KV_ERR_TOO_LARGE)


def entries(store: object) -> dict[bytes, bytes]:
    found = {}
    cursor = lib.kv_cursor_open(store)
    key, value, length = ffi.new("char **"), ffi.new("uint8_t **"), ffi.new("size_t *")
    while lib.kv_cursor_next(cursor, key, value, length) == 0:
        found[ffi.string(key[0])] = ffi.unpack(ffi.cast("char *", value[0]), length[0])
    lib.kv_cursor_close(cursor)
    return found


def test_one_input(data: bytes) -> None:
    store = lib.kv_open(0)
    try:
        lib.kv_put(store, b"existing", b"value", 5)
        status = lib.kv_snapshot_load(store, exact_buffer(ffi, lib, data), len(data))
        if status != 0:
            if status not in REFUSALS:
                raise ContractViolation("wrong-result", f"kv_snapshot_load returned {status}")
            if entries(store) != {b"existing": b"value"}:
                raise ContractViolation("partial-load", "a refused snapshot changed the store")
            return
        loaded = entries(store)
        out, out_len = ffi.new("uint8_t **"), ffi.new("size_t *")
        if lib.kv_snapshot_save(store, out, out_len) != 0:
            raise ContractViolation("wrong-result", "kv_snapshot_save failed")
        again = lib.kv_open(0)
        try:
            status = lib.kv_snapshot_load(again, out[0], out_len[0])
            lib.kv_free(out[0])
            if status != 0 or entries(again) != loaded:
                raise ContractViolation("wrong-result", "a saved snapshot does not load back the same")
        finally:
            lib.kv_close(again)
    finally:
        lib.kv_close(store)


if __name__ == "__main__":
    run_fuzzer(test_one_input)
