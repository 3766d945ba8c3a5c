"""The fuzzers of a target: name -> script, seed corpus and dictionary.

A target's spec lists its fuzzers (`fuzzers`): the generic ones shipped in harness/fuzzers/
(`sequence`, the contract-driven driver) by name, and the project's own scripts by path, each
named by its file (fuzz_strings.py is `strings`). Seeds live in the target's corpus folder
(corpus_dir/NAME); the dictionary is the spec's `dictionary`, else one generated from the header.
A script path given on the command line is a fuzzer too, named by that path.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from harness.atomic import write_atomic
from harness.config import cache_root
from harness.errors import UsageError
from harness.target.dictionary import header_dictionary
from harness.target.spec import Target

GENERIC_DIR = Path(__file__).resolve().parent.parent / "fuzzers"


@dataclass(frozen=True)
class FuzzerSpec:
    """One fuzz target: its script, where its seeds live, its libFuzzer dictionary."""

    name: str
    script: Path
    seeds: Path
    dictionary: Path | None
    python_malloc: bool = True  # Python's allocations under ASan (PYTHONMALLOC=malloc)

    @property
    def folder(self) -> str:
        """Its folder in a run (a script given by path is named by that path: its file's stem)."""
        return self.script.stem if "/" in self.name else self.name


def generated_dictionary(target: Target) -> Path:
    """The header dictionary of a target, written once into the build cache."""
    text = header_dictionary(target.header)
    path = cache_root() / "dicts" / f"{target.name}-{hashlib.sha1(text.encode()).hexdigest()[:12]}.dict"
    return path if path.exists() else write_atomic(path, text.encode())


def fuzzer(name: str, target: Target) -> FuzzerSpec:
    """The fuzzer called `name` for target (or a path to any fuzzer script), or UsageError."""
    scripts = dict(target.fuzzer_scripts)
    if name.endswith(".py") and Path(name).is_file():
        script = Path(name).resolve()
        listed = next((n for n, path in scripts.items() if path == script), None)
        if listed is None:
            return FuzzerSpec(str(script), script, target.corpus_dir / script.stem.removeprefix("fuzz_"),
                              target.dictionary)
        name = listed
    if name not in target.fuzzers:
        known = ", ".join(target.fuzzers) or "none"
        raise UsageError(f"unknown fuzzer {name!r} for target {target.name!r}; known: {known}, 'all', or a "
                         "fuzzer script path")
    script = scripts.get(name) or GENERIC_DIR / f"fuzz_{name}.py"
    return FuzzerSpec(name, script, target.corpus_dir / name, target.dictionary or generated_dictionary(target),
                      name not in target.pymalloc)


def resolve_fuzzers(names: list[str], target: Target) -> list[FuzzerSpec]:
    """Names from the command line ('all' = every fuzzer of the target), each once, in order."""
    wanted: list[str] = []
    for name in names or ["all"]:
        for one in target.fuzzers if name == "all" else (name,):
            if one not in wanted:
                wanted.append(one)
    return [fuzzer(name, target) for name in wanted]
