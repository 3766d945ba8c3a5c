"""Child-process entry: load a target variant, call one Python function, then check leaks.

Run by harness.testing.isolate as `python -m harness.testing.child SPEC_JSON` under the
sanitizer runtime. The function receives a harness.engine.session.Session. A sanitizer report
ends the process by itself; leaks found after the function returns are printed to stderr as a
LeakSanitizer report.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from harness.engine.session import Session
from harness.errors import EXIT_FINDINGS, EXIT_USAGE, HarnessError
from harness.runtime import leaks
from harness.target.loader import load
from harness.target.spec import resolve_target


def import_function(reference: str) -> Any:
    """'path/to/file.py:function' -> the function object."""
    path, _, name = reference.rpartition(":")
    spec = importlib.util.spec_from_file_location(f"_ffih_call_{Path(path).stem}", path)
    if not path or spec is None or spec.loader is None:
        raise HarnessError(f"cannot import {reference!r}: expected path/to/file.py:function")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look their module up there
    spec.loader.exec_module(module)
    return getattr(module, name)


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    try:
        target = resolve_target(spec["target"])
        loaded = load(target, spec["variant"])
        function = import_function(spec["call"])
    except HarnessError as exc:
        print(f"ffi-harness child: {exc}", file=sys.stderr)
        return EXIT_USAGE
    function(Session(loaded))
    gc.collect()
    if spec.get("leak_check", True):
        found = leaks.check(target.code)
        if found:
            sys.stderr.write(found.report)
            sys.stderr.flush()
            return EXIT_FINDINGS
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
