"""Regular expressions for sanitizer, libFuzzer and Python reports, each with an example line.

Patterns are data: compiled once here, used by the parsers in harness.triage.parse.
"""

from __future__ import annotations

import re

# ==2931==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x60200008a433 at pc ...
# ==7==ERROR: AddressSanitizer: attempting double-free on 0x602000000010 in thread T0:
# ==7==ERROR: AddressSanitizer: SEGV on unknown address 0x000000000000 (pc 0x... T0)
# ==7==ERROR: AddressSanitizer: requested allocation size 0x... exceeds maximum supported size
ASAN_ERROR = re.compile(r"^==\d+==ERROR: AddressSanitizer: (?P<what>.+)$", re.M)

# READ of size 4 at 0x60200008a433 thread T0
ASAN_ACCESS = re.compile(r"^(?P<access>READ|WRITE) of size (?P<size>\d+) at 0x[0-9a-f]+", re.M)

# ==7==The signal is caused by a WRITE memory access.
ASAN_SIGNAL_ACCESS = re.compile(r"The signal is caused by a (?P<access>READ|WRITE) memory access")

# ==7==Hint: address points to the zero page.
ASAN_ZERO_PAGE = re.compile(r"Hint: address points to the zero page")

# ==7==ERROR: AddressSanitizer: hard rss limit exhausted (4096Mb vs 4100Mb)
# ==7==ERROR: AddressSanitizer: out of memory: allocator is trying to allocate 0x100000000 bytes
# ==7==ERROR: AddressSanitizer: requested allocation size 0x... (0x... after adjustments ...) exceeds
ASAN_OOM = re.compile(r"hard rss limit exhausted|out of memory: allocator is trying|"
                      r"allocation-size-too-big|exceeds maximum supported size|malloc limit")

# /src/mylib/src/errors.c:34:12: runtime error: index 10 out of bounds for type ...
UBSAN_ERROR = re.compile(
    r"^(?P<file>[^\s:][^:\n]*):(?P<line>\d+):(?P<column>\d+): runtime error: (?P<message>.+)$", re.M)

# ==9==ERROR: LeakSanitizer: detected memory leaks
LSAN_ERROR = re.compile(r"^==\d+==ERROR: LeakSanitizer: detected memory leaks", re.M)

# Direct leak of 6 byte(s) in 1 object(s) allocated from:
LSAN_BLOCK = re.compile(
    r"^(?P<which>Direct|Indirect) leak of (?P<bytes>\d+) byte\(s\) in (?P<objects>\d+) object\(s\) "
    r"allocated from:$", re.M)

# ==12== ERROR: libFuzzer: timeout after 3 seconds
# ==12== ERROR: libFuzzer: out-of-memory (used: 2100Mb; exceeds: 2048Mb)
# ==12== ERROR: libFuzzer: out-of-memory (malloc(4294967296))
# ==12== ERROR: libFuzzer: deadly signal
# ==12== ERROR: libFuzzer: fuzz target exited
LIBFUZZER_ERROR = re.compile(r"^==\d+== ERROR: libFuzzer: (?P<what>.+)$", re.M)

#  === Uncaught Python exception: ===
ATHERIS_PYTHON = re.compile(r"=== Uncaught Python exception: ===|"
                            r"=== ffi-harness: contract violation \(not fatal, fuzzing goes on\) ===")

# Traceback (most recent call last):
PY_TRACEBACK = re.compile(r"^Traceback \(most recent call last\):$", re.M)

#   File "/work/main/fuzzers/fuzz_strings.py", line 41, in TestOneInput
PY_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>\S+)$', re.M)

# ValueError: bad input     (the exception line ending a traceback)
PY_EXCEPTION = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|"
                          r"Failure|[A-Z]\w*))(?::\s?(?P<message>.*))?$")

#     #1 0x7fdb759d3b29 in mylib_get /src/mylib/src/values.c:43:16
#     #34 0x55f712f2b080 in _start (/root/.pyenv/versions/3.11.7/bin/python3.11+0x1080) (BuildId: a7)
#     #3 0x7f42 (/lib/x86_64-linux-gnu/libc.so.6+0x2724a) (BuildId: 9f2a)
#     #4 0x7f147ffa6cc0  (/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0+0x1a6cc0)  (symbolize=0)
FRAME = re.compile(r"^\s*#(?P<index>\d+) 0x(?P<address>[0-9a-f]+)(?: in (?P<rest>.*)|\s+(?P<bare>\(.*))$")
FRAME_MODULE = re.compile(r"^(?P<function>.*?)\s*\((?P<module>[^()]+?)\+0x(?P<offset>[0-9a-f]+)\)$")
FRAME_SOURCE = re.compile(r"^(?P<function>.*?) (?P<file>\S+?):(?P<line>\d+)(?::(?P<column>\d+))?$")
FRAME_FILE_ONLY = re.compile(r"^(?P<function>.*?) (?P<file>/\S+)$")
BUILD_ID = re.compile(r"\s*\(BuildId: [0-9a-f]+\)$")

# Fatal Python error: b_from_handle: ffi.from_handle() detected that the address passed points
# to garbage. If it is really the result of ffi.new_handle(), then the Python object has ...
PY_FATAL = re.compile(r"^Fatal Python error: (?P<message>.+)$", re.M)

# SUMMARY: AddressSanitizer: heap-buffer-overflow /path/file.c:43:16 in mylib_get
SUMMARY = re.compile(r"^SUMMARY: (?P<text>.+)$", re.M)
