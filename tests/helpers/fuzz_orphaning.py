#!/usr/bin/env python3
"""A stand-in fuzzer that ends while a forked copy of it still runs, as a worker does when
libFuzzer's crash handler ends it while its copy traces a leak: the copy holds the worker's
output pipe open. Writes the copy's pid to $FFIH_TEST_COPY_PID."""

from __future__ import annotations

import os
import sys
import time

sys.stderr.write("#2\tINITED cov: 1 ft: 1 corp: 1/1b exec/s: 0 rss: 30Mb\n")
sys.stderr.flush()
copy = os.fork()
if copy == 0:
    time.sleep(600)
    os._exit(0)
with open(os.environ["FFIH_TEST_COPY_PID"], "w") as out:
    out.write(str(copy))
sys.stderr.write("Done 2 runs in 0 second(s)\nstat::number_of_executed_units: 2\n")
sys.stderr.flush()
os._exit(0)
