"""The harness's own small native library (harness/data/ffih_support.c), built once and cached."""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

from harness.config import cache_root, setting, uninstrumented_environment
from harness.errors import BuildError
from harness.target.toolchain import find_toolchain

SOURCE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "ffih_support.c")


PREBUILT_NAME = "ffih_support.so"  # its name in an export's prebuilt folder (no compiler there)


def compiled_support() -> Path:
    """The support library compiled for this toolchain (first time only), in the build cache."""
    with open(SOURCE, "rb") as handle:
        source = handle.read()
    toolchain = find_toolchain()
    key = hashlib.sha256(source + toolchain.version.encode()).hexdigest()[:16]
    path = cache_root() / f"ffih_support-{key}.so"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=path.parent)
        os.close(fd)
        out = subprocess.run([str(toolchain.clang), "-shared", "-fPIC", "-O1", SOURCE, "-o", tmp],
                             capture_output=True, text=True, env=uninstrumented_environment(), check=False)
        if out.returncode != 0:
            os.unlink(tmp)
            raise BuildError(f"compiling {SOURCE} failed: {out.stderr.strip()[:300]}")
        os.replace(tmp, path)
    return path


@functools.cache
def support_library() -> ctypes.CDLL:
    """Load the support library: an export's prebuilt copy, else compiled_support()."""
    prebuilt = setting("prebuilt")
    shipped = Path(prebuilt) / PREBUILT_NAME if prebuilt else None
    library = ctypes.CDLL(str(shipped if shipped is not None and shipped.is_file() else compiled_support()))
    library.ffih_leak_check.restype = ctypes.c_int
    library.ffih_track_begin.restype = ctypes.c_int
    library.ffih_track_prepare.restype = ctypes.c_int
    library.ffih_objects_added.restype = ctypes.c_ulonglong
    library.ffih_track_survivors.restype = ctypes.c_long
    library.ffih_track_live.restype = ctypes.c_long
    return library
