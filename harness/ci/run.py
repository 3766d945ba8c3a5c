"""`ffi-harness ci`: the sanitizer run a project adds to its pipeline.

Sanitized build, the project's hypothesis suites (pytest --sanitize), every fuzzer of the
target for a fixed number of executions, and a replay of the crash store. Findings already in
the crash store are *known*: they are reported (JUnit `skipped`, SARIF baselineState
"unchanged") but do not fail the run; anything else found is *new* and does. The run never
writes to the crash store: storing and minimizing new bugs is for `ffi-harness fuzz`.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness.atomic import write_atomic
from harness.campaign.registry import resolve_fuzzers
from harness.campaign.results import NOT_ALONE
from harness.campaign.runner import Campaign, CampaignConfig, CampaignFinding
from harness.ci.reports import junit_suites, sarif
from harness.errors import EXIT_FINDINGS, EXIT_OK, SetupError
from harness.store.crashstore import CrashStore
from harness.store.replay import ReplayResult, collect_cases, replay
from harness.target.build import build
from harness.target.spec import Target


@dataclass(frozen=True)
class CiConfig:
    """What the CI run covers and where it writes its reports."""

    target: Target
    variant: str
    crash_dir: Path
    reports: Path
    out_dir: Path
    runs: int = 20_000
    jobs: int = 1
    seed: int = 1
    pytest_paths: tuple[str, ...] = ()


@dataclass
class CiResult:
    """What the run found, split into new and known, and how the suites ended."""

    fuzzing: list[ReplayResult] = field(default_factory=list)
    replayed: list[ReplayResult] = field(default_factory=list)
    known: frozenset[str] = frozenset()
    pytest_status: int | None = None
    execs: dict[str, int] = field(default_factory=dict)
    stopped: str = ""  # why fuzzing ended early (SIGTERM), or "" when it ran its budget

    @property
    def results(self) -> list[ReplayResult]:
        """What fuzzing found, then what replaying the crash store did."""
        return self.fuzzing + self.replayed

    @property
    def new(self) -> list[ReplayResult]:
        """Findings of this run that the crash store does not hold."""
        return [r for r in self.results if r.verdict in ("reproduces", "changed") and r.stack_hash not in self.known]

    def exit_code(self) -> int:
        """1 for a new finding or a failing hypothesis suite, else 0."""
        return EXIT_FINDINGS if self.new or self.pytest_status not in (None, 0) else EXIT_OK

    def to_dict(self) -> dict[str, object]:
        return {"new": [r.to_dict() for r in self.new],
                "known": sorted({r.stack_hash for r in self.results if r.stack_hash in self.known}),
                "replayed": len(self.replayed), "pytest_status": self.pytest_status, "execs": self.execs,
                "stopped": self.stopped, "exit_code": self.exit_code()}


def as_result(found: CampaignFinding) -> ReplayResult:
    """A campaign finding in the shape the reports take."""
    f = found.finding
    alone = f" ({NOT_ALONE})" if found.reproducible is False else ""
    return ReplayResult(str(found.artifact or ""), "reproduces", f.kind, f.function, f.stack_hash, found.fuzzer,
                        f.title, None, f.file, f.line, found.seconds_to_find, f.summary + alone)


def run_ci(config: CiConfig) -> CiResult:
    """Run every stage, write reports/ci.xml and reports/ci.sarif; the result decides the exit."""
    target = config.target
    build(target, config.variant)
    store = CrashStore(config.crash_dir)
    result = CiResult()
    config.reports.mkdir(parents=True, exist_ok=True)
    if config.pytest_paths:
        command = [sys.executable, "-m", "pytest", "--sanitize", "-q", "-p", "no:cacheprovider",
                   f"--junitxml={config.reports / 'hypothesis.xml'}", *config.pytest_paths]
        result.pytest_status = subprocess.run(command, check=False).returncode
    fuzzers = tuple(resolve_fuzzers(["all"], target))
    campaign = CampaignConfig(fuzzers, target, config.variant, config.out_dir, seconds=None, runs=config.runs,
                              jobs=config.jobs, seed=config.seed, crash_dir=None)
    running = Campaign(campaign)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: running.request_stop("SIGTERM"))
    try:
        outcome = running.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if outcome.setup_error:
        raise SetupError(outcome.setup_error)
    if outcome.findings and outcome.stopped != "SIGTERM":
        running.check_reproducible()
    result.stopped = outcome.stopped
    result.fuzzing = [as_result(f) for f in outcome.findings.values()]
    result.execs = {name: stats.execs for name, stats in outcome.stats.items()}
    if config.crash_dir.is_dir():
        result.replayed = replay(collect_cases([config.crash_dir], target), target, config.variant, jobs=config.jobs)
    hashes = {r.stack_hash for r in result.results if r.stack_hash}
    result.known = frozenset(h for h in hashes if store.find(h) is not None)
    suites = {"fuzzing": result.fuzzing, "crash store replay": result.replayed}
    write_atomic(config.reports / "ci.xml", junit_suites(suites, result.known).encode())
    document = sarif(result.results, known=result.known)
    write_atomic(config.reports / "ci.sarif", json.dumps(document, indent=2).encode())
    return result
