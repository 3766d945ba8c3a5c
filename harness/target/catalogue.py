"""The planted-bug catalogue (bugs.toml): one frozen Bug per table, validated on load."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from harness.errors import TargetError

SURFACES = ("strings", "ownership", "callbacks", "errors", "records", "binding")
REQUIRED = ("id", "surface", "kind", "function", "description")


@dataclass(frozen=True)
class Bug:
    """One planted bug: where it lives, what the sanitizer must report, how it is reached."""

    id: str
    surface: str
    kind: str
    function: str
    description: str
    access: str | None = None
    modelled_on: str = ""
    # other (kind, function) reports the same defect produces on a build with only this bug, e.g. a
    # release left in an array is called after its registration ended, or again by the destructor
    also: tuple[tuple[str, str], ...] = ()

    @property
    def signatures(self) -> tuple[tuple[str, str], ...]:
        """Every (kind, function) a sanitizer or the driver reports this bug as; the first is its own."""
        return ((self.kind, self.function), *self.also)

    def matches(self, kind: str, function: str | None) -> bool:
        """True when a finding of this kind in this function is one of the bug's reports."""
        return (kind, function) in self.signatures

    @property
    def in_binding(self) -> bool:
        """True for bugs planted in the Python binding rather than the C library."""
        return self.surface == "binding"

    @property
    def macro_suffix(self) -> str:
        """The C identifier part of the bug's switch and canary: 'a-b' -> 'A_B'."""
        return self.id.upper().replace("-", "_")


def load_catalogue(path: Path) -> tuple[Bug, ...]:
    """Read and validate a bugs.toml; raise TargetError naming the file and the bad entry."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TargetError(f"{path}: cannot read bug catalogue: {exc}") from exc
    bugs: list[Bug] = []
    seen: set[str] = set()
    for index, table in enumerate(data.get("bug", [])):
        where = f"{path}: bug #{index + 1}"
        missing = [key for key in REQUIRED if not isinstance(table.get(key), str)]
        if missing:
            raise TargetError(f"{where}: missing {', '.join(missing)}")
        unknown = set(table) - set(Bug.__dataclass_fields__)
        if unknown:
            raise TargetError(f"{where} ({table['id']!r}): unknown keys {sorted(unknown)}")
        if table["surface"] not in SURFACES:
            raise TargetError(f"{where}: surface {table['surface']!r} is not one of {SURFACES}")
        if table["id"] in seen or table["id"] in ("clean", "planted"):
            raise TargetError(f"{where}: id {table['id']!r} is duplicated or reserved")
        seen.add(table["id"])
        also = table.get("also", [])
        if not isinstance(also, list) or not all(
                isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair) for pair in also):
            raise TargetError(f"{where} ({table['id']!r}): `also` is a list of [kind, function] pairs")
        bugs.append(Bug(**{**table, "also": tuple(tuple(pair) for pair in also)}))
    return tuple(bugs)
