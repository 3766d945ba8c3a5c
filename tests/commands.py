"""Running what ffi-harness prints, as a user pasting it would."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path


def assert_replay_command_reproduces(command: str, cwd: Path) -> None:
    """The printed command, pasted into a shell in another folder, says `reproduces`."""
    words = shlex.split(command)
    assert words[:2] == ["ffi-harness", "replay"] and "--target" in words and "--variant" in words, command
    done = subprocess.run([sys.executable, "-m", "harness", *words[1:], "--json"], capture_output=True, text=True,
                          timeout=300, cwd=cwd)
    results = json.loads(done.stdout.strip().splitlines()[-1])["results"]
    assert [r["verdict"] for r in results] == ["reproduces"], (command, results, done.stderr[-2000:])
