"""Target specs (a target.toml, or [tool.ffi-harness] of a pyproject.toml), variants, and the
project a target's state belongs to.

Which target: `--target` / FFI_HARNESS_TARGET (a spec path, or the name of the project's
target), else the project's (harness.config): its [tool.ffi-harness] `target = "path"`, or the
table itself when it holds the spec keys. Where its state lives (runs, crash store, corpora):
the project whose pyproject.toml names the spec (or is it), its `runs_dir` / `crash_dir` /
`corpus_dir` keys relative to it; a spec no project names keeps them in its own folder.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from harness.config import Project, find_project, project_table, setting
from harness.errors import TargetError, UsageError
from harness.target.catalogue import Bug, load_catalogue
from harness.triage.frames import TargetCode

SPEC_KEYS = ("name", "header")  # a [tool.ffi-harness] table with these is a spec itself
GENERIC_FUZZERS = ("sequence",)  # shipped in harness/fuzzers/, every target may list them
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
    bugs_file: Path | None = None  # the planted-bug catalogue the bugs were read from
    built_from: tuple[Path, ...] = field(default=(), compare=False)  # code folders an exported module was built from
    fuzzer_scripts: tuple[tuple[str, Path], ...] = ()  # fuzzers the spec gives as script paths (name, path)
    dictionary: Path | None = None  # a libFuzzer dictionary (default: one generated from the header)
    pymalloc: tuple[str, ...] = ()  # fuzzers that may keep CPython's allocator (they hand C only lib.malloc'd memory)
    state: Path | None = field(default=None, compare=False)  # the project folder its runs, crashes, corpora go in
    state_table: dict = field(default_factory=dict, compare=False, hash=False)  # that project's [tool.ffi-harness]

    @property
    def binary_only(self) -> bool:
        """True when the target is a prebuilt library fuzzed without recompiling it."""
        return self.library is not None

    @property
    def checks_off(self) -> tuple[str, ...]:
        """The sanitizer checks this target cannot have (none when built from sources)."""
        return BINARY_ONLY_CHECKS_OFF if self.binary_only else ()

    def state_dir(self, name: str, default: str) -> Path:
        """Where the target's state of one kind lives: the `name` setting (command line aside:
        environment, then its project's [tool.ffi-harness]), else default under its project."""
        project = Project(self.state or self.root, self.state_table)
        chosen = setting(name, project=project)
        return Path(chosen) if chosen else project.root / default

    @property
    def crash_dir(self) -> Path:
        """The crash store: `crash_dir`, default corpus/crashes of the project."""
        return self.state_dir("crash_dir", "corpus/crashes")

    @property
    def corpus_dir(self) -> Path:
        """Seed corpora, one folder per fuzzer: `corpus_dir`, default corpus/ of the project."""
        return self.state_dir("corpus_dir", "corpus")

    @property
    def runs_dir(self) -> Path:
        """Campaign and ci runs: `runs_dir`, default runs/ of the project."""
        return self.state_dir("runs_dir", "runs")

    @property
    def code(self) -> TargetCode:
        """Which stack frames are this target's: files in the folders of its sources, header,
        include folders and binding, wherever the spec itself is (or under the folder an exported
        module was compiled from: debug info keeps those paths), or its prebuilt library."""
        roots = {path.parent for path in (*self.sources, self.header)} | set(self.include_dirs)
        if self.binding is not None:
            roots.add(self.binding.parent)
        roots.update(self.built_from)
        return TargetCode.for_paths(sorted(roots), (self.library.name,) if self.library else ())

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


def _fuzzers(root: Path, values: object, spec: Path) -> tuple[tuple[str, ...], tuple[tuple[str, Path], ...]]:
    """The spec's `fuzzers`: generic names, or paths of fuzzer scripts (named by their stem
    without `fuzz_`). Returns (every name, (name, script) for the scripts)."""
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise TargetError(f"{spec}: fuzzers must be a list of names ({', '.join(GENERIC_FUZZERS)}) or script paths")
    names, scripts = [], []
    for value in values:
        if value in GENERIC_FUZZERS:
            names.append(value)
            continue
        if not value.endswith(".py"):
            raise TargetError(f"{spec}: fuzzer {value!r} is neither a generic fuzzer ({', '.join(GENERIC_FUZZERS)}) "
                              "nor a script path ending in .py")
        script = _paths(root, [value], "fuzzers", spec)[0]
        name = script.stem.removeprefix("fuzz_")
        names.append(name)
        scripts.append((name, script))
    if len(set(names)) != len(names):
        raise TargetError(f"{spec}: two fuzzers share a name: {names}")
    return tuple(names), tuple(scripts)


