#!/usr/bin/env python3
"""Overhead: exec/s of the harness's Python fuzzers against native libFuzzer harnesses making
the same C calls (bench/native/*.c), built from the same sources with the same sanitizers,
run side by side with the same flags; and the cost of the sanitizers (native sanitized vs
native with coverage only). Prints a table, writes bench/results/overhead.json.

Surfaces: kv's hand-written fuzzers (strings, records) against their native twins, and the
generic `sequence` fuzzer of a library's spec against a native sequence driver written for that
library by hand (sequence-LIBRARY; `--configs sequence` runs them all).

    .venv/bin/python bench/overhead.py [--seconds 20] [--surfaces strings records] [--out FILE]
    .venv/bin/python bench/overhead.py --configs sequence
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.campaign.registry import fuzzer
from harness.config import uninstrumented_environment, worker_environment
from harness.runtime.sanitizers import SanitizerOptions, child_environment
from harness.target.build import COMMON_FLAGS, SANITIZE_FLAGS, build, variant_defines
from harness.target.spec import resolve_target
from harness.target.toolchain import find_toolchain

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
TARGETS = BENCH.parent / "tests" / "targets"


@dataclass(frozen=True)
class Surface:
    """A harness fuzzer of a library and the native harness making the same kind of calls."""

    native: Path
    fuzzer: str
    spec: Path | None = None  # None: the embedded kv
    max_len: int = 4096


SURFACES = {
    "strings": Surface(BENCH / "native" / "strings.c", "strings"),
    "records": Surface(BENCH / "native" / "records.c", "records"),
    "sequence-kv": Surface(BENCH / "native" / "sequence_kv.c", "sequence", None, 512),
    "sequence-cfg": Surface(BENCH / "native" / "sequence_cfg.c", "sequence", TARGETS / "cfgdoc" / "cfg.toml", 512),
    "sequence-shapes": Surface(BENCH / "native" / "sequence_shapes.c", "sequence",
                               TARGETS / "shapes" / "shapes.toml", 512),
    "sequence-zs": Surface(BENCH / "native" / "sequence_zs.c", "sequence", TARGETS / "stream" / "zs.toml", 512),
    "sequence-wild": Surface(BENCH / "native" / "sequence_wild.c", "sequence", TARGETS / "wild" / "wild.toml", 512),
    "sequence-dt": Surface(BENCH / "native" / "sequence_dt.c", "sequence", TARGETS / "doctree" / "dt.toml", 512),
}
CONFIGS = {"surfaces": ["strings", "records"], "sequence": [n for n in SURFACES if n.startswith("sequence-")]}
BUILDS = {"sanitized": ["-fsanitize=fuzzer", *SANITIZE_FLAGS], "plain": ["-fsanitize=fuzzer"]}
DONE = re.compile(r"^#(?P<runs>\d+)\s+DONE\b.*?exec/s: (?P<rate>\d+)", re.M)
# the harness keeps -max_total_time itself (harness.engine.session) and ends with libFuzzer's words
HARNESS_DONE = re.compile(r"^Done (?P<runs>\d+) runs in (?P<seconds>\d+) second", re.M)


def build_native(surface: str, flavor: str, out_dir: Path, variant: str = "clean") -> Path:
    """The native harness of surface, linked with the library's variant (flavor: sanitized | plain)."""
    target = resolve_target(_spec(surface))
    binary = out_dir / f"native_{surface}_{flavor}_{variant}"
    defines = [f"-D{k}={v}" for k, v in variant_defines(target, variant)]
    includes = [f"-I{d}" for d in target.include_dirs] + [f"-I{target.header.parent}"]
    command = [str(find_toolchain().clang), *COMMON_FLAGS, *BUILDS[flavor], *defines, *includes,
               str(SURFACES[surface].native), *map(str, target.sources), "-o", str(binary)]
    subprocess.run(command, check=True, env=uninstrumented_environment(), capture_output=True)
    return binary


