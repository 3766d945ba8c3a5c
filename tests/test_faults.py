"""Campaigns killed with SIGINT, SIGTERM and SIGKILL while fuzzing, while verifying recovered
reports by replay, and while minimizing, on a machine kept busy by a busy loop per core: the
crash store holds only complete folders, every finding the summary lists (when there is one)
is stored, and a few seconds later no process of the campaign is left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.store.crashstore import METADATA, CrashStore

STRAY_WAIT_SECONDS = 10.0
FOLDER_FILES = {"input", "original", "report.txt", METADATA}


@pytest.fixture
def busy_machine() -> Iterator[None]:
    """A busy-loop process per core for the length of the test."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def _parent(pid: str) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _descendant_running(root: int, text: str) -> bool:
    """A process below root (its children, theirs...) whose command line contains text."""
    parents = {entry.name: _parent(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()}
    for pid in parents:
        ancestor = parents.get(pid, 0)
        while ancestor and ancestor != root:
            ancestor = parents.get(str(ancestor), 0)
        if ancestor == root and text in " ".join(_processes_mentioning_pid(pid)):
            return True
    return False


def _processes_mentioning_pid(pid: str) -> list[str]:
    try:
        return [Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")]
    except OSError:
        return []


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in command:
            found.append(f"{entry.name}: {command[:200]}")
    return found


def _wait_for(condition, seconds: float, process: subprocess.Popen) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        if condition():
            return True
        time.sleep(0.2)
    return False


def _stored_folders(crashes: Path) -> list[Path]:
    return [p for p in crashes.iterdir() if p.is_dir()] if crashes.is_dir() else []


# phase -> (fuzz arguments, what shows the campaign (its pid) has begun the phase)
PHASES = {
    "fuzzing": (["strings", "records", "--time", "300", "--jobs", "2"],
                lambda crashes, pid: bool(_stored_folders(crashes))),
    "verifying": (["strings", "--time", "300", "--jobs", "1"],
                  lambda crashes, pid: _descendant_running(pid, "harness.store.replay_worker")),
    "minimizing": (["records", "--time", "4", "--minimize-time", "120"],
                   lambda crashes, pid: _descendant_running(pid, "-minimize_crash=1")),
}


@pytest.mark.slow
@pytest.mark.parametrize("phase", list(PHASES))
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["INT", "TERM", "KILL"])
def test_a_killed_campaign_leaves_a_whole_store_and_no_process(tmp_path, busy_machine, phase, signum):
    crashes, out = tmp_path / "crashes", tmp_path / "run"
    arguments, begun = PHASES[phase]
    command = [sys.executable, "-m", "harness", "fuzz", *arguments, "--variant", "planted", "--seed", "1",
               "--crash-dir", str(crashes), "--out", str(out), "--json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(lambda: begun(crashes, process.pid), 240, process), f"the campaign never reached {phase}"
        started = time.monotonic()
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=120)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
    # SIGINT/SIGTERM: workers get their grace period, minimization is cut at once, then the summary
    assert signum == signal.SIGKILL or took < 60, f"{took:.0f} s to stop"

    if signum == signal.SIGKILL and crashes.is_dir():
        CrashStore(crashes).sweep()  # what the next writer does: SIGKILL may cut a folder half-built
    for folder in _stored_folders(crashes):  # complete, or not there at all
        assert not folder.name.startswith("."), f"a half-built folder was left: {folder.name}"
        assert {p.name for p in folder.iterdir()} >= FOLDER_FILES, folder
        meta = json.loads((folder / METADATA).read_text())
        assert folder.name.endswith(meta["stack_hash"]) and (folder / "input").stat().st_size > 0
    if signum != signal.SIGKILL:
        assert process.returncode == 1, stderr[-2000:]
        summary = json.loads(stdout.strip().splitlines()[-1])
        stored = {json.loads((f / METADATA).read_text())["stack_hash"] for f in _stored_folders(crashes)}
        assert {f["stack_hash"] for f in summary["findings"] if f["artifact"]} <= stored, (summary, stored)

    def strays() -> list[str]:
        return _processes_mentioning(str(out)) + _processes_mentioning(str(crashes)) + \
            [p for p in _processes_mentioning("-minimize_crash") if str(tmp_path) in p or "ffih-min-" in p]

    deadline = time.monotonic() + STRAY_WAIT_SECONDS
    while (left := strays()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert left == [], left
