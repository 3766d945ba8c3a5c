"""Unit tests of the clean libkv through cffi, in this sanitized process: zero ASan/UBSan
reports, and no leak allocated through libkv (checked after every test)."""

from __future__ import annotations

import struct
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.usefixtures("no_target_leaks")


@pytest.fixture
def lib(kv):
    return kv.lib


@pytest.fixture
def ffi(kv):
    return kv.ffi


@pytest.fixture
def store(kv):
    pointer = kv.lib.kv_open(0)
    yield pointer
    kv.lib.kv_close(pointer)


def owned(ffi, lib, pointer, length):
    try:
        return ffi.unpack(ffi.cast("char *", pointer), length)
    finally:
        lib.kv_free(pointer)


def get(ffi, lib, store, key):
    out, out_len = ffi.new("uint8_t **"), ffi.new("size_t *")
    assert lib.kv_get_copy(store, key, out, out_len) == 0
    return owned(ffi, lib, out[0], out_len[0])


def test_put_get_replace_delete(ffi, lib, store):
    assert lib.kv_put(store, b"k", b"v\x00w", 3) == 0
    assert get(ffi, lib, store, b"k") == b"v\x00w"
    assert lib.kv_put(store, b"k", b"a longer value than before", 26) == 0
    assert get(ffi, lib, store, b"k") == b"a longer value than before"
    assert lib.kv_count(store) == 1
    assert lib.kv_delete(store, b"k") == 0
    assert lib.kv_delete(store, b"k") == lib.KV_ERR_NOT_FOUND
    assert b'"k" not found' in ffi.string(lib.kv_last_error())


def test_keys_are_checked(ffi, lib, store):
    assert lib.kv_putn(store, b"a\x00b", 3, b"v", 1) == lib.KV_ERR_EMBEDDED_NUL
    assert lib.kv_putn(store, b"ab\x00", 3, b"v", 1) == lib.KV_ERR_EMBEDDED_NUL
    assert lib.kv_put(store, b"", b"v", 1) == lib.KV_ERR_INVALID
    assert lib.kv_put(store, b"x" * 256, b"v", 1) == lib.KV_ERR_TOO_LARGE
    assert lib.kv_putn(store, b"abc", 3, b"v", 1) == 0 and get(ffi, lib, store, b"abc") == b"v"


def test_put_owned_takes_the_buffer_and_keeps_a_terminator(ffi, lib, store):
    buf = lib.malloc(5)
    ffi.memmove(buf, b"owned", 5)
    assert lib.kv_put_owned(store, b"k", ffi.cast("uint8_t *", buf), 5) == 0
    text = lib.kv_get_cstr(store, b"k")
    assert ffi.string(text) == b"owned"
    lib.kv_free(text)
    refused = lib.malloc(4)  # freed by libkv even though the call fails
    assert lib.kv_put_owned(store, b"", ffi.cast("uint8_t *", refused), 4) == lib.KV_ERR_INVALID


def test_borrowed_value_is_nul_terminated(ffi, lib, store):
    lib.kv_put(store, b"k", b"abc", 3)
    length = ffi.new("size_t *")
    view = lib.kv_get_borrowed(store, b"k", length)
    assert length[0] == 3 and ffi.unpack(ffi.cast("char *", view), 4) == b"abc\x00"
    assert lib.kv_get_borrowed(store, b"missing", ffi.NULL) == ffi.NULL


def test_cstr_refuses_embedded_nul(ffi, lib, store):
    lib.kv_put(store, b"k", b"a\x00b", 3)
    assert lib.kv_get_cstr(store, b"k") == ffi.NULL
    assert b"NUL byte at offset 1" in ffi.string(lib.kv_last_error())


@settings(max_examples=150, deadline=None)
@given(value=st.binary(max_size=40))
def test_lossy_utf8_matches_python(kv, value):
    ffi, lib = kv.ffi, kv.lib
    store = lib.kv_open(0)
    try:
        lib.kv_put(store, b"k", value, len(value))
        length = ffi.new("size_t *")
        result = lib.kv_get_utf8_lossy(store, b"k", length)
        assert owned(ffi, lib, result, length[0]) == value.decode("utf-8", "replace").encode()
    finally:
        lib.kv_close(store)


@pytest.mark.parametrize("cap", [0, 1, 5, 6, 7, 64])
def test_copy_value_into_caller_buffer(ffi, lib, store, cap):
    lib.kv_put(store, b"k", b"hello", 5)
    buf = ffi.new("char[]", max(cap, 1))
    needed = ffi.new("size_t *")
    status = lib.kv_copy_value(store, b"k", buf if cap else ffi.NULL, cap, needed)
    assert needed[0] == 6
    if cap >= 6:
        assert status == 0 and ffi.string(buf) == b"hello"
    else:
        assert status == lib.KV_ERR_CAPACITY
        if cap:
            assert ffi.string(buf) == b"hello"[: cap - 1]


