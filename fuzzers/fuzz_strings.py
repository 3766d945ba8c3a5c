#!/usr/bin/env python3
"""Strings surface of libkv: keys as C strings and as (pointer, length), values with NUL
bytes, owned / borrowed / C-string / lossy-UTF-8 conversions, copies into caller buffers.

Each input is a short sequence of operations on one store, decoded as a FuzzedDataProvider
does (harness.data_provider). The driver keeps a model of the store and checks every result
against it and against Python's own conversions (a lossy decode must equal
bytes.decode("utf-8", "replace")); a mismatch is a ContractViolation.

    python fuzzers/fuzz_strings.py corpus/strings -runs=1000
"""

from __future__ import annotations

from harness.engine.data_provider import DataProvider
from harness.engine.driving import addressable, boundary_size, exact_buffer
from harness.engine.recovery import ContractViolation
from harness.engine.session import run_fuzzer, session

S = session()
ffi, lib = S.ffi, S.lib
KEYS = (b"k", b"key", b"a-longer-key-name", "clé".encode())


def c_key(fdp: DataProvider) -> bytes:
    """A key the API accepts as a C string: from a small pool, or fresh bytes without NUL."""
    if fdp.ConsumeBool():
        return KEYS[fdp.ConsumeIntInRange(0, len(KEYS) - 1)]
    return fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 40)).replace(b"\0", b"_") or b"_"


def value(fdp: DataProvider) -> bytes:
    return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))


def wrong(what: str) -> None:
    """A result that breaks the header's promise (the message is built only on failure)."""
    raise ContractViolation("wrong-result", what)


# out-parameters, reused by every call (each result is read before the next call)
OUT_PTR, OUT_LEN = ffi.new("uint8_t **"), ffi.new("size_t *")


def owned(pointer: object, length: int) -> bytes:
    """Copy an [owned] result and release it with kv_free."""
    try:
        return ffi.unpack(ffi.cast("char *", pointer), length)
    finally:
        lib.kv_free(pointer)


def op_put(store: object, fdp: DataProvider, model: dict) -> None:
    key, data = c_key(fdp), value(fdp)
    if lib.kv_put(store, key, data, len(data)) != 0:
        wrong(f"kv_put({key!r}) failed")
    model[key] = data


def op_putn(store: object, fdp: DataProvider, model: dict) -> None:
    raw = fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 40)) or b"k"
    data = value(fdp)
    status = lib.kv_putn(store, exact_buffer(ffi, lib, raw, "char *"), len(raw), data, len(data))
    if b"\0" in raw:
        if status != lib.KV_ERR_EMBEDDED_NUL:
            wrong(f"kv_putn accepted key {raw!r} with a NUL: {status}")
    elif status != 0:
        wrong(f"kv_putn({raw!r}) failed: {status}")
    else:
        model[raw] = data


def op_put_owned(store: object, fdp: DataProvider, model: dict) -> None:
    key, data = c_key(fdp), value(fdp)
    buf = lib.malloc(len(data)) if data else ffi.NULL  # ownership moves to libkv
    if data:
        ffi.memmove(buf, data, len(data))
    if lib.kv_put_owned(store, key, ffi.cast("uint8_t *", buf), len(data)) != 0:
        wrong("kv_put_owned failed")
    model[key] = data


def op_get_copy(store: object, fdp: DataProvider, model: dict) -> None:
    key = c_key(fdp)
    status = lib.kv_get_copy(store, key, OUT_PTR, OUT_LEN)
    if key not in model:
        if status != lib.KV_ERR_NOT_FOUND:
            wrong(f"kv_get_copy found missing {key!r}")
    elif status != 0 or owned(OUT_PTR[0], OUT_LEN[0]) != model[key]:
        wrong(f"kv_get_copy({key!r}) wrong")


