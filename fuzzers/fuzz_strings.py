#!/usr/bin/env python3
"""Strings surface of libkv: keys as C strings and as (pointer, length), values with NUL
bytes, owned / borrowed / C-string / lossy-UTF-8 conversions, copies into caller buffers.

Each input is a short sequence of operations on one store, decoded with a
FuzzedDataProvider. The driver keeps a model of the store and checks every result
against it and against Python's own conversions (a lossy decode must equal
bytes.decode("utf-8", "replace")); a mismatch is a ContractViolation.

    python fuzzers/fuzz_strings.py corpus/strings -runs=1000
"""

from __future__ import annotations

import atheris

from harness.driving import addressable, boundary_size, exact_buffer
from harness.fuzzing import ContractViolation, run_fuzzer, session

S = session()
ffi, lib = S.ffi, S.lib
KEYS = (b"k", b"key", b"a-longer-key-name", "clé".encode())


def c_key(fdp: atheris.FuzzedDataProvider) -> bytes:
    """A key the API accepts as a C string: from a small pool, or fresh bytes without NUL."""
    if fdp.ConsumeBool():
        return KEYS[fdp.ConsumeIntInRange(0, len(KEYS) - 1)]
    return fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 40)).replace(b"\0", b"_") or b"_"


def value(fdp: atheris.FuzzedDataProvider) -> bytes:
    return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise ContractViolation("wrong-result", what)


def owned(pointer: object, length: int) -> bytes:
    """Copy an [owned] result and release it with kv_free."""
    try:
        return ffi.unpack(ffi.cast("char *", pointer), length)
    finally:
        lib.kv_free(pointer)


def op_put(store: object, fdp: atheris.FuzzedDataProvider, model: dict) -> None:
    key, data = c_key(fdp), value(fdp)
    expect(lib.kv_put(store, key, data, len(data)) == 0, f"kv_put({key!r}) failed")
    model[key] = data


def op_putn(store: object, fdp: atheris.FuzzedDataProvider, model: dict) -> None:
    raw = fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 40)) or b"k"
    data = value(fdp)
    status = lib.kv_putn(store, exact_buffer(ffi, lib, raw, "char *"), len(raw), data, len(data))
    if b"\0" in raw:
        expect(status == lib.KV_ERR_EMBEDDED_NUL, f"kv_putn accepted key {raw!r} with a NUL: {status}")
    else:
        expect(status == 0, f"kv_putn({raw!r}) failed: {status}")
        model[raw] = data


def op_put_owned(store: object, fdp: atheris.FuzzedDataProvider, model: dict) -> None:
    key, data = c_key(fdp), value(fdp)
    buf = lib.malloc(len(data)) if data else ffi.NULL  # ownership moves to libkv
    if data:
        ffi.memmove(buf, data, len(data))
    expect(lib.kv_put_owned(store, key, ffi.cast("uint8_t *", buf), len(data)) == 0, "kv_put_owned failed")
    model[key] = data


def op_get_copy(store: object, fdp: atheris.FuzzedDataProvider, model: dict) -> None:
    key = c_key(fdp)
    out, out_len = ffi.new("uint8_t **"), ffi.new("size_t *")
    status = lib.kv_get_copy(store, key, out, out_len)
    if key not in model:
        expect(status == lib.KV_ERR_NOT_FOUND, f"kv_get_copy found missing {key!r}")
        return
    expect(status == 0 and owned(out[0], out_len[0]) == model[key], f"kv_get_copy({key!r}) wrong")


def op_get_cstr(store: object, fdp: atheris.FuzzedDataProvider, model: dict) -> None:
    key = c_key(fdp)
    result = lib.kv_get_cstr(store, key)
    if result == ffi.NULL:
        expect(key not in model or b"\0" in model[key], f"kv_get_cstr({key!r}) failed")
        return
    text = ffi.string(ffi.cast("char *", result))
    lib.kv_free(result)
    expect(text == model.get(key), f"kv_get_cstr({key!r}) returned {text!r}")


def op_utf8_lossy(store: object, fdp: atheris.FuzzedDataProvider, model: dict) -> None:
    key = c_key(fdp)
    out_len = ffi.new("size_t *")
    result = lib.kv_get_utf8_lossy(store, key, out_len)
    if result == ffi.NULL:
        expect(key not in model, f"kv_get_utf8_lossy({key!r}) failed")
        return
    text = owned(result, out_len[0])
    want = model[key].decode("utf-8", "replace").encode("utf-8")
    expect(text == want, f"lossy UTF-8 of {model[key]!r}: {text!r}, Python says {want!r}")


def op_copy_value(store: object, fdp: atheris.FuzzedDataProvider, model: dict) -> None:
    key = c_key(fdp)
    needed_len = len(model[key]) + 1 if key in model else 1
    cap = boundary_size(fdp.ConsumeIntInRange(0, 5), needed_len, fdp.ConsumeIntInRange(0, 80))
    buf = exact_buffer(ffi, lib, b"\xaa" * cap, "char *") if cap else ffi.NULL
    needed = ffi.new("size_t *")
    status = lib.kv_copy_value(store, key, buf, cap, needed)
    if key not in model:
        expect(status == lib.KV_ERR_NOT_FOUND, f"kv_copy_value found missing {key!r}")
        return
    data = model[key]
    if b"\0" in data:
        expect(status == lib.KV_ERR_EMBEDDED_NUL, f"kv_copy_value copied a value with NUL: {status}")
    elif cap >= len(data) + 1:
        expect(status == 0 and ffi.unpack(buf, len(data) + 1) == data + b"\0", "kv_copy_value wrong")
    else:
        expect(status == lib.KV_ERR_CAPACITY, f"kv_copy_value into {cap} bytes for {len(data)}: {status}")
        expect(needed[0] == len(data) + 1, "kv_copy_value: wrong *needed")
        if cap:
            expect(ffi.unpack(buf, cap) == data[: cap - 1] + b"\0", "kv_copy_value: bad truncation")


def op_borrowed(store: object, fdp: atheris.FuzzedDataProvider, model: dict) -> None:
    key = c_key(fdp)
    out_len = ffi.new("size_t *")
    view = lib.kv_get_borrowed(store, key, out_len)
    if view == ffi.NULL:
        expect(key not in model, f"kv_get_borrowed({key!r}) failed")
        return
    data = ffi.unpack(ffi.cast("char *", view), out_len[0])
    expect(data == model.get(key, b""), f"kv_get_borrowed({key!r}) returned {data!r}")
    if not addressable(ffi, view + out_len[0], 1) or view[out_len[0]] != 0:
        raise ContractViolation("missing-nul", f"kv_get_borrowed({key!r}): no NUL after its "
                                f"{out_len[0]} bytes, which the header promises")


def op_delete(store: object, fdp: atheris.FuzzedDataProvider, model: dict) -> None:
    key = c_key(fdp)
    status = lib.kv_delete(store, key)
    expect(status == (0 if key in model else lib.KV_ERR_NOT_FOUND), f"kv_delete({key!r}): {status}")
    model.pop(key, None)


OPERATIONS = (op_put, op_putn, op_put_owned, op_get_copy, op_get_cstr, op_utf8_lossy,
              op_copy_value, op_borrowed, op_delete)


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    store = lib.kv_open(0)
    model: dict[bytes, bytes] = {}
    try:
        for _ in range(fdp.ConsumeIntInRange(1, 12)):
            OPERATIONS[fdp.ConsumeIntInRange(0, len(OPERATIONS) - 1)](store, fdp, model)
    finally:
        lib.kv_close(store)


if __name__ == "__main__":
    run_fuzzer(test_one_input)
