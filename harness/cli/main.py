"""The ffi-harness command line: build, fuzz, ci, replay, reproduce, init, export-ossfuzz, dict, bugs.

Exit codes: 0 ran and found nothing (replay: nothing reproduces), 1 findings, 2 usage or setup
error (one line on stderr), 3 an internal error of ffi-harness (one line naming the log that
holds the traceback). Settings: command line > FFI_HARNESS_* > [tool.ffi-harness] > defaults
(harness.config).
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import NoReturn

from harness.cli import commands, fuzz
from harness.errors import EXIT_INTERNAL, EXIT_USAGE, HarnessError

MAX_RUNS = 10**12
MAX_SECONDS = 10**7  # ~115 days


def positive_seconds(text: str) -> float:
    """argparse type: a finite number of seconds above 0 (no more than MAX_SECONDS)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"{text!r}: must be more than 0 and at most {MAX_SECONDS} seconds")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number from 1 to MAX_RUNS."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_RUNS:
        raise argparse.ArgumentTypeError(f"{text!r}: must be between 1 and {MAX_RUNS}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (`ffi-harness fuzz: error: ...`) and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", default=None,
                        help="a target spec (target.toml / pyproject.toml), or the name of this project's target "
                             "(default: FFI_HARNESS_TARGET, else [tool.ffi-harness] of the project)")
    parser.add_argument("--variant", default=None,
                        help="clean (default), planted (every planted bug), or one bug id")


def _jobs(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--jobs", type=positive_int, default=None,
                        help=f"parallel workers (default: FFI_HARNESS_JOBS, [tool.ffi-harness] jobs, else {default})")


