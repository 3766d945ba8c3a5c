"""Follow the blocks allocated since a mark, so a leak scan can be skipped when it cannot help.

A new target leak is a block allocated by target code that is still allocated and no longer
reachable. LeakSanitizer finds it by walking the whole heap, 50-500 ms in a Python process
under ASan. begin() marks a point (ASan's malloc and free hooks then follow every block, in
harness/data/ffih_support.c); target_survivors() says how many blocks allocated since the mark
are still allocated with a frame of target code on their allocation stack (ASan's own stack,
the one a leak report shows). Zero means no scan can find a new target leak among them.

Target code, here, is deliberately wide (a superset only costs a scan): every executable
mapping except Python's own (the interpreter, its prefixes and site-packages), the sanitizer
runtime and the system library folders - unless TargetCode names the file.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
import sysconfig

from harness.runtime.support import support_library
from harness.triage import TargetCode

SYSTEM_FOLDERS = ("/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/", "/usr/libexec/")
_began = False
_ranges: dict[TargetCode, tuple[int, list[tuple[int, int]]]] = {}  # by objects-ever-loaded count


def prepare() -> bool:
    """Get ready to follow allocations (hooks installed but idle) in a process that will fork
    children calling begin(), so each child does not pay for it; False when this runtime cannot."""
    return support_library().ffih_track_prepare() == 0


def begin() -> bool:
    """Follow allocations from now on (forgetting earlier ones); False when this runtime
    cannot (no sanitizer hooks): then target_survivors() is -1."""
    global _began
    _began = support_library().ffih_track_begin() == 0
    return _began


def end() -> None:
    """Stop following allocations (target_survivors() is -1 until the next begin())."""
    global _began
    if _began:
        support_library().ffih_track_end()
    _began = False


@functools.cache
def _not_target_folders() -> tuple[str, ...]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             *(sysconfig.get_paths().get(k, "") for k in ("stdlib", "platstdlib", "purelib", "platlib"))}
    return tuple(os.path.join(os.path.realpath(p), "") for p in paths if p) + SYSTEM_FOLDERS


def _is_target(path: str, target: TargetCode, excluded: tuple[str, ...]) -> bool:
    if any(path.startswith(root) for root in target.roots) or any(path.endswith(m) for m in target.modules):
        return True
    return not path.startswith(excluded) and path != _executable()


@functools.cache
def _executable() -> str:
    return os.path.realpath(sys.executable)


def code_ranges(target: TargetCode, maps: str | None = None) -> list[tuple[int, int]]:
    """Address ranges of the executable mappings that may hold target code (see module doc)."""
    if maps is None:
        added = support_library().ffih_objects_added()
        if _ranges.get(target, (None,))[0] == added:
            return _ranges[target][1]
        with open("/proc/self/maps") as handle:
            found = code_ranges(target, handle.read())
        _ranges[target] = (added, found)
        return found
    excluded = _not_target_folders()
    ranges = []
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 6 or "x" not in fields[1] or not fields[5].startswith("/"):
            continue
        if _is_target(fields[5].removesuffix(" (deleted)"), target, excluded):
            start, end = (int(v, 16) for v in fields[0].split("-"))
            ranges.append((start, end))
    return ranges


def target_survivors(target: TargetCode) -> int:
    """Blocks allocated since begin() that are still allocated and were allocated through
    target code; -1 when unknown (begin() failed, or too many blocks to follow)."""
    if not _began:
        return -1
    ranges = code_ranges(target)
    starts = (ctypes.c_size_t * max(1, len(ranges)))(*(s for s, _ in ranges))
    ends = (ctypes.c_size_t * max(1, len(ranges)))(*(e for _, e in ranges))
    return int(support_library().ffih_track_survivors(starts, ends, ctypes.c_size_t(len(ranges))))
