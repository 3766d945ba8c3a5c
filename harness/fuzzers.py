"""The registry of fuzzers: name -> script, seed corpus and dictionary."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError
from harness.target import PROJECT_ROOT

FUZZER_DIR = PROJECT_ROOT / "fuzzers"
CORPUS_DIR = PROJECT_ROOT / "corpus"
CRASH_DIR = CORPUS_DIR / "crashes"
NAMES = ("strings", "ownership", "callbacks", "errors", "records", "binding")
DICTIONARY = FUZZER_DIR / "kv.dict"


@dataclass(frozen=True)
class FuzzerSpec:
    """One fuzz target: its script, where its seeds live, its libFuzzer dictionary."""

    name: str
    script: Path
    seeds: Path
    dictionary: Path | None


def fuzzer(name: str) -> FuzzerSpec:
    """The fuzzer called `name` (or a path to any fuzzer script), or UsageError."""
    if name.endswith(".py") and Path(name).is_file():
        script = Path(name).resolve()
        return FuzzerSpec(str(script), script, script.parent / "corpus", None)
    if name not in NAMES:
        raise UsageError(f"unknown fuzzer {name!r}; known: {', '.join(NAMES)}, 'all', or a fuzzer script path")
    return FuzzerSpec(name, FUZZER_DIR / f"fuzz_{name}.py", CORPUS_DIR / name,
                      DICTIONARY if DICTIONARY.exists() else None)


def resolve_fuzzers(names: list[str]) -> list[FuzzerSpec]:
    """Names from the command line ('all' = every fuzzer), each once, in order."""
    wanted: list[str] = []
    for name in names or ["all"]:
        for one in NAMES if name == "all" else (name,):
            if one not in wanted:
                wanted.append(one)
    return [fuzzer(name) for name in wanted]
