"""Hypothesis state machines for libkv's ownership and callback contracts and for its binding.

Rules record steps and keep a pure-Python model; executors (run in a forked child by
harness.stateful) perform the steps on the real library and check them against the
expectations the model put in each step. make_machines(loaded) binds all three to one
built variant.
"""

from __future__ import annotations

import struct
from typing import Any, ClassVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, consumes, initialize, invariant, rule

from harness.target.loader import Loaded, load_binding
from harness.testing.stateful import Executor, IsolatedMachine
from harness.testing.strategies import c_strings

# what every state-machine test here runs with: reproducible, no database unless given, 8 steps
BASE = settings(deadline=None, derandomize=True, database=None, stateful_step_count=8,
                suppress_health_check=list(HealthCheck), print_blob=False)


def counting(machine: type) -> type:
    """A subclass that counts test cases and keeps the last program it ran."""

    class Counted(machine):  # type: ignore[misc, valid-type]
        runs: ClassVar[int] = 0
        last: ClassVar[list] = []

        def teardown(self) -> None:
            type(self).runs += 1
            type(self).last = list(self.program.steps)
            super().teardown()

    Counted.__name__ = machine.__name__
    return Counted


KEYS = st.sampled_from([b"a", b"b", b"c", b"user:1"])
VALUES = st.binary(max_size=24)


