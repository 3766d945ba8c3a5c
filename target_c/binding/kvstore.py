"""kvstore - the safe Python binding of libkv, as a careful user would write it with cffi.

Every owned pointer is freed exactly once (ffi.gc / kv_free), borrowed pointers are copied
before the next call, keys are checked for NUL bytes before they reach C, callbacks go
through ffi.new_handle + @ffi.def_extern with the handle kept alive until libkv calls the
destroy function, and every error code becomes an exception carrying kv_last_error().
Misuse (use after close, double close, unsubscribe twice, mutation from a callback)
raises a Python exception; it never reaches C.

bind(ffi, lib, planted) attaches the module to a built libkv extension; `planted` names
the binding bugs of target_c/bugs.toml compiled into this variant.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

ffi: Any = None
lib: Any = None
_planted: frozenset[str] = frozenset()

KV_OK = 0
Callback = Callable[[str, bytes, bytes | None], None]


class KVError(Exception):
    """A libkv failure: status code and libkv's own message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{message} (status {status})")
        self.status = status
        self.message = message


class KVKeyError(KVError, KeyError):
    """The key (or subscription) does not exist."""


class KVValueError(KVError, ValueError):
    """A bad argument: embedded NUL, empty or too long key, value too large, corrupt snapshot."""


class KVBusyError(KVError, RuntimeError):
    """The store cannot change now: from inside one of its callbacks, or during iteration."""


class ClosedError(KVError, ValueError):
    """The store was closed."""

    def __init__(self) -> None:
        super().__init__(-1, "the store is closed")


class CallbackError(KVError, RuntimeError):
    """A subscriber callback raised; the original exception is the __cause__."""


def _error_class(status: int) -> type[KVError]:
    if status == lib.KV_ERR_NOT_FOUND:
        return KVKeyError
    if status in (lib.KV_ERR_BUSY, lib.KV_ERR_INVALIDATED):
        return KVBusyError
    if status in (lib.KV_ERR_INVALID, lib.KV_ERR_EMBEDDED_NUL, lib.KV_ERR_TOO_LARGE,
                  lib.KV_ERR_CORRUPT, lib.KV_ERR_CAPACITY):
        return KVValueError
    return KVError


def last_error() -> str:
    """The calling thread's last libkv error message (copied through kv_last_error_copy)."""
    needed = ffi.new("size_t *")
    lib.kv_last_error_copy(ffi.NULL, 0, needed)
    buf = ffi.new("char[]", needed[0])
    lib.kv_last_error_copy(buf, needed[0], needed)
    return ffi.string(buf).decode("utf-8", "replace")


def strerror(status: int) -> str:
    """libkv's fixed message for a status code."""
    return ffi.string(lib.kv_strerror(status)).decode()


def _raise_for(status: int) -> None:
    if status != KV_OK:
        raise _error_class(status)(status, last_error())


def _key(key: str | bytes) -> bytes:
    """A key as the C string libkv expects; refuses what C would silently truncate."""
    raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if b"\0" in raw:
        raise KVValueError(lib.KV_ERR_EMBEDDED_NUL, f"key {raw!r} contains a NUL byte")
    return raw


def _take_owned(pointer: Any, length: int) -> bytes:
    """Copy an [owned] buffer into bytes and free it with kv_free."""
    try:
        return ffi.unpack(ffi.cast("char *", pointer), length)
    finally:
        lib.kv_free(pointer)


class Subscription:
    """A live kv_subscribe registration; ended by unsubscribe(), store close, or with-exit."""

    def __init__(self, store: Store, callback: Callback) -> None:
        self._store = store
        self._callback = callback
        self._id = 0
        self._handle: Any = None
        self.active = False

    def _deliver(self, event: int, key: bytes, value: bytes | None) -> None:
        kind = "put" if event == lib.KV_EVENT_PUT else "delete"
        try:
            self._callback(kind, key, value)
        except BaseException as exc:  # re-raised by the store after the C call returns
            self._store._callback_errors.append(exc)

    def _destroyed(self) -> None:
        """libkv's destroy call: the registration is over, the handle may go."""
        self.active = False
        self._store._subs.pop(self._id, None)
        self._handle = None

    def unsubscribe(self) -> bool:
        """End the subscription; False when it had already ended. Safe from its callback."""
        if not self.active or self._store._ptr is None:
            return False
        status = lib.kv_unsubscribe(self._store._ptr, self._id)
        if status == lib.KV_ERR_NOT_FOUND:
            return False
        _raise_for(status)
        self.active = False
        return True

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.unsubscribe()


