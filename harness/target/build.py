"""Build a target into a sanitized cffi API-mode extension, one per variant, cached by content.

The library sources get ASan + UBSan + libFuzzer coverage (`fuzzer-no-link`); the cffi
wrapper gets ASan + UBSan only. A binary-only target (a prebuilt `library`) is not compiled:
the wrapper is linked against it, and ASan's allocator, preloaded, still sees its mallocs.
The shared object is linked without the sanitizer
runtime: at run time it comes from atheris's `asan_with_fuzzer.so` (see harness.runtime).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import cffi

from harness.config import OPTIONS, cache_root, setting, uninstrumented_environment
from harness.errors import BuildError, TargetError
from harness.target.catalogue import Bug
from harness.target.cdef import HARNESS_CDEF, REPORTS_C, REPORTS_CDEF
from harness.target.header import read_header
from harness.target.spec import Target
from harness.target.toolchain import find_toolchain

BUILD_FORMAT = 1  # bump to invalidate every cached build
COMMON_FLAGS = ("-fPIC", "-g", "-O1", "-fno-omit-frame-pointer", "-pthread", "-fno-wrapv")
# -fno-sanitize=function: the handler is missing from atheris's runtime (ImportError).
# -fno-sanitize=pointer-overflow: its check compares pointers as integers; trace-cmp then
# records heap addresses in libFuzzer's table of recent compares, a global LeakSanitizer
# scans, so a leaked block whose address was checked once is never reported.
# -fsanitize-recover=address: ASan may report and go on (halt_on_error=0 in campaigns), so one
# shallow bug does not mask the rest; every other run keeps ASan's default, halt on error
SANITIZE_FLAGS = ("-fsanitize=address,undefined", "-fno-sanitize=function,pointer-overflow",
                  "-fsanitize-recover=address")
COVERAGE_FLAGS = ("-fsanitize=fuzzer-no-link",)
LINK_FLAGS = ("-shared", "-pthread")


@dataclass(frozen=True)
class BuiltModule:
    """A compiled extension: where it is, what it was built from, which bugs are in."""

    path: Path
    module_name: str
    target: Target
    variant: str
    bugs: tuple[Bug, ...]
    canaries: bool
    cache_key: str


def module_name(target: Target, variant: str, cache_key: str = "") -> str:
    """The extension's import name, e.g. _ffih_mylib_clean_1a2b3c4d5e (PyInit_ is compiled in).
    It ends with the build's cache key: two builds of one library (other defines, another
    header) are two modules, so one process can load both and never gets the first for the
    second."""
    slug = "".join(c if c.isalnum() else "_" for c in f"{target.name}_{variant}")
    return f"_ffih_{slug}" + (f"_{cache_key[:10]}" if cache_key else "")


def variant_defines(target: Target, variant: str) -> list[tuple[str, str]]:
    """-D pairs for a variant: the bug switches, and every canary slot when any bug is in."""
    bugs = [bug for bug in target.variant_bugs(variant) if not bug.in_binding]
    defines = list(target.defines)
    if variant != "clean" and target.canary_define:
        defines.append((target.canary_define, "1"))
        c_bugs = [bug for bug in target.bugs if not bug.in_binding]
        defines += [(target.canary_prefix + b.macro_suffix, str(i)) for i, b in enumerate(c_bugs)]
    defines += [(target.bug_switch_prefix + bug.macro_suffix, "1") for bug in bugs]
    return defines


def cdef_text(target: Target, variant: str) -> str:
    """Everything cffi must know: the header as cffi can use it, the harness extras, the target's,
    and an `extern "Python"` callback per function-pointer type for the generic driver."""
    header, api = read_header(target.header, target.include_dirs, target.defines)
    externs = api.callback_externs().values()
    text = header + HARNESS_CDEF + REPORTS_CDEF + target.cdef_extra
    text += "".join(f'\nextern "Python" {decl};' for _, decl in externs) + "\n"
    if variant != "clean" and target.canary_function:
        text += f"\nvoid {target.canary_function}(uint64_t *, uint64_t *, size_t);\n"
    return text


def _cache_key(target: Target, variant: str, cdef: str, defines: list) -> str:
    digest = hashlib.sha256()
    toolchain = find_toolchain()
    facts = [BUILD_FORMAT, variant, defines, COMMON_FLAGS, SANITIZE_FLAGS, toolchain.version,
             sys.version, cffi.__version__, cdef, target.name]
    digest.update(json.dumps(facts, default=str).encode())
    files = {target.header, *target.sources, *([target.library] if target.library else [])}
    for directory in target.include_dirs:
        files.update(p for p in directory.rglob("*.h"))
    for path in sorted(files):
        digest.update(str(path).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _emit_wrapper(name: str, target: Target, cdef: str, path: Path, canaries: bool) -> None:
    ffi = cffi.FFI()
    try:
        ffi.cdef(cdef)
    except (cffi.CDefError, cffi.FFIError) as exc:
        raise TargetError(f"{target.header}: cffi cannot parse the declarations: {exc}") from exc
    preamble = f'#include "{target.header.name}"\n#include <stdlib.h>\n' + REPORTS_C
    if canaries:  # the accessor is not part of the library's public header
        preamble += f"void {target.canary_function}(uint64_t *, uint64_t *, size_t);\n"
    ffi.set_source(name, preamble)
    with contextlib.redirect_stdout(io.StringIO()):  # cffi prints "generating ..."
        ffi.emit_c_code(str(path))


def _run(command: list[str], what: str) -> None:
    out = subprocess.run(command, capture_output=True, text=True, check=False, env=uninstrumented_environment())
    if out.returncode != 0:
        errors = [line for line in out.stderr.splitlines() if "error" in line]
        first = errors[0] if errors else (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise BuildError(f"{what} failed: {first.strip()}")


def _compile_all(target: Target, wrapper: Path, out_dir: Path, defines: list) -> list[Path]:
    clang = str(find_toolchain().clang)
    sanitize, coverage = list(SANITIZE_FLAGS), list(COVERAGE_FLAGS)
    includes = [f"-I{d}" for d in target.include_dirs] + [f"-I{target.header.parent}"]
    macro_flags = [f"-D{k}={v}" for k, v in defines]
    jobs = []
    for index, source in enumerate(target.sources):
        obj = out_dir / f"{index:02d}_{source.stem}.o"
        flags = [*COMMON_FLAGS, *sanitize, *coverage, "-std=gnu11", *includes, *macro_flags]
        jobs.append(([clang, "-c", *flags, str(source), "-o", str(obj)], f"compiling {source}", obj))
    python_include = sysconfig.get_paths()["include"]
    wrapper_obj = out_dir / "wrapper.o"
    flags = [*COMMON_FLAGS, *sanitize, *includes, f"-I{python_include}", "-Wno-unused"]
    jobs.append(([clang, "-c", *flags, str(wrapper), "-o", str(wrapper_obj)],
                 "compiling the cffi wrapper", wrapper_obj))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for future in [pool.submit(_run, cmd, what) for cmd, what, _ in jobs]:
            future.result()
    return [obj for _, _, obj in jobs]


def _prebuilt(target: Target) -> list[str]:
    """Link arguments for a binary-only target's library (found again at run time by rpath)."""
    if target.library is None:
        return []
    # $ORIGIN too: an exported module (harness.ossfuzz) finds the library copied next to it
    return [str(target.library), f"-Wl,-rpath,{target.library.parent}", "-Wl,-rpath,$ORIGIN"]


