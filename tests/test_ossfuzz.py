"""`ffi-harness export-ossfuzz` and .clusterfuzzlite/build.sh, as far as this machine allows:
no Docker engine, so build.sh runs with stand-ins for the image's pip3 and compile_python_fuzzer
(the real PyInstaller command for one fuzzer), and the runner's files (sanitizer_with_fuzzer.so,
llvm-symbolizer) are copied next to the fuzzers as base-runner has them."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from harness.target.spec import resolve_target
from harness.triage import parse_report

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUILD_SH = PROJECT_ROOT / ".clusterfuzzlite" / "build.sh"
EXPORTED = [f"fuzz_{name}" for name in resolve_target(None).fuzzers]


def _export(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", "export-ossfuzz", str(out), *extra],
                          capture_output=True, text=True, timeout=600)


def _unzip(archive: Path, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    if archive.exists():
        with zipfile.ZipFile(archive) as seeds:
            seeds.extractall(into)
    return into


def _no_build_env(tmp_path: Path, cache_name: str = "cache") -> dict[str, str]:
    """An environment whose build cache is empty: the exported module must be used as is."""
    cache = tmp_path / cache_name
    cache.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FFI_HARNESS", "LD_PRELOAD", "ASAN", "LSAN",
                                                                     "UBSAN", "PYTHONMALLOC"))}
    env["FFI_HARNESS_CACHE"] = str(cache)
    return env


BUNDLED = "fuzz_strings"  # bundled for real with PyInstaller (~1 min); the others by a stand-in


def _image_tools(tools: Path, calls: Path, work: Path) -> None:
    """Stand-ins for base-builder-python's pip3 and compile_python_fuzzer. The latter runs the same
    PyInstaller command as OSS-Fuzz's script for BUNDLED and only records the call for the others."""
    tools.mkdir()
    (tools / "pip3").write_text(f'#!/bin/sh\necho "pip3 $*" >> {calls}\n')
    (tools / "compile_python_fuzzer").write_text(f"""#!/bin/bash -eu
echo "compile_python_fuzzer $*" >> {calls}
fuzzer_path=$1; shift 1
name=$(basename -s .py "$fuzzer_path")
if [ "$name" = {BUNDLED} ]; then
  {sys.executable} -m PyInstaller --log-level ERROR --distpath "$OUT" --workpath "{work}/$name" \\
    --specpath "{work}/$name" --onefile --name "$name.pkg" "$@" "$fuzzer_path"
  chmod -x "$OUT/$name.pkg"
fi
printf '#!/bin/sh\\nexit 99\\n' > "$OUT/$name"  # compile_python_fuzzer's own wrapper
chmod +x "$OUT/$name"
""")
    for tool in tools.iterdir():
        tool.chmod(0o755)


def _runner_files(out: Path) -> None:
    """What base-runner puts next to the fuzzers: the sanitizer runtime and the symbolizer."""
    from harness.target.toolchain import find_toolchain

    toolchain = find_toolchain()
    shutil.copy2(toolchain.asan_runtime, out / "sanitizer_with_fuzzer.so")
    if toolchain.symbolizer:
        shutil.copy2(toolchain.symbolizer, out / "llvm-symbolizer")


