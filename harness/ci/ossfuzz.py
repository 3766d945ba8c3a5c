"""Export a target's fuzzers as OSS-Fuzz and ClusterFuzzLite expect them in $OUT.

For each fuzzer `fuzz_NAME`: an executable wrapper that accepts libFuzzer flags,
`fuzz_NAME_seed_corpus.zip`, `fuzz_NAME.dict` and `fuzz_NAME.options`; and one folder,
`ffi_harness_prebuilt/`, with the sanitized extension compiled now (no compiler is needed
where the fuzzers run), a copy of the target spec and sources, and the LSan suppressions.

The wrapper runs `fuzz_NAME.pkg` when it sits next to it (the PyInstaller bundle that
OSS-Fuzz's compile_python_fuzzer makes, see .clusterfuzzlite/build.sh) under the runner's
sanitizer_with_fuzzer.so, and otherwise this checkout's fuzzer script under the harness's
own runtime, so an export can be tried on the machine that made it.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import zipfile
from pathlib import Path

from harness.atomic import write_atomic
from harness.campaign.registry import FuzzerSpec, resolve_fuzzers
from harness.config import OPTIONS
from harness.runtime.sanitizers import MARKER, SUPPRESSIONS, SanitizerOptions
from harness.runtime.support import PREBUILT_NAME as SUPPORT_NAME
from harness.runtime.support import compiled_support
from harness.target.build import ENV_PREBUILT, MANIFEST, build
from harness.target.spec import Target

PREBUILT = "ffi_harness_prebuilt"
# ClusterFuzz treats a file in the build folder as a fuzzer when it contains this string
FUZZER_MARKER = "LLVMFuzzerTestOneInput"


def exported_name(spec: FuzzerSpec) -> str:
    """The executable's name in $OUT (the script's, as compile_python_fuzzer names its bundle)."""
    return spec.script.stem


def fuzzer_scripts(target: Target) -> list[Path]:
    """The fuzzer scripts an export packages, in order (for build.sh's compile_python_fuzzer)."""
    return [spec.script for spec in _fuzzers(target)]


def _fuzzers(target: Target) -> list[FuzzerSpec]:
    return resolve_fuzzers(["all"], target)


def export_ossfuzz(target: Target, out: Path, variant: str = "clean") -> list[str]:
    """Write the OSS-Fuzz layout of target's fuzzers into out; returns the fuzzer names."""
    out.mkdir(parents=True, exist_ok=True)
    prebuilt = out / PREBUILT
    if prebuilt.exists():
        shutil.rmtree(prebuilt)
    prebuilt.mkdir()
    built = build(target, variant)
    shutil.copy2(built.path, prebuilt / built.path.name)
    if target.library is not None:  # binary-only: found next to the module ($ORIGIN rpath)
        shutil.copy2(target.library, prebuilt / target.library.name)
    spec_copy = _copy_target(target, prebuilt / "target")
    shutil.copy2(SUPPRESSIONS, prebuilt / SUPPRESSIONS.name)
    shutil.copy2(compiled_support(), prebuilt / SUPPORT_NAME)  # the leak checks' library: no compiler there
    manifest = {"target": target.name, "variant": variant, "file": built.path.name,
                "module_name": built.module_name, "cache_key": built.cache_key, "canaries": built.canaries,
                "source_roots": [root.rstrip("/") for root in target.code.roots],
                "spec": str(spec_copy.relative_to(prebuilt))}
    write_atomic(prebuilt / MANIFEST, json.dumps(manifest, indent=2).encode()).chmod(0o644)
    names = []
    for spec in _fuzzers(target):
        name = exported_name(spec)
        names.append(name)
        wrapper = write_atomic(out / name, _wrapper(spec, name, manifest["spec"], variant).encode())
        wrapper.chmod(0o755)
        options = ["[libfuzzer]", "detect_leaks = 0"]  # the harness's own target-only leak checks run
        if spec.dictionary is not None and spec.dictionary.exists():
            shutil.copy2(spec.dictionary, out / f"{name}.dict")
            options.append(f"dict = {name}.dict")
        write_atomic(out / f"{name}.options", ("\n".join(options) + "\n").encode()).chmod(0o644)
        _seed_zip(spec.seeds, out / f"{name}_seed_corpus.zip")
    return names


def target_files(target: Target) -> list[Path]:
    """What an export carries of a target: its spec and everything the spec names (header and
    the headers of its include folders, sources, catalogue, binding, dictionary, fuzzer
    scripts); never the project's runs, crash store or corpora."""
    assert target.spec_path is not None
    files = {target.spec_path, target.header, *target.sources, *(path for _, path in target.fuzzer_scripts)}
    files |= {path for path in (target.binding, target.dictionary, target.bugs_file) if path is not None}
    for folder in target.include_dirs:
        files |= {header for header in folder.rglob("*.h") if header.is_file()}
    return sorted(files)


def _copy_target(target: Target, into: Path) -> Path:
    """Copy target_files() into `into`, keeping their layout (the spec's relative paths hold);
    the copied spec's path."""
    files = target_files(target)
    root = Path(os.path.commonpath([path.parent for path in files]))
    for path in files:
        copy = into / path.relative_to(root)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copy)
    return into / target.spec_path.relative_to(root)  # type: ignore[union-attr]


