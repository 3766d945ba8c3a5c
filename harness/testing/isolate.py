"""Run code that may crash in a child process under the sanitizer runtime; parse what it printed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.runtime import leaks
from harness.runtime.sanitizers import SanitizerOptions, child_environment
from harness.target.spec import Target
from harness.triage import Finding, parse_report

LEAK_CHECK_ATTEMPTS = 3  # see harness.leaks.tracer_failed


@dataclass(frozen=True)
class ChildResult:
    """How a child ended: exit code, output, and the Findings parsed from its stderr."""

    returncode: int
    stdout: str
    stderr: str
    findings: tuple[Finding, ...]
    timed_out: bool
    seconds: float
    pid: int = 0

    @property
    def finding(self) -> Finding | None:
        """The primary Finding, or None when the child was quiet."""
        return self.findings[0] if self.findings else None


def run_command(command: list[str], target: Target, *, timeout: float = 60.0,
                options: SanitizerOptions | None = None, stdin: bytes | None = None,
                cwd: Path | None = None, extra_env: dict[str, str] | None = None) -> ChildResult:
    """Run command under the sanitizer runtime in its own process group; kill it on timeout."""
    env = child_environment(options)
    env.update(extra_env or {})
    env.pop("PYTHONFAULTHANDLER", None)  # its own abort report would mask the sanitizer's
    started = time.monotonic()
    process = subprocess.Popen(command, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd,
                               start_new_session=True)
    timed_out = False
    try:
        out, err = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
    seconds = time.monotonic() - started
    stdout, stderr = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    findings = tuple(parse_report(stdout + stderr, target.code))
    if timed_out and not findings:
        findings = (Finding("timeout", "harness", (), None, None, f"no result after {timeout:.0f} s"),)
    return ChildResult(process.returncode, stdout, stderr, findings, timed_out, seconds, process.pid)


def run_function(reference: str, target: Target, variant: str, *,
                 leak_check: bool = True, timeout: float = 60.0,
                 options: SanitizerOptions | None = None) -> ChildResult:
    """Call 'file.py:function' with a harness.child.Session in a fresh sanitized child."""
    spec = {"target": str(target.spec_path or target.name), "variant": variant, "call": reference,
            "leak_check": leak_check}
    command = [sys.executable, "-m", "harness.testing.child", json.dumps(spec)]
    for _ in range(LEAK_CHECK_ATTEMPTS):
        result = run_command(command, target, timeout=timeout, options=options)
        if not (result.returncode == 1 and not result.findings and leaks.tracer_failed(result.pid)):
            break
    return result
