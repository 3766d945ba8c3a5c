"""Stopping a campaign with SIGINT or SIGTERM midway: the summary still comes, every finding
stored so far is whole, and the working corpus holds only complete inputs."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _stored(crashes: Path) -> list[Path]:
    return [p for p in crashes.iterdir() if p.is_dir() and (p / "metadata.json").exists()] if crashes.is_dir() else []


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_midway_keeps_every_stored_finding(tmp_path, signum):
    crashes, out = tmp_path / "crashes", tmp_path / "run"
    command = [sys.executable, "-m", "harness", "fuzz", "strings", "records", "--variant", "planted",
               "--time", "300", "--jobs", "2", "--crash-dir", str(crashes), "--out", str(out), "--json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not _stored(crashes) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.5)
    assert _stored(crashes), "no finding stored before the signal"
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=180)
    assert process.returncode == 1, stderr[-2000:]
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["stopped"] == signal.Signals(signum).name and summary["seconds"] < 250
    for folder in _stored(crashes):
        meta = json.loads((folder / "metadata.json").read_text())
        assert folder.name.endswith(meta["stack_hash"]) and (folder / "input").stat().st_size > 0
    stored_hashes = {json.loads((f / "metadata.json").read_text())["stack_hash"] for f in _stored(crashes)}
    assert {f["stack_hash"] for f in summary["findings"]} <= stored_hashes
    leftovers = [p for p in crashes.rglob("*") if p.name.startswith(".") and p.name != ".lock"]
    assert leftovers == []  # no half-written temporary file
    for name in ("strings", "records"):
        corpus = out / name / "corpus"
        inputs = list(corpus.iterdir())
        # libFuzzer names a corpus file by the SHA-1 of its bytes: a torn write would not match
        assert all(hashlib.sha1(p.read_bytes()).hexdigest() == p.name for p in inputs)
