"""Replay worker: one process per replay job, each input run in its own fork.

Started by harness.replay as `python -m harness.replay_worker` under the sanitizer runtime,
with the target and variant in the environment. Reads one JSON request per line
({"script", "path", "timeout", "rss_limit_mb", "leak_check"}) and answers one JSON line per
request. The target is loaded once and each fuzzer script imported on first use, so one
worker serves every fuzzer; forking per input isolates every input (a crash, hang or memory
blow-up ends only its fork) at the cost of a fork, not of a new Python process.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from harness.engine.session import session
from harness.testing.child import import_function
from harness.testing.forked import run_forked

ATHERIS_BANNER = "=== Uncaught Python exception: ==="


def _as_atheris(test_one_input: Callable[[bytes], None]) -> Callable[[bytes], None]:
    """test_one_input, marking an uncaught exception as atheris would (the child prints it)."""

    def run(data: bytes) -> None:
        try:
            test_one_input(data)
        except BaseException:
            sys.stderr.write(f"\n{ATHERIS_BANNER}\n")
            raise
    return run


def main() -> int:
    target = session().loaded.target.code
    functions: dict[str, Callable[[bytes], None]] = {}
    out = sys.__stdout__
    for line in sys.stdin:
        request = json.loads(line)
        answer: dict[str, object]
        try:
            script = request["script"]
            if script not in functions:
                functions[script] = _as_atheris(import_function(f"{script}:test_one_input"))
            data = Path(request["path"]).read_bytes()
        except OSError as exc:
            answer = {"error": f"cannot read input: {exc.strerror}"}
        except Exception as exc:  # an import failure is this fuzzer's, not every other's
            answer = {"error": "the fuzzer could not start: "
                               + "".join(traceback.format_exception_only(exc)).strip()}
        else:
            result = run_forked(functions[script], data, target=target, timeout=request.get("timeout", 25.0),
                                rss_limit_mb=request.get("rss_limit_mb"),
                                leak_check=request.get("leak_check", True))
            answer = {"status": result.status, "seconds": result.seconds, "timed_out": result.timed_out,
                      "findings": [f.to_dict() for f in result.findings], "output": result.output[-20000:]}
        out.write(json.dumps(answer) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
