"""The informational commands (bad input: tests/test_cli_errors.py)."""

from __future__ import annotations

import subprocess
import sys


def ffi_harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True,
                          timeout=300)


def test_bugs_lists_the_catalogue(target):
    out = ffi_harness("bugs")
    assert out.returncode == 0
    assert len(out.stdout.splitlines()) == len(target.bugs)


def test_dict_comes_from_the_header():
    out = ffi_harness("dict")
    assert out.returncode == 0 and '"KVS1"' in out.stdout
