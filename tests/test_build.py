"""The sanitized build: cached by content, per variant, and one clear error when it cannot run."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.errors import BuildError, ToolchainError
from harness.target import toolchain
from harness.target.build import build, module_name, variant_defines
from harness.target.loader import load
from harness.target.spec import load_target_file


def test_unchanged_target_is_not_rebuilt(target):
    first = build(target, "clean")
    started = time.monotonic()
    again = build(target, "clean")
    assert again.path == first.path and again.path.exists()
    assert time.monotonic() - started < 1.0


def test_variants_get_their_own_modules(target):
    planted, one = build(target, "planted"), build(target, "strerror-oob")
    assert planted.path != one.path
    assert [b.id for b in one.bugs] == ["strerror-oob"]
    assert ("KV_BUG_STRERROR_OOB", "1") in variant_defines(target, "strerror-oob")
    assert ("KV_BUG_REPLACE_LEAK", "1") not in variant_defines(target, "strerror-oob")
    assert not any(k.startswith("KV_BUG_") for k, _ in variant_defines(target, "clean"))
    assert module_name(target, "take-stale-cache") == "_ffih_kv_take_stale_cache"
    assert one.module_name.startswith("_ffih_kv_strerror_oob_") and one.module_name != planted.module_name


def test_two_builds_of_one_library_are_two_modules_in_one_process(tmp_path):
    """Specs differing only in `defines` used to make one module name: loading the second in
    the same process returned the first build while Loaded.built named the second."""
    (tmp_path / "two.h").write_text("int which(void);\n")
    (tmp_path / "two.c").write_text('#include "two.h"\nint which(void) { return WHICH; }\n')
    specs = []
    for value in ("1", "2"):
        spec = tmp_path / f"two{value}.toml"
        spec.write_text(f'[target]\nname = "two"\nheader = "two.h"\nsources = ["two.c"]\n'
                        f'defines = {{ WHICH = "{value}" }}\n')
        specs.append(spec)
    first, second = (load(load_target_file(spec), "clean") for spec in specs)
    assert first.built.module_name != second.built.module_name
    assert (first.lib.which(), second.lib.which()) == (1, 2)


def _broken_target(tmp_path: Path, source: str) -> Path:
    (tmp_path / "lib.h").write_text("int answer(void);\n")
    (tmp_path / "lib.c").write_text(source)
    spec = tmp_path / "target.toml"
    spec.write_text('[target]\nname = "broken"\nheader = "lib.h"\nsources = ["lib.c"]\n')
    return spec


def test_compile_error_is_one_readable_build_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FFI_HARNESS_CACHE", str(tmp_path / "cache"))
    spec = _broken_target(tmp_path, '#include "lib.h"\nint answer(void) { return nope; }\n')
    with pytest.raises(BuildError, match=r"compiling .*lib.c failed: .*nope"):
        build(load_target_file(spec), "clean")


def test_cli_reports_compile_error_with_exit_code_2(tmp_path):
    spec = _broken_target(tmp_path, "int answer(void) { syntax error }\n")
    out = subprocess.run([sys.executable, "-m", "harness", "build", "--target", str(spec)],
                         capture_output=True, text=True, env={**__import__("os").environ,
                                                              "FFI_HARNESS_CACHE": str(tmp_path / "c")})
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("ffi-harness: compiling")


def test_missing_compiler_is_a_toolchain_error(monkeypatch):
    monkeypatch.setattr(toolchain, "CLANG_NAMES", ("clang-does-not-exist",))
    monkeypatch.setattr(toolchain, "LLVM_ROOT", Path("/nonexistent"))
    toolchain.find_toolchain.cache_clear()
    try:
        with pytest.raises(ToolchainError, match=r"clang-19 not found.*apt-get install clang-19"):
            toolchain.find_toolchain()
    finally:
        toolchain.find_toolchain.cache_clear()


def test_missing_source_in_target_description_is_refused(tmp_path):
    spec = _broken_target(tmp_path, "")
    spec.write_text('[target]\nname = "x"\nheader = "lib.h"\nsources = ["missing.c"]\n')
    with pytest.raises(Exception, match=r"sources entry .*missing.c does not exist"):
        load_target_file(spec)


def test_target_is_frozen(target):
    with pytest.raises(dataclasses.FrozenInstanceError):
        target.name = "other"
