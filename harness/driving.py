"""Small helpers for fuzz drivers at a C boundary: exact-size buffers and boundary sizes."""

from __future__ import annotations

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
