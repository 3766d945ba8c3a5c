"""Replay worker: one process per fuzzer, each input run in its own fork.

Started by harness.replay as `python -m harness.replay_worker FUZZER_SCRIPT` under the
sanitizer runtime. Reads one JSON request per line ({"path", "timeout", "rss_limit_mb"})
and answers one JSON line per request. Importing the fuzzer once and forking per input
isolates every input (a crash, hang or memory blow-up ends only its fork) at the cost of
a fork, not of a new Python process.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from harness.child import import_function
from harness.forked import run_forked
from harness.fuzzing import session

ATHERIS_BANNER = "=== Uncaught Python exception: ==="


def main(script: str) -> int:
    loaded = session().loaded
    test_one_input = import_function(f"{script}:test_one_input")

    def run(data: bytes) -> None:
        try:
            test_one_input(data)
        except BaseException:  # the child prints the traceback: mark it as atheris would
            sys.stderr.write(f"\n{ATHERIS_BANNER}\n")
            raise
    target = loaded.target.code
    out = sys.__stdout__
    for line in sys.stdin:
        request = json.loads(line)
        try:
            data = Path(request["path"]).read_bytes()
        except OSError as exc:
            out.write(json.dumps({"error": f"cannot read input: {exc.strerror}"}) + "\n")
            out.flush()
            continue
        result = run_forked(run, data, target=target, timeout=request.get("timeout", 25.0),
                            rss_limit_mb=request.get("rss_limit_mb"), leak_check=request.get("leak_check", True))
        out.write(json.dumps({"status": result.status, "seconds": result.seconds,
                              "timed_out": result.timed_out,
                              "findings": [f.to_dict() for f in result.findings],
                              "output": result.output[-20000:]}) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
