"""Every setting of ffi-harness, resolved in one place.

Precedence: command line > `FFI_HARNESS_<NAME>` environment variable > `[tool.ffi-harness]` of
the project's pyproject.toml > default. A bad value is a UsageError that names where it came
from (`FFI_HARNESS_JOBS='x': not a whole number`). Only this module and the sanitizer runtime
(harness.runtime.sanitizers) read os.environ.

The project is the folder of the nearest pyproject.toml (from the working directory up) that
has a `[tool.ffi-harness]` table; relative paths in that table are relative to it.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from harness.errors import UsageError

ENV_PREFIX = "FFI_HARNESS_"
MAX_JOBS = 256
TABLE = "[tool.ffi-harness]"


class _Invalid(ValueError):
    """A value that does not parse; the message says why (without saying where from)."""


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise _Invalid("expected a non-empty string")
    return value


def _whole(low: int, high: int) -> Callable[[object], int]:
    def parse(value: object) -> int:
        try:
            number = int(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
        except ValueError:
            number = None
        if number is None:
            raise _Invalid("not a whole number")
        if not low <= number <= high:
            raise _Invalid(f"must be between {low} and {high}")
        return number
    return parse


def _seconds(value: object) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else math.nan  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number < 0:
        raise _Invalid("must be a finite number of seconds, 0 or more")
    return number


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise _Invalid("use 1 or 0")


@dataclass(frozen=True)
class Option:
    """One setting: its name (the pyproject key; FFI_HARNESS_ + NAME upper-cased is its variable)."""

    name: str
    parse: Callable[[object], Any]
    default: Any
    help: str
    is_path: bool = False

    @property
    def variable(self) -> str:
        return ENV_PREFIX + self.name.upper()


OPTIONS = {option.name: option for option in (
    Option("target", _text, None, "the target spec (a path) or the project's target name"),
    Option("variant", _text, "clean", "clean, planted, or one planted bug id"),
    Option("jobs", _whole(1, MAX_JOBS), 1, "worker processes"),
    Option("crash_dir", _text, None, "the crash store (default: corpus/crashes of the target's project)", True),
    Option("corpus_dir", _text, None, "seed corpora, one folder per fuzzer (default: corpus/ of the project)", True),
    Option("runs_dir", _text, None, "where campaign and ci runs write (default: runs/ of the project)", True),
    Option("cache", _text, None, "the build cache (default: $XDG_CACHE_HOME/ffi-harness)", True),
    Option("clang", _text, None, "the clang to build with (default: clang-19)"),
    Option("prebuilt", _text, None, "a folder with a module export-ossfuzz compiled (no compiler needed)", True),
    Option("leak_interval", _seconds, 2.0, "shortest wait between leak checks while fuzzing (0: none)"),
    Option("keep_going", _boolean, False, "traced leaks do not end a fuzzing process (campaign workers)"),
    Option("inject", _text, None, "FILE@N: run FILE as input number N (tests of late leak checks)"),
    Option("leak_trace", _text, None, "internal: a fresh fuzzer process traces the leak this request "
           "file names, from the library's first state (harness.engine.freshtrace)"),
    Option("canaries", _boolean, False, "log when each planted bug is first reached and triggered (benchmarks)"),
    Option("trace", _boolean, False, "print every call the sequence driver makes, as C"),
    Option("native_loop", _boolean, True, "the sequence fuzzer makes its calls from a compiled loop when the "
           "contract allows (0: always the Python driver)"),
    Option("sanitize", _boolean, None, "run pytest under the sanitizer runtime (the pytest plugin)"),
)}


@dataclass(frozen=True)
class Project:
    """A folder whose pyproject.toml has a [tool.ffi-harness] table."""

    root: Path
    table: dict[str, Any]

    @property
    def pyproject(self) -> Path:
        return self.root / "pyproject.toml"


def project_table(pyproject: Path) -> dict[str, Any] | None:
    """The [tool.ffi-harness] table of a pyproject.toml, or None (no table, unreadable file)."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    table = data.get("tool", {}).get("ffi-harness")
    return table if isinstance(table, dict) else None


@cache
def _project_at(folder: Path) -> Project | None:
    for candidate in (folder, *folder.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            table = project_table(pyproject)
            if table is not None:
                return Project(candidate, table)
    return None


def find_project(start: Path | None = None) -> Project | None:
    """The project of start (default: the working directory): the nearest folder upwards whose
    pyproject.toml has a [tool.ffi-harness] table."""
    return _project_at((start or Path.cwd()).resolve())


def setting(name: str, given: object = None, *, project: Project | None = None, use_project: bool = True) -> Any:
    """The value of a setting: given (the command line) > environment > the project's
    [tool.ffi-harness] (project, default: the working directory's) > default. Paths from the
    project's table are made absolute against its folder."""
    option = OPTIONS[name]
    if given is not None:
        return _parse(option, given, f"--{name.replace('_', '-')}")
    raw = os.environ.get(option.variable)
    if raw is not None and raw != "":
        return _parse(option, raw, option.variable)
    project = project or (find_project() if use_project else None)
    if project is not None and name in project.table:
        value = _parse(option, project.table[name], f"{project.pyproject} {TABLE} {name}")
        return str((project.root / value).resolve()) if option.is_path else value
    return option.default


def _parse(option: Option, raw: object, source: str) -> Any:
    try:
        return option.parse(raw)
    except _Invalid as why:
        raise UsageError(f"{source}={raw!r}: {why} ({option.help})") from None


def worker_environment(**values: object) -> dict[str, str]:
    """FFI_HARNESS_* variables that hand settings to a child process (None: left out)."""
    rendered = {}
    for name, value in values.items():
        if value is None:
            continue
        rendered[OPTIONS[name].variable] = ("1" if value else "0") if isinstance(value, bool) else str(value)
    return rendered


def environment_with(**values: object) -> dict[str, str]:
    """This process's environment with the settings values hands to a child process."""
    return {**os.environ, **worker_environment(**values)}


def cache_root() -> Path:
    """Where builds are cached: the `cache` setting, else $XDG_CACHE_HOME/ffi-harness."""
    explicit = setting("cache")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "ffi-harness"


def uninstrumented_environment() -> dict[str, str]:
    """This process's environment without the sanitizer runtime preloaded: for the compiler,
    the symbolizer and other tools that must not run under ASan."""
    return {key: value for key, value in os.environ.items() if key != "LD_PRELOAD"}
