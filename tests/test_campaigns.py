"""Campaigns as users run them: two jobs on the planted build keep going after the first crash
and store each distinct bug once; SIGINT or SIGTERM midway still gives the summary, every
finding stored so far is whole, and the working corpus holds only complete inputs."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.campaign import runner as campaign_module
from harness.campaign.registry import fuzzer
from harness.campaign.runner import STOP_GRACE_SECONDS, Campaign, CampaignConfig
from harness.engine.protocol import STOP_KILLED_NOTE
from harness.target.spec import resolve_target


def _stored(crashes: Path) -> list[Path]:
    return [p for p in crashes.iterdir() if p.is_dir() and (p / "metadata.json").exists()] if crashes.is_dir() else []


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_midway_keeps_every_stored_finding(tmp_path, signum):
    crashes, out = tmp_path / "crashes", tmp_path / "run"
    command = [sys.executable, "-m", "harness", "fuzz", "strings", "records", "--variant", "planted",
               "--time", "300", "--jobs", "2", "--crash-dir", str(crashes), "--out", str(out), "--json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not _stored(crashes) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.5)
    assert _stored(crashes), "no finding stored before the signal"
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=180)
    assert process.returncode == 1, stderr[-2000:]
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["stopped"] == signal.Signals(signum).name and summary["seconds"] < 250
    for folder in _stored(crashes):
        meta = json.loads((folder / "metadata.json").read_text())
        assert folder.name.endswith(meta["stack_hash"]) and (folder / "input").stat().st_size > 0
    stored_hashes = {json.loads((f / "metadata.json").read_text())["stack_hash"] for f in _stored(crashes)}
    assert {f["stack_hash"] for f in summary["findings"] if f["artifact"]} <= stored_hashes
    # a worker asked to stop finishes its input first, so every report has its input; only a
    # worker killed after the grace period (a loaded machine) can leave one without
    killed = any(STOP_KILLED_NOTE in p.read_text(errors="replace") for p in out.glob("*/worker-*.log"))
    assert killed or all(f["artifact"] for f in summary["findings"]), summary["findings"]
    leftovers = [p for p in crashes.rglob("*") if p.name.startswith(".") and p.name != ".lock"]
    assert leftovers == []  # no half-written temporary file
    for name in ("strings", "records"):
        corpus = out / name / "corpus"
        inputs = list(corpus.iterdir())
        # libFuzzer names a corpus file by the SHA-1 of its bytes: a torn write would not match
        assert all(hashlib.sha1(p.read_bytes()).hexdigest() == p.name for p in inputs)


@pytest.mark.slow
def test_two_job_planted_campaign_finds_and_stores_many_bugs_once_each(tmp_path):
    crashes, out = tmp_path / "crashes", tmp_path / "run"
    command = [sys.executable, "-m", "harness", "fuzz", "strings", "records", "--variant", "planted", "--time", "40",
               "--jobs", "2", "--seed", "1", "--crash-dir", str(crashes), "--out", str(out), "--json", "--no-minimize"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    catalogue = {(b.kind, b.function) for b in resolve_target(None).bugs}
    found = {(f["kind"], f["function"]) for f in summary["findings"]} & catalogue
    assert len(found) >= 3, summary["findings"]  # it did not stop at the first
    hashes = [f["stack_hash"] for f in summary["findings"]]
    assert len(hashes) == len(set(hashes)) and sum(f["count"] for f in summary["findings"]) > len(hashes)
    stored = [json.loads((p / "metadata.json").read_text())["stack_hash"] for p in _stored(crashes)]
    assert sorted(stored) == sorted(hashes)  # one folder per distinct finding


def test_merge_keeps_new_coverage_in_the_seed_corpus_and_the_next_campaign_starts_there(tmp_path):
    target = resolve_target(None)
    spec = dataclasses.replace(fuzzer("records", target), seeds=tmp_path / "seeds")

    def run(name: str) -> dict:
        config = CampaignConfig((spec,), target, "clean", tmp_path / name, seconds=None, runs=20_000, seed=1,
                                merge=True)
        return Campaign(config).run().to_dict()

    first = run("first")
    added = first["merged"]["records"]
    seeds = list((tmp_path / "seeds").iterdir())
    assert added == len(seeds) > 0
    assert all(hashlib.sha1(p.read_bytes()).hexdigest() == p.name for p in seeds)
    assert added <= first["fuzzers"]["records"]["corpus_size"]  # merge keeps only what adds coverage
    second = run("second")
    log = next((tmp_path / "second" / "records").glob("worker-*.log")).read_text(errors="replace")
    assert f"INFO: seed corpus: files: {added} " in log  # resumed from the merged corpus
    assert second["merged"]["records"] >= 0


def _deaf_worker(target):
    """The strings fuzzer's spec, run by a stand-in that ignores SIGINT and never ends."""
    return dataclasses.replace(fuzzer("strings", target), script=Path(__file__).parent / "helpers" / "fuzz_deaf.py")


