"""The contract-driven sequence driver as a hypothesis state machine.

One rule per function of the target's API (named after it: `state.cfg_set(data=b'...')`);
each rule records the call with the bytes its arguments are drawn from, and the child prints
each call as C, so a failure's message lists the calls with their real arguments. At
teardown harness.stateful runs the recorded calls in a forked child through the same
SequenceDriver the `sequence` fuzzer uses, so the contract is honoured the same way, and a
sanitizer report, a leak or a contract violation becomes a failing example that hypothesis
shrinks, saves in its database and replays first.

    TestCfg = sequence_machine(load(resolve_target("cfg.toml"), "clean")).TestCase
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st
from hypothesis.stateful import rule

from harness.contract.spec import target_contract
from harness.sequence.driver import FuzzedChoices, SequenceDriver
from harness.target.loader import Loaded
from harness.testing.stateful import Executor, IsolatedMachine

STEP_BYTES = 32  # bytes per call: arguments, and handles made on the way


def sequence_machine(loaded: Loaded, step_bytes: int = STEP_BYTES) -> type[IsolatedMachine]:
    """A RuleBasedStateMachine over every callable function of loaded's contract."""
    driver = SequenceDriver(target_contract(loaded.target), loaded.ffi, loaded.lib)

    class SequenceExecutor(Executor):
        """Runs in the forked child, on the driver the parent built (inherited by fork)."""

        def __init__(self) -> None:
            driver.trace = True  # each call as C in the child's output: a failure shows them
            driver.begin()

        def call(self, function: str, data: bytes) -> None:
            violation = driver.call(function, FuzzedChoices(data))
            if violation is not None:
                raise violation

        def finish(self) -> None:
            violation = driver.end()
            if violation is not None:
                raise violation

    namespace: dict[str, object] = {"executor": SequenceExecutor, "target": loaded.target.code}
    for name in driver.plans:
        namespace[name] = rule(data=st.binary(max_size=step_bytes))(_recorder(name))
    slug = "".join(c if c.isalnum() else "_" for c in loaded.target.name)
    return type(f"{slug.capitalize()}Sequence", (IsolatedMachine,), namespace)


def _recorder(function: str) -> Callable[[IsolatedMachine, bytes], None]:
    def record(self: IsolatedMachine, data: bytes) -> None:
        self.program.call("call", function, data)

    record.__name__ = function
    return record
