"""One reproducer per planted bug of bugs.toml: the function named after the bug id.

Each is a call sequence that follows libkv's documented contract (every owned pointer
freed once, user_data alive until destroy...), so under the bug's variant the sanitizer
report is libkv's fault, and under the clean variant the same sequence is quiet.
Each receives a harness.Session (ffi, lib, binding).
"""

from __future__ import annotations

import gc
import struct
from typing import Any

HEADER = struct.Struct("<4sHHIIII")
RECORD = struct.Struct("<IIIHBB")


def _store(s: Any, flags: int = 0) -> Any:
    store = s.lib.kv_open(flags)
    assert store != s.ffi.NULL
    return s.ffi.gc(store, s.lib.kv_close)


def _exact(s: Any, data: bytes) -> Any:
    """data in a malloc'd buffer of exactly len(data) bytes (ASan sees one byte past it),
    freed when the returned cdata goes."""
    buf = s.ffi.gc(s.ffi.cast("uint8_t *", s.lib.malloc(max(len(data), 1))), s.lib.free)
    s.ffi.memmove(buf, data, len(data))
    return buf


def _free_owned(s: Any, pointer: Any) -> None:
    if pointer != s.ffi.NULL:
        s.lib.kv_free(pointer)


def snapshot(entries: list[tuple[bytes, bytes, int]], *, table_pad: int = 0,
             count: int | None = None, key_at: dict[int, int] | None = None,
             value_length_at: dict[int, int] | None = None) -> bytes:
    """A snapshot of (key, value, type) entries, with knobs to break it on purpose."""
    data = b""
    records = []
    for i, (key, value, kind) in enumerate(entries):
        key_offset = len(data)
        data += key
        value_offset = len(data)
        data += value
        length = (value_length_at or {}).get(i, len(value))
        records.append(RECORD.pack(key_offset, value_offset, length, len(key), kind, 0))
        if key_at and i in key_at:
            records[-1] = RECORD.pack(key_at[i], value_offset, length, len(key), kind, 0)
    table_offset = HEADER.size + table_pad
    data_offset = table_offset + RECORD.size * len(entries)
    header = HEADER.pack(b"KVS1", 1, 0, len(entries) if count is None else count, table_offset,
                         data_offset, len(data))
    return header + b"\0" * table_pad + b"".join(records) + data


# ---- strings ------------------------------------------------------------------------------
def utf8_lossy_tail(s: Any) -> None:
    store = _store(s)
    s.lib.kv_put(store, b"greeting", "héllo".encode(), 6)
    _free_owned(s, s.lib.kv_get_utf8_lossy(store, b"greeting", s.ffi.NULL))
    value = b"caf\xc3\xa9 \xe2\x82"  # ends inside a 3-byte sequence
    s.lib.kv_put(store, b"greeting", value, len(value))
    _free_owned(s, s.lib.kv_get_utf8_lossy(store, b"greeting", s.ffi.NULL))


def putn_embedded_nul(s: Any) -> None:
    store = _store(s)
    s.lib.kv_putn(store, b"plain", 5, b"v", 1)
    key = b"ab\0cdefgh"
    status = s.lib.kv_putn(store, key, len(key), b"v", 1)
    assert status == s.lib.KV_ERR_EMBEDDED_NUL, status


def copy_value_off_by_one(s: Any) -> None:
    store = _store(s)
    s.lib.kv_put(store, b"k", b"12345678", 8)
    needed = s.ffi.new("size_t *")
    buf = s.ffi.gc(s.lib.malloc(16), s.lib.free)
    s.lib.kv_copy_value(store, b"k", s.ffi.cast("char *", buf), 16, needed)
    exact = s.ffi.gc(s.lib.malloc(needed[0] - 1), s.lib.free)  # forgot the NUL: must be refused
    status = s.lib.kv_copy_value(store, b"k", s.ffi.cast("char *", exact), needed[0] - 1, needed)
    assert status == s.lib.KV_ERR_CAPACITY, status


def put_owned_missing_nul(s: Any) -> None:
    store = _store(s)
    s.lib.kv_put(store, b"a", b"first", 5)
    value = b"owned"
    buf = s.lib.malloc(len(value))
    s.ffi.memmove(buf, value, len(value))
    assert s.lib.kv_put_owned(store, b"b", s.ffi.cast("uint8_t *", buf), len(value)) == 0
    _free_owned(s, s.lib.kv_get_cstr(store, b"b"))


# ---- ownership -----------------------------------------------------------------------------
def cursor_delete_uaf(s: Any) -> None:
    store = _store(s)
    for key in (b"a", b"b", b"c"):
        s.lib.kv_put(store, key, b"v", 1)
    cursor = s.lib.kv_cursor_open(store)
    key_out = s.ffi.new("char **")
    assert s.lib.kv_cursor_next(cursor, key_out, s.ffi.NULL, s.ffi.NULL) == 0
    current = s.ffi.string(key_out[0])
    assert s.lib.kv_delete(store, current) == 0  # allowed: the entry returned last
    s.lib.kv_cursor_next(cursor, key_out, s.ffi.NULL, s.ffi.NULL)
    s.lib.kv_cursor_close(cursor)


def take_stale_cache(s: Any) -> None:
    store = _store(s)
    s.lib.kv_put(store, b"a", b"one", 3)
    s.lib.kv_put(store, b"b", b"two", 3)
    out, out_len = s.ffi.new("uint8_t **"), s.ffi.new("size_t *")
    assert s.lib.kv_take(store, b"a", out, out_len) == 0
    _free_owned(s, out[0])
    s.lib.kv_get_borrowed(store, b"b", s.ffi.NULL)


