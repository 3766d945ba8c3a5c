"""`ffi-harness ci`: new findings fail the run, findings already in the crash store do not,
and the JUnit and SARIF reports say which is which."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from xml.etree import ElementTree as ET

CFG_SPEC = Path(__file__).parent / "targets" / "cfgdoc" / "cfg.toml"
BUG = ["--target", str(CFG_SPEC), "--variant", "escape-truncated-nul"]


def ci(tmp_path: Path, *extra: str, runs: int = 20_000) -> tuple[int, dict, ET.Element, dict]:
    out_dir = tempfile.mkdtemp(prefix="ci-", dir=tmp_path)  # a fresh run folder, not the spec's runs/
    command = [sys.executable, "-m", "harness", "ci", *extra, "--runs", str(runs), "--crash-dir",
               str(tmp_path / "crashes"), "--reports", str(tmp_path / "reports"), "--out", out_dir, "--json"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    junit = ET.parse(tmp_path / "reports" / "ci.xml").getroot()
    sarif = json.loads((tmp_path / "reports" / "ci.sarif").read_text())
    return out.returncode, summary, junit, sarif


def test_new_finding_fails_and_a_stored_one_does_not(tmp_path):
    code, summary, junit, sarif = ci(tmp_path, *BUG)
    assert code == 1 and [(n["kind"], n["function"]) for n in summary["new"]] == [("heap-buffer-overflow",
                                                                                 "cfg_escape")]
    failure = junit.find("testsuite[@name='fuzzing']/testcase/failure")
    assert failure is not None and failure.get("type") == "heap-buffer-overflow"
    assert [r["baselineState"] for r in sarif["runs"][0]["results"]] == ["new"]
    assert not (tmp_path / "crashes").exists()  # ci never writes the crash store

    stored = subprocess.run([sys.executable, "-m", "harness", "fuzz", "sequence", *BUG, "--runs", "20000",
                             "--crash-dir", str(tmp_path / "crashes"), "--out", str(tmp_path / "fuzz"),
                             "--no-minimize"], capture_output=True, text=True, timeout=900)
    assert stored.returncode == 1, stored.stderr[-2000:]
    code, summary, junit, sarif = ci(tmp_path, *BUG)
    assert code == 0 and summary["new"] == [] and len(summary["known"]) == 1, summary
    assert junit.find(".//failure") is None
    assert junit.find("testsuite[@name='crash store replay']/testcase/skipped") is not None
    assert {r["baselineState"] for r in sarif["runs"][0]["results"]} == {"unchanged"}


def test_failing_hypothesis_suite_fails_the_run(tmp_path):
    suite = tmp_path / "test_property.py"
    suite.write_text("from hypothesis import given, strategies as st\n\n"
                     "@given(st.integers())\ndef test_small(n):\n    assert n < 10\n")
    # the fuzzing stage only has to run: the verdict asserted here is pytest's
    code, summary, _, _ = ci(tmp_path, "--target", str(CFG_SPEC), "--pytest", str(suite), runs=500)
    assert code == 1 and summary["new"] == [] and summary["pytest_status"] == 1
    assert (tmp_path / "reports" / "hypothesis.xml").is_file()