def test_take_moves_ownership_out(ffi, lib, store):
    lib.kv_put(store, b"k", b"value", 5)
    out, out_len = ffi.new("uint8_t **"), ffi.new("size_t *")
    assert lib.kv_take(store, b"k", out, out_len) == 0
    assert owned(ffi, lib, out[0], out_len[0]) == b"value"
    assert lib.kv_count(store) == 0
    assert lib.kv_get_borrowed(store, b"k", ffi.NULL) == ffi.NULL


def cursor_keys(ffi, lib, cursor, delete_from=None):
    key = ffi.new("char **")
    seen = []
    while (status := lib.kv_cursor_next(cursor, key, ffi.NULL, ffi.NULL)) == 0:
        seen.append(ffi.string(key[0]))
        if delete_from is not None:
            assert lib.kv_delete(delete_from, seen[-1]) == 0
    return seen, status


def test_cursor_iterates_in_order_and_allows_deleting_current(ffi, lib, store):
    for k in (b"a", b"b", b"c"):
        lib.kv_put(store, k, b"v", 1)
    cursor = lib.kv_cursor_open(store)
    seen, status = cursor_keys(ffi, lib, cursor, delete_from=store)
    lib.kv_cursor_close(cursor)
    assert seen == [b"a", b"b", b"c"] and status == lib.KV_ERR_NOT_FOUND
    assert lib.kv_count(store) == 0


def test_cursor_is_invalidated_by_other_changes_and_detached_by_close(ffi, lib):
    store = lib.kv_open(0)
    lib.kv_put(store, b"a", b"v", 1)
    cursor = lib.kv_cursor_open(store)
    lib.kv_put(store, b"b", b"v", 1)
    key = ffi.new("char **")
    assert lib.kv_cursor_next(cursor, key, ffi.NULL, ffi.NULL) == lib.KV_ERR_INVALIDATED
    other = lib.kv_cursor_open(store)
    lib.kv_close(store)
    assert lib.kv_cursor_next(other, key, ffi.NULL, ffi.NULL) == lib.KV_ERR_INVALIDATED
    lib.kv_cursor_close(other)
    lib.kv_cursor_close(cursor)


class Recorder:
    """Callbacks with user_data kept alive by this object until destroy runs."""

    def __init__(self, kv, store, prefix=b"", on_call=None):
        self.ffi, self.lib, self.calls, self.destroyed = kv.ffi, kv.lib, [], 0
        self.on_call = on_call
        self.notify = kv.ffi.callback("void(void*, kv_event, const char*, const uint8_t*, size_t)",
                                      self._notify)
        self.destroy = kv.ffi.callback("void(void*)", self._destroy)
        self.id = kv.lib.kv_subscribe(store, prefix or kv.ffi.NULL, self.notify, kv.ffi.NULL, self.destroy)

    def _notify(self, user_data, event, key, value, length):
        data = self.ffi.unpack(self.ffi.cast("char *", value), length) if value else None
        self.calls.append((event, self.ffi.string(key), data, threading.get_ident()))
        if self.on_call:
            self.on_call(self)

    def _destroy(self, user_data):
        self.destroyed += 1


def test_subscriptions_prefix_and_destroy_once(kv, lib):
    store = lib.kv_open(0)
    everything, users = Recorder(kv, store), Recorder(kv, store, b"user:")
    lib.kv_put(store, b"user:1", b"x", 1)
    lib.kv_put(store, b"other", b"y", 1)
    lib.kv_delete(store, b"user:1")
    assert [c[:3] for c in users.calls] == [(lib.KV_EVENT_PUT, b"user:1", b"x"),
                                           (lib.KV_EVENT_DELETE, b"user:1", None)]
    assert len(everything.calls) == 3
    assert lib.kv_unsubscribe(store, users.id) == 0 and users.destroyed == 1
    assert lib.kv_unsubscribe(store, users.id) == lib.KV_ERR_NOT_FOUND
    lib.kv_close(store)
    assert everything.destroyed == 1 and users.destroyed == 1


