#!/usr/bin/env python3
"""Regenerate corpus/NAME/ seed inputs for the embedded target's fuzzers.

Structure-aware fuzzers (FuzzedDataProvider drivers) get a few pseudo-random byte strings
of several lengths (fixed PRNG seed); the records fuzzer gets snapshots written by libkv's
own kv_snapshot_save, so mutation starts from well-formed files.

    python fuzzers/make_seeds.py [corpus-dir]
"""

from __future__ import annotations

import hashlib
import random
import sys
from pathlib import Path

from harness.engine.session import session

FDP_FUZZERS = ("strings", "ownership", "callbacks", "errors", "binding")


def snapshots() -> list[bytes]:
    kv = session().binding
    contents = [
        {},
        {"k": b"v"},
        {"alpha": b"1", "beta": b"\x00\xff binary", "gamma": "ünïcödé".encode()},
        {"x" * 200: b"long key", "empty": b""},
    ]
    result = []
    for content in contents:
        with kv.Store() as store:
            for key, value in content.items():
                store[key] = value
            result.append(store.snapshot())
    return result


def write(folder: Path, inputs: list[bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for data in inputs:
        (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


def main(root: Path) -> None:
    rng = random.Random(20261124)
    for name in FDP_FUZZERS:
        write(root / name, [bytes(rng.randrange(256) for _ in range(n)) for n in (8, 32, 96, 256)])
    write(root / "records", snapshots())


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "corpus")
