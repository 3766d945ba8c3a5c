#!/usr/bin/env python3
"""Ownership surface of libkv: call sequences over stores, cursors, owned and borrowed values.

The input is decoded (FuzzedDataProvider) into a sequence of calls on up to two stores
and their cursors. The driver follows libkv's documented contract - every owned result
freed once with kv_free, borrowed pointers read before the next call, cursors closed,
only the entry a cursor returned last removed while it is open - so a sanitizer report
is libkv's fault. A model of each store checks results, cursor validity and
invalidation; a mismatch is a ContractViolation.

    python fuzzers/fuzz_ownership.py corpus/ownership -runs=1000
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.engine.data_provider import DataProvider
from harness.engine.recovery import ContractViolation
from harness.engine.session import run_fuzzer, session

S = session()
ffi, lib = S.ffi, S.lib
KEYS = (b"a", b"b", b"c", b"key", b"long-key-" + b"x" * 30)
MAX_STORES = 2


@dataclass
class Cursor:
    pointer: object
    last: bytes | None = None  # key of the entry returned last
    valid: bool = True         # False once a forbidden change or close happened
    done: bool = False


@dataclass
class Store:
    pointer: object
    model: dict[bytes, bytes] = field(default_factory=dict)
    cursors: list[Cursor] = field(default_factory=list)

    def changed(self, removed: bytes | None = None) -> None:
        """A change: cursors become invalid, except one whose last entry is the removed one."""
        for cursor in self.cursors:
            if cursor.valid and removed is not None and cursor.last == removed and not cursor.done:
                cursor.last = None
            else:
                cursor.valid = False


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise ContractViolation("wrong-result", what)


class Sequence:
    """The state of one input's call sequence."""

    def __init__(self, fdp: DataProvider) -> None:
        self.fdp = fdp
        self.stores: list[Store] = []
        self.detached: list[Cursor] = []

    def pick_store(self) -> Store:
        if not self.stores:
            self.open_store()
        return self.stores[self.fdp.ConsumeIntInRange(0, len(self.stores) - 1)]

    def key(self) -> bytes:
        return KEYS[self.fdp.ConsumeIntInRange(0, len(KEYS) - 1)]

    def open_store(self) -> None:
        if len(self.stores) < MAX_STORES:
            pointer = lib.kv_open(0)
            expect(pointer != ffi.NULL, "kv_open failed")
            self.stores.append(Store(pointer))

    def close_store(self) -> None:
        if not self.stores:
            return
        store = self.stores.pop(self.fdp.ConsumeIntInRange(0, len(self.stores) - 1))
        lib.kv_close(store.pointer)
        for cursor in store.cursors:  # documented: detached, only kv_cursor_close allowed
            cursor.valid = False
            self.detached.append(cursor)

    def put(self) -> None:
        store, key = self.pick_store(), self.key()
        value = self.fdp.ConsumeBytes(self.fdp.ConsumeIntInRange(0, 48))
        expect(lib.kv_put(store.pointer, key, value, len(value)) == 0, "kv_put failed")
        store.model[key] = value
        store.changed()

    def delete(self, key: bytes | None = None, store: Store | None = None) -> None:
        store = store or self.pick_store()
        key = key or self.key()
        status = lib.kv_delete(store.pointer, key)
        expect(status == (0 if key in store.model else lib.KV_ERR_NOT_FOUND), f"kv_delete {status}")
        if key in store.model:
            del store.model[key]
            store.changed(removed=key)

    def take(self) -> None:
        store, key = self.pick_store(), self.key()
        out, out_len = ffi.new("uint8_t **"), ffi.new("size_t *")
        status = lib.kv_take(store.pointer, key, out, out_len)
        if key not in store.model:
            expect(status == lib.KV_ERR_NOT_FOUND, f"kv_take of a missing key: {status}")
            return
        expect(status == 0 and out[0] != ffi.NULL, f"kv_take failed: {status}")
        taken = ffi.unpack(ffi.cast("char *", out[0]), out_len[0] + 1)
        lib.kv_free(out[0])  # ownership moved to us
        expect(taken == store.model.pop(key) + b"\0", "kv_take returned another value")
        store.changed(removed=key)

    def read(self) -> None:
        store, key = self.pick_store(), self.key()
        if self.fdp.ConsumeBool():
            out_len = ffi.new("size_t *")
            view = lib.kv_get_borrowed(store.pointer, key, out_len)  # valid until the next change
            got = ffi.unpack(ffi.cast("char *", view), out_len[0]) if view != ffi.NULL else None
        else:
            out, out_len = ffi.new("uint8_t **"), ffi.new("size_t *")
            got = None
            if lib.kv_get_copy(store.pointer, key, out, out_len) == 0:
                got = ffi.unpack(ffi.cast("char *", out[0]), out_len[0])
                lib.kv_free(out[0])
        expect(got == store.model.get(key), f"read of {key!r} gave {got!r}")
        expect(lib.kv_count(store.pointer) == len(store.model), "kv_count disagrees")

    def cursor_open(self) -> None:
        store = self.pick_store()
        if len(store.cursors) < 3:
            pointer = lib.kv_cursor_open(store.pointer)
            expect(pointer != ffi.NULL, "kv_cursor_open failed")
            store.cursors.append(Cursor(pointer))

    def _some_cursor(self) -> tuple[Store | None, Cursor | None]:
        choices = [(s, c) for s in self.stores for c in s.cursors] + [(None, c) for c in self.detached]
        if not choices:
            return None, None
        return choices[self.fdp.ConsumeIntInRange(0, len(choices) - 1)]

    def cursor_next(self) -> None:
        store, cursor = self._some_cursor()
        if cursor is None or store is None:
            return
        key_out, value_out, len_out = ffi.new("char **"), ffi.new("uint8_t **"), ffi.new("size_t *")
        status = lib.kv_cursor_next(cursor.pointer, key_out, value_out, len_out)
        if not cursor.valid:
            expect(status == lib.KV_ERR_INVALIDATED, f"invalidated cursor gave {status}")
            return
        if status == lib.KV_ERR_NOT_FOUND:
            cursor.done, cursor.last = True, None
            return
        expect(status == 0, f"kv_cursor_next failed: {status}")
        key = ffi.string(key_out[0])
        value = ffi.unpack(ffi.cast("char *", value_out[0]), len_out[0])
        expect(store.model.get(key) == value, f"cursor returned {key!r}={value!r}")
        cursor.last = key
        if self.fdp.ConsumeBool():  # documented as allowed: delete the entry just returned
            self.delete(key, store)

    def cursor_close(self) -> None:
        store, cursor = self._some_cursor()
        if cursor is None:
            return
        lib.kv_cursor_close(cursor.pointer)
        (store.cursors if store else self.detached).remove(cursor)

    def snapshot_copy(self) -> None:
        source, target = self.pick_store(), self.pick_store()
        out, out_len = ffi.new("uint8_t **"), ffi.new("size_t *")
        expect(lib.kv_snapshot_save(source.pointer, out, out_len) == 0, "kv_snapshot_save failed")
        status = lib.kv_snapshot_load(target.pointer, out[0], out_len[0])
        lib.kv_free(out[0])
        expect(status == 0, f"kv_snapshot_load of a saved snapshot failed: {status}")
        if source.model:
            target.model.update(source.model)
            target.changed()

    def finish(self) -> None:
        for cursor in self.detached:
            lib.kv_cursor_close(cursor.pointer)
        for store in self.stores:
            for cursor in store.cursors:
                lib.kv_cursor_close(cursor.pointer)
            lib.kv_close(store.pointer)

    OPERATIONS = ("open_store", "close_store", "put", "put", "delete", "take", "read",
                  "cursor_open", "cursor_next", "cursor_next", "cursor_close", "snapshot_copy")


def test_one_input(data: bytes) -> None:
    fdp = DataProvider(data)
    sequence = Sequence(fdp)
    try:
        for _ in range(fdp.ConsumeIntInRange(1, 24)):
            name = Sequence.OPERATIONS[fdp.ConsumeIntInRange(0, len(Sequence.OPERATIONS) - 1)]
            getattr(sequence, name)()
    finally:
        sequence.finish()


if __name__ == "__main__":
    run_fuzzer(test_one_input)
