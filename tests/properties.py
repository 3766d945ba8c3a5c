"""Properties of libkv written once, run two ways: by pytest (hypothesis's full budget, in
test_properties.py) and by atheris through fuzz_one_input (fuzzers/fuzz_property.py).
The target variant comes from FFI_HARNESS_VARIANT, as for every fuzzer."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.engine.session import session
from harness.testing.strategies import bytes_with_nul, c_strings, invalid_utf8, sizes_near

S = session()
ffi, lib = S.ffi, S.lib


@settings(database=None, deadline=None, max_examples=300)
@given(value=st.one_of(st.binary(max_size=48), invalid_utf8()))
def lossy_utf8_matches_python(value: bytes) -> None:
    """kv_get_utf8_lossy agrees with bytes.decode('utf-8', 'replace')."""
    store = lib.kv_open(0)
    try:
        lib.kv_put(store, b"k", value, len(value))
        length = ffi.new("size_t *")
        result = lib.kv_get_utf8_lossy(store, b"k", length)
        text = ffi.unpack(ffi.cast("char *", result), length[0])
        lib.kv_free(result)
        assert text == value.decode("utf-8", "replace").encode()
    finally:
        lib.kv_close(store)


@settings(database=None, deadline=None, max_examples=300)
@given(value=c_strings(max_size=40), data=st.data())
def copy_value_respects_capacity(value: bytes, data: st.DataObject) -> None:
    """kv_copy_value writes at most cap bytes, always NUL-terminated when cap > 0."""
    cap = data.draw(sizes_near(len(value) + 1))
    store = lib.kv_open(0)
    buf = ffi.gc(ffi.cast("char *", lib.malloc(max(cap, 1))), lib.free)
    try:
        lib.kv_put(store, b"k", value, len(value))
        status = lib.kv_copy_value(store, b"k", buf if cap else ffi.NULL, cap, ffi.NULL)
        if cap > len(value):
            assert status == 0 and ffi.string(buf) == value
        else:
            assert status == lib.KV_ERR_CAPACITY
    finally:
        lib.kv_close(store)


@settings(database=None, deadline=None, max_examples=300)
@given(key=bytes_with_nul(max_size=24))
def keys_with_nul_are_refused(key: bytes) -> None:
    """kv_putn refuses every key with an embedded NUL, like CString::new."""
    store = lib.kv_open(0)
    raw = ffi.gc(ffi.cast("char *", lib.malloc(len(key))), lib.free)
    ffi.memmove(raw, key, len(key))
    try:
        assert lib.kv_putn(store, raw, len(key), b"v", 1) == lib.KV_ERR_EMBEDDED_NUL
        assert lib.kv_count(store) == 0
    finally:
        lib.kv_close(store)
