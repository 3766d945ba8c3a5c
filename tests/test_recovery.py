"""Campaign workers keep going past the sanitizer reports ASan can recover from (halt_on_error=0
on code built with -fsanitize-recover=address) and past traced leaks, so one shallow bug does
not mask the others of its surface; each input's first report is its finding, and after a
recovered memory error every finding is verified by replaying its input alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.campaign import Campaign, CampaignConfig
from harness.fuzzers import resolve_fuzzers
from harness.fuzzing import RECOVERED_NOTE
from harness.target import resolve_target
from harness.worker_log import reported_inputs

LOG = Path(__file__).parent / "fixtures" / "logs" / "recovered-strings-worker.log"
TARGET = resolve_target(None)


def _campaign(tmp_path: Path, surface: str, variant: str, runs: int, **options: object) -> Campaign:
    config = CampaignConfig(tuple(resolve_fuzzers([surface])), TARGET, variant, tmp_path / "run",
                            seconds=None, runs=runs, seed=7, **options)  # type: ignore[arg-type]
    campaign = Campaign(config)
    campaign.run()
    return campaign


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


@pytest.mark.slow
def test_one_planted_campaign_finds_every_bug_of_its_surface(tmp_path):
    """Every strings bug is compiled in: the shallowest (kv_putn, at almost every input with a
    NUL in a key) used to end every worker at once. Recorded findings are only what replays
    alone: the catalogued bugs, and wrong results the driver's contract checks see first."""
    campaign = _campaign(tmp_path, "strings", "planted", 60_000)
    findings = [f.finding for f in campaign.result.findings.values()]
    catalogue = {(b.kind, b.function) for b in TARGET.bugs if b.surface == "strings"}
    assert catalogue <= {(f.kind, f.function) for f in findings}, [f.title for f in findings]
    others = [f for f in findings if (f.kind, f.function) not in catalogue]
    assert all(f.sanitizer == "Python" and f.signature.endswith("ContractViolation") for f in others), \
        [f.title for f in others]  # consequences of a corrupted process were replayed away
    stats = campaign.result.stats["strings"]
    assert stats.execs >= 60_000 and stats.workers < 20, stats


@pytest.mark.slow
def test_a_write_out_of_bounds_on_the_stack_ends_the_worker(tmp_path):
    """Frames past the redzone may be overwritten: the worker stores the input and ends."""
    campaign = _campaign(tmp_path, "errors", "error-format-overflow", 30_000,
                         stop_on=("stack-buffer-overflow", "format_message"))
    found = {(f.finding.kind, f.finding.function) for f in campaign.result.findings.values()}
    assert ("stack-buffer-overflow", "format_message") in found
    logs = "".join(p.read_text() for p in (tmp_path / "run" / "errors").glob("worker-*.log"))
    assert "wrote out of bounds on the stack: the process ends" in logs


@pytest.mark.slow
def test_a_traced_leak_does_not_end_a_campaign_worker(tmp_path):
    campaign = _campaign(tmp_path, "ownership", "replace-leak", 40_000)
    found = {(f.finding.kind, f.finding.function) for f in campaign.result.findings.values()}
    assert ("leak", "kv__dup_value") in found
    stats = campaign.result.stats["ownership"]
    assert stats.workers == 1 and stats.execs >= 40_000, stats  # one worker ran the whole budget
