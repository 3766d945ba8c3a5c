#!/usr/bin/env python3
"""Replay throughput: inputs per second with isolation (one fork per input), on the seed
and crash corpora. Prints a table and writes bench/results/replay_throughput.json.

    .venv/bin/python bench/replay_throughput.py [--jobs 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from harness.fuzzers import CORPUS_DIR, NAMES
from harness.replay import collect_cases, replay
from harness.target import resolve_target

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="replay every input this many times")
    args = parser.parse_args()
    target = resolve_target(None)
    rows = []
    for name in NAMES:
        cases = collect_cases([CORPUS_DIR / name], target, name) * args.repeat
        started = time.monotonic()
        results = replay(cases, target, "clean", jobs=args.jobs)
        seconds = time.monotonic() - started
        rows.append({"fuzzer": name, "inputs": len(results), "seconds": round(seconds, 2),
                     "inputs_per_s": round(len(results) / seconds, 1),
                     "verdicts": sorted({r.verdict for r in results})})
    crashes = collect_cases([CORPUS_DIR / "crashes"], target) if (CORPUS_DIR / "crashes").is_dir() else []
    if crashes:
        started = time.monotonic()
        results = replay(crashes * args.repeat, target, "planted", jobs=args.jobs)
        seconds = time.monotonic() - started
        rows.append({"fuzzer": "crashes (planted)", "inputs": len(results), "seconds": round(seconds, 2),
                     "inputs_per_s": round(len(results) / seconds, 1),
                     "verdicts": sorted({r.verdict for r in results})})
    print(f"{'corpus':20} {'inputs':>7} {'seconds':>8} {'inputs/s':>9}  verdicts")
    for row in rows:
        print(f"{row['fuzzer']:20} {row['inputs']:>7} {row['seconds']:>8} {row['inputs_per_s']:>9}  "
              f"{','.join(row['verdicts'])}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "replay_throughput.json").write_text(json.dumps({"jobs": args.jobs, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