def _list(table: dict, key: str, spec: Path) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TargetError(f"{spec}: [target] {key} must be a list of strings, got {value!r}")
    return value


def _owner(spec: Path) -> Project | None:
    """The project whose pyproject.toml is the spec or names it as its target."""
    if spec.name == "pyproject.toml":
        return Project(spec.parent.resolve(), project_table(spec) or {})
    project = find_project(spec.parent)
    if project is None:
        return None
    named = project.table.get("target")
    return project if isinstance(named, str) and (project.root / named).resolve() == spec.resolve() else None


def load_target_file(spec: Path) -> Target:
    """Read a target spec into a Target; TargetError on any mistake.

    The spec is a target.toml ([target] and [contract] tables) or a pyproject.toml whose
    [tool.ffi-harness] table holds the [target] keys and a [tool.ffi-harness.contract] table.
    A target has either `sources` (built with sanitizers) or `library`, a prebuilt shared
    library fuzzed in binary-only mode.
    """
    if spec.is_dir():
        raise TargetError(f"{spec}: a folder, not a target spec (a target.toml or pyproject.toml)")
    try:
        data = tomllib.loads(spec.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise TargetError(f"{spec}: cannot read target description: not UTF-8 ({exc.reason} at byte {exc.start})") \
            from exc
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
    if "sources" in table and not isinstance(table["sources"], list):
        raise TargetError(f"{spec}: [target] sources must be a list of paths, e.g. sources = [{table['sources']!r}]")
    bugs_file = table.get("bugs")
    binding = table.get("binding")
    library = _paths(root, [table["library"]], "library", spec)[0] if "library" in table else None
    if library is not None and not library.is_file():
        raise TargetError(f"{spec}: library {library} is not a file (a prebuilt shared library, e.g. libfoo.so)")
    names, scripts = _fuzzers(root, table.get("fuzzers", list(GENERIC_FUZZERS)), spec)
    owner = _owner(spec)
    return Target(
        name=table["name"],
        root=root,
        header=_paths(root, [table["header"]], "header", spec)[0],
        sources=_paths(root, table.get("sources", []), "sources", spec),
        include_dirs=_paths(root, table.get("include_dirs", []), "include_dirs", spec),
        defines=tuple((str(k), str(v)) for k, v in table.get("defines", {}).items()),
        cdef_extra=table.get("cdef_extra", ""),
        bugs=load_catalogue(root / bugs_file) if bugs_file else (),
        bugs_file=(root / bugs_file).resolve() if bugs_file else None,
        bug_switch_prefix=table.get("bug_switch_prefix", "BUG_"),
        canary_prefix=table.get("canary_prefix", "CANARY_"),
        canary_define=table.get("canary_define", ""),
        canary_function=table.get("canary_function", ""),
        binding=_paths(root, [binding], "binding", spec)[0] if binding else None,
        spec_path=spec.resolve(),
        fuzzers=names,
        contract=data.get("contract", {}),
        library=library,
        fuzzer_scripts=scripts,
        dictionary=_paths(root, [table["dictionary"]], "dictionary", spec)[0] if "dictionary" in table else None,
        pymalloc=tuple(_list(table, "pymalloc", spec)),
        state=owner.root if owner else root,
        state_table=owner.table if owner else {},
    )


def project_target(project: Project | None) -> Path | None:
    """The spec a project names: its [tool.ffi-harness] `target`, or its pyproject.toml when
    that table holds the spec keys itself; None when it names none."""
    if project is None:
        return None
    named = project.table.get("target")
    if isinstance(named, str):
        return project.root / named
    return project.pyproject if all(key in project.table for key in SPEC_KEYS) else None


def resolve_target(name_or_path: str | None) -> Target:
    """The target named on the command line or by FFI_HARNESS_TARGET (a spec path, or the name
    of the project's target), else the project's own (harness.config)."""
    project = find_project()
    own = project_target(project)
    chosen = setting("target", name_or_path or None, use_project=False)
    if chosen is None:
        if own is None:
            raise UsageError("no target: pass --target path/to/spec.toml, set FFI_HARNESS_TARGET, or name it in "
                             "pyproject.toml: [tool.ffi-harness] target = \"path/to/spec.toml\"")
        return load_target_file(own)
    path = Path(chosen)
    if not path.exists() and own is not None and own.exists():
        target = load_target_file(own)
        if target.name == chosen:
            return target
    if path.is_dir():
        path = path / "target.toml" if (path / "target.toml").exists() else path / "pyproject.toml"
    if not path.exists():
        raise UsageError(f"unknown target {chosen!r}: no such spec file, and not the name of this project's target")
    return load_target_file(path)
