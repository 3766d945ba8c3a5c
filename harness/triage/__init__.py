"""Crash triage: sanitizer, libFuzzer and Python reports parsed into Findings."""

from harness.triage.finding import Finding
from harness.triage.frames import Frame, TargetCode
from harness.triage.parse import parse_report, primary_finding

__all__ = ["Finding", "Frame", "TargetCode", "parse_report", "primary_finding"]
