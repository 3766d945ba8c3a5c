"""Minimize a crashing input with libFuzzer's -minimize_crash (through atheris), keeping it
only when the smaller input still produces the same stack hash."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.fuzzers import FuzzerSpec
from harness.fuzzing import ENV_TARGET, ENV_VARIANT
from harness.replay import ReplayCase, replay
from harness.runtime import SanitizerOptions, child_environment
from harness.target import Target

LEAK_KINDS = ("leak", "indirect-leak")


def minimize(spec: FuzzerSpec, data: bytes, target: Target, variant: str, stack_hash: str, kind: str, *,
             runs: int = 4000, seconds: float = 120.0) -> bytes | None:
    """A smaller input with the same stack hash, or None (not smaller, or not the same bug).

    Leaks are not minimized: -minimize_crash follows crashes, and a leak is reported by
    ffi-harness's own check after the input, which libFuzzer's minimizer does not see."""
    if kind in LEAK_KINDS or len(data) <= 1:
        return None
    with tempfile.TemporaryDirectory(prefix="ffih-min-") as work:
        original, smaller = Path(work) / "input", Path(work) / "minimized"
        original.write_bytes(data)
        env = child_environment(SanitizerOptions())
        env.update({ENV_VARIANT: variant, ENV_TARGET: str(target.spec_path),
                    "PATH": os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")})
        command = [sys.executable, str(spec.script), "-minimize_crash=1", f"-runs={runs}",
                   f"-max_total_time={int(seconds)}", f"-exact_artifact_path={smaller}", "-timeout=10",
                   f"-artifact_prefix={work}/",  # leaks met while minimizing: not in the caller's cwd
                   str(original)]
        try:
            subprocess.run(command, env=env, capture_output=True, timeout=seconds + 60, check=False)
        except subprocess.TimeoutExpired:
            return None
        if not smaller.exists() or len(smaller.read_bytes()) >= len(data):
            return None
        result = replay([ReplayCase(smaller, spec.name, stack_hash)], target, variant, jobs=1)[0]
        return smaller.read_bytes() if result.verdict == "reproduces" else None
