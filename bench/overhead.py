#!/usr/bin/env python3
"""Overhead: exec/s of the harness's Python fuzzers against native libFuzzer harnesses making
the same C calls (bench/native/*.c), built from the same sources with the same sanitizers,
run side by side with the same flags; and the cost of the sanitizers (native sanitized vs
native with coverage only). Prints a table, writes bench/results/overhead.json.

    .venv/bin/python bench/overhead.py [--seconds 20] [--surfaces strings records] [--out FILE]
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
from pathlib import Path

from harness.campaign.registry import fuzzer
from harness.runtime.sanitizers import SanitizerOptions, child_environment
from harness.target.build import COMMON_FLAGS, SANITIZE_FLAGS, build, variant_defines
from harness.target.spec import resolve_target
from harness.target.toolchain import find_toolchain

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
NATIVE = {"strings": BENCH / "native" / "strings.c", "records": BENCH / "native" / "records.c"}
BUILDS = {"sanitized": ["-fsanitize=fuzzer", *SANITIZE_FLAGS], "plain": ["-fsanitize=fuzzer"]}
DONE = re.compile(r"^#(?P<runs>\d+)\s+DONE\b.*?exec/s: (?P<rate>\d+)", re.M)


def build_native(surface: str, flavor: str, out_dir: Path) -> Path:
    """The native harness of surface, linked with the clean library (flavor: sanitized | plain)."""
    target = resolve_target(None)
    binary = out_dir / f"native_{surface}_{flavor}"
    defines = [f"-D{k}={v}" for k, v in variant_defines(target, "clean")]
    includes = [f"-I{d}" for d in target.include_dirs] + [f"-I{target.header.parent}"]
    command = [str(find_toolchain().clang), *COMMON_FLAGS, *BUILDS[flavor], *defines, *includes,
               str(NATIVE[surface]), *map(str, target.sources), "-o", str(binary)]
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    subprocess.run(command, check=True, env=env, capture_output=True)
    return binary


def measure(command: list[str], env: dict[str, str], seconds: int) -> dict[str, float]:
    """Run one libFuzzer process for `seconds` on an empty corpus; its executions and rate."""
    with tempfile.TemporaryDirectory(prefix="ffih-bench-") as corpus:
        flags = [corpus, "-seed=1", f"-max_total_time={seconds}", "-max_len=4096", "-detect_leaks=0",
                 "-print_final_stats=0"]
        started = time.monotonic()
        out = subprocess.run([*command, *flags], env=env, capture_output=True, text=True, timeout=seconds * 4 + 120)
        wall = time.monotonic() - started
    done = DONE.search(out.stderr)
    if done is None:
        raise RuntimeError(f"{command[-1]}: no DONE line (exit {out.returncode}):\n{out.stderr[-1500:]}")
    return {"execs": int(done["runs"]), "exec_per_s": int(done["rate"]), "wall_s": round(wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="fuzzing time per configuration")
    parser.add_argument("--surfaces", nargs="+", default=sorted(NATIVE), choices=sorted(NATIVE))
    parser.add_argument("--out", default=str(RESULTS / "overhead.json"))
    args = parser.parse_args()
    target = resolve_target(None)
    build(target, "clean")
    rows = []
    print(HEADER)
    with tempfile.TemporaryDirectory(prefix="ffih-native-") as work:
        for surface in args.surfaces:
            row: dict[str, object] = {"surface": surface}
            plain_env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
            for flavor in BUILDS:
                binary = build_native(surface, flavor, Path(work))
                row[f"native_{flavor}"] = measure([str(binary)], plain_env, args.seconds)
            python_env = child_environment(SanitizerOptions(python_malloc=fuzzer(surface, target).python_malloc))
            python_env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + python_env.get("PATH", "")
            script = fuzzer(surface, target).script
            row["harness"] = measure([sys.executable, str(script)], python_env, args.seconds)
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


HEADER = (f"{'surface':9} {'native asan+ubsan':>18} {'native plain':>13} {'harness':>10} "
          f"{'harness/native':>15} {'sanitizer cost':>15}")


def print_row(row: dict) -> None:
    native, plain, harness = (row[k]["exec_per_s"] for k in ("native_sanitized", "native_plain", "harness"))
    print(f"{row['surface']:9} {native:>14} e/s {plain:>9} e/s {harness:>6} e/s "
          f"{row['harness_vs_native']:>14.1%} {row['sanitizer_slowdown']:>14.1f}x", flush=True)


if __name__ == "__main__":
    main()
