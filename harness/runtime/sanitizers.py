"""Run Python under the sanitizer runtime: options, LD_PRELOAD, and re-exec when missing.

Only this module and the CLI read os.environ for sanitizer settings.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.target.toolchain import find_toolchain

MARKER = "FFI_HARNESS_RUNTIME"
RUNTIME_NAMES = ("asan_with_fuzzer", "sanitizer_with_fuzzer")
SUPPRESSIONS = Path(__file__).resolve().parent.parent / "data" / "lsan_cpython.supp"


@dataclass(frozen=True)
class SanitizerOptions:
    """Sanitizer settings, rendered into ASAN_OPTIONS, UBSAN_OPTIONS, LSAN_OPTIONS, LD_PRELOAD.

    detect_leaks: LeakSanitizer on; checks are explicit (harness.leaks), never at exit,
        because CPython leaves allocations behind on purpose.
    python_malloc: PYTHONMALLOC=malloc, so Python-owned memory (cffi handles, ffi.new
        buffers) is under ASan too: use-after-free of it becomes visible.
    rss_limit_mb: ASan's hard RSS limit; a blow-up is reported as out-of-memory.
    malloc_limit_mb: the largest single allocation before allocation-size-too-big.
    halt_on_ubsan: UBSan errors stop the process (a finding) instead of a warning.
    redzone: ASan's minimum redzone in bytes (its default is 16): an overflow that jumps further
        than the redzone lands in a neighbour, unseen; and in a campaign, where ASan goes on after
        a report, a wide redzone takes the bytes an overflow writes. Measured: same exec/s,
        +30% resident memory. Every run uses the same value, so a replay sees what fuzzing saw.
    Always set: intercept_tls_get_addr=0. The runtime's __tls_get_addr interceptor takes a
        dynamic TLS block that starts 16 bytes into a page for one with a pre-2.25 glibc header
        and records the two words before it as a range; since glibc 2.25 there is no header, so
        whenever malloc places a library's __thread block there (by chance, so it looks like a
        flake), LeakSanitizer's tracer segfaults scanning the garbage range ("Tracer caught
        signal 11 ... LeakSanitizer has encountered a fatal error") and libFuzzer writes an
        innocent input as a crash. Measured on a hand-written fuzzer of the demo target: 6 of 16 runs died so,
        0 of 16 with the option. Dynamic TLS blocks are malloc'd and reachable from glibc's
        DTV, so what a library keeps in a __thread variable is still not a leak (tested).
    symbolize: symbolize reports in the crashing process. Off, a crash costs ~20 ms instead
        of ~140 ms; harness.triage then symbolizes only the frames that can be target code.
    extra_asan: more ASAN_OPTIONS pairs, appended last (they win).
    """

    detect_leaks: bool = True
    python_malloc: bool = True
    rss_limit_mb: int = 4096
    malloc_limit_mb: int = 2048
    halt_on_ubsan: bool = True
    redzone: int = 64
    symbolize: bool = True
    extra_asan: tuple[tuple[str, str], ...] = field(default=())

    def with_asan(self, **pairs: object) -> SanitizerOptions:
        """A copy with more ASAN_OPTIONS pairs."""
        return replace(self, extra_asan=self.extra_asan + tuple((k, str(v)) for k, v in pairs.items()))

    def environment(self) -> dict[str, str]:
        """The environment variables that put a Python process under these settings."""
        toolchain = find_toolchain()
        asan = {
            "detect_leaks": int(self.detect_leaks),
            "leak_check_at_exit": 0,
            "allocator_may_return_null": 1,
            "handle_abort": 1,
            "handle_segv": 1,
            "handle_sigbus": 1,
            "handle_sigfpe": 1,
            "handle_sigill": 1,
            "detect_odr_violation": 0,
            "detect_stack_use_after_return": 0,
            "hard_rss_limit_mb": self.rss_limit_mb,
            "malloc_limit_mb": self.malloc_limit_mb,
            "redzone": self.redzone,
            "symbolize": int(self.symbolize),
            "print_summary": 1,
            "dedup_token_length": 3,
            "intercept_tls_get_addr": 0,  # see the class docstring
        }
        asan.update(dict(self.extra_asan))
        ubsan = {
            "halt_on_error": int(self.halt_on_ubsan),
            "print_stacktrace": 1,
            "symbolize": int(self.symbolize),
            "report_error_type": 1,
            "silence_unsigned_overflow": 1,
            "print_summary": 1,
        }
        lsan = {
            "suppressions": SUPPRESSIONS,
            "print_suppressions": 0,
            "leak_check_at_exit": 0,
            "report_objects": 1,
            "use_unaligned": 1,
        }
        env = {
            "ASAN_OPTIONS": _render(asan),
            "UBSAN_OPTIONS": _render(ubsan),
            "LSAN_OPTIONS": _render(lsan),
            "LD_PRELOAD": str(toolchain.asan_runtime),
            MARKER: "1",
        }
        if toolchain.symbolizer:
            env["ASAN_SYMBOLIZER_PATH"] = str(toolchain.symbolizer)
            env["UBSAN_SYMBOLIZER_PATH"] = str(toolchain.symbolizer)
        if self.python_malloc:
            env["PYTHONMALLOC"] = "malloc"
        return env


def test_process_options() -> SanitizerOptions:
    """The settings of a test process (the pytest plugin's --sanitize): in-process and forked
    examples crash fast (triage symbolizes the frames it needs), and a small quarantine keeps
    the process small, so forking an example stays cheap."""
    return SanitizerOptions(symbolize=False).with_asan(quarantine_size_mb=16)


def _render(options: dict[str, object]) -> str:
    return ":".join(f"{key}={value}" for key, value in options.items())


def under_runtime() -> bool:
    """True when this process was started with the sanitizer runtime preloaded: atheris's
    (asan_with_fuzzer.so) or OSS-Fuzz's (sanitizer_with_fuzzer.so, an exported fuzzer's wrapper)."""
    preload = os.environ.get("LD_PRELOAD", "")
    return os.environ.get(MARKER) == "1" and any(name in preload for name in RUNTIME_NAMES)


def child_environment(options: SanitizerOptions | None = None,
                      base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process under the sanitizer runtime."""
    env = dict(os.environ if base is None else base)
    env.update((options or SanitizerOptions()).environment())
    return env


def ensure_runtime(options: SanitizerOptions | None = None) -> None:
    """Re-exec this Python process under the sanitizer runtime unless it already is.

    Uses sys.orig_argv, so `python script.py args`, `python -m module` and console
    scripts restart exactly as they were started. Returns only when already under it.
    """
    if under_runtime():
        return
    env = child_environment(options)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, list(sys.orig_argv), env)
