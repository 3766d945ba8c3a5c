#!/usr/bin/env python3
"""Unreviewed starters: for each library, the spec `ffi-harness init` writes from its header,
fuzzed as it is by the sequence fuzzer on the clean (correct) build. Any finding is a false
positive of the starter or of the driver. Prints a table and writes bench/results/starters.json.

    .venv/bin/python bench/starters.py [--time 300] [--jobs 2] [--out FILE] [LIBRARY ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.campaign.registry import resolve_fuzzers
from harness.campaign.runner import Campaign, CampaignConfig
from harness.contract.spec import target_contract
from harness.target.spec import resolve_target

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
LIBRARIES = {
    "kv": ("target_c/include/kv.h", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "target_c" / "src").glob("*.c"))),
    "cfg": ("tests/targets/cfgdoc/include/cfg.h", ["tests/targets/cfgdoc/src/cfg.c"]),
    "shapes": ("tests/targets/shapes/include/shapes.h", ["tests/targets/shapes/src/shapes.c"]),
    "wild": ("tests/targets/wild/include/wild.h", ["tests/targets/wild/src/wild.c"]),
    "zs": ("tests/targets/stream/include/zs.h", ["tests/targets/stream/src/zs.c"]),
    "dt": ("tests/targets/doctree/include/dt.h", ["tests/targets/doctree/src/dt.c"]),
}


def starter(name: str, folder: Path) -> Path:
    """The spec init writes for library name, in folder."""
    header, sources = LIBRARIES[name]
    out = folder / f"{name}.toml"
    subprocess.run([sys.executable, "-m", "harness", "init", str(ROOT / header), "--sources",
                    *(str(ROOT / s) for s in sources), "--out", str(out)], check=True, capture_output=True)
    return out


def measure(name: str, seconds: float, jobs: int, folder: Path) -> dict:
    spec = starter(name, folder)
    target = resolve_target(str(spec))
    contract = target_contract(target)
    config = CampaignConfig(tuple(resolve_fuzzers(["sequence"], target)), target, "clean", folder / f"run-{name}",
                            seconds=seconds, runs=None, jobs=jobs, seed=1)
    summary = Campaign(config).run().to_dict()
    stats = summary["fuzzers"]["sequence"]
    return {"library": name, "functions": len(contract.functions), "skipped": len(contract.skipped),
            "seconds": seconds, "jobs": jobs, "execs": stats["execs"], "exec_per_s": stats["exec_per_s"],
            "coverage": stats["coverage"], "findings": [f["title"] for f in summary["findings"]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("libraries", nargs="*", help=f"default: all of {', '.join(LIBRARIES)}")
    parser.add_argument("--time", type=float, default=300.0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "starters.json")
    args = parser.parse_args()
    unknown = set(args.libraries) - set(LIBRARIES)
    if unknown:
        parser.error(f"unknown libraries {sorted(unknown)}: choose from {', '.join(LIBRARIES)}")
    args.libraries = args.libraries or list(LIBRARIES)
    rows = []
    with tempfile.TemporaryDirectory(prefix="ffih-starters-") as scratch:
        for name in args.libraries:
            rows.append(measure(name, args.time, args.jobs, Path(scratch)))
            row = rows[-1]
            print(f"{row['library']:8} {row['functions']:3} called {row['skipped']:2} skipped "
                  f"{row['execs']:>9} execs {row['exec_per_s']:>8.0f}/s cov {row['coverage']:4} "
                  f"findings {len(row['findings'])} {row['findings'][:3]}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