ENV_PREBUILT = OPTIONS["prebuilt"].variable
MANIFEST = "manifest.json"


def exported_module(target: Target, variant: str) -> BuiltModule | None:
    """The module `ffi-harness export-ossfuzz` compiled, when $FFI_HARNESS_PREBUILT names its
    folder (no compiler is needed at run time); BuildError when it was built for something else."""
    folder = setting("prebuilt")
    if not folder:
        return None
    try:
        manifest = json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise BuildError(f"${ENV_PREBUILT}={folder}: no readable {MANIFEST} ({exc})") from exc
    wanted = {"target": target.name, "variant": variant}
    found = {key: manifest.get(key) for key in wanted}
    if found != wanted:
        raise BuildError(f"${ENV_PREBUILT}={folder} holds a module built for {found}, not {wanted}")
    built_from = tuple(Path(root) for root in manifest.get("source_roots", []))
    return BuiltModule(path=Path(folder) / manifest["file"], module_name=manifest["module_name"],
                       target=replace(target, built_from=built_from), variant=variant,
                       bugs=target.variant_bugs(variant), canaries=bool(manifest.get("canaries")),
                       cache_key=manifest["cache_key"])


def build(target: Target, variant: str = "clean") -> BuiltModule:
    """Build (or reuse from the cache) the extension for target+variant.

    Raises ToolchainError when clang-19 or atheris is missing, BuildError when the
    sources do not compile, TargetError when the header cannot be turned into a cdef.
    """
    target.check_variant(variant)
    exported = exported_module(target, variant)
    if exported is not None:
        return exported
    defines = variant_defines(target, variant)
    cdef = cdef_text(target, variant)
    key = _cache_key(target, variant, cdef, defines)
    name = module_name(target, variant, key)
    final = cache_root() / f"{name}-{key[:16]}"
    so_name = name + sysconfig.get_config_var("EXT_SUFFIX")
    built = BuiltModule(
        path=final / so_name, module_name=name, target=target, variant=variant,
        bugs=target.variant_bugs(variant), canaries=variant != "clean" and bool(target.canary_function),
        cache_key=key,
    )
    if built.path.exists():
        return built
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=final.parent))
    try:
        wrapper = work / f"{name}.c"
        _emit_wrapper(name, target, cdef, wrapper, built.canaries)
        objects = _compile_all(target, wrapper, work, defines)
        clang = str(find_toolchain().clang)
        sanitize = list(SANITIZE_FLAGS[:1])
        _run([clang, *LINK_FLAGS, *sanitize, *map(str, objects), *_prebuilt(target), "-o", str(work / so_name)],
             "linking")
        meta = {"target": target.name, "variant": variant, "defines": defines,
                "built_at": time.time(), "cache_key": key}
        (work / "build.json").write_text(json.dumps(meta, indent=2))
        try:
            os.replace(work, final)
        except OSError:
            if not built.path.exists():  # another process won the race only if it finished
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return built
