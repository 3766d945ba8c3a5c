"""Campaign workers keep going past the sanitizer reports ASan can recover from (halt_on_error=0
on code built with -fsanitize-recover=address) and past traced leaks, so one shallow bug does
not mask the others of its surface; each input's first report is its finding, and after a
recovered memory error every finding is verified by replaying its input alone."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from harness.campaign.registry import resolve_fuzzers
from harness.campaign.runner import Campaign, CampaignConfig
from harness.campaign.worker_log import reported_inputs
from harness.engine.protocol import LEAK_IN_CONTEXT, RECOVERED_NOTE
from harness.store.replay import ReplayCase, replay
from harness.target.spec import resolve_target
from harness.triage import Finding

LOG = Path(__file__).parent / "fixtures" / "logs" / "recovered-strings-worker.log"
INPUTS = Path(__file__).parent / "fixtures" / "inputs"
TARGET = resolve_target(None)


def _campaign(tmp_path: Path, surface: str, variant: str, runs: int, **options: object) -> Campaign:
    config = CampaignConfig(tuple(resolve_fuzzers([surface], TARGET)), TARGET, variant, tmp_path / "run",
                            seconds=None, runs=runs, seed=7, **options)  # type: ignore[arg-type]
    campaign = Campaign(config)
    campaign.run()
    return campaign


def test_a_leak_traced_while_an_input_crashes_takes_nothing_from_that_input():
    """A callbacks worker (ci on the planted build): an input's recovered use-after-free in
    sub_release, then a leak traced by the forked copy printed while that input ended, then the
    input's Python exception and libFuzzer's 'fuzz target exited'. The crash was recorded as
    'fuzz-target-exited in __run_exit_handlers' (its use-after-free went to the leak) and ci
    called a known bug NEW; each now gets its own report."""
    # recorded in a checkout at /work/main: its frames are this checkout's target code
    root = Path(__file__).resolve().parent.parent
    text = (LOG.parent / "traced-leak-while-crashing.log").read_text().replace("/work/main/", f"{root}/")
    inputs = reported_inputs(text, TARGET.code)
    assert [(r.finding.kind, r.finding.function, r.artifact.name.split("-")[0]) for r in inputs] == [
        ("leak", "kv__dup_value", "leak"),
        ("heap-use-after-free", "sub_release", "crash"),
    ], [r.finding.title for r in inputs]
    assert "fuzz target exited" in inputs[1].report and "IndexError" in inputs[1].report


def test_a_worker_log_gives_one_finding_per_input():
    """A real strings worker on the planted build (halt_on_error=0): a contract violation, then
    inputs whose recovered overflow was followed by consequences in the same input (a wrong
    result, a second report), then a fatal SEGV."""
    inputs = reported_inputs(LOG.read_text(), TARGET.code)
    assert [(r.finding.kind, r.finding.function) for r in inputs] == [
        ("missing-nul", "op_borrowed"),
        ("heap-buffer-overflow", "kv_putn"),  # its wrong-result violation (same input) is not a finding
        ("heap-buffer-overflow", "kv_get_cstr"),  # the same input's second report is not either
        ("heap-buffer-overflow", "kv_get_utf8_lossy"),
        ("heap-buffer-overflow", "kv_copy_value"),
        ("segv", "kv_putn"),
    ]
    assert [r.artifact.name.split("-")[0] for r in inputs if r.artifact] == \
        ["contract", "contract", "crash", "crash", "crash", "crash"]
    assert all("ERROR: AddressSanitizer" not in r.report for r in inputs[:1])  # reports do not run together
    # the note that a report was recovered follows the input's consequences: it stays with the
    # input, which is how the campaign knows where verification by replay starts
    assert [RECOVERED_NOTE in r.report for r in inputs] == [False, True, True, True, True, False]


def _explained(campaign: Campaign, findings: list[Finding], fuzzer: str) -> dict[str, str]:
    """For each finding: the planted bug whose build alone reproduces it (same kind and function)
    when its input is replayed, or why none does. The clean build must reproduce none of them.
    A leak the worker traced to an input that leaked only after the inputs before it (the
    library's state from them: kv's last error buffer) cannot replay alone: it is explained by
    the catalogued leak of its function, the one bug whose code path leaks there."""
    by_hash = {f.finding.stack_hash: f for f in campaign.result.findings.values()}
    cases = [ReplayCase(by_hash[f.stack_hash].artifact, fuzzer) for f in findings]
    clean = replay(cases, TARGET, "clean", leaks="all")
    assert all(r.verdict == "fixed" for r in clean), [(r.input, r.title) for r in clean if r.verdict != "fixed"]
    explained: dict[str, str] = {}
    for bug in TARGET.bugs:
        waiting = [(f, c) for f, c in zip(findings, cases, strict=True) if f.stack_hash not in explained]
        if not waiting:
            break
        results = replay([c for _, c in waiting], TARGET, bug.id, leaks="all")
        for (finding, _), result in zip(waiting, results, strict=True):
            if (result.kind, result.function) == (finding.kind, finding.function):
                explained[finding.stack_hash] = bug.id
    leaks = {signature: b.id for b in TARGET.bugs if b.kind == "leak" for signature in b.signatures}
    for finding in findings:
        if finding.stack_hash not in explained and LEAK_IN_CONTEXT in by_hash[finding.stack_hash].report:
            explained[finding.stack_hash] = leaks.get((finding.kind, finding.function), "an uncatalogued leak")
    return {f.title: explained.get(f.stack_hash, "no single planted bug reproduces it") for f in findings}


@pytest.mark.slow
def test_one_planted_campaign_finds_every_bug_of_its_surface(tmp_path):
    """Every planted bug is compiled in: the shallowest strings bug (kv_putn, at almost every
    input with a NUL in a key) used to end every worker at once. Besides the catalogued strings
    bugs, the campaign may record what the other surfaces' bugs do through the strings fuzzer's
    calls (a replaced value leaking from kv_put_owned) and wrong results or missing NULs the
    driver sees after a bug - which of them appear depends on timing, so the test proves each is
    explained: its input alone reproduces it on the build of one planted bug, and is quiet on the
    clean build. Consequences of a corrupted process are replayed away before they are recorded."""
    campaign = _campaign(tmp_path, "strings", "planted", 60_000)
    findings = [f.finding for f in campaign.result.findings.values()]
    catalogue = {(b.kind, b.function) for b in TARGET.bugs if b.surface == "strings"}
    assert catalogue <= {(f.kind, f.function) for f in findings}, [f.title for f in findings]
    explanations = _explained(campaign, findings, "strings")
    assert all(bug in {b.id for b in TARGET.bugs} for bug in explanations.values()), explanations
    stats = campaign.result.stats["strings"]
    assert stats.execs >= 60_000 and stats.workers < 20, stats


@pytest.mark.slow
def test_a_write_out_of_bounds_on_the_stack_ends_the_worker(tmp_path):
    """Frames past the redzone may be overwritten: the worker stores the input and ends."""
    campaign = _campaign(tmp_path, "errors", "error-format-overflow", 30_000,
                         stop_on=(("stack-buffer-overflow", "format_message"),))
    found = {(f.finding.kind, f.finding.function) for f in campaign.result.findings.values()}
    assert ("stack-buffer-overflow", "format_message") in found
    logs = "".join(p.read_text() for p in (tmp_path / "run" / "errors").glob("worker-*.log"))
    assert "wrote out of bounds on the stack: the process ends" in logs


def test_a_traced_leak_does_not_end_a_campaign_worker(tmp_path, monkeypatch):
    """A leaking input among the seeds is traced at the first leak check (0.2 s in) and the worker
    goes on fuzzing to its budget: 20k executions, a few seconds at the ~5k/s of this fuzzer and
    still past the first check at a tenth of that on a loaded machine. The leak is recorded with
    its kind and function; no worker needs a restart for it."""
    monkeypatch.setenv("FFI_HARNESS_LEAK_INTERVAL", "0.2")
    seeds = tmp_path / "run" / "ownership" / "corpus"
    seeds.mkdir(parents=True)
    shutil.copy(INPUTS / "ownership-replace-leak", seeds / "leaking")
    campaign = _campaign(tmp_path, "ownership", "replace-leak", 20_000)
    found = {(f.finding.kind, f.finding.function) for f in campaign.result.findings.values()}
    assert ("leak", "kv__dup_value") in found
    stats = campaign.result.stats["ownership"]
    assert stats.execs >= 20_000, stats
    logs = [p.read_text(errors="replace") for p in (tmp_path / "run" / "ownership").glob("worker-*.log")]
    tracing = [log for log in logs if "leak traced to one input" in log]
    assert tracing, "no worker traced the leak"
    for log in tracing:
        # the copy traces while the worker fuzzes on (its report may come only at the end):
        # the worker's executions went past the check that found the leak
        at_check = int(re.search(r"leak traced to one input \((\d+) executions", log)[1])
        final = int(re.findall(r"^stat::number_of_executed_units: (\d+)", log, re.M)[-1])
        assert final > at_check, (at_check, final)