def test_a_copy_the_worker_leaves_behind_neither_outlives_it_nor_holds_the_campaign(tmp_path, monkeypatch):
    """A worker that ends while its forked copy runs (a leak being traced): the copy is killed
    with it, so its output pipe closes and the campaign ends instead of waiting forever."""
    target = resolve_target(None)
    pid_file = tmp_path / "copy.pid"
    monkeypatch.setenv("FFIH_TEST_COPY_PID", str(pid_file))
    script = Path(__file__).parent / "helpers" / "fuzz_orphaning.py"
    spec = dataclasses.replace(fuzzer("strings", target), script=script)
    campaign = Campaign(CampaignConfig((spec,), target, "clean", tmp_path / "run", seconds=None, runs=1, seed=1,
                                       use_seeds=False))
    runner = threading.Thread(target=campaign.run, daemon=True)
    runner.start()
    runner.join(60)
    assert not runner.is_alive(), "the campaign waits for the output of a copy its worker left behind"
    copy = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{copy}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # killed; its parent, long gone, cannot reap it: init does
    state = Path(f"/proc/{copy}/stat").read_text().split()[2] if Path(f"/proc/{copy}").exists() else "gone"
    assert state in ("gone", "Z"), f"the copy still runs (state {state})"


def test_a_worker_deaf_to_sigint_is_killed_after_the_grace_period(tmp_path):
    """libFuzzer's SIGINT handler can deadlock in malloc; stopping must not wait forever."""
    target = resolve_target(None)
    config = CampaignConfig((_deaf_worker(target),), target, "clean", tmp_path / "run", seconds=600, seed=1,
                            use_seeds=False)
    campaign = Campaign(config)
    runner = threading.Thread(target=campaign.run)
    runner.start()
    deadline = time.monotonic() + 60
    while not campaign.processes and time.monotonic() < deadline:
        time.sleep(0.1)
    assert campaign.processes, "the worker never started"
    time.sleep(1)
    stopped = time.monotonic()
    campaign.request_stop("test")
    runner.join(STOP_GRACE_SECONDS + 30)
    assert not runner.is_alive(), "the campaign still waits for a worker that ignored SIGINT"
    assert time.monotonic() - stopped >= STOP_GRACE_SECONDS  # it was given its chance to exit
    assert campaign.result.stopped == "test"


def test_a_worker_hung_past_its_time_budget_is_killed(tmp_path, monkeypatch):
    """A worker deadlocked inside the sanitizer runtime never reaches -max_total_time's exit."""
    monkeypatch.setattr(campaign_module, "OVERTIME_SECONDS", 1.0)
    target = resolve_target(None)
    config = CampaignConfig((_deaf_worker(target),), target, "clean", tmp_path / "run", seconds=2, seed=1,
                            use_seeds=False, input_timeout=1)
    started = time.monotonic()
    Campaign(config).run()
    assert time.monotonic() - started < 60
    log = next((tmp_path / "run" / "strings").glob("worker-*.log")).read_text()
    assert "worker killed, still running 1 s after its time budget (hung)" in log


def _overflowing(target):
    """A fuzzer whose every input makes copy-value-off-by-one's recoverable overflow."""
    return dataclasses.replace(fuzzer("strings", target), dictionary=None,
                               script=Path(__file__).parent / "helpers" / "fuzz_overflow_each_input.py")


