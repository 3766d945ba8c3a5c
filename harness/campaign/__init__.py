"""Campaigns: the fuzzer registry, workers run and restarted, findings recorded live, progress,
the end-of-campaign report, minimization."""
