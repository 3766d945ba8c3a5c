"""Bad input to the command line: one readable line on stderr and exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest


def ffi_harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize(("args", "message"), [
    (["fuzz", "nosuchfuzzer", "--runs", "10"], "unknown fuzzer 'nosuchfuzzer' for target 'kv'; known: strings"),
    (["fuzz", "strings", "--variant", "no-such-bug", "--runs", "10"], "unknown bug id 'no-such-bug'"),
    (["build", "--target", "/nonexistent/target.toml"], "unknown target '/nonexistent/target.toml'"),
    (["fuzz", "strings", "--time", "-5"], "argument --time: '-5': must be more than 0"),
    (["reproduce", "nope"], "unknown bug id 'nope'"),
])
def test_usage_errors_are_one_line_with_exit_code_2(args, message):
    out = ffi_harness(*args)
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and message in out.stderr


def test_bugs_lists_the_catalogue(target):
    out = ffi_harness("bugs")
    assert out.returncode == 0
    assert len(out.stdout.splitlines()) == len(target.bugs)


def test_dict_comes_from_the_header():
    out = ffi_harness("dict")
    assert out.returncode == 0 and '"KVS1"' in out.stdout
