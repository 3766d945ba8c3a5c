#!/usr/bin/env python3
"""The Python binding of libkv (target_c/binding/kvstore.py): any sequence of calls on the
safe wrapper, misuse included - use after close, double close, leaving a `with` twice,
unsubscribe twice, changes and closes from inside callbacks, callbacks that raise,
dropped references - must end in one of the binding's documented exceptions, never in a
sanitizer report or another exception.

    python fuzzers/fuzz_binding.py corpus/binding -runs=1000
"""

from __future__ import annotations

from harness.engine.data_provider import DataProvider
from harness.engine.session import run_fuzzer, session

kv = session().binding
EXPECTED = (kv.KVError,)  # every documented failure of the binding
KEYS = ("a", "b", "user:1", b"raw", "é")


class Sequence:
    """One input's objects: up to two stores and their subscriptions and iterators."""

    def __init__(self, fdp: DataProvider) -> None:
        self.fdp = fdp
        self.stores: list = []
        self.subscriptions: list = []
        self.iterators: list = []

    def pick(self, items: list) -> object | None:
        return items[self.fdp.ConsumeIntInRange(0, len(items) - 1)] if items else None

    def key(self) -> str | bytes:
        if self.fdp.ConsumeIntInRange(0, 7) == 0:  # sometimes a key C would truncate
            return self.fdp.ConsumeBytes(self.fdp.ConsumeIntInRange(0, 6))
        return KEYS[self.fdp.ConsumeIntInRange(0, len(KEYS) - 1)]

    def store(self) -> object:
        store = self.pick(self.stores)
        if store is None:
            store = self.new_store()
        return store

    def new_store(self) -> object:
        store = kv.Store(deferred=self.fdp.ConsumeBool())
        if len(self.stores) < 2:
            self.stores.append(store)
        return store

    def callback(self, store: object) -> object:
        behaviour = self.fdp.ConsumeIntInRange(0, 4)
        subs = self.subscriptions

        def on_change(kind: str, key: bytes, value: bytes | None) -> None:
            if behaviour == 1 and subs:
                subs[-1].unsubscribe()
            elif behaviour == 2:
                store.put("from-callback", b"x")  # must raise: the store is busy
            elif behaviour == 3:
                raise ValueError("subscriber failure")
            elif behaviour == 4:
                store.close()  # must raise: closing from a callback

        return on_change

    def step(self) -> None:
        fdp = self.fdp
        op = fdp.ConsumeIntInRange(0, 17)
        store = self.store()
        key = self.key()
        if op == 0:
            self.new_store()
        elif op == 1:
            store.close()
        elif op == 2:
            store.__exit__(None, None, None)
        elif op == 3:
            self.stores.remove(store) if store in self.stores else None  # drop the reference
        elif op in (4, 5):
            store.put(key, fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 24)), transfer=fdp.ConsumeBool())
        elif op == 6:
            store.get(key)
        elif op == 7:
            store.delete(key)
        elif op == 8:
            store.take(key)
        elif op == 9:
            (store.text if fdp.ConsumeBool() else store.cstring)(key)
        elif op == 10:
            store.read_into(key, bytearray(fdp.ConsumeIntInRange(0, 24)))
        elif op == 11:
            self.iterators.append(store.items())
        elif op == 12 and self.iterators:
            next(self.pick(self.iterators), None)
        elif op == 13:
            prefix = self.key() if fdp.ConsumeBool() else None
            self.subscriptions.append(store.subscribe(self.callback(store), prefix))
        elif op == 14 and self.subscriptions:
            self.pick(self.subscriptions).unsubscribe()
        elif op == 15:
            store.dispatch(threaded=fdp.ConsumeBool())
        elif op == 16:
            store.load(store.snapshot() if fdp.ConsumeBool() else fdp.ConsumeBytes(64))
        else:
            _ = (len(store), key in store, store.pending, store.keys())


def test_one_input(data: bytes) -> None:
    fdp = DataProvider(data)
    sequence = Sequence(fdp)
    for _ in range(fdp.ConsumeIntInRange(1, 20)):
        try:
            sequence.step()
        except EXPECTED:
            pass
        except StopIteration:
            pass


if __name__ == "__main__":
    run_fuzzer(test_one_input)
