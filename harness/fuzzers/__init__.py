"""The generic fuzzer scripts every target gets (run as scripts: libFuzzer re-runs argv[0])."""
