#!/usr/bin/env python3
"""Drive a hypothesis @given test with atheris: one property serves CI and campaigns.

    python fuzzers/fuzz_property.py tests/properties.py:lossy_utf8_matches_python -runs=10000

The property's own strategies decode each libFuzzer input (hypothesis's fuzz_one_input),
so coverage guidance explores what the strategies can express.
"""

from __future__ import annotations

import sys

from harness.engine.session import run_fuzzer
from harness.testing.child import import_function

if __name__ == "__main__":
    if len(sys.argv) < 2 or ":" not in sys.argv[1]:
        sys.exit("usage: fuzz_property.py path/to/file.py:property [libFuzzer flags...]")
    prop = import_function(sys.argv[1])
    run_fuzzer(prop.hypothesis.fuzz_one_input, [sys.argv[0], *sys.argv[2:]])