def op_get_cstr(store: object, fdp: DataProvider, model: dict) -> None:
    key = c_key(fdp)
    result = lib.kv_get_cstr(store, key)
    if result == ffi.NULL:
        if key in model and b"\0" not in model[key]:
            wrong(f"kv_get_cstr({key!r}) failed")
        return
    text = ffi.string(ffi.cast("char *", result))
    lib.kv_free(result)
    if text != model.get(key):
        wrong(f"kv_get_cstr({key!r}) returned {text!r}")


def op_utf8_lossy(store: object, fdp: DataProvider, model: dict) -> None:
    key = c_key(fdp)
    result = lib.kv_get_utf8_lossy(store, key, OUT_LEN)
    if result == ffi.NULL:
        if key in model:
            wrong(f"kv_get_utf8_lossy({key!r}) failed")
        return
    text = owned(result, OUT_LEN[0])
    want = model[key].decode("utf-8", "replace").encode("utf-8")
    if text != want:
        wrong(f"lossy UTF-8 of {model[key]!r}: {text!r}, Python says {want!r}")


def op_copy_value(store: object, fdp: DataProvider, model: dict) -> None:
    key = c_key(fdp)
    needed_len = len(model[key]) + 1 if key in model else 1
    cap = boundary_size(fdp.ConsumeIntInRange(0, 5), needed_len, fdp.ConsumeIntInRange(0, 80))
    buf = exact_buffer(ffi, lib, b"\xaa" * cap, "char *") if cap else ffi.NULL
    status = lib.kv_copy_value(store, key, buf, cap, OUT_LEN)
    if key not in model:
        if status != lib.KV_ERR_NOT_FOUND:
            wrong(f"kv_copy_value found missing {key!r}")
        return
    data = model[key]
    if b"\0" in data:
        if status != lib.KV_ERR_EMBEDDED_NUL:
            wrong(f"kv_copy_value copied a value with NUL: {status}")
    elif cap >= len(data) + 1:
        if status != 0 or ffi.unpack(buf, len(data) + 1) != data + b"\0":
            wrong("kv_copy_value wrong")
    elif status != lib.KV_ERR_CAPACITY:
        wrong(f"kv_copy_value into {cap} bytes for {len(data)}: {status}")
    elif OUT_LEN[0] != len(data) + 1:
        wrong("kv_copy_value: wrong *needed")
    elif cap and ffi.unpack(buf, cap) != data[: cap - 1] + b"\0":
        wrong("kv_copy_value: bad truncation")


def op_borrowed(store: object, fdp: DataProvider, model: dict) -> None:
    key = c_key(fdp)
    view = lib.kv_get_borrowed(store, key, OUT_LEN)
    if view == ffi.NULL:
        if key in model:
            wrong(f"kv_get_borrowed({key!r}) failed")
        return
    length = OUT_LEN[0]
    data = ffi.unpack(ffi.cast("char *", view), length)
    if data != model.get(key, b""):
        wrong(f"kv_get_borrowed({key!r}) returned {data!r}")
    if not addressable(ffi, view + length, 1) or view[length] != 0:
        raise ContractViolation("missing-nul", f"kv_get_borrowed({key!r}): no NUL after its "
                                f"{length} bytes, which the header promises")


def op_delete(store: object, fdp: DataProvider, model: dict) -> None:
    key = c_key(fdp)
    status = lib.kv_delete(store, key)
    if status != (0 if key in model else lib.KV_ERR_NOT_FOUND):
        wrong(f"kv_delete({key!r}): {status}")
    model.pop(key, None)


OPERATIONS = (op_put, op_putn, op_put_owned, op_get_copy, op_get_cstr, op_utf8_lossy,
              op_copy_value, op_borrowed, op_delete)


def test_one_input(data: bytes) -> None:
    fdp = DataProvider(data)
    store = lib.kv_open(0)
    model: dict[bytes, bytes] = {}
    try:
        for _ in range(fdp.ConsumeIntInRange(1, 12)):
            OPERATIONS[fdp.ConsumeIntInRange(0, len(OPERATIONS) - 1)](store, fdp, model)
    finally:
        lib.kv_close(store)


if __name__ == "__main__":
    run_fuzzer(test_one_input)
