"""How a campaign starts a libFuzzer worker process and ends one: its folders, command line and
environment, and the timers and kills that bound it. harness.campaign.runner decides when."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from harness.campaign.registry import FuzzerSpec
from harness.campaign.results import CampaignConfig
from harness.config import worker_environment
from harness.runtime.sanitizers import SanitizerOptions, child_environment


def work_corpus(config: CampaignConfig, spec: FuzzerSpec) -> Path:
    """The corpus a fuzzer's workers grow during the campaign (seeds are read, never written)."""
    return config.out_dir / spec.folder / "corpus"


def temp_dir(config: CampaignConfig) -> Path:
    """The run's own temp folder (TMPDIR of its workers), removed when the campaign ends."""
    return config.out_dir / ".tmp"


def worker_command(config: CampaignConfig, spec: FuzzerSpec, seed: int, seconds: float | None,
                   runs: int | None) -> list[str]:
    """The libFuzzer command line of one worker of spec (its corpus and artifact folders made)."""
    corpus = work_corpus(config, spec)
    artifacts = config.out_dir / spec.folder / "artifacts"
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(spec.script), str(corpus)]
    if config.use_seeds and spec.seeds.is_dir():
        command.append(str(spec.seeds))
    command += [f"-artifact_prefix={artifacts}/", f"-seed={seed}", "-print_final_stats=1",
                f"-timeout={config.input_timeout}", f"-rss_limit_mb={config.rss_limit_mb}", "-reload=1"]
    if spec.dictionary:
        command.append(f"-dict={spec.dictionary}")
    if config.max_len:
        command.append(f"-max_len={config.max_len}")
    if seconds is not None:
        command.append(f"-max_total_time={max(1, int(seconds))}")
    if runs is not None:
        command.append(f"-runs={runs}")
    return command + list(config.extra_args)


def worker_process_environment(config: CampaignConfig, spec: FuzzerSpec) -> dict[str, str]:
    """The environment of a fuzzer process: sanitizer runtime, target, variant."""
    # symbolize stays on: with symbolize=0 a prebuilt library's leaks were no longer traced to it
    # (tests/test_binary_only.py). A forked leak-tracing copy starts a symbolizer of its own
    # (harness.runtime.symbolizer), so it does not share the worker's
    options = SanitizerOptions(rss_limit_mb=config.rss_limit_mb + 1024, python_malloc=spec.python_malloc)
    if config.recover:
        options = options.with_asan(halt_on_error=0)
    env = child_environment(options)
    env.update(worker_environment(target=config.target.spec_path, variant=config.variant,
                                  keep_going=config.recover or None))
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONUNBUFFERED"] = "1"  # atheris prints Python exceptions on stdout: keep the order
    # a worker killed inside a leak check, or ending while its forked copy traces a leak,
    # leaves a capture file: in the run's own temp folder, removed when the campaign ends
    env["TMPDIR"] = str(temp_dir(config))
    return env


def later(seconds: float, function: Callable[[], None]) -> threading.Timer:
    """Call function on a daemon thread after seconds, unless the returned timer is cancelled."""
    timer = threading.Timer(seconds, function)
    timer.daemon = True
    timer.start()
    return timer


def end_group_with(process: subprocess.Popen[bytes]) -> threading.Thread:
    """Once the worker (a session leader) has ended, SIGKILL what is left of its process group:
    a forked copy tracing a leak when the worker died would hold its output pipe open, and the
    campaign would wait for the end of that output forever."""

    def reap() -> None:
        process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)

    thread = threading.Thread(target=reap, daemon=True)
    thread.start()
    return thread


def kill_if_running(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a worker (and its process group: symbolizer, forks) that is still running."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
