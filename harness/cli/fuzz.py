"""`ffi-harness fuzz`: a campaign with a live view, its summary, report and stored findings."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

from harness.atomic import write_atomic
from harness.campaign.progress import Reporter
from harness.campaign.registry import resolve_fuzzers
from harness.campaign.report import write_report
from harness.campaign.results import NOT_ALONE
from harness.campaign.runner import Campaign, CampaignConfig
from harness.config import setting
from harness.errors import EXIT_FINDINGS, EXIT_OK, SetupError, UsageError
from harness.target.build import build
from harness.target.spec import resolve_target

MINIMIZE_SECONDS = 30.0
DEFAULT_SECONDS = 60.0
INTERRUPTED = ("SIGINT", "SIGTERM")  # stopped by the user: no replays after the campaign


def run(args: argparse.Namespace) -> int:
    """Run the campaign the arguments describe; exit 1 when it found something."""
    target = resolve_target(args.target)
    variant = target.check_variant(setting("variant", args.variant))
    fuzzers = resolve_fuzzers(args.fuzzers, target)
    jobs = setting("jobs", args.jobs)
    out_dir = Path(args.out) if args.out else target.runs_dir / time.strftime("%Y%m%d-%H%M%S")
    _check_writable(out_dir, "--out")
    crash_dir = None if args.no_store else Path(args.crash_dir) if args.crash_dir else target.crash_dir
    if crash_dir is not None and crash_dir.exists() and not crash_dir.is_dir():
        raise UsageError(f"--crash-dir {crash_dir}: a file, not a crash store folder")
    build(target, variant)  # fail early, once, with one message
    seconds = None if args.runs and args.time is None else (args.time or DEFAULT_SECONDS)
    config = CampaignConfig(tuple(fuzzers), target, variant, out_dir, seconds=seconds, runs=args.runs,
                            jobs=jobs, seed=args.seed, use_seeds=not args.no_seeds, crash_dir=crash_dir,
                            merge=args.merge, recover=not args.halt_on_error)
    stream = sys.stderr if args.json else sys.stdout
    live = stream.isatty()

    def on_event(kind: str, data: dict) -> None:
        if kind == "finding" and not live:
            print(f"[{data['seconds']:7.1f}s] {data['fuzzer']}: {data['title']} ({data['stack_hash']})"
                  + (f"\n           replay: {data['replay']}" if data.get("replay") else ""), file=stream, flush=True)
        elif kind == "warning":
            print(f"ffi-harness: warning: {data['message']}", file=sys.stderr, flush=True)
        elif kind == "stalled":
            print(f"{data['fuzzer']}: stopped, every new worker dies at once on {data['stack_hash']}",
                  file=sys.stderr, flush=True)

    campaign = Campaign(config, on_event)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda s, f: campaign.request_stop(signal.Signals(s).name))
    with Reporter(campaign, out_dir / "stats.jsonl", stream, interval=args.stats_interval):
        result = campaign.run()
    if result.findings and result.stopped not in INTERRUPTED:
        campaign.check_reproducible()
    if not args.no_minimize and not campaign.stop.is_set():
        campaign.minimize_stored(args.minimize_time)
    summary = result.to_dict()
    write_atomic(out_dir / "summary.json", json.dumps(summary, indent=2).encode())
    if result.setup_error:
        raise SetupError(result.setup_error)
    report = write_report(out_dir, summary)
    if args.json:
        print(json.dumps(summary))
    else:
        print_summary(summary)
        print(f"report: {report}")
    return EXIT_FINDINGS if result.findings else EXIT_OK


def _check_writable(folder: Path, option: str) -> None:
    """Make folder (and its parents) or raise a UsageError naming the option."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{option} {folder}: cannot create it ({exc.strerror})") from None
    if not folder.is_dir():
        raise UsageError(f"{option} {folder}: not a folder")


def print_summary(summary: dict) -> None:
    """The campaign summary for a terminal: per fuzzer numbers, every finding and its replay."""
    print(f"\ncampaign on {summary['target']} ({summary['variant']}), {summary['seconds']:.0f} s, "
          f"results in {summary['out_dir']}" + (f", stopped: {summary['stopped']}" if summary["stopped"] else ""))
    print(f"{'fuzzer':10} {'execs':>10} {'exec/s':>8} {'cov':>6} {'corpus':>7}")
    for name, stats in summary["fuzzers"].items():
        print(f"{name:10} {stats['execs']:>10} {stats['exec_per_s']:>8.0f} {stats['coverage']:>6} "
              f"{stats['corpus_size']:>7}")
    for check in summary["checks_off"]:
        print(f"check off (prebuilt library, binary-only mode): {check}")
    print(f"\n{len(summary['findings'])} distinct finding(s)")
    for f in summary["findings"]:
        alone = f"  ({NOT_ALONE})" if f.get("reproducible") is False else ""
        print(f"  {f['seconds_to_find']:7.1f}s {f['fuzzer']:10} {f['title']}  x{f['count']}{alone}")
        print(f"           replay: {f['replay'] or 'none (the worker ended before it wrote the input)'}")