class Store:
    """An open libkv store. Use as a context manager, or call close(); both are idempotent."""

    def __init__(self, *, deferred: bool = False) -> None:
        flags = lib.KV_OPEN_DEFERRED if deferred else lib.KV_OPEN_DEFAULT
        raw = lib.kv_open(flags)
        if raw == ffi.NULL:
            raise KVError(lib.KV_ERR_NOMEM, last_error())
        self._ptr: Any = ffi.gc(raw, lib.kv_close)
        self._subs: dict[int, Subscription] = {}
        self._callback_errors: list[BaseException] = []
        self._busy = 0
        self._owner = threading.get_ident()

    # -- lifecycle -------------------------------------------------------------------
    def _live(self) -> Any:
        if self._ptr is None:
            raise ClosedError()
        return self._ptr

    @property
    def closed(self) -> bool:
        return self._ptr is None

    def close(self) -> None:
        """Close the store: every subscription ends (its destroy runs), cursors detach."""
        if self._ptr is None:
            return
        if self._busy:
            raise KVBusyError(lib.KV_ERR_BUSY, "cannot close the store from inside its callback")
        ptr, self._ptr = self._ptr, None
        ffi.release(ptr)  # runs kv_close now and disarms the finalizer

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        if "binding-close-then-finalize" in _planted and self._ptr is not None and not self._busy:
            lib.kv_close(self._ptr)  # planted: the ffi.gc finalizer stays armed
            self._ptr = None
            return
        self.close()

    # -- calls that may notify subscribers -------------------------------------------
    def _mutate(self, function: Any, *args: Any) -> int:
        """Call a libkv function that may notify subscribers; the caller takes ownership of
        any outputs first, then calls _settle (a callback error must not leak them)."""
        ptr = self._live()
        self._busy += 1
        try:
            return function(ptr, *args)
        finally:
            self._busy -= 1

    def _settle(self, status: int) -> None:
        """Raise a subscriber's exception from the last call, else the call's own error.

        Subscriber errors belong to the outermost call: a call made from inside a callback
        (busy) leaves them alone, else each nested failure would wrap the previous one and
        the messages grow without bound (found by the binding fuzzer: an out-of-memory).
        """
        if not self._busy:
            self._reraise_callback_errors()
        _raise_for(status)

    def _reraise_callback_errors(self) -> None:
        if self._callback_errors:
            first, self._callback_errors = self._callback_errors[0], []
            raise CallbackError(-1, f"a subscriber callback raised {type(first).__name__}") from first

    def put(self, key: str | bytes, value: bytes, *, transfer: bool = False) -> None:
        """Store value under key. transfer=True hands libkv a malloc'd copy it takes over."""
        raw_key = _key(key)
        data = bytes(value)
        if transfer:
            buf = lib.malloc(len(data)) if data else ffi.NULL
            if data and buf == ffi.NULL:
                raise MemoryError("malloc failed")
            if data:
                ffi.memmove(buf, data, len(data))
            self._settle(self._mutate(lib.kv_put_owned, raw_key, ffi.cast("uint8_t *", buf), len(data)))
        else:
            self._settle(self._mutate(lib.kv_putn, raw_key, len(raw_key), data, len(data)))

    def __setitem__(self, key: str | bytes, value: bytes) -> None:
        self.put(key, value)

    def delete(self, key: str | bytes) -> None:
        self._settle(self._mutate(lib.kv_delete, _key(key)))

    def __delitem__(self, key: str | bytes) -> None:
        self.delete(key)

    def take(self, key: str | bytes) -> bytes:
        """Remove key and return its value (ownership moves out of libkv)."""
        out = ffi.new("uint8_t **")
        out_len = ffi.new("size_t *")
        status = self._mutate(lib.kv_take, _key(key), out, out_len)
        value = _take_owned(out[0], out_len[0]) if status == KV_OK else b""
        self._settle(status)
        return value

    def load(self, snapshot: bytes) -> None:
        """Add every entry of a snapshot (all or nothing)."""
        data = bytes(snapshot)
        self._settle(self._mutate(lib.kv_snapshot_load, data, len(data)))

    def dispatch(self, *, threaded: bool = False) -> None:
        """Deliver queued notifications of a deferred store, optionally from a worker thread."""
        function = lib.kv_dispatch_threaded if threaded else lib.kv_dispatch
        self._settle(self._mutate(function))

    # -- reads -----------------------------------------------------------------------
    def get(self, key: str | bytes, default: bytes | None = None) -> bytes | None:
        try:
            return self[key]
        except KVKeyError:
            return default

    def __getitem__(self, key: str | bytes) -> bytes:
        out = ffi.new("uint8_t **")
        out_len = ffi.new("size_t *")
        _raise_for(lib.kv_get_copy(self._live(), _key(key), out, out_len))
        return _take_owned(out[0], out_len[0])

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, (str, bytes)):
            return False
        return lib.kv_get_borrowed(self._live(), _key(key), ffi.NULL) != ffi.NULL

    def __len__(self) -> int:
        return lib.kv_count(self._live())

    def text(self, key: str | bytes) -> str:
        """The value decoded as UTF-8 by libkv, ill-formed sequences replaced by U+FFFD."""
        out_len = ffi.new("size_t *")
        raw_key = _key(key)
        result = lib.kv_get_utf8_lossy(self._live(), raw_key, out_len)
        if result == ffi.NULL:
            self._raise_null(raw_key, lib.KV_ERR_NOMEM)
        return _take_owned(result, out_len[0]).decode("utf-8")

    def _raise_null(self, raw_key: bytes, otherwise: int) -> None:
        """Turn a NULL result into the right exception: missing key, else `otherwise`."""
        message = last_error()
        missing = lib.kv_get_borrowed(self._live(), raw_key, ffi.NULL) == ffi.NULL
        status = lib.KV_ERR_NOT_FOUND if missing else otherwise
        raise _error_class(status)(status, message)

    def cstring(self, key: str | bytes) -> bytes:
        """The value as a C string (KVValueError when it contains a NUL byte)."""
        raw_key = _key(key)
        result = lib.kv_get_cstr(self._live(), raw_key)
        if result == ffi.NULL:
            self._raise_null(raw_key, lib.KV_ERR_EMBEDDED_NUL)
        try:
            return ffi.string(result)
        finally:
            lib.kv_free(result)

    def read_into(self, key: str | bytes, buffer: bytearray) -> int:
        """Copy the value and a NUL into buffer; return the size needed (value + NUL).

        When the buffer is too small it receives a truncated, NUL-terminated prefix.
        """
        needed = ffi.new("size_t *")
        target = ffi.from_buffer(buffer) if len(buffer) else ffi.NULL
        status = lib.kv_copy_value(self._live(), _key(key), target, len(buffer), needed)
        if status not in (KV_OK, lib.KV_ERR_CAPACITY):
            _raise_for(status)
        return needed[0]

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) copies in insertion order. Deleting the key just yielded is allowed;
        other changes make the next step raise KVBusyError."""
        cursor = lib.kv_cursor_open(self._live())
        if cursor == ffi.NULL:
            _raise_for(lib.KV_ERR_NOMEM)
        key_out = ffi.new("char **")
        value_out = ffi.new("uint8_t **")
        len_out = ffi.new("size_t *")
        try:
            while True:
                self._live()
                status = lib.kv_cursor_next(cursor, key_out, value_out, len_out)
                if status == lib.KV_ERR_NOT_FOUND:
                    return
                _raise_for(status)
                yield ffi.string(key_out[0]), ffi.unpack(ffi.cast("char *", value_out[0]), len_out[0])
        finally:
            lib.kv_cursor_close(cursor)

    def keys(self) -> list[bytes]:
        return [key for key, _ in self.items()]

    def snapshot(self) -> bytes:
        out = ffi.new("uint8_t **")
        out_len = ffi.new("size_t *")
        _raise_for(lib.kv_snapshot_save(self._live(), out, out_len))
        return _take_owned(out[0], out_len[0])

    @property
    def pending(self) -> int:
        return lib.kv_pending(self._live())

    # -- subscriptions -----------------------------------------------------------------
    def subscribe(self, callback: Callback, prefix: str | bytes | None = None) -> Subscription:
        """Call callback(kind, key, value) for every change to keys starting with prefix."""
        ptr = self._live()
        raw_prefix = _key(prefix) if prefix else ffi.NULL
        sub = Subscription(self, callback)
        handle = ffi.new_handle(sub)
        if "binding-handle-not-kept-alive" not in _planted:
            sub._handle = handle  # kept until libkv calls kvpy_destroy
        sub_id = lib.kv_subscribe(ptr, raw_prefix, lib.kvpy_notify, handle, lib.kvpy_destroy)
        if sub_id == 0:
            _raise_for(lib.KV_ERR_NOMEM)
        sub._id = sub_id
        sub.active = True
        self._subs[sub_id] = sub
        return sub


def _notify(user_data: Any, event: int, key: Any, value: Any, length: int) -> None:
    sub: Subscription = ffi.from_handle(user_data)
    payload = ffi.unpack(ffi.cast("char *", value), length) if value != ffi.NULL else None
    sub._deliver(event, ffi.string(key), payload)


def _destroy(user_data: Any) -> None:
    sub: Subscription = ffi.from_handle(user_data)
    sub._destroyed()


def bind(ffi_: Any, lib_: Any, planted: frozenset[str] = frozenset()) -> None:
    """Attach this binding to a built libkv extension (once per process)."""
    global ffi, lib, _planted
    ffi, lib, _planted = ffi_, lib_, frozenset(planted)
    ffi_.def_extern(name="kvpy_notify")(_notify)
    ffi_.def_extern(name="kvpy_destroy")(_destroy)
