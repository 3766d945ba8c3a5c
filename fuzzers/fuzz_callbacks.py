#!/usr/bin/env python3
"""Callbacks surface of libkv: subscriptions, user_data lifetimes, destroy functions,
unsubscribe from inside callbacks, deferred and worker-thread dispatch.

Each input decodes into subscribers - each with a script of what its callback does on
its n-th call (nothing, unsubscribe itself, unsubscribe another, read the store, try a
change, subscribe a newcomer) - and a sequence of changes and dispatches. user_data is a
malloc'd block the callback reads (so ASan checks it is alive); its destroy function is
libc's free (a double destroy is a double free) or a Python recorder that checks it runs
exactly once. The driver also checks what no sanitizer sees: a callback after its
registration ended, a destroy never called, a change allowed from inside a callback.

    python fuzzers/fuzz_callbacks.py corpus/callbacks -runs=1000
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from harness.engine.data_provider import DataProvider
from harness.engine.recovery import ContractViolation
from harness.engine.session import run_fuzzer, session

S = session()
ffi, lib = S.ffi, S.lib
KEYS = (b"a", b"ab", b"b", b"user:1")
PREFIXES = (None, b"a", b"user:", b"zz")
ACTIONS = ("none", "unsubscribe_self", "unsubscribe_other", "read", "try_change", "subscribe")
FREE = ffi.addressof(lib, "free")


@dataclass
class Subscriber:
    number: int
    prefix: bytes | None
    script: list[str]
    python_destroy: bool
    user_data: object = None
    id: int = 0
    active: bool = True
    calls: int = 0
    destroyed: int = 0


@dataclass
class Run:
    """The state of one input, reachable from the extern "Python" callbacks."""

    fdp: DataProvider
    store: object = None
    subscribers: list[Subscriber] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    scratch: object = field(default_factory=lambda: ffi.new("char[8]"))


RUN: Run | None = None


def violation(kind: str, detail: str) -> None:
    raise ContractViolation(kind, detail)


def subscriber_of(user_data: object) -> Subscriber:
    """Read the subscriber number out of user_data; memmove goes through ASan's checks."""
    assert RUN is not None
    ffi.memmove(RUN.scratch, ffi.cast("char *", user_data), 8)
    (number,) = struct.unpack("<q", ffi.buffer(RUN.scratch, 8)[:])
    return RUN.subscribers[number]


@ffi.def_extern(name="kvfz_notify")
def on_notify(user_data: object, event: int, key: object, value: object, length: int) -> None:
    try:
        sub = subscriber_of(user_data)
        name = ffi.string(key)
        if not sub.active:
            violation("callback-after-unsubscribe", f"subscriber {sub.number} called for {name!r}")
        if sub.prefix and not name.startswith(sub.prefix):
            violation("wrong-result", f"prefix {sub.prefix!r} notified for {name!r}")
        action = sub.script[sub.calls % len(sub.script)]
        sub.calls += 1
        perform(sub, action)
    except BaseException as exc:  # cffi would only print it: re-raised after the C call
        assert RUN is not None
        RUN.errors.append(exc)


@ffi.def_extern(name="kvfz_destroy")
def on_destroy(user_data: object) -> None:
    try:
        sub = subscriber_of(user_data)
        sub.destroyed += 1
        if sub.destroyed > 1:
            violation("destroy-twice", f"subscriber {sub.number} destroyed {sub.destroyed} times")
        lib.free(user_data)
    except BaseException as exc:
        assert RUN is not None
        RUN.errors.append(exc)


def perform(sub: Subscriber, action: str) -> None:
    assert RUN is not None
    if action == "unsubscribe_self":
        unsubscribe(sub)
    elif action == "unsubscribe_other":
        others = [s for s in RUN.subscribers if s is not sub and s.active]
        if others:
            unsubscribe(others[RUN.fdp.ConsumeIntInRange(0, len(others) - 1)])
    elif action == "read":
        lib.kv_get_borrowed(RUN.store, KEYS[RUN.fdp.ConsumeIntInRange(0, len(KEYS) - 1)], ffi.NULL)
    elif action == "try_change":
        status = lib.kv_put(RUN.store, b"a", b"x", 1)
        if status != lib.KV_ERR_BUSY:
            violation("wrong-result", f"kv_put inside a callback returned {status}, not KV_ERR_BUSY")
    elif action == "subscribe":
        subscribe()


