"""Shared fixtures. The pytest process itself runs under the sanitizer runtime (the
ffi-harness pytest plugin re-execs it: ffi_harness_sanitize = true in pyproject.toml), so
in-process tests of the clean library are sanitized; anything expected to crash runs in
a child process (harness.isolate)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.runtime import leaks
from harness.runtime.sanitizers import under_runtime
from harness.target.loader import Loaded, load
from harness.target.spec import Target, resolve_target
from harness.triage import TargetCode

assert under_runtime(), "the ffi-harness pytest plugin should have re-exec'd pytest under ASan"


REPO = Path(__file__).resolve().parent.parent
ARTIFACT_GLOBS = ("crash-*", "leak-*", "timeout-*", "oom-*", "contract-*", "slow-unit-*")


def _stray_artifacts() -> set[Path]:
    return {path for pattern in ARTIFACT_GLOBS for path in REPO.glob(pattern)}


@pytest.fixture(scope="session", autouse=True)
def no_stray_artifacts():
    """Fails the session when something it ran wrote libFuzzer or ffi-harness artifacts into the
    repository root (a subprocess started without -artifact_prefix in the caller's cwd)."""
    before = _stray_artifacts()
    yield
    stray = sorted(path.name for path in _stray_artifacts() - before)
    assert not stray, f"artifacts written into {REPO}: {stray[:10]}"


@pytest.fixture(scope="session")
def target() -> Target:
    return resolve_target(None)


@pytest.fixture(scope="session")
def kv(target: Target) -> Loaded:
    """The clean embedded target, loaded in this (sanitized) process."""
    return load(target, "clean")


@pytest.fixture(scope="session")
def target_code(target: Target) -> TargetCode:
    return target.code


@pytest.fixture
def no_target_leaks(target_code: TargetCode):
    """Fails the test when it leaves memory allocated through target code unreachable."""
    leaks.check(target_code)  # forget what earlier tests left
    yield
    found = leaks.check(target_code)
    assert not found, found.report
