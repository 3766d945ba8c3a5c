"""Locate the tools the sanitized build and runtime need: clang-19, llvm-symbolizer, atheris."""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.config import setting
from harness.errors import ToolchainError

CLANG_NAMES = ("clang-19",)
LLVM_ROOT = Path("/usr/lib/llvm-19")
INSTALL_HINT = "install it with: apt-get install clang-19 libclang-rt-19-dev llvm-19 (or run `make setup`)"


@dataclass(frozen=True)
class Toolchain:
    """Paths of the compiler, the symbolizer and atheris's ASan runtime."""

    clang: Path
    symbolizer: Path | None
    asan_runtime: Path
    version: str


def _find_clang() -> Path:
    chosen = setting("clang")  # e.g. OSS-Fuzz's clang, which built its atheris
    if chosen:
        if not shutil.which(chosen):
            raise ToolchainError(f"clang setting {chosen!r} (--clang / FFI_HARNESS_CLANG) is not an executable")
        return Path(shutil.which(chosen))  # type: ignore[arg-type]
    for name in CLANG_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    candidate = LLVM_ROOT / "bin" / "clang"
    if candidate.exists():
        return candidate
    raise ToolchainError(f"clang-19 not found on PATH; {INSTALL_HINT}")


def _find_symbolizer() -> Path | None:
    for candidate in (LLVM_ROOT / "bin" / "llvm-symbolizer", shutil.which("llvm-symbolizer-19")):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    return None


def atheris_dir() -> Path:
    """The folder holding atheris's sanitizer runtimes (atheris.path())."""
    try:
        import atheris
    except ImportError as exc:  # pragma: no cover - the package pins atheris
        raise ToolchainError("atheris is not installed; run `make setup`") from exc
    return Path(atheris.path())


@functools.cache
def find_toolchain() -> Toolchain:
    """Find the toolchain once per process, or raise ToolchainError naming what to install."""
    clang = _find_clang()
    runtimes = atheris_dir()
    asan = runtimes / "asan_with_fuzzer.so"
    if not asan.exists():
        raise ToolchainError(f"atheris's ASan runtime {asan} is missing; reinstall atheris==3.0.0")
    out = subprocess.run([str(clang), "--version"], capture_output=True, text=True, check=False)
    version = out.stdout.splitlines()[0] if out.stdout else str(clang)
    return Toolchain(clang, _find_symbolizer(), asan, version)
