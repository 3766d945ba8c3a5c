"""A spec's text, to name the line of a mistake, and the small parsers of [contract] values."""

from __future__ import annotations

import re
from pathlib import Path

from harness.errors import TargetError


class SpecText:
    """The spec's text, to name the line of a mistake."""

    def __init__(self, path: Path | None, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def line_of(self, *needles: str) -> int:
        """The line of the mistake: the first needle that names a table narrows the search to
        that table, where the next needles (keys, names) point at the exact line."""
        def find(needle: str, lines: range) -> int:
            pattern = re.compile(rf"(^|[\s\[.{{,\"]){re.escape(needle)}($|[\s\].=}},\"])")
            return next((n + 1 for n in lines if pattern.search(self.lines[n].split("#", 1)[0])), 0)

        everywhere = range(len(self.lines))
        for index, needle in enumerate(needles):
            table = find(needle, everywhere)
            if not table:
                continue
            if not self.lines[table - 1].lstrip().startswith("["):
                return table
            end = next((n for n in range(table, len(self.lines)) if self.lines[n].lstrip().startswith("[")),
                       len(self.lines))
            inside = range(table, end)
            return next((line for rest in needles[index + 1:] if (line := find(rest, inside))), table)
        return 0

    def error(self, message: str, *needles: str) -> TargetError:
        line = self.line_of(*needles)
        where = f"{self.path}:{line}" if line else f"{self.path}"
        return TargetError(f"{where}: {message}")


def names(value: object, spec: SpecText, what: str, *needles: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise spec.error(f"{what} must be a name or a list of names", *needles)


def name_pairs(value: object, spec: SpecText, what: str, *needles: str) -> tuple[tuple[str, str], ...]:
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return tuple(value.items())
    raise spec.error(f"{what} must be a table of parameter = parameter", *needles)