@pytest.mark.slow
def test_build_sh_bundles_every_fuzzer_and_each_export_runs_on_its_seeds(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir(), out.mkdir()
    (src / "ffi-harness").symlink_to(PROJECT_ROOT)
    calls = tmp_path / "calls.txt"
    _image_tools(tmp_path / "tools", calls, tmp_path / "pyinstaller")
    env = {**_no_build_env(tmp_path, "build-cache"), "SRC": str(src), "OUT": str(out), "FFI_HARNESS_CLANG": "clang-19",
           "PATH": os.pathsep.join([str(tmp_path / "tools"), os.path.dirname(sys.executable), os.environ["PATH"]])}
    done = subprocess.run(["bash", str(BUILD_SH)], capture_output=True, text=True, env=env, timeout=1200)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]

    recorded = calls.read_text().splitlines()
    assert recorded[0] == "pip3 install -e ."
    assert [Path(line.split()[1]).stem for line in recorded[1:]] == EXPORTED, recorded
    assert all("--collect-submodules harness" in line for line in recorded[1:])
    manifest = json.loads((out / "ffi_harness_prebuilt" / "manifest.json").read_text())
    assert (manifest["target"], manifest["variant"]) == ("kv", "clean")
    assert (out / "ffi_harness_prebuilt" / manifest["file"]).is_file()
    for name in EXPORTED:
        wrapper = out / name  # the export's, not compile_python_fuzzer's `exit 99`
        assert os.access(wrapper, os.X_OK) and "LLVMFuzzerTestOneInput" in wrapper.read_text(), name
        options = configparser.ConfigParser()
        options.read(out / f"{name}.options")
        assert options["libfuzzer"]["dict"] == f"{name}.dict" and (out / f"{name}.dict").is_file()
    assert len(zipfile.ZipFile(out / "fuzz_records_seed_corpus.zip").namelist()) == \
        len(list((PROJECT_ROOT / "corpus" / "records").iterdir()))
    assert not os.access(out / f"{BUNDLED}.pkg", os.X_OK)  # as OSS-Fuzz leaves it

    _runner_files(out)
    for name in EXPORTED:  # each runs standalone on its seeds with the exported module (no build)
        seeds = _unzip(out / f"{name}_seed_corpus.zip", tmp_path / "seeds" / name)
        bundle_env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # the bundle needs no Python
        run = subprocess.run([str(out / name), str(seeds), "-runs=500", "-seed=1", f"-dict={out / name}.dict",
                              f"-artifact_prefix={tmp_path}/"], capture_output=True, text=True, timeout=300,
                             env=bundle_env if name == BUNDLED else _no_build_env(tmp_path))
        assert run.returncode == 0 and "Done 500 runs" in run.stderr, (name, run.stderr[-3000:])
    assert not any((tmp_path / "cache").iterdir()), "an exported fuzzer compiled the target again"

    # the bundle, as ClusterFuzz would run it, finds a planted bug with its kind and function
    assert _export(out, "--variant", "putn-embedded-nul").returncode == 0
    run = subprocess.run([str(out / BUNDLED), str(tmp_path / "seeds" / BUNDLED), "-runs=200000", "-seed=1",
                          f"-artifact_prefix={tmp_path}/"], capture_output=True, text=True, timeout=600,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    findings = parse_report(run.stdout + run.stderr, resolve_target(None).code)
    assert [(f.kind, f.function) for f in findings][:1] == [("heap-buffer-overflow", "kv_putn")], run.stderr[-3000:]
    assert list(tmp_path.glob("crash-*"))


def test_exported_planted_build_reports_a_target_leak_with_its_function(tmp_path):
    """The exported target is a copy; its leak filter still knows the frames of the folder the
    module was compiled from (debug info keeps those paths), so a planted leak is reported."""
    out = tmp_path / "out"
    assert _export(out, "--variant", "replace-leak").returncode == 0
    seeds = _unzip(out / "fuzz_ownership_seed_corpus.zip", tmp_path / "seeds")
    env = {**_no_build_env(tmp_path), "FFI_HARNESS_LEAK_INTERVAL": "0.5"}
    run = subprocess.run([str(out / "fuzz_ownership"), str(seeds), "-runs=60000", "-seed=1",
                          f"-artifact_prefix={tmp_path}/"], capture_output=True, text=True, env=env, timeout=600)
    findings = parse_report(run.stdout + run.stderr, resolve_target(None).code)
    assert ("leak", "kv__dup_value") in {(f.kind, f.function) for f in findings}, run.stderr[-3000:]
    assert list(tmp_path.glob("leak-*")), "the leaking input was not written"


def test_export_of_a_module_for_another_variant_is_refused(tmp_path):
    out = tmp_path / "out"
    assert _export(out).returncode == 0
    env = {**_no_build_env(tmp_path), "FFI_HARNESS_PREBUILT": str(out / "ffi_harness_prebuilt")}
    wrong = subprocess.run([sys.executable, "-m", "harness", "build", "--variant", "planted"],
                           capture_output=True, text=True, env=env, timeout=300)
    assert wrong.returncode == 2, wrong.stderr
    assert "holds a module built for" in wrong.stderr and "'variant': 'clean'" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1


def test_export_without_an_output_folder_is_a_usage_error(tmp_path):
    done = subprocess.run([sys.executable, "-m", "harness", "export-ossfuzz"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "needs an output folder" in done.stderr
