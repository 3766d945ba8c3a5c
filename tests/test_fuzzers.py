"""The fuzzers, in bounded seeded runs: quiet on the clean build for 100k executions each,
each planted C bug found by the fuzzer of its surface with the catalogued kind and function,
binding bugs by the binding fuzzer, leak checks still alive after a million executions, and
the `ffi-harness fuzz --json` contract. Times are benchmark figures (bench/), not asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.campaign.registry import fuzzer, resolve_fuzzers
from harness.campaign.runner import Campaign, CampaignConfig
from harness.runtime.sanitizers import child_environment
from harness.target.spec import resolve_target
from harness.triage import parse_report

from commands import assert_replay_command_reproduces

TARGET = resolve_target(None)
BUGS = TARGET.bugs
INPUTS = Path(__file__).parent / "fixtures" / "inputs"


def campaign(tmp_path: Path, names: list[str], variant: str, runs: int, *, jobs: int = 1,
             stop_on: tuple[tuple[str, str], ...] = ()) -> Campaign:
    config = CampaignConfig(tuple(resolve_fuzzers(names, TARGET)), TARGET, variant,
                            tmp_path / "run", seconds=None, runs=runs, jobs=jobs, seed=7, stop_on=stop_on)
    run = Campaign(config)
    run.run()
    return run


@pytest.mark.slow
def test_every_fuzzer_is_quiet_on_the_clean_build(tmp_path):
    run = campaign(tmp_path, ["all"], "clean", 100_000, jobs=2)
    assert not run.result.findings, [f.finding.title for f in run.result.findings.values()]
    for name in TARGET.fuzzers:
        assert run.result.stats[name].execs >= 100_000, (name, run.result.stats[name])


@pytest.mark.slow
@pytest.mark.parametrize("bug", BUGS, ids=[b.id for b in BUGS])
def test_fuzzer_of_the_surface_finds_the_bug(tmp_path, bug):
    run = campaign(tmp_path, [bug.surface], bug.id, 3_000_000, stop_on=bug.signatures)
    found = [(f.finding.kind, f.finding.function) for f in run.result.findings.values()]
    assert any(bug.matches(kind, function) for kind, function in found), found


def _leak_traced_late(tmp_path: Path, inject_at: int, runs: str) -> None:
    """Run the ownership fuzzer on the replace-leak build with a leaking input injected as
    execution inject_at; the leak must be traced to a leak-<sha1> artifact that replays as it."""
    leaking = INPUTS / "ownership-replace-leak"
    env = child_environment()
    env.update({"FFI_HARNESS_TARGET": str(TARGET.spec_path), "FFI_HARNESS_VARIANT": "replace-leak",
                "FFI_HARNESS_INJECT": f"{leaking}@{inject_at}",
                "FFI_HARNESS_LEAK_INTERVAL": "1"})
    out = subprocess.run([sys.executable, str(fuzzer("ownership", TARGET).script), runs, "-seed=3",
                          f"-artifact_prefix={tmp_path}/"], capture_output=True, text=True, env=env,
                         timeout=900)
    assert f"injected input at execution {inject_at}" in out.stderr
    assert "ERROR: LeakSanitizer" in out.stderr and "kv__dup_value" in out.stderr, out.stderr[-3000:]
    # the culprit is the injected input or a later mutation of it that leaks the same way; the
    # fuzzer may also make the bug leak a value another call allocated (a snapshot load's, in
    # parse_record): each leak stack is traced to an artifact of its own
    replays = {}
    for artifact in tmp_path.glob("leak-*"):
        again = subprocess.run([sys.executable, str(fuzzer("ownership", TARGET).script), str(artifact)],
                               capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
        findings = parse_report(again.stdout + again.stderr, resolve_target(None).code)
        replays[artifact.name] = [(f.kind, f.function) for f in findings]
    assert [("leak", "kv__dup_value")] in replays.values(), replays
    bug = TARGET.bug("replace-leak")
    assert all(len(found) == 1 and bug.matches(*found[0]) for found in replays.values()), replays


def test_leak_check_alive_after_libfuzzer_gives_up_on_leaks(tmp_path):
    """libFuzzer's own per-input leak check switches itself off after 1000 inputs whose malloc
    and free counts differ (all of them, in CPython): an input injected 20x past that point is
    still traced. -atheris_runs ends the run cleanly, so the last check runs even when the machine
    is too busy for a periodic one to come first."""
    _leak_traced_late(tmp_path, 20_001, "-atheris_runs=25000")


@pytest.mark.slow
def test_leak_check_alive_after_a_million_executions(tmp_path):
    """The periodic check itself, a million executions in: 100k more inputs after the injected
    one (at ~10k exec/s, ~10 s of periodic checks) and -runs, which ends with _exit."""
    _leak_traced_late(tmp_path, 1_000_001, "-runs=1100000")


def test_fuzz_json_follows_the_design_contract(tmp_path):
    out = subprocess.run([sys.executable, "-m", "harness", "fuzz", "records", "--variant", "count-overflow",
                          "--runs", "20000", "--json", "--out", str(tmp_path / "run"),
                          "--crash-dir", str(tmp_path / "crashes"), "--no-minimize"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 1, out.stderr[-2000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    finding = next(f for f in summary["findings"] if f["kind"] == "signed-integer-overflow")
    assert {"kind", "function", "file", "line", "stack_hash", "artifact", "fuzzer",
            "seconds_to_find"} <= set(finding)
    assert finding["function"] == "read_header" and Path(finding["artifact"]).exists()
    stored = Path(finding["stored"])
    assert stored.parent == tmp_path / "crashes" and (stored / "metadata.json").exists()
    stats = summary["fuzzers"]["records"]
    assert {"execs", "exec_per_s", "coverage", "corpus_size"} <= set(stats) and stats["execs"] > 0
    assert_replay_command_reproduces(finding["replay"], tmp_path)