def _spec(surface: str) -> str | None:
    spec = SURFACES[surface].spec
    return str(spec) if spec else None


def measure(command: list[str], env: dict[str, str], seconds: int, max_len: int = 4096) -> dict[str, float]:
    """Run one libFuzzer process for `seconds` on an empty corpus; its executions and rate."""
    with tempfile.TemporaryDirectory(prefix="ffih-bench-") as corpus:
        flags = [corpus, "-seed=1", f"-max_total_time={seconds}", f"-max_len={max_len}", "-detect_leaks=0",
                 "-print_final_stats=0"]
        started = time.monotonic()
        out = subprocess.run([*command, *flags], env=env, capture_output=True, text=True, timeout=seconds * 4 + 120)
        wall = time.monotonic() - started
    if (done := DONE.search(out.stderr)) is not None:
        return {"execs": int(done["runs"]), "exec_per_s": int(done["rate"]), "wall_s": round(wall, 1)}
    if (done := HARNESS_DONE.search(out.stderr)) is not None:
        runs = int(done["runs"])
        return {"execs": runs, "exec_per_s": int(runs / max(1, int(done["seconds"]))), "wall_s": round(wall, 1)}
    raise RuntimeError(f"{command[-1]}: no DONE line (exit {out.returncode}):\n{out.stderr[-1500:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="fuzzing time per configuration")
    parser.add_argument("--surfaces", nargs="+", default=None, choices=sorted(SURFACES))
    parser.add_argument("--configs", nargs="+", default=["surfaces"], choices=sorted(CONFIGS),
                        help="surfaces: kv's hand-written fuzzers; sequence: every library's sequence fuzzer")
    parser.add_argument("--out", default=str(RESULTS / "overhead.json"))
    args = parser.parse_args()
    surfaces = args.surfaces or [name for config in args.configs for name in CONFIGS[config]]
    rows = []
    print(HEADER)
    with tempfile.TemporaryDirectory(prefix="ffih-native-") as work:
        for surface in surfaces:
            chosen = SURFACES[surface]
            target = resolve_target(_spec(surface))
            build(target, "clean")
            row: dict[str, object] = {"surface": surface, "library": target.name}
            plain_env = uninstrumented_environment()  # a native binary links its own runtime
            for flavor in BUILDS:
                binary = build_native(surface, flavor, Path(work))
                row[f"native_{flavor}"] = measure([str(binary)], plain_env, args.seconds, chosen.max_len)
            harness_fuzzer = fuzzer(chosen.fuzzer, target)
            python_env = child_environment(SanitizerOptions(python_malloc=harness_fuzzer.python_malloc))
            python_env.update(worker_environment(target=target.spec_path, variant="clean"))
            python_env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + python_env.get("PATH", "")
            row["harness"] = measure([sys.executable, str(harness_fuzzer.script)], python_env, args.seconds,
                                     chosen.max_len)
            native = row["native_sanitized"]["exec_per_s"] or 1  # type: ignore[index]
            row["harness_vs_native"] = round(row["harness"]["exec_per_s"] / native, 3)  # type: ignore[index]
            row["sanitizer_slowdown"] = round(row["native_plain"]["exec_per_s"] / native, 2)  # type: ignore[index]
            rows.append(row)
            print_row(row)
    report = {"seconds": args.seconds, "toolchain": find_toolchain().version, "rows": rows,
               "measured_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"\nwritten {args.out}")


HEADER = (f"{'surface':13} {'native asan+ubsan':>18} {'native plain':>13} {'harness':>10} "
          f"{'harness/native':>15} {'sanitizer cost':>15}")


def print_row(row: dict) -> None:
    native, plain, harness = (row[k]["exec_per_s"] for k in ("native_sanitized", "native_plain", "harness"))
    print(f"{row['surface']:13} {native:>14} e/s {plain:>9} e/s {harness:>6} e/s "
          f"{row['harness_vs_native']:>14.1%} {row['sanitizer_slowdown']:>14.1f}x", flush=True)


if __name__ == "__main__":
    main()
