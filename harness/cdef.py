"""Turn a C header into text cffi's cdef() accepts: preprocess with clang, no system headers."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from harness.errors import TargetError
from harness.toolchain import find_toolchain

# Standard headers a library header may include; cffi knows their types natively.
STUB_HEADERS = (
    "stddef.h", "stdint.h", "stdbool.h", "stdarg.h", "stdio.h", "stdlib.h", "string.h",
    "limits.h", "inttypes.h", "sys/types.h", "time.h", "wchar.h", "errno.h", "unistd.h",
)
STRIP_DEFINES = ("__attribute__(x)=", "__restrict=", "restrict=", "__extension__=", "__inline=")

# What every target gets in addition to its header: the allocator, for buffers whose
# ownership crosses the boundary (kv_put_owned-style parameters, exact-size inputs).
HARNESS_CDEF = """
void *malloc(size_t);
void *calloc(size_t, size_t);
void free(void *);
"""


def preprocess_header(header: Path, include_dirs: tuple[Path, ...] = ()) -> str:
    """The header after the preprocessor, system headers stubbed out, ready for ffi.cdef()."""
    clang = find_toolchain().clang
    with tempfile.TemporaryDirectory(prefix="ffih-stubs-") as stubs:
        for name in STUB_HEADERS:
            stub = Path(stubs) / name
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text("")
        command = [str(clang), "-E", "-P", "-nostdinc", "-x", "c", f"-I{stubs}"]
        command += [f"-I{d}" for d in include_dirs]
        command += [f"-D{d}" for d in STRIP_DEFINES]
        command.append(str(header))
        out = subprocess.run(command, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        first = next((line for line in out.stderr.splitlines() if "error" in line), out.stderr)
        raise TargetError(f"cannot preprocess {header}: {first.strip()}")
    return out.stdout
