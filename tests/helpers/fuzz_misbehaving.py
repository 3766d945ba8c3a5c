#!/usr/bin/env python3
"""A fuzzer that misbehaves on purpose, for replay tests: hangs on inputs starting with
b"hang", grows memory without bound on b"grow", crashes in libkv on b"uaf"."""

from __future__ import annotations

import time

from harness.engine.session import run_fuzzer, session

S = session()


def test_one_input(data: bytes) -> None:
    if data.startswith(b"hang"):
        while True:
            time.sleep(0.01)
    if data.startswith(b"grow"):
        hoard = []
        while True:
            hoard.append(bytearray(b"x" * (8 << 20)))
    if data.startswith(b"uaf"):
        lib = S.lib
        store = lib.kv_open(0)
        lib.kv_put(store, b"k", b"v", 1)
        lib.kv_close(store)
        lib.kv_count(store)  # the store was freed


if __name__ == "__main__":
    run_fuzzer(test_one_input)