def replace_leak(s: Any) -> None:
    store = _store(s)
    s.lib.kv_put(store, b"k", b"short", 5)
    s.lib.kv_put(store, b"k", b"tiny", 4)  # fits: reuses the buffer
    s.lib.kv_put(store, b"k", b"a much longer value", 19)
    s.ffi.release(store)


# ---- callbacks -----------------------------------------------------------------------------
class _Subscriber:
    """A raw-API subscriber: user_data is a malloc'd block released by destroy = free."""

    def __init__(self, s: Any, store: Any, on_event: Any = None) -> None:
        self.s = s
        self.calls = 0
        self.on_event = on_event
        self.user_data = s.lib.malloc(32)
        s.ffi.memmove(self.user_data, b"subscriber state", 16)
        self.id = s.lib.kv_subscribe(store, s.ffi.NULL, self._callback, self.user_data,
                                     s.ffi.addressof(s.lib, "free"))
        assert self.id != 0

    def _callback_impl(self, user_data: Any, event: int, key: Any, value: Any, length: int) -> None:
        self.calls += 1
        self.s.ffi.cast("char *", user_data)[0]  # user_data must be alive: touch it
        if self.on_event:
            self.on_event(self)

    @property
    def _callback(self) -> Any:
        if not hasattr(self, "_cb"):
            self._cb = self.s.ffi.callback(
                "void(void *, kv_event, const char *, const uint8_t *, size_t)", self._callback_impl)
        return self._cb


def destroy_twice(s: Any) -> None:
    store = _store(s)
    s.lib.kv_put(store, b"before", b"x", 1)
    _Subscriber(s, store, on_event=lambda me: s.lib.kv_unsubscribe(store, me.id))
    s.lib.kv_put(store, b"k", b"v", 1)
    s.lib.kv_put(store, b"k", b"w", 1)


def unsubscribe_during_dispatch(s: Any) -> None:
    store = _store(s)
    subscribers: list[_Subscriber] = []
    first = _Subscriber(s, store, on_event=lambda me: s.lib.kv_unsubscribe(store, subscribers[1].id))
    subscribers += [first, _Subscriber(s, store), _Subscriber(s, store)]
    s.lib.kv_put(store, b"k", b"v", 1)


def queued_after_unsubscribe(s: Any) -> None:
    store = _store(s, s.lib.KV_OPEN_DEFERRED)
    sub = _Subscriber(s, store)
    other = _Subscriber(s, store)
    s.lib.kv_put(store, b"k", b"v", 1)
    assert s.lib.kv_dispatch(store) == 0 and sub.calls == 1
    s.lib.kv_put(store, b"k", b"w", 1)
    assert s.lib.kv_unsubscribe(store, sub.id) == 0
    s.lib.kv_dispatch_threaded(store)
    assert other.calls == 2


# ---- errors --------------------------------------------------------------------------------
def last_error_leak(s: Any) -> None:
    store = _store(s)
    s.lib.kv_delete(store, b"short")
    s.lib.kv_delete(store, b"a-rather-longer-missing-key")
    s.lib.kv_clear_error()


def error_format_overflow(s: Any) -> None:
    store = _store(s)
    s.lib.kv_delete(store, b"missing")
    s.lib.kv_delete(store, b"k" * 120)


def strerror_oob(s: Any) -> None:
    for status in range(s.lib.KV_STATUS_COUNT + 1):
        s.ffi.string(s.lib.kv_strerror(status))


# ---- records -------------------------------------------------------------------------------
def _load(s: Any, data: bytes) -> int:
    store = _store(s)
    good = snapshot([(b"k", b"v", 0)])
    assert s.lib.kv_snapshot_load(store, _exact(s, good), len(good)) == 0
    return s.lib.kv_snapshot_load(store, _exact(s, data), len(data))


def trusted_value_length(s: Any) -> None:
    data = snapshot([(b"key", b"value", 0)], value_length_at={0: 4096})
    assert _load(s, data) == s.lib.KV_ERR_CORRUPT


def misaligned_record(s: Any) -> None:
    data = snapshot([(b"key", b"value", 0), (b"two", b"2", 1)], table_pad=2)
    assert _load(s, data) == 0


def count_overflow(s: Any) -> None:
    data = snapshot([(b"key", b"value", 0)], count=0x10000001)
    assert _load(s, data) == s.lib.KV_ERR_CORRUPT


def cleanup_double_free(s: Any) -> None:
    data = snapshot([(b"key", b"value", 0), (b"a\0b", b"x", 0)])
    assert _load(s, data) == s.lib.KV_ERR_CORRUPT


def abort_on_type(s: Any) -> None:
    data = snapshot([(b"key", b"value", 0), (b"odd", b"x", 7)])
    assert _load(s, data) == s.lib.KV_ERR_CORRUPT


# ---- binding -------------------------------------------------------------------------------
def binding_handle_not_kept_alive(s: Any) -> None:
    kv = s.binding
    seen: list[tuple[str, bytes]] = []
    with kv.Store() as store:
        store["a"] = b"1"
        sub = store.subscribe(lambda kind, key, value: seen.append((kind, key)))
        gc.collect()
        assert sub.unsubscribe()  # libkv calls the destroy function with the handle
    assert seen == [], seen


def binding_close_then_finalize(s: Any) -> None:
    kv = s.binding
    first = kv.Store()
    first["a"] = b"1"
    first.close()
    with kv.Store() as store:
        store["k"] = b"v"
    gc.collect()
    assert store.closed
