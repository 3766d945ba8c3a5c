"""pytest plugin of ffi-harness: run the test process under the sanitizer runtime.

Enabled with `--sanitize`, `FFI_HARNESS_SANITIZE=1`, or `ffi_harness_sanitize = true` in the
ini file (command line > environment > ini). Under the sanitizer it loads the `ffi-harness`
hypothesis profile (no deadline, no explain phase) unless --hypothesis-profile names another.
It re-execs pytest under atheris's ASan runtime before output capture starts, so in-process
tests of a sanitized target report ASan/UBSan errors, and LeakSanitizer is available to
harness.runtime.leaks.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest
from hypothesis import HealthCheck, Phase, settings

from harness.config import setting
from harness.errors import UsageError
from harness.runtime.sanitizers import ensure_runtime, test_process_options, under_runtime

SANITIZE_HELP = "run the test process under ffi-harness's sanitizer runtime (ASan + UBSan + LSan)"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ffi-harness")
    group.addoption("--sanitize", action="store_true", default=None, help=SANITIZE_HELP)
    parser.addini("ffi_harness_sanitize", SANITIZE_HELP, type="bool", default=False)


def wants_sanitizer(option: bool | None, ini: object) -> bool:
    """Precedence: command line > FFI_HARNESS_SANITIZE (harness.config) > ini."""
    try:
        chosen = setting("sanitize", option, use_project=False)
    except UsageError as why:
        raise pytest.UsageError(str(why)) from None
    return chosen if chosen is not None else str(ini).lower() in ("1", "true", "yes")


# What a test whose examples run in forked children needs: no deadline (a fork and a leak scan
# take 10-500 ms), no explain phase (it re-runs failing examples to blame lines, 20-70 s each,
# and the lines it blames are the harness's), and no too_slow health check.
PROFILE = "ffi-harness"
settings.register_profile(PROFILE, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                          phases=[p for p in Phase if p is not Phase.explain])


def pytest_configure(config: pytest.Config) -> None:
    """Under the sanitizer, load the ffi-harness hypothesis profile unless one was chosen."""
    if under_runtime() and not config.getoption("hypothesis_profile", None):
        settings.load_profile(PROFILE)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser,
                                  args: list[str]) -> Generator[None, None, None]:
    ini = early_config.inicfg.get("ffi_harness_sanitize", False)
    if wants_sanitizer(early_config.known_args_namespace.sanitize, getattr(ini, "value", ini)):
        ensure_runtime(test_process_options())
    return (yield)
