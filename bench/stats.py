"""Statistics for time-to-find with right-censoring at a cap, as Magma and FuzzBench report them.

A trial that did not find the bug within `cap` seconds is censored: its time is recorded as
None and counts as `cap` in the restricted mean (every trial shares the same censoring time,
so the Kaplan-Meier restricted mean survival time is exactly the mean of min(t, cap)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Times = Sequence[float | None]  # seconds to find; None = not found within the cap


def capped(times: Times, cap: float) -> list[float]:
    return [cap if t is None else min(t, cap) for t in times]


def restricted_mean(times: Times, cap: float) -> float:
    """Restricted mean time to find (RMST up to cap)."""
    values = capped(times, cap)
    return sum(values) / len(values) if values else math.nan


def median(times: Times, cap: float) -> float | None:
    """Median time to find; None when half or more of the trials were censored."""
    values = sorted(capped(times, cap))
    if not values or sum(t is None for t in times) * 2 >= len(values):
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def a12(first: Times, second: Times, cap: float) -> float:
    """Vargha-Delaney A12: the probability that a trial of `first` finds the bug sooner than one
    of `second` (ties count half; censored trials tie with each other at the cap)."""
    xs, ys = capped(first, cap), capped(second, cap)
    if not xs or not ys:
        return math.nan
    wins = sum(1.0 if x < y else 0.5 if x == y else 0.0 for x in xs for y in ys)
    return wins / (len(xs) * len(ys))


def mann_whitney_p(first: Times, second: Times, cap: float) -> float:
    """Two-sided Mann-Whitney U test p-value (normal approximation with tie correction)."""
    xs, ys = capped(first, cap), capped(second, cap)
    n1, n2 = len(xs), len(ys)
    if not n1 or not n2:
        return math.nan
    pooled = sorted(xs + ys)
    ranks: dict[float, float] = {}
    ties = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1] == pooled[i]:
            j += 1
        ranks[pooled[i]] = (i + j) / 2 + 1
        ties += (j - i + 1) ** 3 - (j - i + 1)
        i = j + 1
    u = sum(ranks[x] for x in xs) - n1 * (n1 + 1) / 2
    n = n1 + n2
    variance = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if variance <= 0:
        return 1.0
    z = (abs(u - n1 * n2 / 2) - 0.5) / math.sqrt(variance)
    return min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2)))