def test_a_recovered_report_is_recorded_while_its_worker_fuzzes_on(tmp_path):
    """Findings are recorded the moment the worker prints them, with their own time: a worker
    that goes on after a recovered report does not hide it until it exits."""
    target = resolve_target(None)
    bug = target.bug("copy-value-off-by-one")
    config = CampaignConfig((_overflowing(target),), target, bug.id, tmp_path / "run", seconds=120, seed=1,
                            use_seeds=False, crash_dir=tmp_path / "crashes")
    seen: list[tuple[dict, bool, int]] = []

    def on_event(kind: str, data: dict) -> None:
        if kind == "finding":
            running = any(p.poll() is None for p in campaign.processes)
            seen.append((data, running, campaign.live_stats()["distinct_findings"]))
            campaign.request_stop("test")

    campaign = Campaign(config, on_event)
    result = campaign.run()
    assert seen, "no finding event"
    data, worker_running, live_count = seen[0]
    assert (data["finding"].kind, data["finding"].function) == (bug.kind, bug.function)
    assert worker_running, "the finding was recorded only after its worker had exited"
    assert live_count == 1 and data["seconds"] < 60  # counted live; its time is when it was printed
    found = result.findings[data["stack_hash"]]
    assert found.stored is not None and found.count == 1  # stored at once, and not again at the worker's exit


def test_a_fuzzer_whose_every_worker_dies_at_once_says_so_in_stopped(tmp_path):
    target = resolve_target(None)
    bug = target.bug("copy-value-off-by-one")
    config = CampaignConfig((_overflowing(target),), target, bug.id, tmp_path / "run", seconds=300, seed=1,
                            use_seeds=False, recover=False)
    result = Campaign(config).run()
    (found,) = result.findings.values()
    assert (found.finding.kind, found.finding.function) == (bug.kind, bug.function)
    stats = result.stats[config.fuzzers[0].name]
    assert stats.stalled == found.finding.stack_hash and stats.workers == campaign_module.FAST_REPEAT_LIMIT
    assert result.stopped.startswith("stalled: every new worker died at once") and found.finding.stack_hash in \
        result.stopped
    assert result.to_dict()["fuzzers"][config.fuzzers[0].name]["stalled"] == found.finding.stack_hash


def test_minimizing_after_the_campaign_stays_within_its_own_bound(tmp_path):
    """A finding in the first seconds of a `--time 20` campaign: the campaign still fuzzes its 20 s,
    the finding's time is when it was found (not after minimizing), and minimizing afterwards
    takes at most --minimize-time, so the whole run ends within 20 s + 5 s + start-up and exit."""
    bug = resolve_target(None).bug("trusted-value-length")
    crashes, out = tmp_path / "crashes", tmp_path / "run"
    command = [sys.executable, "-m", "harness", "fuzz", "records", "--variant", bug.id, "--time", "20",
               "--minimize-time", "5", "--seed", "1", "--crash-dir", str(crashes), "--out", str(out), "--json"]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    took = time.monotonic() - started
    assert done.returncode == 1, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    found = [f for f in summary["findings"] if (f["kind"], f["function"]) == (bug.kind, bug.function)]
    assert found and found[0]["seconds_to_find"] < 20 and found[0]["stored"], summary["findings"]
    assert summary["seconds"] < 20 + 5, summary["seconds"]  # fuzzing kept its budget
    assert took < 20 + 5 + 40, f"{took:.0f} s in all"  # 40 s: interpreter start-up, build check, exit


@pytest.mark.parametrize(("script", "alone"), [("fuzz_overflow_each_input.py", True),
                                               ("fuzz_overflow_after_inputs.py", False)],
                         ids=["every-input", "50th-input-only"])
def test_each_finding_is_replayed_alone_and_one_that_needs_earlier_inputs_is_marked(tmp_path, script, alone):
    """After the campaign each distinct finding's input runs alone in a fresh process: one that
    crashed only after 49 other inputs in its worker is kept (stored) but marked not reproducible;
    its twin, crashing on every input, reproduces."""
    target = resolve_target(None)
    bug = target.bug("copy-value-off-by-one")
    spec = dataclasses.replace(fuzzer(str(Path(__file__).parent / "helpers" / script), target), dictionary=None)
    config = CampaignConfig((spec,), target, bug.id, tmp_path / "run", seconds=None, runs=200, seed=1,
                            use_seeds=False, crash_dir=tmp_path / "crashes")
    campaign = Campaign(config)
    result = campaign.run()
    (found,) = result.findings.values()
    assert (found.finding.kind, found.finding.function) == (bug.kind, bug.function)
    assert found.reproducible is None and found.stored is not None  # stored as found, before any replay
    assert campaign.check_reproducible() == (0 if alone else 1)
    assert found.reproducible is alone
    assert result.to_dict()["findings"][0]["reproducible"] is alone
