#!/usr/bin/env python3
"""A stand-in fuzzer that never ends when asked to stop, as a worker stuck in a hanging input or
a deadlock does: prints a progress line, then ignores the campaign's stop signal and SIGINT."""

from __future__ import annotations

import signal
import sys
import time

signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGUSR1, signal.SIG_IGN)
sys.stderr.write("#2\tINITED cov: 1 ft: 1 corp: 1/1b exec/s: 0 rss: 30Mb\n")
sys.stderr.flush()
time.sleep(600)
