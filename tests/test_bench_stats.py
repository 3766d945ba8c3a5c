"""The time-to-find statistics of bench/stats.py on hand-checked cases."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

SPEC = importlib.util.spec_from_file_location("bench_stats", Path(__file__).parent.parent / "bench" / "stats.py")
assert SPEC is not None and SPEC.loader is not None
stats = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(stats)


def test_censored_trials_count_as_the_cap():
    times = [10.0, 20.0, None, None]
    assert stats.restricted_mean(times, 60) == (10 + 20 + 60 + 60) / 4
    assert stats.median(times, 60) is None  # half censored: the median is not known
    assert stats.median([10.0, 30.0, None], 60) == 30.0


def test_a12_and_mann_whitney():
    sooner, later = [1.0, 2.0, 3.0], [4.0, 5.0, 6.0]
    assert stats.a12(sooner, later, 60) == 1.0
    assert stats.a12(later, sooner, 60) == 0.0
    assert stats.a12([None, None], [None, None], 60) == 0.5  # all censored: a tie
    # U = 0 for n1 = n2 = 3: normal approximation with continuity correction, z = 4 / sqrt(5.25)
    assert math.isclose(stats.mann_whitney_p(sooner, later, 60), math.erfc(4 / math.sqrt(5.25) / math.sqrt(2)))
    assert stats.mann_whitney_p([5.0, 5.0], [5.0, 5.0], 60) == 1.0
