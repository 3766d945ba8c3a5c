#!/usr/bin/env python3
"""Errors surface of libkv: status codes, the static message table, the thread-local
last-error message (borrowed, copied into caller buffers, duplicated as owned).

Each input is a sequence of failing calls (with keys of any length, so messages of any
length), reads of the last error in all three ways, kv_strerror on any code, clears,
and failures on another thread. Contract checks: a failure always leaves a non-empty
message, the three ways of reading it agree, truncation into small buffers follows the
header, and another thread's failure never changes this thread's message.

    python fuzzers/fuzz_errors.py corpus/errors -runs=1000
"""

from __future__ import annotations

import threading

from harness.engine.data_provider import DataProvider
from harness.engine.driving import boundary_size, exact_buffer
from harness.engine.recovery import ContractViolation
from harness.engine.session import run_fuzzer, session

S = session()
ffi, lib = S.ffi, S.lib


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise ContractViolation("wrong-result", what)


def last_error() -> bytes:
    return ffi.string(lib.kv_last_error())  # borrowed: copied at once


def fail(store: object, fdp: DataProvider) -> None:
    """Make one call fail; the key length decides the message length."""
    key = (fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 300)).replace(b"\0", b"-")) or b"-"
    choice = fdp.ConsumeIntInRange(0, 4)
    if choice == 0:
        status = lib.kv_delete(store, key)
    elif choice == 1:
        out, out_len = ffi.new("uint8_t **"), ffi.new("size_t *")
        status = lib.kv_get_copy(store, key, out, out_len)
    elif choice == 2:
        status = lib.kv_unsubscribe(store, fdp.ConsumeIntInRange(1, 1 << 30))
    elif choice == 3:
        status = lib.kv_put(store, b"", b"", 0)
    else:
        status = lib.kv_cursor_next(ffi.NULL, ffi.NULL, ffi.NULL, ffi.NULL)
    expect(status != 0, f"call {choice} with key of {len(key)} bytes did not fail")
    expect(last_error() != b"", "a failure left no message")


def read_copy(fdp: DataProvider) -> None:
    message = last_error()
    cap = boundary_size(fdp.ConsumeIntInRange(0, 5), len(message) + 1, fdp.ConsumeIntInRange(0, 400))
    buf = exact_buffer(ffi, lib, b"\xaa" * cap, "char *") if cap else ffi.NULL
    needed = ffi.new("size_t *")
    status = lib.kv_last_error_copy(buf, cap, needed)
    expect(needed[0] == len(message) + 1, "kv_last_error_copy: wrong *needed")
    if cap >= len(message) + 1:
        expect(status == 0 and ffi.string(buf) == message, "kv_last_error_copy: wrong copy")
    else:
        expect(status == lib.KV_ERR_CAPACITY, f"kv_last_error_copy into {cap} bytes: {status}")
        if cap:
            expect(ffi.unpack(buf, cap) == message[: cap - 1] + b"\0", "bad truncation")


def read_dup() -> None:
    copy = lib.kv_last_error_dup()
    expect(copy != ffi.NULL, "kv_last_error_dup failed")
    text = ffi.string(copy)
    lib.kv_free(copy)  # owned
    expect(text == last_error(), "kv_last_error_dup disagrees with kv_last_error")


def strerror(fdp: DataProvider) -> None:
    code = fdp.ConsumeIntInRange(0, 40) if fdp.ConsumeBool() else fdp.ConsumeIntInRange(0, 2**32 - 1)
    text = ffi.string(lib.kv_strerror(code))  # static
    expect(bool(text), f"kv_strerror({code}) is empty")


def other_thread(store: object) -> None:
    before = last_error()
    worker = threading.Thread(target=lambda: lib.kv_delete(store, b"missing-on-another-thread"))
    worker.start()
    worker.join()
    expect(last_error() == before, "another thread's failure changed this thread's message")


def test_one_input(data: bytes) -> None:
    fdp = DataProvider(data)
    store = lib.kv_open(0)
    try:
        for _ in range(fdp.ConsumeIntInRange(1, 12)):
            choice = fdp.ConsumeIntInRange(0, 12)
            if choice <= 4:
                fail(store, fdp)
            elif choice <= 6:
                read_copy(fdp)
            elif choice == 7:
                read_dup()
            elif choice <= 10:
                strerror(fdp)
            elif choice == 11:
                lib.kv_clear_error()
                expect(last_error() == b"", "kv_clear_error left a message")
            elif fdp.ConsumeIntInRange(0, 15) == 0:  # threads are slow: rarely
                other_thread(store)
    finally:
        lib.kv_close(store)


if __name__ == "__main__":
    run_fuzzer(test_one_input)