def test_unsubscribe_inside_callback_self_and_other(kv, lib):
    store = lib.kv_open(0)
    subs = []
    first = Recorder(kv, store, on_call=lambda me: lib.kv_unsubscribe(store, subs[1].id))
    last = Recorder(kv, store, on_call=lambda me: lib.kv_unsubscribe(store, me.id))
    subs += [first, Recorder(kv, store), last]
    assert lib.kv_put(store, b"k", b"v", 1) == 0
    assert [len(s.calls) for s in subs] == [1, 0, 1]
    assert [s.destroyed for s in subs] == [0, 1, 1]
    lib.kv_put(store, b"k", b"w", 1)
    assert [len(s.calls) for s in subs] == [2, 0, 1]
    lib.kv_close(store)
    assert [s.destroyed for s in subs] == [1, 1, 1]


def test_changes_from_a_callback_are_refused(kv, lib):
    store = lib.kv_open(0)
    statuses = []
    Recorder(kv, store, on_call=lambda me: statuses.append(lib.kv_put(store, b"x", b"", 0)))
    lib.kv_put(store, b"k", b"v", 1)
    assert statuses == [lib.KV_ERR_BUSY]
    lib.kv_close(store)


def test_deferred_dispatch_on_a_worker_thread(kv, lib):
    store = lib.kv_open(lib.KV_OPEN_DEFERRED)
    gone, kept = Recorder(kv, store), Recorder(kv, store)
    lib.kv_put(store, b"a", b"1", 1)
    lib.kv_put(store, b"b", b"2", 1)
    assert lib.kv_pending(store) == 4 and not kept.calls
    lib.kv_unsubscribe(store, gone.id)
    assert lib.kv_pending(store) == 2
    assert lib.kv_dispatch_threaded(store) == 0
    assert [c[1] for c in kept.calls] == [b"a", b"b"] and not gone.calls
    assert kept.calls[0][3] != threading.get_ident()
    lib.kv_close(store)


def test_last_error_is_thread_local_and_copyable(ffi, lib, store):
    lib.kv_delete(store, b"missing")
    message = ffi.string(lib.kv_last_error())
    worker = threading.Thread(target=lambda: lib.kv_delete(store, b"other-thread-key"))
    worker.start()
    worker.join()
    assert ffi.string(lib.kv_last_error()) == message
    needed = ffi.new("size_t *")
    assert lib.kv_last_error_copy(ffi.NULL, 0, needed) == lib.KV_ERR_CAPACITY
    buf = ffi.new("char[]", needed[0])
    assert lib.kv_last_error_copy(buf, needed[0], needed) == 0 and ffi.string(buf) == message
    dup = lib.kv_last_error_dup()
    assert ffi.string(dup) == message
    lib.kv_free(dup)
    lib.kv_clear_error()
    assert ffi.string(lib.kv_last_error()) == b""


def test_strerror_covers_every_status_and_refuses_others(ffi, lib):
    texts = [ffi.string(lib.kv_strerror(code)) for code in range(lib.KV_STATUS_COUNT)]
    assert len(set(texts)) == lib.KV_STATUS_COUNT
    assert ffi.string(lib.kv_strerror(lib.KV_STATUS_COUNT)) == b"unknown status"
    assert ffi.string(lib.kv_strerror(0xFFFFFFFF)) == b"unknown status"


def snapshot(entries, table_pad=0):
    data, records = b"", []
    for key, value in entries:
        records.append(struct.pack("<IIIHBB", len(data), len(data) + len(key), len(value), len(key), 0, 0))
        data += key + value
    table = 24 + table_pad
    data_offset = table + 16 * len(entries)
    header = struct.pack("<4sHHIIII", b"KVS1", 1, 0, len(entries), table, data_offset, len(data))
    return header + b"\0" * table_pad + b"".join(records) + data


def test_snapshot_round_trip_and_unaligned_table(ffi, lib, store):
    data = snapshot([(b"a", b"1"), (b"b", b"\x00\xff")], table_pad=3)
    assert lib.kv_snapshot_load(store, data, len(data)) == 0
    out, out_len = ffi.new("uint8_t **"), ffi.new("size_t *")
    assert lib.kv_snapshot_save(store, out, out_len) == 0
    saved = owned(ffi, lib, out[0], out_len[0])
    other = lib.kv_open(0)
    assert lib.kv_snapshot_load(other, saved, len(saved)) == 0
    assert get(ffi, lib, other, b"b") == b"\x00\xff"
    lib.kv_close(other)


@pytest.mark.parametrize("data", [
    b"", b"KVS1", snapshot([(b"k", b"v")])[:-1], b"XXXX" + snapshot([(b"k", b"v")])[4:],
    snapshot([(b"a\x00b", b"v")]),
])
def test_corrupt_snapshot_leaves_the_store_unchanged(lib, store, data):
    lib.kv_put(store, b"before", b"x", 1)
    assert lib.kv_snapshot_load(store, data, len(data)) == lib.KV_ERR_CORRUPT
    assert lib.kv_count(store) == 1