def make_machines(loaded: Loaded) -> dict[str, type[IsolatedMachine]]:
    """The ownership, callbacks and binding machines bound to one loaded variant."""
    ffi, lib = loaded.ffi, loaded.lib
    target = loaded.target.code
    free = ffi.addressof(lib, "free")

    # ---- ownership: stores, cursors, owned and borrowed values --------------------------
    class OwnershipExecutor(Executor):
        def __init__(self) -> None:
            self.stores: dict[str, Any] = {}
            self.cursors: dict[str, Any] = {}

        def open(self, name: str, contents: dict[bytes, bytes]) -> None:
            self.stores[name] = lib.kv_open(0)
            for key, value in contents.items():
                self.put(name, key, value)

        def close(self, name: str) -> None:
            lib.kv_close(self.stores.pop(name))

        def put(self, store: str, key: bytes, value: bytes) -> None:
            assert lib.kv_put(self.stores[store], key, value, len(value)) == 0

        def remove(self, store: str, key: bytes, take: bool, expected: bytes | None) -> None:
            if take:
                out, out_len = ffi.new("uint8_t **"), ffi.new("size_t *")
                status = lib.kv_take(self.stores[store], key, out, out_len)
                if status == 0:
                    got = ffi.unpack(ffi.cast("char *", out[0]), out_len[0])
                    lib.kv_free(out[0])
                    assert got == expected, (got, expected)
            else:
                status = lib.kv_delete(self.stores[store], key)
            assert status == (0 if expected is not None else lib.KV_ERR_NOT_FOUND), status

        def get(self, store: str, key: bytes, borrowed: bool, expected: bytes | None) -> None:
            if borrowed:
                length = ffi.new("size_t *")
                view = lib.kv_get_borrowed(self.stores[store], key, length)
                got = ffi.unpack(ffi.cast("char *", view), length[0]) if view != ffi.NULL else None
            else:
                out, out_len = ffi.new("uint8_t **"), ffi.new("size_t *")
                got = None
                if lib.kv_get_copy(self.stores[store], key, out, out_len) == 0:
                    got = ffi.unpack(ffi.cast("char *", out[0]), out_len[0])
                    lib.kv_free(out[0])
            assert got == expected, (got, expected)

        def cursor_open(self, store: str, name: str) -> None:
            self.cursors[name] = lib.kv_cursor_open(self.stores[store])

        def cursor_next(self, name: str, expected: bytes | int | None) -> None:
            key = ffi.new("char **")
            status = lib.kv_cursor_next(self.cursors[name], key, ffi.NULL, ffi.NULL)
            if isinstance(expected, bytes):
                assert status == 0 and ffi.string(key[0]) == expected, (status, expected)
            else:
                assert status == expected, (status, expected)

        def cursor_close(self, name: str) -> None:
            lib.kv_cursor_close(self.cursors.pop(name))

        def finish(self) -> None:
            for cursor in self.cursors.values():
                lib.kv_cursor_close(cursor)
            for store in self.stores.values():
                lib.kv_close(store)

    class Cursor:
        def __init__(self, store: str, keys: list[bytes]) -> None:
            self.store, self.remaining, self.current, self.valid = store, keys, None, True

    class OwnershipMachine(IsolatedMachine):
        executor = OwnershipExecutor
        stores = Bundle("stores")
        cursors = Bundle("cursors")

        def __init__(self) -> None:
            super().__init__()
            self.models: dict[str, dict[bytes, bytes]] = {}
            self.open_cursors: dict[str, Cursor] = {}

        def _changed(self, store: str, removed: bytes | None = None) -> None:
            for cursor in self.open_cursors.values():
                if cursor.store != store or not cursor.valid:
                    continue
                if removed is not None and cursor.current == removed:
                    cursor.current = None
                else:
                    cursor.valid = False

        @rule(target=stores, contents=st.dictionaries(KEYS, VALUES, max_size=3))
        def open(self, contents: dict[bytes, bytes]) -> str:
            name = self.fresh("store")
            self.models[name] = dict(contents)
            self.program.call("open", name, contents)
            return name

        @rule(store=consumes(stores))
        def close(self, store: str) -> None:
            for cursor in self.open_cursors.values():
                if cursor.store == store:
                    cursor.valid = False  # detached
            del self.models[store]
            self.program.call("close", store)

        @rule(store=stores, key=KEYS, value=VALUES)
        def put(self, store: str, key: bytes, value: bytes) -> None:
            self.models[store][key] = value
            self._changed(store)
            self.program.call("put", store, key, value)

        @rule(store=stores, key=KEYS, take=st.booleans())
        def remove(self, store: str, key: bytes, take: bool) -> None:
            expected = self.models[store].pop(key, None)
            if expected is not None:
                self._changed(store, removed=key)
            self.program.call("remove", store, key, take, expected)

        @rule(store=stores, key=KEYS, borrowed=st.booleans())
        def get(self, store: str, key: bytes, borrowed: bool) -> None:
            self.program.call("get", store, key, borrowed, self.models[store].get(key))

        @rule(target=cursors, store=stores)
        def cursor_open(self, store: str) -> str:
            name = self.fresh("cursor")
            self.open_cursors[name] = Cursor(store, list(self.models[store]))
            self.program.call("cursor_open", store, name)
            return name

        @rule(cursor=cursors, delete=st.booleans())
        def cursor_next(self, cursor: str, delete: bool) -> None:
            """Advance; with delete, remove the entry just returned (documented as allowed)."""
            state = self.open_cursors[cursor]
            if not state.valid:
                expected: bytes | int = lib.KV_ERR_INVALIDATED
            elif state.remaining:
                expected = state.current = state.remaining.pop(0)
            else:
                expected, state.current = lib.KV_ERR_NOT_FOUND, None
            self.program.call("cursor_next", cursor, expected)
            if delete and isinstance(expected, bytes) and state.store in self.models:
                self.remove(state.store, expected, take=False)

        @rule(cursor=consumes(cursors))
        def cursor_close(self, cursor: str) -> None:
            del self.open_cursors[cursor]
            self.program.call("cursor_close", cursor)

        @invariant()
        def at_most_a_few_stores(self) -> None:
            assert len(self.models) <= 50

    OwnershipMachine.target = target

    # ---- callbacks: subscriptions, user_data lifetimes, destroy --------------------------
    class CallbacksExecutor(Executor):
        def __init__(self) -> None:
            self.store: Any = None
            self.subs: dict[str, dict[str, Any]] = {}
            self.errors: list[str] = []
            self.keep: list[Any] = []
            self.notify = ffi.callback("void(void *, kv_event, const char *, const uint8_t *, size_t)",
                                       self._notify)
            self.destroy = ffi.callback("void(void *)", self._destroy)

        def _sub_of(self, user_data: Any) -> dict[str, Any]:
            scratch = ffi.new("char[8]")
            ffi.memmove(scratch, ffi.cast("char *", user_data), 8)  # ASan checks user_data lives
            (number,) = struct.unpack("<q", ffi.buffer(scratch, 8)[:])
            return next(s for s in self.subs.values() if s["number"] == number)

        def _notify(self, user_data: Any, event: int, key: Any, value: Any, length: int) -> None:
            try:  # cffi only prints what a callback raises: keep it for finish()
                sub = self._sub_of(user_data)
                if not sub["active"]:
                    self.errors.append(f"callback-after-unsubscribe: {sub['name']}")
                others = {"next": sub["number"] + 1, "first": 0}
                if sub["action"] == "self":
                    self.unsubscribe(sub["name"])
                elif sub["action"] in others:
                    for other in self.subs.values():
                        if other["number"] == others[sub["action"]] and other["active"]:
                            self.unsubscribe(other["name"])
            except Exception as exc:
                self.errors.append(repr(exc))

        def _destroy(self, user_data: Any) -> None:
            try:
                sub = self._sub_of(user_data)
                sub["destroyed"] += 1
                lib.free(user_data)
            except Exception as exc:
                self.errors.append(repr(exc))

        def open(self, deferred: bool) -> None:
            self.store = lib.kv_open(lib.KV_OPEN_DEFERRED if deferred else 0)

        def subscribe(self, name: str, prefix: bytes, action: str, python_destroy: bool) -> None:
            number = len(self.subs)
            user_data = lib.malloc(8)
            ffi.memmove(user_data, struct.pack("<q", number), 8)
            self.subs[name] = {"name": name, "number": number, "action": action, "active": True,
                               "destroyed": 0, "python_destroy": python_destroy}
            destroy = self.destroy if python_destroy else free
            sub_id = lib.kv_subscribe(self.store, prefix or ffi.NULL, self.notify, user_data, destroy)
            assert sub_id != 0
            self.subs[name]["id"] = sub_id

        def unsubscribe(self, name: str) -> None:
            sub = self.subs[name]
            status = lib.kv_unsubscribe(self.store, sub["id"])
            assert status == (0 if sub["active"] else lib.KV_ERR_NOT_FOUND), (name, status)
            sub["active"] = False

        def change(self, key: bytes, value: bytes | None) -> None:
            if value is None:
                lib.kv_delete(self.store, key)
            else:
                lib.kv_put(self.store, key, value, len(value))

        def dispatch(self, threaded: bool) -> None:
            assert (lib.kv_dispatch_threaded if threaded else lib.kv_dispatch)(self.store) == 0

        def finish(self) -> None:
            lib.kv_close(self.store)
            assert not self.errors, self.errors
            wrong = {n: s["destroyed"] for n, s in self.subs.items()
                     if s["python_destroy"] and s["destroyed"] != 1}
            assert not wrong, f"destroy must run exactly once: {wrong}"

    class CallbacksMachine(IsolatedMachine):
        executor = CallbacksExecutor
        subs = Bundle("subs")

        @initialize(deferred=st.booleans())
        def open(self, deferred: bool) -> None:
            self.program.call("open", deferred)

        @rule(target=subs, prefix=st.sampled_from([b"", b"a", b"user:"]),
              action=st.sampled_from(["none", "self", "next", "first"]), python_destroy=st.booleans())
        def subscribe(self, prefix: bytes, action: str, python_destroy: bool) -> str:
            """action: what the callback does when called - unsubscribe itself, the
            subscriber made after it, or the first one."""
            name = self.fresh("sub")
            self.program.call("subscribe", name, prefix, action, python_destroy)
            return name

        @rule(sub=subs)
        def unsubscribe(self, sub: str) -> None:
            self.program.call("unsubscribe", sub)

        @rule(key=KEYS, value=st.one_of(st.none(), VALUES))
        def change(self, key: bytes, value: bytes | None) -> None:
            self.program.call("change", key, value)

        @rule(threaded=st.booleans())
        def dispatch(self, threaded: bool) -> None:
            self.program.call("dispatch", threaded)

    CallbacksMachine.target = target

    # ---- the binding: any call sequence, misuse included ---------------------------------
    class BindingExecutor(Executor):
        def __init__(self) -> None:
            import gc

            self.gc = gc
            self.kv = load_binding(loaded)
            self.stores: dict[str, Any] = {}
            self.subs: dict[str, Any] = {}
            self.seen: list[tuple[str, bytes]] = []

        def attempt(self, function: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except self.kv.KVError:
                return None

        def open(self, name: str, deferred: bool) -> None:
            self.stores[name] = self.kv.Store(deferred=deferred)

        def close(self, name: str, via_with: bool) -> None:
            store = self.stores[name]
            self.attempt(store.__exit__ if via_with else store.close, *([None] * 3 if via_with else []))

        def drop(self, name: str) -> None:
            del self.stores[name]
            self.gc.collect()

        def put(self, name: str, key: bytes, value: bytes, transfer: bool) -> None:
            self.attempt(self.stores[name].put, key, value, transfer=transfer)

        def read(self, name: str, key: bytes, how: int) -> None:
            store = self.stores[name]
            self.attempt([store.get, store.text, store.cstring, store.take, store.delete][how], key)

        def subscribe(self, store: str, sub: str) -> None:
            self.subs[sub] = self.attempt(self.stores[store].subscribe,
                                          lambda kind, key, value: self.seen.append((kind, key)))

        def unsubscribe(self, sub: str) -> None:
            if self.subs.get(sub) is not None:
                self.subs[sub].unsubscribe()

        def dispatch(self, name: str, threaded: bool) -> None:
            self.attempt(self.stores[name].dispatch, threaded=threaded)

        def finish(self) -> None:
            for store in self.stores.values():
                store.close()
            self.stores.clear()
            self.gc.collect()

    class BindingMachine(IsolatedMachine):
        executor = BindingExecutor
        stores = Bundle("stores")
        subs = Bundle("subs")

        @rule(target=stores, deferred=st.booleans())
        def open(self, deferred: bool) -> str:
            name = self.fresh("store")
            self.program.call("open", name, deferred)
            return name

        @rule(store=stores, via_with=st.booleans())
        def close(self, store: str, via_with: bool) -> None:
            self.program.call("close", store, via_with)

        @rule(store=consumes(stores))
        def drop(self, store: str) -> None:
            self.program.call("drop", store)

        @rule(store=stores, key=c_strings(max_size=3) | st.just(b"k\0"), value=VALUES, transfer=st.booleans())
        def put(self, store: str, key: bytes, value: bytes, transfer: bool) -> None:
            self.program.call("put", store, key or b"k", value, transfer)

        @rule(store=stores, key=st.sampled_from([b"k", b"a", b"\xff"]), how=st.integers(0, 4))
        def read(self, store: str, key: bytes, how: int) -> None:
            self.program.call("read", store, key, how)

        @rule(target=subs, store=stores)
        def subscribe(self, store: str) -> str:
            name = self.fresh("sub")
            self.program.call("subscribe", store, name)
            return name

        @rule(sub=subs)
        def unsubscribe(self, sub: str) -> None:
            self.program.call("unsubscribe", sub)

        @rule(store=stores, threaded=st.booleans())
        def dispatch(self, store: str, threaded: bool) -> None:
            self.program.call("dispatch", store, threaded)

    BindingMachine.target = target
    return {"ownership": OwnershipMachine, "callbacks": CallbacksMachine, "binding": BindingMachine}
