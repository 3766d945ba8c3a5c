"""The sequence driver decodes an input into the same calls, with the same arguments, from one
version to the next: a saved corpus, a stored crash and a hypothesis database entry mean what
they meant when they were found. A fixed set of inputs is run on the clean cfg library with the
trace on, and the calls (as C, handle numbers aside) must match the stored ones. Change the
decoding on purpose only: then delete the fixture, run this test once to write it, and commit."""

from __future__ import annotations

import random
import re
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "sequence-decoding-cfg.txt"
CFG_SPEC = Path(__file__).parent / "targets" / "cfgdoc" / "cfg.toml"
INPUTS = 200


def decoded_calls(capfd) -> str:
    """The trace of INPUTS seeded random inputs, one block per input, handle numbers as #N."""
    from harness.contract.spec import target_contract
    from harness.engine.recovery import ContractViolation
    from harness.sequence.driver import FuzzedChoices, SequenceDriver
    from harness.target.loader import load
    from harness.target.spec import resolve_target

    loaded = load(resolve_target(str(CFG_SPEC)), "clean")
    driver = SequenceDriver(target_contract(loaded.target), loaded.ffi, loaded.lib, trace=True)
    rng = random.Random(7)
    blocks = []
    for _ in range(INPUTS):
        data = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
        try:
            driver.run(FuzzedChoices(data))
            ended = "--"
        except ContractViolation as violation:
            ended = f"-- {violation.kind}"
        blocks.append(capfd.readouterr().err + ended + "\n")
    return re.sub(r"#\d+", "#N", "".join(blocks))


def test_inputs_decode_to_the_calls_they_always_did(capfd):
    calls = decoded_calls(capfd)
    if not FIXTURE.exists():
        FIXTURE.write_text(calls)
        raise AssertionError(f"{FIXTURE} written: review it and commit it")
    assert calls == FIXTURE.read_text()
