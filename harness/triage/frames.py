"""Stack frames: parsing one '#N 0x... in ...' line, and deciding which frames are target code."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.triage import patterns

# Frames never part of a crash state: sanitizer runtime, libc, libFuzzer, atheris,
# CPython and cffi glue (ClusterFuzz's ignore list, reduced to this stack).
IGNORED_FUNCTIONS = re.compile(
    r"^(__asan_|__lsan_|__ubsan_|__sanitizer_|__interceptor_|___interceptor_|__interception::|"
    r"__sanitizer::|__asan::|__lsan::|__ubsan::|_cffi_|cffi_|fuzzer::|atheris::|LLVMFuzzer|"
    r"__libc_|_start$|start_thread$|clone3?$|abort$|raise$|gsignal$|__pthread_kill|pthread_kill|"
    r"malloc$|calloc$|realloc$|free$|operator new|operator delete|strlen|memcpy|memmove|memset|"
    r"vsprintf$|sprintf$|strcpy$|strdup$|_Py|Py[A-Z]|_PyEval|cfunction_|method_vectorcall|"
    r"b_from_handle|general_invoke_callback|invoke_callback|_cffi_call_python|std::|void std::|pybind11::)")
IGNORED_FILES = re.compile(r"compiler-rt/lib/|/sanitizer_common/|/Python-3\.\d+|/_cffi_backend|"
                           r"csu/|sysdeps/|nptl/|stdlib/abort\.c|/atheris/|/include/c\+\+/|/ffih_sequence_loop\.c$")
# ffi-harness's own frames (the fuzzing loop, replay and fork wrappers) differ between a
# campaign and a replay of the same input: never part of a crash state either.
HARNESS_DIR = str(Path(__file__).resolve().parents[1]) + "/"


@dataclass(frozen=True)
class Frame:
    """One symbolized frame. in_target: the frame's code belongs to the library under test."""

    index: int
    function: str
    file: str = ""
    line: int = 0
    module: str = ""
    in_target: bool = False

    @property
    def ignored(self) -> bool:
        """True for frames that never identify a bug (runtime, libc, interpreter, glue)."""
        return bool(IGNORED_FUNCTIONS.match(self.function) or IGNORED_FILES.search(self.file)
                    or self.file.startswith(HARNESS_DIR) or not self.function)

    def describe(self) -> str:
        where = f"{self.file}:{self.line}" if self.file else self.module
        return f"{self.function or '??'} {where}".strip()


@dataclass(frozen=True)
class TargetCode:
    """Which frames are the target's: source files under one of `roots`, or code in `modules`."""

    roots: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()

    @classmethod
    def for_paths(cls, roots: list[Path] | tuple[Path, ...] = (),
                  modules: tuple[str, ...] = ()) -> TargetCode:
        return cls(tuple(str(Path(r).resolve()) + "/" for r in roots), modules)

    def __call__(self, function: str, file: str, module: str) -> bool:
        if function.startswith("_cffi_"):
            return False
        if file and any(file.startswith(root) for root in self.roots):
            return True
        return bool(module) and any(module.endswith(m) for m in self.modules)


def parse_frame(line: str, target: TargetCode) -> Frame | None:
    """Parse one stack line; None when the line is not a frame."""
    match = patterns.FRAME.match(line)
    if not match:
        return None
    rest = patterns.BUILD_ID.sub("", (match["rest"] or match["bare"] or "").strip())
    function = file = module = ""
    line_no = 0
    if (found := patterns.FRAME_MODULE.match(rest)) is not None:
        function, module = found["function"], found["module"]
    elif (found := patterns.FRAME_SOURCE.match(rest)) is not None:
        function, file, line_no = found["function"], found["file"], int(found["line"])
    elif (found := patterns.FRAME_FILE_ONLY.match(rest)) is not None:
        function, file = found["function"], found["file"]
    else:
        function = rest
    if function.startswith("("):
        function = ""
    return Frame(int(match["index"]), function.strip(), file, line_no, module,
                 target(function.strip(), file, module))


def parse_stack(lines: list[str], start: int, target: TargetCode) -> tuple[tuple[Frame, ...], int]:
    """Frames from lines[start:] up to the first line that is not a frame; (frames, next index).

    A later '#0' ends the stack too (the next stack begins); '#0' right after '#0' is an
    inlined frame of the same address, as harness.triage.symbolize writes them."""
    frames: list[Frame] = []
    i = start
    while i < len(lines) and not patterns.FRAME.match(lines[i]):
        if lines[i].strip() and i - start > 2:
            return (), start
        i += 1
    while i < len(lines):
        frame = parse_frame(lines[i], target)
        if frame is None or (frames and frame.index == 0 and frames[-1].index != 0):
            break
        frames.append(frame)
        i += 1
    return tuple(frames), i
