"""Binary-only mode: a prebuilt library, compiled without any sanitizer or coverage, fuzzed
through its spec with ASan's allocator preloaded; double frees and leaks are still found."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.campaign.registry import resolve_fuzzers
from harness.campaign.runner import Campaign, CampaignConfig
from harness.errors import UsageError
from harness.target.spec import resolve_target
from harness.target.toolchain import find_toolchain

CFG_DIR = Path(__file__).parent / "targets" / "cfgdoc"
# the way a distribution ships a library: optimised, no frame pointers, no instrumentation
PLAIN_FLAGS = ("-O2", "-fomit-frame-pointer", "-fPIC", "-shared")


def prebuilt_target(folder: Path, *switches: str) -> Path:
    """libcfg compiled plainly with the given CFG_BUG_ switches, and a spec naming the .so."""
    folder.mkdir(parents=True, exist_ok=True)
    library = folder / "libcfg.so"
    defines = [f"-DCFG_BUG_{s}=1" for s in switches]
    subprocess.run([str(find_toolchain().clang), *PLAIN_FLAGS, f"-I{CFG_DIR / 'include'}", *defines,
                    str(CFG_DIR / "src" / "cfg.c"), "-o", str(library)], check=True)
    spec = (CFG_DIR / "cfg.toml").read_text()
    spec = spec.replace('sources = ["src/cfg.c"]', f'library = "{library}"')
    spec = spec.replace('header = "include/cfg.h"', f'header = "{CFG_DIR / "include" / "cfg.h"}"')
    spec = spec.replace('include_dirs = ["include"]', f'include_dirs = ["{CFG_DIR / "include"}"]')
    spec = re.sub(r"(?m)^(bugs|bug_switch_prefix) = .*\n", "", spec)
    (folder / "cfg.toml").write_text(spec)
    return folder / "cfg.toml"


def campaign(spec: Path, out: Path, runs: int, stop_on: tuple[tuple[str, str], ...] = ()) -> dict:
    target = resolve_target(str(spec))
    config = CampaignConfig(tuple(resolve_fuzzers(["sequence"], target)), target, "clean", out,
                            seconds=None, runs=runs, seed=1, stop_on=stop_on)
    return Campaign(config).run().to_dict()


def test_prebuilt_library_is_linked_not_compiled(tmp_path):
    spec = prebuilt_target(tmp_path / "lib")
    assert b"__asan_report" not in (tmp_path / "lib" / "libcfg.so").read_bytes()  # really uninstrumented
    target = resolve_target(str(spec))
    assert target.binary_only and target.sources == ()
    assert any("no ASan instrumentation" in check for check in target.checks_off)
    with pytest.raises(UsageError, match="prebuilt library"):
        target.check_variant("planted")


@pytest.mark.slow
@pytest.mark.parametrize("switch,kind,function,runs", [
    ("DUMP_CACHE_DOUBLE_FREE", "double-free", "cfg_dump", 40_000),
    ("SET_SAME_VALUE_LEAK", "leak", "cfg_set", 60_000),
])
def test_binary_only_finds_allocator_bugs(tmp_path, switch, kind, function, runs):
    spec = prebuilt_target(tmp_path / "lib", switch)
    summary = campaign(spec, tmp_path / "run", runs, stop_on=((kind, function),))
    found = [(f["kind"], f["function"]) for f in summary["findings"]]
    assert (kind, function) in found, summary
    assert summary["checks_off"], "a binary-only report must say which checks are off"


@pytest.mark.slow
def test_binary_only_is_quiet_on_the_clean_prebuilt_library(tmp_path):
    spec = prebuilt_target(tmp_path / "lib")
    summary = campaign(spec, tmp_path / "run", 50_000)
    assert summary["findings"] == [], summary
    assert summary["fuzzers"]["sequence"]["execs"] >= 50_000
    assert summary["fuzzers"]["sequence"]["coverage"] > 0  # call outcomes feed libFuzzer


def test_init_writes_a_binary_only_spec(tmp_path):
    prebuilt_target(tmp_path / "lib")
    out = tmp_path / "target.toml"
    command = [sys.executable, "-m", "harness", "init", str(CFG_DIR / "include" / "cfg.h"),
               "--library", str(tmp_path / "lib" / "libcfg.so"), "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    target = resolve_target(str(out))
    assert target.library == (tmp_path / "lib" / "libcfg.so").resolve() and target.sources == ()
    both = subprocess.run([*command, "--force", "--sources", str(CFG_DIR / "src" / "cfg.c")],
                          capture_output=True, text=True, timeout=120)
    assert both.returncode == 2 and "not both" in both.stderr
