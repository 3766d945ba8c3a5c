"""The smaller ffi-harness commands: build, bugs, dict, init, ci, replay, reproduce, export-ossfuzz."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from harness.config import setting
from harness.errors import EXIT_FINDINGS, EXIT_OK, UsageError
from harness.target.spec import Target, resolve_target


def _variant(target: Target, args: argparse.Namespace) -> str:
    return target.check_variant(setting("variant", args.variant))


def build(args: argparse.Namespace) -> int:
    """Build (or find in the cache) the sanitized extension of a variant; print where it is."""
    from harness.target.build import build as build_target

    target = resolve_target(args.target)
    started = time.monotonic()
    built = build_target(target, _variant(target, args))
    print(f"{built.path} ({time.monotonic() - started:.1f} s, bugs in: "
          f"{', '.join(b.id for b in built.bugs) or 'none'})")
    return EXIT_OK


def bugs(args: argparse.Namespace) -> int:
    """Print the target's planted-bug catalogue."""
    target = resolve_target(args.target)
    if args.json:
        print(json.dumps([bug.__dict__ for bug in target.bugs], indent=2))
        return EXIT_OK
    for bug in target.bugs:
        print(f"{bug.id:30} {bug.surface:10} {bug.kind:24} {bug.function}")
    return EXIT_OK


def dictionary(args: argparse.Namespace) -> int:
    """Print the libFuzzer dictionary of the target's header."""
    from harness.target.dictionary import header_dictionary

    print(header_dictionary(resolve_target(args.target).header), end="")
    return EXIT_OK


def ci(args: argparse.Namespace) -> int:
    """The CI sanitizer run; exit 1 only for new findings."""
    from harness.ci.run import CiConfig, run_ci
    from harness.store.replay import replay_command

    target = resolve_target(args.target)
    out_dir = Path(args.out) if args.out else target.runs_dir / time.strftime("ci-%Y%m%d-%H%M%S")
    reports = Path(args.reports)
    if reports.exists() and not reports.is_dir():
        raise UsageError(f"--reports {reports}: a file, not a folder for ci.xml and ci.sarif")
    for report in (reports / "ci.xml", reports / "ci.sarif"):
        if report.is_dir():
            raise UsageError(f"--reports: {report} is a folder, so the report cannot be written there")
    try:
        reports.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--reports {reports}: cannot create it ({exc.strerror})") from None
    crash_dir = Path(args.crash_dir) if args.crash_dir else target.crash_dir
    config = CiConfig(target, _variant(target, args), crash_dir, reports, out_dir, runs=args.runs,
                      jobs=setting("jobs", args.jobs), seed=args.seed, pytest_paths=tuple(args.pytest))
    result = run_ci(config)
    summary = result.to_dict()
    if args.json:
        print(json.dumps(summary))
    else:
        for name, execs in result.execs.items():
            print(f"fuzzed {name:10} {execs:>9} executions")
        if not crash_dir.is_dir():
            print(f"no crash store at {crash_dir}: every finding counts as new")
        print(f"replayed {summary['replayed']} stored crash(es); {len(summary['known'])} known finding(s) seen")
        for new in result.new:
            print(f"NEW  {new.kind} in {new.function} ({new.fuzzer}): {new.title}\n"
                  f"     replay: {replay_command(Path(new.input), target, config.variant, new.fuzzer)}")
        if result.pytest_status not in (None, 0):
            print(f"hypothesis suites failed (pytest exit {result.pytest_status})")
        print(f"reports: {config.reports / 'ci.xml'}, {config.reports / 'ci.sarif'}")
    return result.exit_code()


def init(args: argparse.Namespace) -> int:
    """Write a starter spec for headers; refuse to overwrite; check that it loads."""
    from harness.contract.spec import target_contract
    from harness.contract.starter import starter_spec
    from harness.target.spec import load_target_file

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
    out.resolve().parent.mkdir(parents=True, exist_ok=True)  # `--out fuzz/foo.toml` in a new project
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


def replay(args: argparse.Namespace) -> int:
    """Replay inputs, each isolated; target and variant come from each crash's metadata.json
    unless given."""
    from harness.ci.reports import write_junit, write_sarif
    from harness.store.replay import collect_cases, exit_code, relative, replay_groups, summarize

    target = resolve_target(args.target) if args.target or not args.paths else None
    paths = [Path(p) for p in args.paths] or [target.crash_dir]  # type: ignore[union-attr]
    cases = collect_cases(paths, target, args.fuzzer)
    variant = setting("variant", args.variant, use_project=False) if args.variant else None
    results = replay_groups(cases, target, variant, jobs=setting("jobs", args.jobs, use_project=False) or 2,
                            timeout=args.timeout, rss_limit_mb=args.rss_limit_mb, leaks=args.leaks)
    if args.junit:
        write_junit(Path(args.junit), results)
    if args.sarif:
        write_sarif(Path(args.sarif), results)
    counts = summarize(results)
    if args.json:
        print(json.dumps({"results": [r.to_dict() for r in results], "summary": counts}))
    else:
        for r in results:
            what = r.title or r.detail or ""
            print(f"{r.verdict:10} {relative(r.input):70} {what}")
        print(", ".join(f"{n} {v}" for v, n in counts.items()) + f" ({len(results)} inputs)")
    return exit_code(results) if results else EXIT_OK


def export_ossfuzz(args: argparse.Namespace) -> int:
    """Write the OSS-Fuzz layout ($OUT) of the target's fuzzers, or list their scripts."""
    from harness.ci.ossfuzz import export_ossfuzz as export
    from harness.ci.ossfuzz import fuzzer_scripts

    target = resolve_target(args.target)
    if args.scripts:
        print("\n".join(str(path) for path in fuzzer_scripts(target)))
        return EXIT_OK
    if args.out is None:
        raise UsageError("export-ossfuzz needs an output folder (OSS-Fuzz's $OUT)")
    names = export(target, Path(args.out), _variant(target, args))
    print(f"{args.out}: {len(names)} fuzzers ({', '.join(names)}), each with its seed corpus zip, "
          f"options and dictionary; module in {args.out}/ffi_harness_prebuilt")
    return EXIT_OK


def reproduce(args: argparse.Namespace) -> int:
    """Run the catalogue's reproducers, each in its own process, under the bug's variant."""
    from harness.testing.isolate import run_function

    target = resolve_target(args.target)
    reproducers = target.root / "reproducers.py"
    if not reproducers.is_file():
        raise UsageError(f"target {target.name!r} has no reproducers ({reproducers})")
    chosen = [target.bug(b) for b in args.bugs] if args.bugs else list(target.bugs)
    results, failures = [], 0
    for bug in chosen:
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
