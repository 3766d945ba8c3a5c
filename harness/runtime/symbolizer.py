"""A forked copy of a sanitized process gets a symbolizer of its own.

The sanitizer runtime talks to one llvm-symbolizer process over two pipes. A fork inherits them:
the copy's questions and the parent's then share one conversation, and their answers interleave
(a leak-tracing copy and its worker, both symbolizing, read each other's frames: a library frame
named as CPython's, or a copy waiting forever for an answer its parent read). In the copy,
detach_symbolizer starts the same symbolizer again (its command line read from /proc) and moves
the copy's ends of the old pipes to the new one: the runtime goes on with the fds it knows, and
only the copy talks to what is behind them. (Pointing them at /dev/null instead does not work:
the runtime gives up on symbolizing rather than starting another.)"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

PROC = Path("/proc")


def child_processes(parent: int) -> list[tuple[int, str]]:
    """(pid, command name) of each process whose parent is parent."""
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        if int(rest[1]) == parent:
            found.append((int(entry.name), name))
    return found


def _symbolizers(parent: int) -> list[tuple[list[str], str, str]]:
    """Each symbolizer process of parent: (its command line, the pipe it reads, the pipe it writes)."""
    found = []
    for pid, name in child_processes(parent):
        if "symbolizer" not in name:
            continue
        try:
            command = (PROC / str(pid) / "cmdline").read_bytes().decode().split("\0")[:-1]
            reads, writes = (os.readlink(PROC / str(pid) / "fd" / str(fd)) for fd in (0, 1))
        except OSError:
            continue
        if command and reads.startswith("pipe:") and writes.startswith("pipe:"):
            found.append((command, reads, writes))
    return found


def detach_symbolizer(parent: int | None = None) -> int:
    """In a forked copy (parent: the process it was forked from, by default its parent): each of
    the parent's symbolizers is started again, with its command line, for the copy alone, and the
    copy's ends of the old pipes now lead to the new one. Returns how many were replaced."""
    own = {}
    for entry in os.listdir("/proc/self/fd"):
        try:
            own.setdefault(os.readlink(f"/proc/self/fd/{entry}"), []).append(int(entry))
        except OSError:
            continue
    replaced = 0
    for command, reads, writes in _symbolizers(os.getppid() if parent is None else parent):
        to_it, from_it = own.get(reads, []), own.get(writes, [])
        if not to_it or not from_it:
            continue
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert process.stdin is not None and process.stdout is not None
        for fd in to_it:
            os.dup2(process.stdin.fileno(), fd)
        for fd in from_it:
            os.dup2(process.stdout.fileno(), fd)
        process.stdin.close()
        process.stdout.close()
        replaced += 1
    return replaced
