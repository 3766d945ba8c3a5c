#!/usr/bin/env python3
"""A real open-source C library nobody wrote for ffi-harness, fuzzed as a user would: libdeflate
(MIT) as vendored by the `deflate` sdist on PyPI, fetched and checked against its SHA-256 into
bench/real/src/, fuzzed by the generic `sequence` fuzzer from its real header and the spec in
bench/real/libdeflate.toml - and from the unreviewed `ffi-harness init` starter of the same
header. A correct library: every finding would be the harness's fault (or a libdeflate bug to
report upstream). Prints a table and writes bench/results/real_library.json.

    .venv/bin/python bench/real_library.py [--seconds 300] [--jobs 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REAL = BENCH / "real"
RESULTS = BENCH / "results"
SDIST = ("https://files.pythonhosted.org/packages/99/37/6822da3fcc811eb6839f4c1165407c4f23580e6b29ea29509c9544f4e604/"
         "deflate-0.9.0.tar.gz")
SHA256 = "962e0a6f1ea3a94b900a8ea0ce138fa92bfcbafda5b86367104a259ffcd3462b"
SOURCE = REAL / "src" / "deflate-0.9.0" / "libdeflate"
SPEC = REAL / "libdeflate.toml"


def fetch() -> None:
    """Download and unpack the sdist once (checked against SHA256)."""
    if SOURCE.is_dir():
        return
    with urllib.request.urlopen(SDIST, timeout=120) as response:  # a fixed https URL, checked below
        data = response.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        raise SystemExit(f"{SDIST}: sha256 {digest}, expected {SHA256}")
    (REAL / "src").mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(suffix=".tar.gz") as archive:
        archive.write(data)
        archive.flush()
        with tarfile.open(archive.name) as tar:
            tar.extractall(REAL / "src", filter="data")


def calls(spec: Path) -> dict[str, object]:
    """Which functions of the header the sequence driver calls, and which it skips and why."""
    from harness.contract.spec import target_contract
    from harness.sequence.plan import plan_all
    from harness.target.spec import resolve_target

    contract = target_contract(resolve_target(str(spec)))
    plans, unsupported = plan_all(contract)
    return {"called": sorted(plans), "skipped_by_spec": list(contract.skipped), "unsupported": unsupported}


def campaign(spec: Path, seconds: int, jobs: int, work: Path) -> dict[str, object]:
    """`ffi-harness fuzz sequence` on spec, clean build: its summary."""
    command = [sys.executable, "-m", "harness", "fuzz", "sequence", "--target", str(spec), "--variant", "clean",
               "--time", str(seconds), "--jobs", str(jobs), "--json", "--no-minimize",
               "--out", str(work / "run"), "--crash-dir", str(work / "crashes")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds * 3 + 600, check=False)
    if not done.stdout.strip():
        raise SystemExit(f"{spec}: no summary (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def starter(work: Path) -> Path:
    """The unreviewed `ffi-harness init` spec of the same header and sources."""
    out = work / "starter" / "libdeflate.toml"
    sources = sorted(str(p) for p in (*SOURCE.glob("lib/*.c"), *SOURCE.glob("lib/x86/*.c")))
    subprocess.run([sys.executable, "-m", "harness", "init", str(SOURCE / "libdeflate.h"), "--sources", *sources,
                    "--out", str(out)], check=True, capture_output=True, text=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS / "real_library.json"))
    args = parser.parse_args()
    fetch()
    rows = {}
    with tempfile.TemporaryDirectory(prefix="ffih-real-") as tmp:
        work = Path(tmp)
        for name, spec in (("spec", SPEC), ("starter", starter(work))):
            summary = campaign(spec, args.seconds, args.jobs, work / name)
            fuzzer = summary["fuzzers"]["sequence"]
            rows[name] = {**calls(spec), "execs": fuzzer["execs"], "exec_per_s": fuzzer["exec_per_s"],
                          "coverage": fuzzer["coverage"], "findings": [
                              {"kind": f["kind"], "function": f["function"], "title": f["title"]}
                              for f in summary["findings"]]}
    print(f"{'libdeflate':10} {'called':>7} {'skipped':>8} {'execs':>10} {'exec/s':>8} {'cov':>6} {'findings':>9}")
    for name, row in rows.items():
        skipped = len(row["skipped_by_spec"]) + len(row["unsupported"])  # type: ignore[arg-type]
        print(f"{name:10} {len(row['called']):>7} {skipped:>8} {row['execs']:>10} {row['exec_per_s']:>8} "  # type: ignore[arg-type]
              f"{row['coverage']:>6} {len(row['findings']):>9}")  # type: ignore[arg-type]
    report = {"library": "libdeflate 1.x (deflate 0.9.0 sdist)", "seconds": args.seconds, "jobs": args.jobs,
              "rows": rows, "measured_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
