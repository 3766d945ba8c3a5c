"""The ffi-harness command line: build, fuzz, ci, replay, reproduce, init, export-ossfuzz, dict, bugs.

Exit codes: 0 ran and found nothing, 1 findings, 2 usage or setup error (one line on stderr).
Configuration: command line first, then FFI_HARNESS_* environment variables, then defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from harness.errors import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, HarnessError, UsageError
from harness.target import PROJECT_ROOT, resolve_target


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"FFI_HARNESS_{name}", default)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", default=_env("TARGET"),
                        help="embedded target name (kv, the default) or path to a target.toml")
    parser.add_argument("--variant", default=_env("VARIANT", "clean"),
                        help="clean (default), planted (every planted bug), or one bug id")


def cmd_build(args: argparse.Namespace) -> int:
    from harness.build import build

    target = resolve_target(args.target)
    started = time.monotonic()
    built = build(target, target.check_variant(args.variant))
    print(f"{built.path} ({time.monotonic() - started:.1f} s, bugs in: "
          f"{', '.join(b.id for b in built.bugs) or 'none'})")
    return EXIT_OK


def cmd_bugs(args: argparse.Namespace) -> int:
    target = resolve_target(args.target)
    if args.json:
        print(json.dumps([bug.__dict__ for bug in target.bugs], indent=2))
        return EXIT_OK
    for bug in target.bugs:
        print(f"{bug.id:30} {bug.surface:10} {bug.kind:24} {bug.function}")
    return EXIT_OK


def cmd_dict(args: argparse.Namespace) -> int:
    from harness.dictionary import header_dictionary

    target = resolve_target(args.target)
    print(header_dictionary(target.header), end="")
    return EXIT_OK


def cmd_fuzz(args: argparse.Namespace) -> int:
    from harness.atomic import write_atomic
    from harness.build import build
    from harness.campaign import Campaign, CampaignConfig
    from harness.campaign_report import write_report
    from harness.fuzzers import CRASH_DIR, resolve_fuzzers
    from harness.progress import Reporter

    target = resolve_target(args.target)
    variant = target.check_variant(args.variant)
    fuzzers = resolve_fuzzers(args.fuzzers, target)
    if args.time is not None and args.time <= 0:
        raise UsageError(f"--time must be positive, got {args.time!r}")
    build(target, variant)  # fail early, once, with one message
    out_dir = Path(args.out or PROJECT_ROOT / "runs" / time.strftime("%Y%m%d-%H%M%S"))
    seconds = None if args.runs and args.time is None else (args.time or 60.0)
    crash_dir = None if args.no_store else Path(args.crash_dir) if args.crash_dir else CRASH_DIR
    config = CampaignConfig(tuple(fuzzers), target, variant, out_dir, seconds=seconds, runs=args.runs,
                            jobs=args.jobs, seed=args.seed, use_seeds=not args.no_seeds, crash_dir=crash_dir,
                            minimize=not args.no_minimize, merge=args.merge, recover=not args.halt_on_error)

    stream = sys.stderr if args.json else sys.stdout
    live = stream.isatty()

    def on_event(kind: str, data: dict) -> None:
        if kind == "finding" and not live:
            print(f"[{data['seconds']:7.1f}s] {data['fuzzer']}: {data['title']} ({data['stack_hash']})",
                  file=stream, flush=True)
        elif kind == "stalled":
            print(f"{data['fuzzer']}: stopped, every new worker dies at once on {data['stack_hash']}",
                  file=sys.stderr, flush=True)

    campaign = Campaign(config, on_event)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda s, f: campaign.request_stop(signal.Signals(s).name))
    with Reporter(campaign, out_dir / "stats.jsonl", stream, interval=args.stats_interval):
        result = campaign.run()
    summary = result.to_dict()
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "summary.json", json.dumps(summary, indent=2).encode())
    report = write_report(out_dir, summary)
    if args.json:
        print(json.dumps(summary))
    else:
        _print_summary(summary)
        print(f"report: {report}")
    return EXIT_FINDINGS if result.findings else EXIT_OK


def _print_summary(summary: dict) -> None:
    print(f"\ncampaign on {summary['target']} ({summary['variant']}), {summary['seconds']:.0f} s, "
          f"results in {summary['out_dir']}")
    print(f"{'fuzzer':10} {'execs':>10} {'exec/s':>8} {'cov':>6} {'corpus':>7}")
    for name, stats in summary["fuzzers"].items():
        print(f"{name:10} {stats['execs']:>10} {stats['exec_per_s']:>8.0f} {stats['coverage']:>6} "
              f"{stats['corpus_size']:>7}")
    for check in summary["checks_off"]:
        print(f"check off (prebuilt library, binary-only mode): {check}")
    print(f"\n{len(summary['findings'])} distinct finding(s)")
    for f in summary["findings"]:
        print(f"  {f['seconds_to_find']:7.1f}s {f['fuzzer']:10} {f['title']}  x{f['count']}")
        print(f"           replay: {f['replay'] or 'none (the worker ended before it wrote the input)'}")


def cmd_ci(args: argparse.Namespace) -> int:
    from harness.ci import CiConfig, run_ci
    from harness.fuzzers import CRASH_DIR

    target = resolve_target(args.target)
    if args.runs <= 0:
        raise UsageError(f"--runs must be positive, got {args.runs}")
    out_dir = Path(args.out or PROJECT_ROOT / "runs" / time.strftime("ci-%Y%m%d-%H%M%S"))
    config = CiConfig(target, target.check_variant(args.variant), Path(args.crash_dir or CRASH_DIR),
                      Path(args.reports), out_dir, runs=args.runs, jobs=args.jobs, seed=args.seed,
                      pytest_paths=tuple(args.pytest))
    result = run_ci(config)
    summary = result.to_dict()
    if args.json:
        print(json.dumps(summary))
    else:
        for name, execs in result.execs.items():
            print(f"fuzzed {name:10} {execs:>9} executions")
        print(f"replayed {summary['replayed']} stored crash(es); {len(summary['known'])} known finding(s) seen")
        for new in result.new:
            print(f"NEW  {new.kind} in {new.function} ({new.fuzzer}): {new.title}  [{new.input}]")
        if result.pytest_status not in (None, 0):
            print(f"hypothesis suites failed (pytest exit {result.pytest_status})")
        print(f"reports: {config.reports / 'ci.xml'}, {config.reports / 'ci.sarif'}")
    return result.exit_code()


def cmd_init(args: argparse.Namespace) -> int:
    """Write a starter spec for headers; refuse to overwrite; check that it loads."""
    from harness.contract import target_contract
    from harness.starter import starter_spec
    from harness.target import load_target_file

    headers = [Path(h) for h in args.headers]
    library = Path(args.library) if args.library else None
    if library and args.sources:
        raise UsageError("pass --sources (built with sanitizers) or --library (a prebuilt .so), not both")
    for path in [*headers, *map(Path, args.sources), *([library] if library else [])]:
        if not path.is_file():
            raise UsageError(f"no such file: {path}")
    out = Path(args.out)
    if out.exists() and not args.force:
        raise UsageError(f"{out} exists; pass --force to overwrite it")
    name = args.name or headers[0].stem
    spec, umbrella = starter_spec(headers, [Path(s) for s in args.sources], name, out.resolve().parent,
                                  tuple(Path(d) for d in args.include), library)
    if umbrella is not None:
        (out.resolve().parent / f"{name}_all.h").write_text(umbrella)
    out.write_text(spec)
    contract = target_contract(load_target_file(out.resolve()))
    reviews = spec.count("# REVIEW")
    print(f"{out}: {len(contract.functions)} functions, {len(contract.handles)} handle types, "
          f"{reviews} guesses marked REVIEW")
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from harness.fuzzers import CRASH_DIR
    from harness.replay import collect_cases, exit_code, relative, replay, summarize
    from harness.reports import write_junit, write_sarif

    target = resolve_target(args.target)
    variant = target.check_variant(args.variant)
    paths = [Path(p) for p in args.paths] or [CRASH_DIR]
    cases = collect_cases(paths, target, args.fuzzer)
    results = replay(cases, target, variant, jobs=args.jobs, timeout=args.timeout, rss_limit_mb=args.rss_limit_mb,
                     leaks=args.leaks)
    if args.junit:
        write_junit(Path(args.junit), results)
    if args.sarif:
        write_sarif(Path(args.sarif), results)
    counts = summarize(results)
    if args.json:
        print(json.dumps({"results": [r.to_dict() for r in results], "summary": counts,
                          "target": target.name, "variant": variant}))
    else:
        for r in results:
            what = r.title or r.detail or ""
            print(f"{r.verdict:10} {relative(r.input):70} {what}")
        print(", ".join(f"{n} {v}" for v, n in counts.items()) + f" ({len(results)} inputs, {variant})")
    return exit_code(results) if results else EXIT_OK


def cmd_export_ossfuzz(args: argparse.Namespace) -> int:
    """Write the OSS-Fuzz layout ($OUT) of the target's fuzzers, or list their scripts."""
    from harness.ossfuzz import export_ossfuzz, fuzzer_scripts

    target = resolve_target(args.target)
    if args.scripts:
        print("\n".join(str(path) for path in fuzzer_scripts(target)))
        return EXIT_OK
    if args.out is None:
        raise UsageError("export-ossfuzz needs an output folder (OSS-Fuzz's $OUT)")
    names = export_ossfuzz(target, Path(args.out), target.check_variant(args.variant))
    print(f"{args.out}: {len(names)} fuzzers ({', '.join(names)}), each with its seed corpus zip, "
          f"options and dictionary; module in {args.out}/ffi_harness_prebuilt")
    return EXIT_OK


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Run the catalogue's reproducers, each in its own process, under the bug's variant."""
    from harness.isolate import run_function

    target = resolve_target(args.target)
    reproducers = target.root / "reproducers.py"
    bugs = [target.bug(b) for b in args.bugs] if args.bugs else list(target.bugs)
    results, failures = [], 0
    for bug in bugs:
        result = run_function(f"{reproducers}:{bug.id.replace('-', '_')}", target, bug.id)
        found = result.finding
        ok = found is not None and found.kind == bug.kind and found.function == bug.function
        failures += not ok
        results.append({"bug": bug.id, "expected": f"{bug.kind} in {bug.function}",
                        "got": found.title if found else "quiet", "ok": ok})
        if not args.json:
            print(f"{'ok  ' if ok else 'FAIL'} {bug.id:30} {found.title if found else 'quiet'}")
    if args.json:
        print(json.dumps({"results": results}))
    return EXIT_FINDINGS if failures else EXIT_OK


def parser() -> argparse.ArgumentParser:
    """The argparse parser of every subcommand."""
    root = argparse.ArgumentParser(prog="ffi-harness", description=__doc__.splitlines()[0])
    sub = root.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build", help="build the sanitized extension of a target variant")
    _common(p)
    p.set_defaults(run=cmd_build)

    p = sub.add_parser("fuzz", help="run a fuzz campaign")
    _common(p)
    p.add_argument("fuzzers", nargs="*", default=["all"], help="fuzzer names, or all")
    p.add_argument("--time", type=float, default=None, help="campaign seconds (default 60)")
    p.add_argument("--runs", type=int, default=None, help="executions per fuzzer instead of --time")
    p.add_argument("--jobs", type=int, default=int(_env("JOBS", "1") or 1), help="parallel workers")
    p.add_argument("--seed", type=int, default=1, help="first libFuzzer seed")
    p.add_argument("--out", default=None, help="run folder (default runs/TIMESTAMP)")
    p.add_argument("--no-seeds", action="store_true", help="start from an empty corpus")
    p.add_argument("--crash-dir", default=_env("CRASH_DIR"), help="crash store (default corpus/crashes)")
    p.add_argument("--no-store", action="store_true", help="do not store findings in the crash store")
    p.add_argument("--no-minimize", action="store_true", help="store findings without minimizing them")
    p.add_argument("--json", action="store_true", help="print the summary as JSON, last on stdout")
    p.add_argument("--merge", action="store_true", help="at the end, merge new coverage into each fuzzer's "
                   "seed corpus (corpus/NAME; libFuzzer -merge=1), where the next campaign starts")
    p.add_argument("--stats-interval", type=float, default=5.0,
                   help="seconds between progress updates and stats.jsonl rows (default 5)")
    p.add_argument("--halt-on-error", action="store_true",
                   help="every sanitizer report ends its worker (default: ASan reports it can recover from "
                        "are stored and the worker goes on, so a shallow bug does not mask deeper ones)")
    p.set_defaults(run=cmd_fuzz)

    p = sub.add_parser("ci", help="CI sanitizer run: build, hypothesis suites, every fuzzer, crash store replay; "
                                  "exit 1 only for new findings")
    _common(p)
    p.add_argument("--runs", type=int, default=20_000, help="executions per fuzzer (default 20000)")
    p.add_argument("--jobs", type=int, default=int(_env("JOBS", "1") or 1), help="parallel workers")
    p.add_argument("--seed", type=int, default=1, help="first libFuzzer seed")
    p.add_argument("--crash-dir", default=_env("CRASH_DIR"), help="crash store of known findings "
                   "(default corpus/crashes); never written")
    p.add_argument("--reports", default="reports", help="folder for ci.xml (JUnit) and ci.sarif")
    p.add_argument("--pytest", nargs="*", default=[], help="hypothesis suites to run with pytest --sanitize")
    p.add_argument("--out", default=None, help="run folder (default runs/ci-TIMESTAMP)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=cmd_ci)

    p = sub.add_parser("replay", help="replay crash folders, crash files or corpora, each isolated")
    _common(p)
    p.add_argument("paths", nargs="*", help="files or folders (default corpus/crashes)")
    p.add_argument("--fuzzer", default=None, help="fuzzer for inputs without metadata")
    p.add_argument("--jobs", type=int, default=int(_env("JOBS", "2") or 2), help="parallel workers")
    p.add_argument("--timeout", type=float, default=25.0, help="seconds per input")
    p.add_argument("--rss-limit-mb", type=int, default=2048, help="memory growth allowed per input")
    p.add_argument("--leaks", choices=("auto", "all", "none"), default="auto",
                   help="leak-check after which inputs (auto: those stored as leaks or named leak-*)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--junit", default=None, help="write JUnit XML here")
    p.add_argument("--sarif", default=None, help="write SARIF 2.1.0 here")
    p.set_defaults(run=cmd_replay)

    p = sub.add_parser("reproduce", help="run the planted bugs' reproducers under their variants")
    _common(p)
    p.add_argument("bugs", nargs="*", help="bug ids (default: all)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_reproduce)

    p = sub.add_parser("init", help="write a starter target spec (contract guessed, marked REVIEW) for headers")
    p.add_argument("headers", nargs="+", help="the library's public headers")
    p.add_argument("--sources", nargs="*", default=[], help="the library's C sources")
    p.add_argument("--library", default=None, help="a prebuilt shared library instead (binary-only mode)")
    p.add_argument("--include", nargs="*", default=[], help="include directories the headers need")
    p.add_argument("--name", default=None, help="target name (default: the first header's stem)")
    p.add_argument("--out", default="target.toml", help="spec file to write (default ./target.toml)")
    p.add_argument("--force", action="store_true", help="overwrite an existing spec")
    p.set_defaults(run=cmd_init)

    p = sub.add_parser("export-ossfuzz", help="package the fuzzers for OSS-Fuzz / ClusterFuzzLite ($OUT layout)")
    _common(p)
    p.add_argument("out", nargs="?", help="the folder to write (build.sh passes $OUT)")
    p.add_argument("--scripts", action="store_true",
                   help="print the fuzzer scripts to bundle (compile_python_fuzzer), one per line, and exit")
    p.set_defaults(run=cmd_export_ossfuzz)

    p = sub.add_parser("bugs", help="list the target's planted-bug catalogue")
    _common(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_bugs)

    p = sub.add_parser("dict", help="print the libFuzzer dictionary derived from the target's header")
    _common(p)
    p.set_defaults(run=cmd_dict)
    return root


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except HarnessError as exc:
        print(f"ffi-harness: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ffi-harness: interrupted", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
