"""Turn a C header into text cffi's cdef() accepts: preprocess with clang, no system headers."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from harness.errors import TargetError
from harness.target.toolchain import find_toolchain

# Standard headers a library header may include; cffi knows their types natively.
STUB_HEADERS = (
    "stddef.h", "stdint.h", "stdbool.h", "stdarg.h", "stdio.h", "stdlib.h", "string.h",
    "limits.h", "inttypes.h", "sys/types.h", "time.h", "wchar.h", "errno.h", "unistd.h",
)
# compiler extensions neither pycparser nor cffi read; what they change is the compiler's business
# (the wrapper is compiled with the real header)
STRIP_DEFINES = ("__attribute__(x)=", "__restrict=", "__restrict__=", "restrict=", "__extension__=",
                 "__inline=", "__inline__=inline", "__asm__(x)=", "__asm(x)=", "__declspec(x)=",
                 "_Noreturn=", "__thread=", "_Thread_local=", "__volatile__=volatile", "__const=const",
                 "__signed__=signed", "_Alignas(x)=", "__forceinline=inline")

# What every target gets in addition to its header: the allocator, for buffers whose
# ownership crosses the boundary (parameters the library takes and frees, exact-size inputs).
HARNESS_CDEF = """
void *malloc(size_t);
void *calloc(size_t, size_t);
void free(void *);
"""

# Sanitizer reports that did not end the process (ASan halt_on_error=0, code built with
# -fsanitize-recover=address): counted by a C callback, and so are writes out of bounds on the
# stack, after which the fuzzer must end (harness.engine.recovery.RecoveredReports). Defined in REPORTS_C.
REPORTS_CDEF = """
int ffih_watch_reports(void);
unsigned long ffih_report_count(void);
unsigned long ffih_stack_write_count(void);
"""
REPORTS_C = r"""
extern void __asan_set_error_report_callback(void (*)(const char *)) __attribute__((weak));
static unsigned long ffih_reports, ffih_stack_writes;
static int ffih_has(const char *text, const char *needle, unsigned long limit) {
    for (unsigned long i = 0; i < limit && text[i]; i++) {
        unsigned long j = 0;
        while (needle[j] && text[i + j] == needle[j]) j++;
        if (!needle[j]) return 1;
    }
    return 0;
}
static void ffih_on_report(const char *text) {
    /* called by ASan inside its report: no allocation, no intercepted libc call */
    if (ffih_has(text, "AddressSanitizer: stack-", 300) && ffih_has(text, "\nWRITE of size", 500))
        ffih_stack_writes++;
    ffih_reports++;
}
static int ffih_watch_reports(void) {
    if (!__asan_set_error_report_callback) return 0;
    __asan_set_error_report_callback(ffih_on_report);
    return 1;
}
static unsigned long ffih_report_count(void) { return ffih_reports; }
static unsigned long ffih_stack_write_count(void) { return ffih_stack_writes; }
"""


def preprocess_header(header: Path, include_dirs: tuple[Path, ...] = (),
                      defines: tuple[tuple[str, str], ...] = ()) -> str:
    """The header after the preprocessor, system headers stubbed out, with its line markers and
    #defines (clang -E -dD): the input of harness.target.declarations."""
    clang = find_toolchain().clang
    with tempfile.TemporaryDirectory(prefix="ffih-stubs-") as stubs:
        for name in STUB_HEADERS:
            stub = Path(stubs) / name
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text("")
        command = [str(clang), "-E", "-dD", "-nostdinc", "-x", "c", f"-I{stubs}"]
        command += [f"-I{d}" for d in include_dirs]
        command += [f"-D{d}" for d in STRIP_DEFINES] + [f"-D{name}={value}" for name, value in defines]
        command.append(str(header))
        out = subprocess.run(command, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        first = next((line for line in out.stderr.splitlines() if "error" in line), out.stderr)
        raise TargetError(f"cannot preprocess {header}: {first.strip()}")
    return out.stdout
