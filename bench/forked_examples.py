#!/usr/bin/env python3
"""Cost of a forked hypothesis example (harness.isolated): milliseconds per example of a small
kv property, without and with the per-example leak scan, on the clean build. Run it under the
sanitizer runtime (the harness re-executes itself there). Prints a table and writes
bench/results/forked_examples.json.

    .venv/bin/python bench/forked_examples.py [--examples 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from harness.runtime.sanitizers import SanitizerOptions, ensure_runtime

RESULTS = Path(__file__).resolve().parent / "results"


def measure(examples: int, leak_check: bool) -> dict:
    """Per-example wall time of `examples` forked runs of one put/get/close property."""
    import harness

    kv = harness.load()
    lib = kv.lib
    code = kv.target.code

    @harness.isolated(code, leak_check=leak_check)
    def example(value: bytes) -> None:
        store = lib.kv_open(0)
        lib.kv_put(store, b"key", value, len(value))
        lib.kv_close(store)

    times = []
    for index in range(examples):
        started = time.perf_counter()
        example(bytes([index % 256]) * 16)
        times.append((time.perf_counter() - started) * 1000)
    return {"leak_check": leak_check, "examples": examples, "median_ms": round(statistics.median(times), 2),
            "p90_ms": round(sorted(times)[int(len(times) * 0.9)], 2), "mean_ms": round(statistics.fmean(times), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200)
    args = parser.parse_args()
    ensure_runtime(SanitizerOptions())
    rows = [measure(args.examples, leak_check) for leak_check in (False, True)]
    print(f"{'leak check':>10} {'examples':>8} {'median ms':>10} {'p90 ms':>8} {'mean ms':>8}")
    for row in rows:
        print(f"{'on' if row['leak_check'] else 'off':>10} {row['examples']:>8} {row['median_ms']:>10} "
              f"{row['p90_ms']:>8} {row['mean_ms']:>8}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "forked_examples.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"written {RESULTS / 'forked_examples.json'}")


if __name__ == "__main__":
    main()
