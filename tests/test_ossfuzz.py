"""`ffi-harness export-ossfuzz` and .clusterfuzzlite/build.sh, as far as this machine allows
(no Docker engine, no PyInstaller bundle: build.sh runs with stand-ins for the image's pip3 and
compile_python_fuzzer; every exported wrapper runs for real on its seed corpus)."""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from harness.fuzzers import NAMES
from harness.target import PROJECT_ROOT, resolve_target
from harness.triage import parse_report

BUILD_SH = PROJECT_ROOT / ".clusterfuzzlite" / "build.sh"
EXPORTED = [f"fuzz_{name}" for name in NAMES]


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


def test_build_sh_bundles_every_fuzzer_and_each_export_runs_on_its_seeds(tmp_path):
    src, out, tools = tmp_path / "src", tmp_path / "out", tmp_path / "tools"
    src.mkdir(), out.mkdir(), tools.mkdir()
    (src / "ffi-harness").symlink_to(PROJECT_ROOT)
    calls = tmp_path / "calls.txt"
    # stand-ins for the image's tools: record how build.sh calls them; compile_python_fuzzer
    # writes its own wrapper, as the real one does, which the export must replace
    (tools / "pip3").write_text(f'#!/bin/sh\necho "pip3 $*" >> {calls}\n')
    (tools / "compile_python_fuzzer").write_text(
        f'#!/bin/sh\necho "compile_python_fuzzer $*" >> {calls}\n'
        f'name=$(basename -s .py "$1")\necho "#!/bin/sh\\nexit 99" > "$OUT/$name"\n')
    for tool in tools.iterdir():
        tool.chmod(0o755)
    env = {**_no_build_env(tmp_path, "build-cache"), "SRC": str(src), "OUT": str(out), "FFI_HARNESS_CLANG": "clang-19",
           "PATH": os.pathsep.join([str(tools), os.path.dirname(sys.executable), os.environ["PATH"]])}
    done = subprocess.run(["bash", str(BUILD_SH)], capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]

    recorded = calls.read_text().splitlines()
    assert recorded[0] == "pip3 install -e ."
    bundled = [Path(line.split()[1]).stem for line in recorded[1:]]
    assert bundled == EXPORTED, recorded
    assert all("--collect-submodules harness" in line for line in recorded[1:])

    manifest = json.loads((out / "ffi_harness_prebuilt" / "manifest.json").read_text())
    assert (manifest["target"], manifest["variant"]) == ("kv", "clean")
    assert (out / "ffi_harness_prebuilt" / manifest["file"]).is_file()
    for name in EXPORTED:
        wrapper = out / name
        assert os.access(wrapper, os.X_OK) and "LLVMFuzzerTestOneInput" in wrapper.read_text(), name
        options = configparser.ConfigParser()
        options.read(out / f"{name}.options")
        assert options["libfuzzer"]["dict"] == f"{name}.dict" and (out / f"{name}.dict").is_file()
    assert len(zipfile.ZipFile(out / "fuzz_records_seed_corpus.zip").namelist()) == \
        len(list((PROJECT_ROOT / "corpus" / "records").iterdir()))

    for name in EXPORTED:  # each runs standalone on its seeds, with the exported module (no build)
        seeds = _unzip(out / f"{name}_seed_corpus.zip", tmp_path / "seeds" / name)
        run = subprocess.run([str(out / name), str(seeds), "-runs=500", "-seed=1", f"-dict={out / name}.dict",
                              f"-artifact_prefix={tmp_path}/"],
                             capture_output=True, text=True, env=_no_build_env(tmp_path), timeout=300)
        assert run.returncode == 0 and "Done 500 runs" in run.stderr, (name, run.stderr[-3000:])
    assert not any((tmp_path / "cache").iterdir()), "an exported fuzzer compiled the target again"


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
