"""The fuzzing engine inside a worker process: the session and run_fuzzer, the data provider
and driver helpers, leak watch, recovery after non-fatal findings, and the parent/worker protocol."""
