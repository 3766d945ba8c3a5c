"""The registry of fuzzers: name -> script, seed corpus and dictionary, per target.

The embedded target has a hand-written fuzzer per boundary surface; every target, the
embedded one included, has the generic contract-driven `sequence` fuzzer (harness.sequence).
A target spec lists its fuzzers under `fuzzers` (default: just `sequence`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from harness.atomic import write_atomic
from harness.errors import UsageError
from harness.target import EMBEDDED_TARGET, PROJECT_ROOT, Target

FUZZER_DIR = PROJECT_ROOT / "fuzzers"
CORPUS_DIR = PROJECT_ROOT / "corpus"
CRASH_DIR = CORPUS_DIR / "crashes"
SURFACES = ("strings", "ownership", "callbacks", "errors", "records", "binding")
GENERIC = "sequence"
NAMES = (*SURFACES, GENERIC)
DICTIONARY = FUZZER_DIR / "kv.dict"
# Fuzzers whose inputs reach C only through exact lib.malloc'd buffers (harness.driving): Python's
# own objects need not be under ASan, so they run with pymalloc (strings +55%, records +29% exec/s).
# Every other fuzzer hands C memory Python owns (ffi.new, handles) and keeps PYTHONMALLOC=malloc.
PYMALLOC_FUZZERS = frozenset({"strings", "records"})


@dataclass(frozen=True)
class FuzzerSpec:
    """One fuzz target: its script, where its seeds live, its libFuzzer dictionary."""

    name: str
    script: Path
    seeds: Path
    dictionary: Path | None
    python_malloc: bool = True  # Python's allocations under ASan (PYTHONMALLOC=malloc)


def _embedded(target: Target | None) -> bool:
    return target is None or target.spec_path == EMBEDDED_TARGET


def generated_dictionary(target: Target) -> Path:
    """The header dictionary of a target, written once into the build cache."""
    from harness.build import cache_root
    from harness.dictionary import header_dictionary

    text = header_dictionary(target.header)
    path = cache_root() / "dicts" / f"{target.name}-{hashlib.sha1(text.encode()).hexdigest()[:12]}.dict"
    return path if path.exists() else write_atomic(path, text.encode())


def fuzzer(name: str, target: Target | None = None) -> FuzzerSpec:
    """The fuzzer called `name` for target (or a path to any fuzzer script), or UsageError."""
    if name.endswith(".py") and Path(name).is_file():
        script = Path(name).resolve()
        return FuzzerSpec(str(script), script, script.parent / "corpus", None)
    if name not in NAMES:
        raise UsageError(f"unknown fuzzer {name!r}; known: {', '.join(NAMES)}, 'all', or a fuzzer script path")
    if _embedded(target):
        return FuzzerSpec(name, FUZZER_DIR / f"fuzz_{name}.py", CORPUS_DIR / name,
                          DICTIONARY if DICTIONARY.exists() else None, name not in PYMALLOC_FUZZERS)
    assert target is not None
    if name not in target.fuzzers:
        raise UsageError(f"fuzzer {name!r} is not one of target {target.name!r}'s: {', '.join(target.fuzzers)}")
    return FuzzerSpec(name, FUZZER_DIR / f"fuzz_{name}.py", target.root / "corpus" / name,
                      generated_dictionary(target))


def resolve_fuzzers(names: list[str], target: Target | None = None) -> list[FuzzerSpec]:
    """Names from the command line ('all' = every fuzzer of the target), each once, in order."""
    every = target.fuzzers if target is not None else NAMES
    wanted: list[str] = []
    for name in names or ["all"]:
        for one in every if name == "all" else (name,):
            if one not in wanted:
                wanted.append(one)
    return [fuzzer(name, target) for name in wanted]
