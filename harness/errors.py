"""One exception root for ffi-harness; every class maps to a documented exit code."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3  # an unexpected exception: a bug of ffi-harness, never reported as a finding


class HarnessError(Exception):
    """Root of every error ffi-harness raises on purpose; the CLI prints it in one line."""

    exit_code = EXIT_USAGE


class UsageError(HarnessError, ValueError):
    """A bad command-line value: unknown fuzzer, variant, target..."""


class ToolchainError(HarnessError, RuntimeError):
    """A compiler, runtime library or tool the harness needs is missing."""


class TargetError(HarnessError, ValueError):
    """A target description or bug catalogue that cannot be used as written."""


class BuildError(HarnessError, RuntimeError):
    """Compiling or linking the sanitized target failed."""


class SetupError(HarnessError, RuntimeError):
    """Something the run needs could not start (a fuzzer whose process died before its first input)."""


class InputError(HarnessError, ValueError):
    """An input file (crash, corpus entry) that cannot be read or belongs elsewhere."""