def parser() -> argparse.ArgumentParser:
    """The argparse parser of every subcommand."""
    root = _Parser(prog="ffi-harness", description=__doc__.splitlines()[0])
    sub = root.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("build", help="build the sanitized extension of a target variant")
    _common(p)
    p.set_defaults(run=commands.build)

    p = sub.add_parser("fuzz", help="run a fuzz campaign")
    _common(p)
    p.add_argument("fuzzers", nargs="*", default=["all"], help="fuzzer names or script paths, or all")
    p.add_argument("--time", type=positive_seconds, default=None, help="campaign seconds (default 60)")
    p.add_argument("--runs", type=positive_int, default=None, help="executions per fuzzer instead of --time")
    _jobs(p, "1")
    p.add_argument("--seed", type=int, default=1, help="first libFuzzer seed")
    p.add_argument("--out", default=None, help="run folder (default: the project's runs/TIMESTAMP)")
    p.add_argument("--no-seeds", action="store_true", help="start from an empty corpus")
    p.add_argument("--crash-dir", default=None, help="crash store (default: the project's corpus/crashes)")
    p.add_argument("--no-store", action="store_true", help="do not store findings in the crash store")
    p.add_argument("--no-minimize", action="store_true", help="store findings without minimizing them")
    p.add_argument("--minimize-time", type=positive_seconds, default=fuzz.MINIMIZE_SECONDS,
                   help=f"seconds to minimize the new findings after the campaign (default {fuzz.MINIMIZE_SECONDS:g})")
    p.add_argument("--json", action="store_true", help="print the summary as JSON, last on stdout")
    p.add_argument("--merge", action="store_true", help="at the end, merge new coverage into each fuzzer's "
                   "seed corpus (corpus/NAME; libFuzzer -merge=1), where the next campaign starts")
    p.add_argument("--stats-interval", type=positive_seconds, default=5.0,
                   help="seconds between progress updates and stats.jsonl rows (default 5)")
    p.add_argument("--halt-on-error", action="store_true",
                   help="every sanitizer report ends its worker (default: ASan reports it can recover from "
                        "are stored and the worker goes on, so a shallow bug does not mask deeper ones)")
    p.set_defaults(run=fuzz.run)

    p = sub.add_parser("ci", help="CI sanitizer run: build, hypothesis suites, every fuzzer, crash store replay; "
                                  "exit 1 only for new findings")
    _common(p)
    p.add_argument("--runs", type=positive_int, default=20_000, help="executions per fuzzer (default 20000)")
    _jobs(p, "1")
    p.add_argument("--seed", type=int, default=1, help="first libFuzzer seed")
    p.add_argument("--crash-dir", default=None, help="crash store of known findings "
                   "(default: the project's corpus/crashes); never written")
    p.add_argument("--reports", default="reports", help="folder for ci.xml (JUnit) and ci.sarif")
    p.add_argument("--pytest", nargs="*", default=[], help="hypothesis suites to run with pytest --sanitize")
    p.add_argument("--out", default=None, help="run folder (default: the project's runs/ci-TIMESTAMP)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=commands.ci)

    p = sub.add_parser("replay", help="replay crash folders, crash files or corpora, each isolated")
    _common(p)
    p.add_argument("paths", nargs="*", help="files or folders (default: the project's corpus/crashes)")
    p.add_argument("--fuzzer", default=None, help="fuzzer for inputs without metadata")
    _jobs(p, "2")
    p.add_argument("--timeout", type=positive_seconds, default=25.0, help="seconds per input")
    p.add_argument("--rss-limit-mb", type=positive_int, default=2048, help="memory growth allowed per input")
    p.add_argument("--leaks", choices=("auto", "all", "none"), default="auto",
                   help="leak-check after which inputs (auto: those stored as leaks or named leak-*)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--junit", default=None, help="write JUnit XML here")
    p.add_argument("--sarif", default=None, help="write SARIF 2.1.0 here")
    p.set_defaults(run=commands.replay)

    p = sub.add_parser("reproduce", help="run the planted bugs' reproducers under their variants")
    _common(p)
    p.add_argument("bugs", nargs="*", help="bug ids (default: all)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=commands.reproduce)

    p = sub.add_parser("init", help="write a starter target spec (contract guessed, marked REVIEW) for headers")
    p.add_argument("headers", nargs="+", help="the library's public headers")
    p.add_argument("--sources", nargs="*", default=[], help="the library's C sources")
    p.add_argument("--library", default=None, help="a prebuilt shared library instead (binary-only mode)")
    p.add_argument("--include", nargs="*", default=[], help="include directories the headers need")
    p.add_argument("--name", default=None, help="target name (default: the first header's stem)")
    p.add_argument("--out", default="target.toml", help="spec file to write (default ./target.toml)")
    p.add_argument("--force", action="store_true", help="overwrite an existing spec")
    p.set_defaults(run=commands.init)

    p = sub.add_parser("export-ossfuzz", help="package the fuzzers for OSS-Fuzz / ClusterFuzzLite ($OUT layout)")
    _common(p)
    p.add_argument("out", nargs="?", help="the folder to write (build.sh passes $OUT)")
    p.add_argument("--scripts", action="store_true",
                   help="print the fuzzer scripts to bundle (compile_python_fuzzer), one per line, and exit")
    p.set_defaults(run=commands.export_ossfuzz)

    p = sub.add_parser("bugs", help="list the target's planted-bug catalogue")
    _common(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=commands.bugs)

    p = sub.add_parser("dict", help="print the libFuzzer dictionary derived from the target's header")
    _common(p)
    p.set_defaults(run=commands.dictionary)
    return root


def internal_error_log() -> Path:
    """Write the current exception's traceback to a log file; its path."""
    with tempfile.NamedTemporaryFile("w", prefix=f"ffi-harness-error-{time.strftime('%Y%m%d-%H%M%S')}-",
                                     suffix=".log", delete=False) as handle:
        handle.write(f"ffi-harness {' '.join(sys.argv[1:])}\n\n{traceback.format_exc()}")
    return Path(handle.name)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code (see the module docstring)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # loaded: Ctrl-C is KeyboardInterrupt again
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except HarnessError as exc:
        print(f"ffi-harness: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ffi-harness: interrupted", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # a bug of ffi-harness itself: one line, the traceback in a log
        log = internal_error_log()
        print(f"ffi-harness: internal error ({type(exc).__name__}: {exc}); this is a bug of ffi-harness, "
              f"the traceback is in {log}", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
