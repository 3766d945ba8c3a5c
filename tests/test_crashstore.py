"""The crash store: one folder per distinct bug, atomic writes, nothing ever lost."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

from harness.store.crashstore import CrashStore, folder_name
from harness.triage import primary_finding

FIXTURES = Path(__file__).parent / "fixtures" / "reports"
PROJECT = str(Path(__file__).resolve().parent.parent)


def finding(name: str, target_code):
    text = (FIXTURES / name).read_text().replace("@PROJECT@", PROJECT)
    return primary_finding(text, target_code), text


def add(store: CrashStore, found, text: str, data: bytes):
    return store.add(found, data, text, target="kv", variant="planted", fuzzer="records")


def test_same_bug_from_two_inputs_lands_in_one_folder(tmp_path, target_code):
    store = CrashStore(tmp_path)
    found, text = finding("take-stale-cache.txt", target_code)
    first, new = add(store, found, text, b"first input")
    again, new_again = add(store, found, text, b"another input")
    assert new and not new_again and first.folder == again.folder
    assert (first.folder / "input").read_bytes() == b"first input"  # never overwritten
    meta = json.loads((first.folder / "metadata.json").read_text())
    assert meta["times_seen"] == 2 and len(meta["inputs_seen"]) == 2
    assert first.folder.name == folder_name(found) == f"heap-use-after-free-kv__find-{found.stack_hash}"
    assert {p.name for p in first.folder.iterdir()} == {"input", "original", "report.txt", "metadata.json"}


def test_two_bugs_in_one_function_get_two_folders(tmp_path, target_code):
    store = CrashStore(tmp_path)
    overflow, text1 = finding("trusted-value-length.txt", target_code)
    abort, text2 = finding("abort-on-type.txt", target_code)
    assert overflow.function == abort.function == "parse_record"
    add(store, overflow, text1, b"a")
    add(store, abort, text2, b"b")
    assert len(store.crashes()) == 2


def _hammer(root: str, index: int, text: str, found) -> None:
    store = CrashStore(Path(root))
    for i in range(20):
        store.add(found, f"{index}-{i}".encode(), text, target="kv", variant="planted", fuzzer="records")


def test_concurrent_writers_lose_nothing(tmp_path, target_code):
    found, text = finding("count-overflow.txt", target_code)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_hammer, args=(str(tmp_path), n, text, found)) for n in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    (crash,) = CrashStore(tmp_path).crashes()
    assert crash.metadata["times_seen"] == 80


def test_interrupted_write_leaves_nothing_half_written(tmp_path, target_code, monkeypatch):
    store = CrashStore(tmp_path)
    kept, text = finding("strerror-oob.txt", target_code)
    add(store, kept, text, b"kept")
    lost, text2 = finding("misaligned-record.txt", target_code)

    def killed(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "rename", killed)
    with pytest.raises(KeyboardInterrupt):
        add(store, lost, text2, b"x")
    monkeypatch.undo()
    assert [c.stack_hash for c in store.crashes()] == [kept.stack_hash]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".") and p.is_dir()]
    (tmp_path / ".half-built-by-a-killed-campaign").mkdir()  # as a SIGKILL would leave it
    assert len(store.crashes()) == 1


def test_minimized_input_replaces_input_but_keeps_original(tmp_path, target_code):
    store = CrashStore(tmp_path)
    found, text = finding("utf8-lossy-tail.txt", target_code)
    crash, _ = add(store, found, text, b"long original input")
    store.set_minimized(crash, b"short")
    assert (crash.folder / "input").read_bytes() == b"short"
    assert (crash.folder / "original").read_bytes() == b"long original input"
    assert store.find(found.stack_hash).metadata["minimized"] is True
