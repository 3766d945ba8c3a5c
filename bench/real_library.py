#!/usr/bin/env python3
"""Real open-source C libraries nobody wrote for ffi-harness, fuzzed as a user would: each fetched
from its PyPI sdist (checked against its SHA-256) into bench/real/src/, fuzzed by the generic
`sequence` fuzzer from its real header and the spec in bench/real/<name>.toml - and from the
unreviewed `ffi-harness init` starter of the same header. Correct libraries: every finding would
be the harness's fault (or a bug to report upstream). Prints a table per library and writes
bench/results/real_library.json (libdeflate) or real_library_<name>.json.

  libdeflate  libdeflate (MIT) as vendored by the `deflate` 0.9.0 sdist: one-shot buffers
  lz4frame    lz4's frame API (BSD-2) as vendored by the `lz4` 4.4.4 sdist: contexts made through
              a T ** parameter, streaming with in/out size pointers, NULL option structs

    .venv/bin/python bench/real_library.py [--library libdeflate] [--seconds 300] [--jobs 2]
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
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REAL = BENCH / "real"
RESULTS = BENCH / "results"


@dataclass(frozen=True)
class RealLibrary:
    """A library vendored by a PyPI sdist: where to fetch it, its header and its C sources."""

    name: str
    title: str
    sdist: str
    sha256: str
    source: str  # the library's folder inside bench/real/src
    header: str  # relative to source
    sources: tuple[str, ...]  # globs relative to source

    @property
    def folder(self) -> Path:
        return REAL / "src" / self.source

    @property
    def spec(self) -> Path:
        return REAL / f"{self.name}.toml"


PYPI = "https://files.pythonhosted.org/packages/"
LIBRARIES = {library.name: library for library in (
    RealLibrary("libdeflate", "libdeflate 1.x (deflate 0.9.0 sdist)",
                PYPI + "99/37/6822da3fcc811eb6839f4c1165407c4f23580e6b29ea29509c9544f4e604/deflate-0.9.0.tar.gz",
                "962e0a6f1ea3a94b900a8ea0ce138fa92bfcbafda5b86367104a259ffcd3462b", "deflate-0.9.0/libdeflate",
                "libdeflate.h", ("lib/*.c", "lib/x86/*.c")),
    RealLibrary("lz4frame", "lz4 frame API 1.10 (lz4 4.4.4 sdist)",
                PYPI + "c6/5a/945f5086326d569f14c84ac6f7fcc3229f0b9b1e8cc536b951fd53dfb9e1/lz4-4.4.4.tar.gz",
                "070fd0627ec4393011251a094e08ed9fdcc78cb4e7ab28f507638eee4e39abda", "lz4-4.4.4/lz4libs",
                "lz4frame.h", ("lz4frame.c", "lz4.c", "lz4hc.c", "xxhash.c")),
)}


def fetch(library: RealLibrary) -> None:
    """Download and unpack the library's sdist once (checked against its SHA-256)."""
    if library.folder.is_dir():
        return
    with urllib.request.urlopen(library.sdist, timeout=120) as response:  # a fixed https URL, checked below
        data = response.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != library.sha256:
        raise SystemExit(f"{library.sdist}: sha256 {digest}, expected {library.sha256}")
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


def starter(library: RealLibrary, work: Path) -> Path:
    """The unreviewed `ffi-harness init` spec of the same header and sources."""
    out = work / "starter" / f"{library.name}.toml"
    sources = sorted(str(p) for pattern in library.sources for p in library.folder.glob(pattern))
    subprocess.run([sys.executable, "-m", "harness", "init", str(library.folder / library.header), "--sources",
                    *sources, "--out", str(out)], check=True, capture_output=True, text=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", choices=sorted(LIBRARIES), default="libdeflate")
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=None, help="default: bench/results/real_library[_<name>].json")
    args = parser.parse_args()
    library = LIBRARIES[args.library]
    out = Path(args.out) if args.out else \
        RESULTS / ("real_library.json" if library.name == "libdeflate" else f"real_library_{library.name}.json")
    fetch(library)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="ffih-real-") as tmp:
        work = Path(tmp)
        for name, spec in (("spec", library.spec), ("starter", starter(library, work))):
            summary = campaign(spec, args.seconds, args.jobs, work / name)
            fuzzer = summary["fuzzers"]["sequence"]
            rows[name] = {**calls(spec), "execs": fuzzer["execs"], "exec_per_s": fuzzer["exec_per_s"],
                          "coverage": fuzzer["coverage"], "findings": [
                              {"kind": f["kind"], "function": f["function"], "title": f["title"]}
                              for f in summary["findings"]]}
    print(f"{library.name:10} {'called':>7} {'skipped':>8} {'execs':>10} {'exec/s':>8} {'cov':>6} {'findings':>9}")
    for name, row in rows.items():
        skipped = len(row["skipped_by_spec"]) + len(row["unsupported"])  # type: ignore[arg-type]
        print(f"{name:10} {len(row['called']):>7} {skipped:>8} {row['execs']:>10} {row['exec_per_s']:>8} "  # type: ignore[arg-type]
              f"{row['coverage']:>6} {len(row['findings']):>9}")  # type: ignore[arg-type]
    report = {"library": library.title, "seconds": args.seconds, "jobs": args.jobs,
              "rows": rows, "measured_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
