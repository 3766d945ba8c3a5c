#!/usr/bin/env python3
"""Replay throughput: inputs per second with isolation (one fork per input), on corpora of
realistic size and on the crash store. Prints a table and writes
bench/results/replay_throughput.json.

Each fuzzer first runs `--grow` executions (clean build, seed 1) from its seed corpus into a
scratch folder, so the replayed corpus is what a short campaign leaves behind, not 8 seeds.
Rows: every corpus replayed alone (start-up included), then all of them in one replay (what
`ffi-harness replay` of a whole campaign does), then the crash store on the planted build.

    .venv/bin/python bench/replay_throughput.py [--jobs 2] [--grow 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.campaign.registry import fuzzer
from harness.config import worker_environment
from harness.runtime.sanitizers import SanitizerOptions, child_environment
from harness.store.replay import ReplayCase, collect_cases, replay
from harness.target.spec import Target, resolve_target

RESULTS = Path(__file__).resolve().parent / "results"


def grow_corpus(name: str, runs: int, into: Path) -> Path:
    """A corpus for fuzzer name: its seeds plus what `runs` executions kept."""
    spec = fuzzer(name, resolve_target(None))
    corpus = into / name
    corpus.mkdir(parents=True)
    env = child_environment(SanitizerOptions(python_malloc=spec.python_malloc))
    env.update(worker_environment(variant="clean"))
    seeds = [str(spec.seeds)] if spec.seeds.is_dir() else []
    subprocess.run([sys.executable, str(spec.script), str(corpus), *seeds, f"-runs={runs}", "-seed=1",
                    f"-artifact_prefix={into}/", "-print_final_stats=0"],
                   env=env, capture_output=True, timeout=600, check=False)
    return corpus


def timed(cases: list[ReplayCase], target: Target, variant: str, jobs: int, label: str) -> dict:
    started = time.monotonic()
    results = replay(cases, target, variant, jobs=jobs)
    seconds = time.monotonic() - started
    per_input = sorted(r.seconds for r in results)
    return {"corpus": label, "inputs": len(results), "seconds": round(seconds, 2),
            "inputs_per_s": round(len(results) / seconds, 1),
            "fork_ms_median": round(1000 * per_input[len(per_input) // 2], 1) if per_input else 0.0,
            "verdicts": {v: sum(r.verdict == v for r in results) for v in sorted({r.verdict for r in results})}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--grow", type=int, default=3000, help="executions that grow each corpus first")
    parser.add_argument("--out", type=Path, default=RESULTS / "replay_throughput.json")
    args = parser.parse_args()
    target = resolve_target(None)
    rows = []
    everything: list[ReplayCase] = []
    with tempfile.TemporaryDirectory(prefix="ffih-bench-replay-") as scratch:
        for name in resolve_target(None).fuzzers:
            cases = collect_cases([grow_corpus(name, args.grow, Path(scratch))], target, name)
            everything += cases
            rows.append(timed(cases, target, "clean", args.jobs, name))
        rows.append(timed(everything, target, "clean", args.jobs, "all corpora, one replay"))
    crashes = resolve_target(None).crash_dir
    if crashes.is_dir():
        rows.append(timed(collect_cases([crashes], target), target, "planted", args.jobs, "crash store (planted)"))
    print(f"{'corpus':26} {'inputs':>7} {'seconds':>8} {'inputs/s':>9} {'fork ms':>8}  verdicts")
    for row in rows:
        verdicts = ",".join(f"{v}={n}" for v, n in row["verdicts"].items())
        print(f"{row['corpus']:26} {row['inputs']:>7} {row['seconds']:>8} {row['inputs_per_s']:>9} "
              f"{row['fork_ms_median']:>8}  {verdicts}")
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps({"jobs": args.jobs, "grow_runs": args.grow, "cpus": os.cpu_count(),
                                    "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
