"""Replay: every input isolated with a verdict, hangs and memory blow-ups included, and the
crash corpus as a regression suite (planted: all reproduce; clean: none do)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from harness.ci.reports import junit_xml, sarif
from harness.store.replay import collect_cases, replay
from harness.target.spec import resolve_target

MISBEHAVING = str(Path(__file__).parent / "helpers" / "fuzz_misbehaving.py")


def ffi_harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=900)


def test_hang_and_memory_blowup_do_not_stop_the_others(tmp_path, target):
    inputs = {"a-hang": b"hang", "b-grow": b"grow forever", "c-uaf": b"uaf", "d-quiet": b"nothing"}
    for name, data in inputs.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "e-dangling").symlink_to(tmp_path / "missing")
    cases = collect_cases([tmp_path], target, MISBEHAVING)
    results = {Path(r.input).name: r for r in replay(cases, target, "clean", jobs=2, timeout=5, rss_limit_mb=300)}
    assert (results["a-hang"].verdict, results["a-hang"].kind) == ("reproduces", "timeout")
    assert (results["b-grow"].verdict, results["b-grow"].kind) == ("reproduces", "out-of-memory")
    assert (results["c-uaf"].kind, results["c-uaf"].function) == ("heap-use-after-free", "kv_count")
    assert results["d-quiet"].verdict == "fixed"
    assert results["e-dangling"].verdict == "error" and "cannot read" in results["e-dangling"].detail


def test_crash_from_another_target_is_an_error(tmp_path, target):
    folder = tmp_path / "heap-use-after-free-x-0123456789abcdef"
    folder.mkdir()
    (folder / "input").write_bytes(b"x")
    (folder / "metadata.json").write_text(json.dumps({"target": "zlib", "fuzzer": "strings", "stack_hash": "0"}))
    (result,) = replay(collect_cases([tmp_path], target), target, "clean")
    assert result.verdict == "error" and "from target 'zlib'" in result.detail


def test_unknown_fuzzer_is_a_usage_error():
    out = ffi_harness("replay", ".", "--fuzzer", "nope")
    assert out.returncode == 2 and "unknown fuzzer 'nope'" in out.stderr


def stored_crashes() -> list[Path]:
    crashes = resolve_target(None).crash_dir
    return [p for p in crashes.iterdir() if (p / "metadata.json").exists()] if crashes.is_dir() else []


@pytest.mark.skipif(not stored_crashes(), reason="corpus/crashes is empty")
def test_crash_corpus_reproduces_on_planted_and_is_fixed_on_clean(tmp_path):
    junit, report = tmp_path / "replay.xml", tmp_path / "replay.sarif"
    planted = ffi_harness("replay", "--variant", "planted", "--json", "--junit", str(junit),
                          "--sarif", str(report))
    results = json.loads(planted.stdout.strip().splitlines()[-1])["results"]
    assert planted.returncode == 1
    assert len(results) == len(stored_crashes())
    assert all(r["verdict"] == "reproduces" for r in results), [r for r in results if r["verdict"] != "reproduces"]
    suite = ET.parse(junit).getroot().find("testsuite")
    assert int(suite.get("failures")) == len(results)
    log = json.loads(report.read_text())
    assert log["version"] == "2.1.0" and len(log["runs"][0]["results"]) == len(results)
    assert all(r["locations"][0]["physicalLocation"]["region"]["startLine"] > 0 for r in log["runs"][0]["results"])
    clean = ffi_harness("replay", "--variant", "clean", "--json")
    assert clean.returncode == 0
    assert {r["verdict"] for r in json.loads(clean.stdout.strip().splitlines()[-1])["results"]} == {"fixed"}


def test_junit_and_sarif_of_mixed_results(tmp_path, target):
    crash = tmp_path / "uaf"
    crash.write_bytes(b"uaf")
    shutil.copy(crash, tmp_path / "also-uaf")
    (tmp_path / "quiet").write_bytes(b"-")
    results = replay(collect_cases([tmp_path], target, MISBEHAVING), target, "clean")
    root = ET.fromstring(junit_xml(results))
    assert root.find("testsuite").get("failures") == "2" and len(root.iter("testcase").__next__().attrib) >= 2
    log = sarif(results)
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["heap-use-after-free"] * 2
