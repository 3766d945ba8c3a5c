#!/usr/bin/env python3
"""Plain-bytes baseline, records surface: the raw input to kv_snapshot_load as a Python bytes
object (no exact-size heap copy, no contract checks; see strings.py)."""

from __future__ import annotations

from harness.engine.session import run_fuzzer, session

S = session()
ffi, lib = S.ffi, S.lib


def test_one_input(data: bytes) -> None:
    store = lib.kv_open(0)
    lib.kv_snapshot_load(store, data, len(data))
    lib.kv_close(store)


if __name__ == "__main__":
    run_fuzzer(test_one_input)
