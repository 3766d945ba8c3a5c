#!/usr/bin/env python3
"""A kv fuzzer whose input b"leak!" loses a kv_get_copy result and whose every input takes 1 ms,
so tracing a leak to its input (re-running the inputs since the last check) takes seconds."""

from __future__ import annotations

import sys
import time

from harness.engine.session import run_fuzzer, session

S = session()


def test_one_input(data: bytes) -> None:
    time.sleep(0.001)
    if data == b"leak!":
        store = S.lib.kv_open(0)
        S.lib.kv_put(store, b"k", b"leaked copy", 11)
        out, out_len = S.ffi.new("uint8_t **"), S.ffi.new("size_t *")
        S.lib.kv_get_copy(store, b"k", out, out_len)  # [owned] and never freed
        S.lib.kv_close(store)


if __name__ == "__main__":
    run_fuzzer(test_one_input, sys.argv)
