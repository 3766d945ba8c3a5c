"""The plain-bytes baselines of bench/plain/ are real fuzzers: quiet on the clean build, and
able to find a bug, so time_to_find's `plain` column compares drivers, not broken scripts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.campaign.registry import fuzzer
from harness.campaign.runner import Campaign, CampaignConfig
from harness.target.spec import resolve_target

PLAIN = Path(__file__).resolve().parent.parent / "bench" / "plain"
SURFACES = sorted(p.stem for p in PLAIN.glob("*.py"))


def plain_campaign(tmp_path: Path, surface: str, variant: str, runs: int,
                   stop_on: tuple[tuple[str, str], ...] = ()) -> Campaign:
    target = resolve_target(None)
    spec = dataclasses.replace(fuzzer(surface, target), script=PLAIN / f"{surface}.py", dictionary=None)
    run = Campaign(CampaignConfig((spec,), target, variant, tmp_path / surface, seconds=None, runs=runs,
                                  seed=7, use_seeds=False, stop_on=stop_on))
    run.run()
    return run


def test_every_surface_has_a_plain_baseline():
    assert SURFACES == ["callbacks", "errors", "ownership", "records", "strings"]


@pytest.mark.parametrize("surface", SURFACES)
def test_plain_baseline_is_quiet_on_the_clean_build(tmp_path, surface):
    run = plain_campaign(tmp_path, surface, "clean", 20_000)
    assert not run.result.findings, [f.finding.title for f in run.result.findings.values()]
    assert run.result.stats[surface].execs >= 20_000


def test_plain_baseline_finds_a_shallow_bug(tmp_path):
    bug = resolve_target(None).bug("putn-embedded-nul")
    run = plain_campaign(tmp_path, bug.surface, bug.id, 200_000, stop_on=bug.signatures)
    found = [(f.finding.kind, f.finding.function) for f in run.result.findings.values()]
    assert (bug.kind, bug.function) in found, found
