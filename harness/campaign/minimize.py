"""Minimize a crashing input with libFuzzer's -minimize_crash (through atheris), keeping it
only when the smaller input still produces the same stack hash; and, after a campaign, the
inputs it added to the crash store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from harness.atomic import die_with_parent
from harness.campaign.registry import FuzzerSpec
from harness.campaign.results import CampaignResult
from harness.config import worker_environment
from harness.runtime.sanitizers import SanitizerOptions, child_environment
from harness.store.crashstore import CrashStore
from harness.store.replay import ReplayCase, replay
from harness.target.spec import Target

LEAK_KINDS = ("leak", "indirect-leak")


def minimize(spec: FuzzerSpec, data: bytes, target: Target, variant: str, stack_hash: str, kind: str, *,
             runs: int = 4000, seconds: float = 120.0, stop: threading.Event | None = None) -> bytes | None:
    """A smaller input with the same stack hash, or None (not smaller, not the same bug, or
    `seconds` or a `stop` request came first: the minimizer is killed at once).

    Leaks are not minimized: -minimize_crash follows crashes, and a leak is reported by
    ffi-harness's own check after the input, which libFuzzer's minimizer does not see."""
    if kind in LEAK_KINDS or len(data) <= 1:
        return None
    with tempfile.TemporaryDirectory(prefix="ffih-min-") as work:
        original, smaller = Path(work) / "input", Path(work) / "minimized"
        original.write_bytes(data)
        env = child_environment(SanitizerOptions())
        env.update(worker_environment(target=target.spec_path, variant=variant))
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        command = [sys.executable, str(spec.script), "-minimize_crash=1", f"-runs={runs}",
                   f"-max_total_time={int(seconds)}", f"-exact_artifact_path={smaller}", "-timeout=10",
                   f"-artifact_prefix={work}/",  # leaks met while minimizing: not in the caller's cwd
                   str(original)]
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True, preexec_fn=die_with_parent)
        deadline = time.monotonic() + seconds
        while process.poll() is None:
            if (stop is not None and stop.wait(0.1)) or time.monotonic() > deadline:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return None
            if stop is None:
                time.sleep(0.1)
        if not smaller.exists() or len(smaller.read_bytes()) >= len(data):
            return None
        result = replay([ReplayCase(smaller, spec.name, stack_hash)], target, variant, jobs=1)[0]
        return smaller.read_bytes() if result.verdict == "reproduces" else None


def minimize_new_findings(result: CampaignResult, seconds: float, stop: threading.Event) -> int:
    """Minimize the crash-store inputs a campaign added, within `seconds` in all (libFuzzer
    -minimize_crash, kept only when the stack hash stays), first found first; a stop request
    ends it at once, the inputs as found stay. Returns how many were made smaller."""
    config = result.config
    deadline = time.monotonic() + seconds
    smaller = 0
    specs = {spec.name: spec for spec in config.fuzzers}
    for found in sorted(result.findings.values(), key=lambda f: f.seconds_to_find):
        left = deadline - time.monotonic()
        if stop.is_set() or left < 1:
            break
        if not found.new or found.stored is None or config.crash_dir is None:
            continue
        store = CrashStore(config.crash_dir)
        crash = store.find(found.finding.stack_hash)
        if crash is None:
            continue
        data = minimize(specs[found.fuzzer], crash.input.read_bytes(), config.target, config.variant,
                        found.finding.stack_hash, found.finding.kind, seconds=left, stop=stop)
        if data is not None:
            store.set_minimized(crash, data)
            smaller += 1
    return smaller