def _seed_zip(seeds: Path, path: Path) -> None:
    """NAME_seed_corpus.zip of the seed files (none written for a fuzzer without seeds)."""
    files = [f for f in sorted(seeds.iterdir()) if f.is_file() and not f.name.startswith(".")] \
        if seeds.is_dir() else []
    if not files:
        return
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for seed in files:
            archive.write(seed, seed.name)
    tmp.replace(path)


def _wrapper(spec: FuzzerSpec, name: str, spec_in_prebuilt: str, variant: str) -> str:
    env = SanitizerOptions(python_malloc=spec.python_malloc).environment()
    asan = ":".join([*(pair for pair in env["ASAN_OPTIONS"].split(":") if not pair.startswith("symbolize=")),
                     "symbolize=1", "external_symbolizer_path=$this_dir/llvm-symbolizer"])
    lsan = env["LSAN_OPTIONS"].replace(str(SUPPRESSIONS), f"$prebuilt/{SUPPRESSIONS.name}")
    ubsan = env["UBSAN_OPTIONS"]
    malloc = "PYTHONMALLOC=malloc " if spec.python_malloc else ""
    return f"""#!/bin/sh
# ffi-harness fuzzer {spec.name} (variant {variant}), exported by `ffi-harness export-ossfuzz`.
# {FUZZER_MARKER}: how ClusterFuzz recognises a fuzzer executable. Takes libFuzzer flags.
this_dir=$(cd "$(dirname "$0")" && pwd)
prebuilt="$this_dir/{PREBUILT}"
export {ENV_PREBUILT}="$prebuilt" {OPTIONS["target"].variable}="$prebuilt/{spec_in_prebuilt}" \\
  {OPTIONS["variant"].variable}={variant}
if [ -f "$this_dir/{name}.pkg" ]; then
  # OSS-Fuzz / ClusterFuzzLite: the PyInstaller bundle under the runner's sanitizer runtime
  # (compile_python_fuzzer leaves it non-executable: OSS-Fuzz takes executables for fuzzers)
  chmod +x "$this_dir/{name}.pkg"
  export LD_PRELOAD="$this_dir/sanitizer_with_fuzzer.so" {MARKER}=1 {malloc}\\
    ASAN_OPTIONS="${{ASAN_OPTIONS:+$ASAN_OPTIONS:}}{asan}" \\
    UBSAN_OPTIONS="${{UBSAN_OPTIONS:+$UBSAN_OPTIONS:}}{ubsan}" \\
    LSAN_OPTIONS="{lsan}"
  exec "$this_dir/{name}.pkg" "$@"
fi
# this checkout: the fuzzer script re-execs itself under the harness's runtime
exec {shlex.quote(sys.executable)} {shlex.quote(str(spec.script))} "$@"
"""
