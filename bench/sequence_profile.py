#!/usr/bin/env python3
"""Where the generic sequence driver's time goes, without libFuzzer: each library's clean build
driven in this process (under the sanitizer runtime, as a fuzzer runs) over the same seeded
random inputs; microseconds per input and per C call for the Python driver and for the native
loop compiled from the same contract (the same calls), and the Python functions that cost most
(cProfile, own time). Prints a table and writes bench/results/sequence_profile.json.

    .venv/bin/python bench/sequence_profile.py [--inputs 3000]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import pstats
import random
import time
from pathlib import Path

from harness.runtime.sanitizers import SanitizerOptions, ensure_runtime

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
TARGETS = BENCH.parent / "tests" / "targets"
LIBRARIES = {"kv": None, "cfg": TARGETS / "cfgdoc" / "cfg.toml", "shapes": TARGETS / "shapes" / "shapes.toml",
             "wild": TARGETS / "wild" / "wild.toml", "zs": TARGETS / "stream" / "zs.toml",
             "dt": TARGETS / "doctree" / "dt.toml"}
TOP = 8


def profile(spec: Path | None, inputs: list[bytes]) -> dict[str, object]:
    """Time the driver over inputs; then profile one more pass."""
    from harness.contract.spec import target_contract
    from harness.engine.recovery import ContractViolation
    from harness.sequence.driver import FuzzedChoices, SequenceDriver
    from harness.sequence.native import native_loop
    from harness.target.loader import load
    from harness.target.spec import resolve_target

    loaded = load(resolve_target(str(spec) if spec else None), "clean")
    driver = SequenceDriver(target_contract(loaded.target), loaded.ffi, loaded.lib)
    calls = 0
    call = driver._call

    def counted(*args: object) -> None:
        nonlocal calls
        calls += 1
        call(*args)  # type: ignore[arg-type]

    def run_all() -> None:
        for data in inputs:
            with contextlib.suppress(ContractViolation):
                driver.run(FuzzedChoices(data))

    driver._call = counted  # type: ignore[method-assign]
    run_all()  # warm up and count
    driver._call = call  # type: ignore[method-assign]
    started = time.perf_counter()
    run_all()
    seconds = time.perf_counter() - started
    profiler = cProfile.Profile()
    profiler.runcall(run_all)
    loop, _ = native_loop(driver, loaded.target)
    native = None
    if loop is not None:
        for data in inputs:  # warm up
            with contextlib.suppress(ContractViolation):
                loop.run(data)
        started = time.perf_counter()
        for data in inputs:
            with contextlib.suppress(ContractViolation):
                loop.run(data)
        native = time.perf_counter() - started
    stats = pstats.Stats(profiler)
    own = sorted(stats.stats.items(), key=lambda item: -item[1][2])[:TOP]  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.stats.values()) or 1  # type: ignore[attr-defined]
    return {"inputs_per_s": round(len(inputs) / seconds), "calls_per_input": round(calls / len(inputs), 2),
            "us_per_input": round(seconds / len(inputs) * 1e6, 1),
            "us_per_call": round(seconds / max(calls, 1) * 1e6, 2),
            "native_inputs_per_s": round(len(inputs) / native) if native else None,
            "native_us_per_input": round(native / len(inputs) * 1e6, 2) if native else None,
            "native_us_per_call": round(native / max(calls, 1) * 1e6, 3) if native else None,
            "top": [{"function": f"{Path(f).name}:{line}({name})", "share": round(v[2] / total, 3)}
                    for (f, line, name), v in own]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=3000)
    parser.add_argument("--out", default=str(RESULTS / "sequence_profile.json"))
    args = parser.parse_args()
    ensure_runtime(SanitizerOptions())
    rng = random.Random(1)
    inputs = [bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200))) for _ in range(args.inputs)]
    rows = {name: profile(spec, inputs) for name, spec in LIBRARIES.items()}
    print(f"{'library':8} {'calls/input':>12} {'Python us/input':>16} {'us/call':>8} {'native us/input':>16} "
          f"{'us/call':>8}  Python's most own time")
    for name, row in rows.items():
        top = ", ".join(f"{t['function']} {t['share']:.0%}" for t in row["top"][:3])  # type: ignore[index]
        print(f"{name:8} {row['calls_per_input']:>12} {row['us_per_input']:>16} {row['us_per_call']:>8} "
              f"{row['native_us_per_input'] or '-':>16} {row['native_us_per_call'] or '-':>8}  {top}")
    Path(args.out).write_text(json.dumps({"inputs": args.inputs, "libraries": rows,
                                          "measured_at": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
