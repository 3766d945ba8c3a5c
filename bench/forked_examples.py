#!/usr/bin/env python3
"""Cost of a forked hypothesis example (harness.isolated): milliseconds per example of a small
kv property on the clean build, under the pytest plugin's sanitizer settings, for each way of
running it: a fresh fork per example or a reused worker, and no leak check, the per-example
check ("example": scan only when a target block allocated in the example survives) or a full
scan after every example. Prints a table and writes bench/results/forked_examples.json.

    .venv/bin/python bench/forked_examples.py [--examples 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from harness.runtime.sanitizers import ensure_runtime, test_process_options

RESULTS = Path(__file__).resolve().parent / "results"
MODES = [(reuse, leak_check) for reuse in (False, True) for leak_check in (False, "example", True)]


def measure(examples: int, reuse: bool, leak_check: bool | str) -> dict:
    """Per-example wall time of `examples` isolated runs of one put/get/close property."""
    import harness

    kv = harness.load()
    lib = kv.lib

    @harness.isolated(kv.target.code, leak_check=leak_check, reuse=reuse)
    def example(value: bytes) -> None:
        store = lib.kv_open(0)
        lib.kv_put(store, b"key", value, len(value))
        lib.kv_close(store)

    times = []
    for index in range(examples):
        started = time.perf_counter()
        example(bytes([index % 256]) * 16)
        times.append((time.perf_counter() - started) * 1000)
    return {"reuse": reuse, "leak_check": leak_check, "examples": examples,
            "median_ms": round(statistics.median(times), 2),
            "p90_ms": round(sorted(times)[int(len(times) * 0.9)], 2), "mean_ms": round(statistics.fmean(times), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200)
    args = parser.parse_args()
    ensure_runtime(test_process_options())
    rows = [measure(args.examples, reuse, leak_check) for reuse, leak_check in MODES]
    print(f"{'runs in':>12} {'leak check':>10} {'examples':>8} {'median ms':>10} {'p90 ms':>8} {'mean ms':>8}")
    for row in rows:
        where = "worker" if row["reuse"] else "fresh fork"
        check = {False: "off", True: "full"}.get(row["leak_check"], row["leak_check"])
        print(f"{where:>12} {check:>10} {row['examples']:>8} {row['median_ms']:>10} "
              f"{row['p90_ms']:>8} {row['mean_ms']:>8}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "forked_examples.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"written {RESULTS / 'forked_examples.json'}")


if __name__ == "__main__":
    main()
