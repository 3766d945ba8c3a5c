"""The crash store: one folder per distinct bug under corpus/crashes/, never losing a finding.

    corpus/crashes/heap-use-after-free-mylib_find-1a2b3c4d5e6f7a8b/
        input          the minimized input (the original when minimization did not help)
        original       the input as first found
        report.txt     the full sanitizer report of the first occurrence
        metadata.json  target, variant, fuzzer, finding, first/last seen, times seen, frames

A folder is built under a temporary name and renamed into place, so it exists whole or
not at all. A crash whose stack hash is already stored only updates metadata.json (under
an flock, written temp-then-rename), so two fuzzer processes storing at once, or a
campaign killed midway, never leave a half-written or overwritten finding.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.atomic import readable_folder, write_atomic
from harness.errors import InputError
from harness.triage import Finding

METADATA = "metadata.json"


@dataclass(frozen=True)
class StoredCrash:
    """One crash folder and what its metadata says."""

    folder: Path
    metadata: dict[str, Any]

    @property
    def input(self) -> Path:
        return self.folder / "input"

    @property
    def stack_hash(self) -> str:
        return str(self.metadata["stack_hash"])

    @property
    def finding(self) -> Finding:
        return Finding.from_dict(self.metadata["finding"])


def folder_name(finding: Finding) -> str:
    """kind-function-hash, safe as a file name."""
    function = re.sub(r"[^A-Za-z0-9_.]+", "_", finding.function or "unknown")[:60]
    return f"{finding.kind}-{function}-{finding.stack_hash}"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True).encode())


class CrashStore:
    """Distinct findings with their inputs, stored atomically under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def find(self, stack_hash: str) -> StoredCrash | None:
        """The stored crash with this stack hash, if any."""
        for folder in self.root.glob(f"*-{stack_hash}"):
            if (folder / METADATA).exists():
                return self._load(folder)
        return None

    def add(self, finding: Finding, data: bytes, report: str, *, target: str, variant: str,
            fuzzer: str, spec: Path | None = None, minimized: bytes | None = None) -> tuple[StoredCrash, bool]:
        """Store a crash; returns (the stored crash, True when it is a new bug)."""
        now = time.time()
        with self._locked():
            self._sweep()
            known = self.find(finding.stack_hash)
            if known is not None:
                meta = dict(known.metadata)
                meta["times_seen"] = int(meta.get("times_seen", 1)) + 1
                meta["last_seen"] = now
                seen = meta.setdefault("inputs_seen", [])
                digest = hashlib.sha1(data).hexdigest()
                if digest not in seen and len(seen) < 100:
                    seen.append(digest)
                _write_json(known.folder / METADATA, meta)
                return StoredCrash(known.folder, meta), False
            final = self.root / folder_name(finding)
            work = readable_folder(Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=self.root)))
            try:
                (work / "original").write_bytes(data)  # plain files: created with the umask's permissions
                (work / "input").write_bytes(minimized if minimized is not None else data)
                (work / "report.txt").write_text(report)
                meta = {"target": target, "spec": str(spec) if spec else None, "variant": variant, "fuzzer": fuzzer,
                        "stack_hash": finding.stack_hash, "title": finding.title, "kind": finding.kind,
                        "function": finding.function, "file": finding.file, "line": finding.line,
                        "finding": finding.to_dict(), "first_seen": now, "last_seen": now,
                        "times_seen": 1, "minimized": minimized is not None and minimized != data,
                        "inputs_seen": [hashlib.sha1(data).hexdigest()]}
                _write_json(work / METADATA, meta)
                os.rename(work, final)
            except BaseException:
                shutil.rmtree(work, ignore_errors=True)
                raise
            return StoredCrash(final, meta), True

    def _sweep(self) -> None:
        """Remove folders a killed writer left half-built (hidden, never read as crashes). Called
        under the lock, which every writer holds while it builds one, so any left is abandoned."""
        for leftover in self.root.glob(".*-*"):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)

    def sweep(self) -> None:
        """_sweep() under the store's lock."""
        with self._locked():
            self._sweep()

    def set_minimized(self, crash: StoredCrash, data: bytes) -> StoredCrash:
        """Replace the crash's `input` with a minimized one (`original` stays as found)."""
        with self._locked():
            write_atomic(crash.folder / "input", data)
            meta = {**self._load(crash.folder).metadata, "minimized": True, "minimized_size": len(data)}
            _write_json(crash.folder / METADATA, meta)
            return StoredCrash(crash.folder, meta)

    def _load(self, folder: Path) -> StoredCrash:
        try:
            return StoredCrash(folder, json.loads((folder / METADATA).read_text()))
        except (OSError, ValueError) as exc:
            raise InputError(f"{folder}: unreadable {METADATA}: {exc}") from exc

    def crashes(self) -> list[StoredCrash]:
        """Every complete crash folder (half-built temporary folders are skipped)."""
        if not self.root.is_dir():
            return []
        return [self._load(f) for f in sorted(self.root.iterdir())
                if f.is_dir() and not f.name.startswith(".") and (f / METADATA).exists()]
