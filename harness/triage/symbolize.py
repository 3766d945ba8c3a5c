"""Lazy symbolization: resolve only the frames that can be target code.

Under ASAN_OPTIONS=symbolize=0 a crashing process prints `#3 0x7f.. (/path/mod.so+0x1234)`
and exits in a few milliseconds instead of spending ~120 ms symbolizing every CPython
frame. symbolize_report() then asks llvm-symbolizer, in one batch, about the frames in
modules that are not the interpreter, libc, the sanitizer runtime or cffi's backend, and
rewrites those lines (inlined frames expanded) so the parsers see function, file and line.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading

from harness.config import uninstrumented_environment
from harness.target.toolchain import find_toolchain

#     #0 0x7f147ef66e7a  (/root/.cache/ffi-harness/_ffih_mylib.so+0x21e7a) (BuildId: bba9c3)
UNSYMBOLIZED = re.compile(r"^(?P<lead>\s*#(?P<index>\d+) 0x(?P<address>[0-9a-f]+))\s+"
                          r"\((?P<module>[^()+]+)\+0x(?P<offset>[0-9a-f]+)\)(?P<rest>.*)$", re.M)
SYSTEM_MODULES = re.compile(r"/libc\.so|/libstdc\+\+|/ld-linux|/libpthread|/libm\.so|asan_with_fuzzer|"
                            r"ubsan_with_fuzzer|/python3?\.?\d*$|libpython|_cffi_backend|/libffi|/libgcc")


class _Symbolizer:
    """One long-lived llvm-symbolizer per process (starting one costs ~35 ms)."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.owner = 0  # a forked child must not talk through its parent's pipes
        self.lock = threading.Lock()

    def _start(self) -> subprocess.Popen[str] | None:
        symbolizer = find_toolchain().symbolizer
        if symbolizer is None:
            return None
        return subprocess.Popen([str(symbolizer), "--inlines", "--demangle"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env=uninstrumented_environment())

    def query(self, pairs: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
        """The (function, file:line:col) chain, innermost first, of each (module, offset)."""
        with self.lock:
            if self.process is None or self.owner != os.getpid() or self.process.poll() is not None:
                self.process, self.owner = self._start(), os.getpid()
            if self.process is None or self.process.stdin is None or self.process.stdout is None:
                return [[] for _ in pairs]
            answers = []
            for module, offset in pairs:
                self.process.stdin.write(f'"{module}" 0x{offset}\n')
                self.process.stdin.flush()
                lines = []
                while (line := self.process.stdout.readline().rstrip("\n")) != "":
                    lines.append(line)
                answers.append([(lines[i], lines[i + 1]) for i in range(0, len(lines) - 1, 2)])
            return answers


_SYMBOLIZER = _Symbolizer()


def symbolize_report(text: str) -> str:
    """text with its unsymbolized non-system frames resolved; unchanged if there are none."""
    wanted = [m for m in UNSYMBOLIZED.finditer(text) if not SYSTEM_MODULES.search(m["module"])]
    if not wanted:
        return text
    keys = sorted({(m["module"], m["offset"]) for m in wanted})
    resolved = dict(zip(keys, _SYMBOLIZER.query(keys), strict=True))

    def rewrite(match: re.Match[str]) -> str:
        chain = resolved.get((match["module"], match["offset"]))
        if not chain or chain[0][0] == "??":
            return match.group(0)
        return "\n".join(f"{match['lead']} in {function} {location}" for function, location in chain)

    return UNSYMBOLIZED.sub(lambda m: rewrite(m) if (m["module"], m["offset"]) in resolved else m.group(0),
                            text)
