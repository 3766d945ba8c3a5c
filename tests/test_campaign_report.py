"""A campaign's progress record (stats.jsonl) and its report (report.md, report.png) agree with
its JSON summary."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from harness.campaign_report import read_stats


def test_report_plot_and_stats_agree_with_the_summary(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "harness", "fuzz", "records", "strings", "--variant", "count-overflow",
               "--time", "8", "--stats-interval", "1", "--no-store", "--json", "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    rows = read_stats(out / "stats.jsonl")
    assert len(rows) >= 5 and [r["t"] for r in rows] == sorted(r["t"] for r in rows)
    last = rows[-1]
    assert last["distinct_findings"] == len(summary["findings"]) >= 1
    for name, stats in summary["fuzzers"].items():
        assert last["fuzzers"][name]["coverage"] == stats["coverage"] > 0
    # not a terminal: a plain progress line per interval, on stderr since stdout carries the JSON
    assert re.search(r"^\[\s*\d+\.\ds\] \d+ finding\(s\) \| records \d+ ex", done.stderr, re.M), done.stderr[-2000:]
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    assert "![coverage and findings over time](report.png)" in report
    assert all(f["replay"] in report for f in summary["findings"])
