"""Hypothesis strategies for data at a C boundary, reusable for any cffi binding.

    from harness.testing.strategies import c_strings, bytes_with_nul, buffers, sizes_near, int_limits
"""

from harness.testing.strategies.boundary import (
    buffers,
    bytes_with_nul,
    c_strings,
    int_limits,
    invalid_utf8,
    non_bmp_text,
    path_bytes,
    sizes_near,
)

__all__ = [
    "buffers",
    "bytes_with_nul",
    "c_strings",
    "int_limits",
    "invalid_utf8",
    "non_bmp_text",
    "path_bytes",
    "sizes_near",
]
