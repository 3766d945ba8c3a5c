"""Small helpers for fuzz drivers at a C boundary: exact-size buffers and boundary sizes."""

from __future__ import annotations

import ctypes
import functools
from typing import Any


def exact_buffer(ffi: Any, lib: Any, data: bytes, ctype: str = "uint8_t *") -> Any:
    """data copied into malloc'd memory of exactly len(data) bytes, freed with the cdata.

    Python's bytes keep a NUL and sit in larger blocks; an exact heap buffer lets ASan
    see the first byte the library reads past the end, as with native libFuzzer inputs.
    Empty data gives a 1-byte buffer (malloc(0) may return NULL).
    """
    buf = ffi.gc(ffi.cast(ctype, lib.malloc(max(len(data), 1))), lib.free)
    if buf == ffi.NULL:
        raise MemoryError("malloc failed")
    if data:
        ffi.memmove(buf, data, len(data))
    return buf


def boundary_size(choice: int, needed: int, other: int) -> int:
    """A caller-buffer capacity around `needed`: the sizes where off-by-ones live.

    choice 0..5 -> needed - 1, needed, needed + 1, 0, 1, `other` (a free size).
    """
    sizes = (max(needed - 1, 0), needed, needed + 1, 0, 1, other)
    return sizes[choice % len(sizes)]


@functools.cache
def _region_is_poisoned() -> Any:
    function = getattr(ctypes.CDLL(None), "__asan_region_is_poisoned", None)
    if function is not None:
        function.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
        function.restype = ctypes.c_void_p
    return function


def addressable(ffi: Any, pointer: Any, size: int) -> bool:
    """Whether [pointer, pointer + size) lies inside live memory, asked of ASan's shadow
    without touching it (always True without ASan).

    Lets a driver check a promise such as "followed by a NUL byte" and report the broken
    promise as a ContractViolation instead of crashing inside cffi's glue.
    """
    check = _region_is_poisoned()
    if check is None or size <= 0:
        return True
    return not check(int(ffi.cast("uintptr_t", pointer)), size)
