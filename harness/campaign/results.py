"""What a campaign is asked to do and what it found: its config, per-fuzzer statistics, distinct
findings and the JSON summary (`ffi-harness fuzz --json`, summary.json)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.campaign.registry import FuzzerSpec
from harness.target.spec import Target
from harness.triage import Finding


@dataclass(frozen=True)
class CampaignConfig:
    """What to fuzz and for how long. Exactly one of seconds / runs bounds each fuzzer."""

    fuzzers: tuple[FuzzerSpec, ...]
    target: Target
    variant: str
    out_dir: Path
    seconds: float | None = 60.0
    runs: int | None = None
    jobs: int = 1
    seed: int = 1
    input_timeout: int = 10
    rss_limit_mb: int = 2048
    max_len: int | None = None
    use_seeds: bool = True
    extra_args: tuple[str, ...] = ()
    crash_dir: Path | None = None  # a CrashStore root: every finding stored (minimize_stored() after the run)
    # end once a finding matches one of these (kind, function or None = any)
    stop_on: tuple[tuple[str, str | None], ...] = ()
    merge: bool = False  # at the end, merge new coverage into each fuzzer's seed corpus (-merge=1)
    recover: bool = True  # ASan reports what it can recover from and fuzzing goes on (RecoveredReports)


@dataclass
class FuzzerStats:
    """Running totals of one fuzzer over all its workers."""

    execs: int = 0
    seconds: float = 0.0
    coverage: int = 0
    features: int = 0
    corpus_size: int = 0
    workers: int = 0
    findings: int = 0
    unreproducible: int = 0  # reports after a recovered memory error that did not replay alone
    stalled: str = ""  # the stack hash every new worker died on at once, when that stopped the fuzzer

    @property
    def exec_per_s(self) -> float:
        return self.execs / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, float | int]:
        return {"execs": self.execs, "exec_per_s": round(self.exec_per_s, 1), "coverage": self.coverage,
                "features": self.features, "corpus_size": self.corpus_size, "workers": self.workers,
                "seconds": round(self.seconds, 2), "unreproducible": self.unreproducible, "stalled": self.stalled}


# what a report says of a finding whose input did not reproduce it alone (reproducible False)
NOT_ALONE = "did not reproduce alone: it needed the inputs its worker ran before"


@dataclass
class CampaignFinding:
    """A distinct finding of the campaign, with where and when it was first seen."""

    finding: Finding
    fuzzer: str
    artifact: Path | None
    report: str
    seconds_to_find: float
    count: int = 1
    stored: Path | None = None
    new: bool = False  # a new folder of the crash store (not a bug stored by an earlier run)
    replay: str | None = None  # the complete command that replays it
    # its input replayed alone after the campaign (Campaign.check_reproducible): True (the same
    # finding), False (quiet or another finding: it depended on the inputs its worker ran before),
    # None (not checked: no input, or the replay could not run)
    reproducible: bool | None = None

    def to_dict(self) -> dict[str, object]:
        f = self.finding
        return {"kind": f.kind, "function": f.function, "file": f.file, "line": f.line,
                "stack_hash": f.stack_hash, "artifact": str(self.artifact) if self.artifact else None,
                "fuzzer": self.fuzzer, "seconds_to_find": round(self.seconds_to_find, 2),
                "title": f.title, "access": f.access, "size": f.size, "count": self.count,
                "summary": f.summary, "stored": str(self.stored) if self.stored else None,
                "replay": self.replay, "reproducible": self.reproducible}


@dataclass
class CampaignResult:
    """Everything a campaign found and measured."""

    config: CampaignConfig
    stats: dict[str, FuzzerStats] = field(default_factory=dict)
    findings: dict[str, CampaignFinding] = field(default_factory=dict)
    seconds: float = 0.0
    stopped: str = ""
    setup_error: str = ""  # a fuzzer that could not start: the campaign stopped at once
    merged: dict[str, int] = field(default_factory=dict)  # fuzzer -> inputs added to its seed corpus

    def to_dict(self) -> dict[str, object]:
        ordered = sorted(self.findings.values(), key=lambda f: f.seconds_to_find)
        return {"target": self.config.target.name, "variant": self.config.variant,
                "seconds": round(self.seconds, 2), "out_dir": str(self.config.out_dir),
                "findings": [f.to_dict() for f in ordered],
                "fuzzers": {name: s.to_dict() for name, s in self.stats.items()},
                "stopped": self.stopped, "setup_error": self.setup_error,
                "checks_off": list(self.config.target.checks_off),
                "merged": self.merged}
