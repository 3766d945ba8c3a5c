#!/usr/bin/env python3
"""A stand-in fuzzer that never ends on SIGINT, as a libFuzzer worker whose interrupt handler
deadlocked in the allocator does: prints a progress line, then ignores the signal."""

from __future__ import annotations

import signal
import sys
import time

signal.signal(signal.SIGINT, signal.SIG_IGN)
sys.stderr.write("#2\tINITED cov: 1 ft: 1 corp: 1/1b exec/s: 0 rss: 30Mb\n")
sys.stderr.flush()
time.sleep(600)
