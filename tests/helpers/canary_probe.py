"""Run in a child by test_detection: reach two planted bugs' code paths, trigger one of them
(its bug is not compiled into the variant, so nothing crashes), print the canaries."""

from __future__ import annotations

import json


def probe(s) -> None:
    lib, ffi = s.lib, s.ffi
    store = lib.kv_open(0)
    lib.kv_put(store, b"a", b"1", 1)
    lib.kv_put(store, b"b", b"2", 1)
    out, out_len = ffi.new("uint8_t **"), ffi.new("size_t *")
    lib.kv_take(store, b"a", out, out_len)  # the taken entry is in the lookup cache: triggered
    lib.kv_free(out[0])
    lib.kv_get_borrowed(store, b"b", ffi.NULL)
    lib.kv_put(store, b"b", b"3", 1)  # replaces in place: REPLACE_LEAK reached, not triggered
    lib.kv_close(store)
    print(json.dumps(s.loaded.canaries()))
