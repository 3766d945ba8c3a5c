"""The contract-driven sequence driver: any C API fuzzed from its header and contract, as a
fuzzer and as a hypothesis state machine."""
