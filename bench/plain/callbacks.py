#!/usr/bin/env python3
"""Plain-bytes baseline, callbacks surface: two subscriptions (prefixes from the raw input),
a change, a deferred dispatch, unsubscribes and close, in a fixed order (see strings.py)."""

from __future__ import annotations

from harness.engine.session import run_fuzzer, session

S = session()
ffi, lib = S.ffi, S.lib


@ffi.callback("void(void *, kv_event, const char *, const uint8_t *, size_t)")
def notify(user_data: object, event: int, key: object, value: object, length: int) -> None:
    ffi.unpack(ffi.cast("char *", user_data), 4)


@ffi.callback("void(void *)")
def destroy(user_data: object) -> None:
    lib.free(user_data)


def test_one_input(data: bytes) -> None:
    half = len(data) // 2
    for flags in (0, lib.KV_OPEN_DEFERRED):
        store = lib.kv_open(flags)
        subs = [lib.kv_subscribe(store, prefix, notify, lib.calloc(1, 4), destroy) for prefix in (data[:half], b"")]
        lib.kv_put(store, data, data, len(data))
        lib.kv_unsubscribe(store, subs[0])
        lib.kv_delete(store, data[half:])
        lib.kv_dispatch(store)
        lib.kv_close(store)


if __name__ == "__main__":
    run_fuzzer(test_one_input)
