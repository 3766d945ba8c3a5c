"""A campaign's progress record (stats.jsonl), its progress lines and its report (report.md,
report.png): formatting as units on a made-up campaign, and one real campaign (slow) whose
stats, lines and report agree with its JSON summary."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from harness.campaign.progress import Reporter, line
from harness.campaign.report import markdown, plot, read_stats, write_report

PNG = b"\x89PNG\r\n\x1a\n"
LINE = re.compile(r"^\[\s*\d+\.\ds\] \d+ finding\(s\) \| records \d+ ex \d+/s cov \d+ corp \d+", re.M)


def _row(t: float, execs: int, findings: int) -> dict:
    return {"t": t, "distinct_findings": findings,
            "fuzzers": {"records": {"execs": execs, "exec_per_s": execs / max(t, 1e-3), "coverage": 10 + findings,
                                    "corpus": 3, "findings": findings}}}


SUMMARY = {"target": "kv", "variant": "count-overflow", "seconds": 8.2, "stopped": "",
           "fuzzers": {"records": {"execs": 1234, "exec_per_s": 150.5, "coverage": 42, "corpus_size": 7}},
           "findings": [{"seconds_to_find": 1.25, "fuzzer": "records", "count": 3,
                         "title": "signed-integer-overflow in read_header", "reproducible": True,
                         "replay": "ffi-harness replay corpus/crashes/x --fuzzer records --variant count-overflow"}],
           "checks_off": ["undefined behaviour inside the library (no UBSan)"]}


def test_markdown_shows_the_table_the_findings_with_replay_commands_and_checks_off():
    text = markdown(SUMMARY, "report.png")
    assert text.startswith("# Campaign on kv (count-overflow)\n\n8 s, stopped: budget spent\n")
    assert "| records | 1234 | 150 | 42 | 7 |" in text
    assert "![coverage and findings over time](report.png)" in text
    assert "| 1.2 s | records | signed-integer-overflow in read_header | 3 | reproduces | " \
           "`ffi-harness replay corpus/crashes/x --fuzzer records --variant count-overflow` |" in text
    assert "Check off (binary-only target): undefined behaviour inside the library (no UBSan)" in text
    flaky = {**SUMMARY, "findings": [{**SUMMARY["findings"][0], "reproducible": False}]}
    assert "| 3 | **did not reproduce** |" in markdown(flaky, None)
    assert "0 distinct finding(s)" in markdown({**SUMMARY, "findings": [], "stopped": "SIGINT"}, None)
    assert "stopped: SIGINT" in markdown({**SUMMARY, "stopped": "SIGINT"}, None)


def test_report_files_from_stats_with_a_torn_last_line(tmp_path):
    rows = [_row(1.0, 100, 0), _row(2.0, 250, 1)]
    (tmp_path / "stats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"t": 3.0, "distinct')
    assert read_stats(tmp_path / "stats.jsonl") == rows
    report = write_report(tmp_path, SUMMARY)
    assert (tmp_path / "report.png").read_bytes()[:8] == PNG
    assert "](report.png)" in report.read_text()
    assert plot([], tmp_path / "empty.png").read_bytes()[:8] == PNG


def test_progress_line_and_reporter_rows(tmp_path):
    assert LINE.match(line(_row(12.34, 5000, 2)))
    assert line(_row(12.34, 5000, 2)).startswith("[   12.3s] 2 finding(s) | records 5000 ex 405/s cov 12 corp 3")
    rows = iter(_row(t / 10, 100 * t, t // 3) for t in range(1, 10_000))
    campaign = SimpleNamespace(live_stats=lambda: next(rows), config=SimpleNamespace(seconds=30.0))
    stream = io.StringIO()
    with Reporter(campaign, tmp_path / "stats.jsonl", stream, interval=0.02):  # type: ignore[arg-type]
        time.sleep(0.3)
    written = read_stats(tmp_path / "stats.jsonl")
    assert len(written) >= 3 and [r["t"] for r in written] == sorted(r["t"] for r in written)
    printed = stream.getvalue().splitlines()
    assert len(printed) == len(written) - 1  # a line per interval; the final row is only recorded
    assert all(LINE.match(text) for text in printed)


@pytest.mark.slow
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
    assert LINE.search(done.stderr), done.stderr[-2000:]
    assert (out / "report.png").read_bytes()[:8] == PNG
    report = (out / "report.md").read_text()
    assert "![coverage and findings over time](report.png)" in report
    assert all(f["replay"] in report for f in summary["findings"])
