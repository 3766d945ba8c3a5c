"""Target descriptions (target.toml), variants, and the embedded default target."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from harness.catalogue import Bug, load_catalogue
from harness.errors import TargetError, UsageError
from harness.triage.frames import TargetCode

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_TARGET = PROJECT_ROOT / "target_c" / "target.toml"
DEFAULT_TARGET = "kv"
VARIANTS = ("clean", "planted")
# What a prebuilt library without ASan/UBSan/coverage instrumentation loses: the allocator is
# still ASan's (preloaded), so double/invalid free, mismatched frees, leaks and the libc
# interceptors (memcpy, strlen, ...) keep working; everything checked *inside* its code is off.
BINARY_ONLY_CHECKS_OFF = (
    "out-of-bounds and use-after-free accesses made by the library's own code (no ASan instrumentation;"
    " only accesses through libc interceptors such as memcpy/strlen are checked)",
    "undefined behaviour inside the library (no UBSan)",
    "coverage feedback from the library (libFuzzer is guided by the driver's Python coverage only)",
)


@dataclass(frozen=True)
class Target:
    """A C library to fuzz: its sources, header, build settings and bug catalogue."""

    name: str
    root: Path
    header: Path
    sources: tuple[Path, ...]  # empty for a binary-only target
    include_dirs: tuple[Path, ...]
    defines: tuple[tuple[str, str], ...] = ()
    cdef_extra: str = ""
    bugs: tuple[Bug, ...] = ()
    bug_switch_prefix: str = "BUG_"
    canary_prefix: str = "CANARY_"
    canary_define: str = ""
    canary_function: str = ""
    binding: Path | None = None
    spec_path: Path | None = field(default=None, compare=False)
    fuzzers: tuple[str, ...] = ("sequence",)
    contract: dict = field(default_factory=dict, compare=False, hash=False)  # raw [contract], see harness.contract
    library: Path | None = None  # a prebuilt shared library instead of sources (binary-only mode)
    built_from: Path | None = field(default=None, compare=False)  # root the exported module was compiled from

    @property
    def binary_only(self) -> bool:
        """True when the target is a prebuilt library fuzzed without recompiling it."""
        return self.library is not None

    @property
    def checks_off(self) -> tuple[str, ...]:
        """The sanitizer checks this target cannot have (none when built from sources)."""
        return BINARY_ONLY_CHECKS_OFF if self.binary_only else ()

    @property
    def code(self) -> TargetCode:
        """Which stack frames are this target's: files under its folder (or the folder an exported
        module was compiled from: debug info keeps those paths), or its prebuilt library."""
        roots = [self.root, self.built_from] if self.built_from else [self.root]
        return TargetCode.for_paths(roots, (self.library.name,) if self.library else ())

    def bug(self, bug_id: str) -> Bug:
        """The catalogue entry for bug_id, or UsageError listing the known ids."""
        for bug in self.bugs:
            if bug.id == bug_id:
                return bug
        known = ", ".join(b.id for b in self.bugs) or "none"
        raise UsageError(f"unknown bug id {bug_id!r} for target {self.name!r}; known: {known}")

    def variant_bugs(self, variant: str) -> tuple[Bug, ...]:
        """The bugs compiled in for a variant: none, all ('planted') or one bug id."""
        if variant == "clean":
            return ()
        if self.binary_only:
            raise UsageError(f"target {self.name!r} is a prebuilt library ({self.library}): it has no "
                             "variants to compile, use --variant clean")
        if variant == "planted":
            return self.bugs
        return (self.bug(variant),)

    def check_variant(self, variant: str) -> str:
        """Return variant unchanged if it names a variant of this target, else UsageError."""
        self.variant_bugs(variant)
        return variant


def _paths(root: Path, values: list[str], key: str, spec: Path) -> tuple[Path, ...]:
    paths = tuple((root / value).resolve() for value in values)
    for path in paths:
        if not path.exists():
            raise TargetError(f"{spec}: {key} entry {path} does not exist")
    return paths


def load_target_file(spec: Path) -> Target:
    """Read a target spec into a Target; TargetError on any mistake.

    The spec is a target.toml ([target] and [contract] tables) or a pyproject.toml whose
    [tool.ffi-harness] table holds the [target] keys and a [tool.ffi-harness.contract] table.
    A target has either `sources` (built with sanitizers) or `library`, a prebuilt shared
    library fuzzed in binary-only mode.
    """
    try:
        data = tomllib.loads(spec.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TargetError(f"{spec}: cannot read target description: {exc}") from exc
    if spec.name == "pyproject.toml":
        data = data.get("tool", {}).get("ffi-harness", {})
        data = {"target": {k: v for k, v in data.items() if k != "contract"}, "contract": data.get("contract", {})}
    table = data.get("target")
    if not isinstance(table, dict) or not table:
        raise TargetError(f"{spec}: no [target] table (or [tool.ffi-harness] in a pyproject.toml)")
    root = spec.parent.resolve()
    for key in ("name", "header"):
        if key not in table:
            raise TargetError(f"{spec}: [target] needs {key!r}")
    if ("sources" in table) == ("library" in table):
        raise TargetError(f"{spec}: [target] needs either 'sources' (to build with sanitizers) or 'library' "
                          "(a prebuilt shared library), not both")
    bugs_file = table.get("bugs")
    binding = table.get("binding")
    library = _paths(root, [table["library"]], "library", spec)[0] if "library" in table else None
    return Target(
        name=table["name"],
        root=root,
        header=_paths(root, [table["header"]], "header", spec)[0],
        sources=_paths(root, table.get("sources", []), "sources", spec),
        include_dirs=_paths(root, table.get("include_dirs", []), "include_dirs", spec),
        defines=tuple((str(k), str(v)) for k, v in table.get("defines", {}).items()),
        cdef_extra=table.get("cdef_extra", ""),
        bugs=load_catalogue(root / bugs_file) if bugs_file else (),
        bug_switch_prefix=table.get("bug_switch_prefix", "BUG_"),
        canary_prefix=table.get("canary_prefix", "CANARY_"),
        canary_define=table.get("canary_define", ""),
        canary_function=table.get("canary_function", ""),
        binding=_paths(root, [binding], "binding", spec)[0] if binding else None,
        spec_path=spec,
        fuzzers=tuple(table.get("fuzzers", ("sequence",))),
        contract=data.get("contract", {}),
        library=library,
    )


def resolve_target(name_or_path: str | None) -> Target:
    """The embedded target for None or its name, else a target.toml path."""
    if name_or_path in (None, "", DEFAULT_TARGET):
        return load_target_file(EMBEDDED_TARGET)
    path = Path(name_or_path)
    if path.is_dir():
        path = path / "target.toml" if (path / "target.toml").exists() else path / "pyproject.toml"
    if not path.exists():
        raise UsageError(
            f"unknown target {name_or_path!r}: not {DEFAULT_TARGET!r} and no such file"
        )
    return load_target_file(path)
