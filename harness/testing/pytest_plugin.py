"""pytest plugin of ffi-harness: run the test process under the sanitizer runtime.

Enabled with `--sanitize`, `FFI_HARNESS_SANITIZE=1`, or `ffi_harness_sanitize = true` in the
ini file (command line > environment > ini). It re-execs pytest under atheris's ASan
runtime before output capture starts, so in-process tests of a sanitized target report
ASan/UBSan errors, and LeakSanitizer is available to harness.leaks.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

from harness.runtime.sanitizers import SanitizerOptions, ensure_runtime

SANITIZE_HELP = "run the test process under ffi-harness's sanitizer runtime (ASan + UBSan + LSan)"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ffi-harness")
    group.addoption("--sanitize", action="store_true", default=None, help=SANITIZE_HELP)
    parser.addini("ffi_harness_sanitize", SANITIZE_HELP, type="bool", default=False)


def wants_sanitizer(option: bool | None, environment: str | None, ini: object) -> bool:
    """The one place deciding precedence: command line > environment > ini."""
    if option is not None:
        return option
    if environment is not None and environment != "":
        if environment.lower() not in ("0", "1", "true", "false", "yes", "no"):
            raise pytest.UsageError(f"FFI_HARNESS_SANITIZE={environment!r}: use 1 or 0")
        return environment.lower() in ("1", "true", "yes")
    return str(ini).lower() in ("1", "true", "yes")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser,
                                  args: list[str]) -> Generator[None, None, None]:
    ini = early_config.inicfg.get("ffi_harness_sanitize", False)
    if wants_sanitizer(early_config.known_args_namespace.sanitize,
                       os.environ.get("FFI_HARNESS_SANITIZE"), getattr(ini, "value", ini)):
        # in-process and forked examples crash fast (triage symbolizes the frames it needs);
        # a small quarantine keeps the process small, so forking an example stays cheap
        ensure_runtime(SanitizerOptions(symbolize=False).with_asan(quarantine_size_mb=16))
    return (yield)
