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
        bugs.append(Bug(**table))
    return tuple(bugs)
