#!/usr/bin/env python3
"""A fuzzer of kv whose input is comma-separated keys, each deleted from an empty store: every
delete fails and stores a message that names the key. On the last-error-leak build the message
buffer leaks its old block only when a message longer than any before it is stored, a leak on
a first-time path: once a run has seen its longest message, no rerun of its inputs leaks."""

from __future__ import annotations

from harness.engine.session import run_fuzzer, session

S = session()


def test_one_input(data: bytes) -> None:
    store = S.lib.kv_open(0)
    try:
        for key in data.replace(b"\0", b"-").split(b","):
            if key:
                S.lib.kv_delete(store, key)
    finally:
        S.lib.kv_close(store)


if __name__ == "__main__":
    run_fuzzer(test_one_input)