def subscribe() -> None:
    assert RUN is not None
    fdp = RUN.fdp
    if len(RUN.subscribers) >= 8:
        return
    script = [ACTIONS[fdp.ConsumeIntInRange(0, len(ACTIONS) - 1)] for _ in range(fdp.ConsumeIntInRange(1, 3))]
    sub = Subscriber(len(RUN.subscribers), PREFIXES[fdp.ConsumeIntInRange(0, len(PREFIXES) - 1)],
                     script, python_destroy=fdp.ConsumeBool())
    sub.user_data = lib.malloc(16)
    ffi.memmove(sub.user_data, struct.pack("<q", sub.number) + b"\0" * 8, 16)
    RUN.subscribers.append(sub)
    destroy = lib.kvfz_destroy if sub.python_destroy else FREE
    sub.id = lib.kv_subscribe(RUN.store, sub.prefix or ffi.NULL, lib.kvfz_notify, sub.user_data, destroy)
    if sub.id == 0:
        violation("wrong-result", "kv_subscribe failed")


def unsubscribe(sub: Subscriber) -> None:
    assert RUN is not None
    status = lib.kv_unsubscribe(RUN.store, sub.id)
    if status != (0 if sub.active else lib.KV_ERR_NOT_FOUND):
        violation("wrong-result", f"kv_unsubscribe of subscriber {sub.number}: {status}")
    sub.active = False


def change(fdp: DataProvider) -> None:
    assert RUN is not None
    key = KEYS[fdp.ConsumeIntInRange(0, len(KEYS) - 1)]
    choice = fdp.ConsumeIntInRange(0, 2)
    if choice == 0:
        value = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 16))
        lib.kv_put(RUN.store, key, value, len(value))
    elif choice == 1:
        lib.kv_delete(RUN.store, key)
    else:
        out, out_len = ffi.new("uint8_t **"), ffi.new("size_t *")
        if lib.kv_take(RUN.store, key, out, out_len) == 0:
            lib.kv_free(out[0])


def step(fdp: DataProvider, deferred: bool) -> None:
    assert RUN is not None
    choice = fdp.ConsumeIntInRange(0, 5)
    if choice == 0:
        subscribe()
    elif choice == 1 and RUN.subscribers:
        unsubscribe(RUN.subscribers[fdp.ConsumeIntInRange(0, len(RUN.subscribers) - 1)])
    elif choice in (2, 3):
        change(fdp)
    elif choice == 4 and deferred:
        pending = lib.kv_pending(RUN.store)
        status = lib.kv_dispatch_threaded(RUN.store) if fdp.ConsumeBool() else lib.kv_dispatch(RUN.store)
        if status != 0 or lib.kv_pending(RUN.store) != 0:
            violation("wrong-result", f"dispatch of {pending} notifications: status {status}")


def check_destroyed() -> None:
    assert RUN is not None
    for sub in RUN.subscribers:
        if sub.python_destroy and sub.destroyed != 1:
            violation("destroy-not-called" if not sub.destroyed else "destroy-twice",
                      f"subscriber {sub.number} destroyed {sub.destroyed} times by the end")


def test_one_input(data: bytes) -> None:
    global RUN
    fdp = DataProvider(data)
    deferred = fdp.ConsumeBool()
    RUN = Run(fdp, lib.kv_open(lib.KV_OPEN_DEFERRED if deferred else 0))
    try:
        for _ in range(fdp.ConsumeIntInRange(1, 20)):
            step(fdp, deferred)
            if RUN.errors:
                raise RUN.errors[0]
    finally:
        lib.kv_close(RUN.store)
    if RUN.errors:
        raise RUN.errors[0]
    check_destroyed()


if __name__ == "__main__":
    run_fuzzer(test_one_input)
