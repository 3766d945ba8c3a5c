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


class _Scripted:
    """Choices that answer each int() with the next scripted value (checked against its range)."""

    def __init__(self, *answers: int) -> None:
        self.answers = list(answers)

    def int(self, low: int, high: int) -> int:
        value = self.answers.pop(0)
        assert low <= value <= high, (value, low, high)
        return value


def test_an_edit_sets_one_little_endian_field_or_cuts_the_bytes():
    """harness.sequence.values.edit (and its twin in sequence_loop.h, kept equal by
    test_native_loop): at a multiple of its size, a 1, 2 or 4-byte field becomes a random value, its old
    value +/- 1 (wrapping), 0, all ones, 0x7f.. or 0x80..; or the bytes end there. A field that
    would pass the end is narrowed to what is left. Half the time (second choice 0) the field is
    one of those whose value is at most the data's length. The edit says where it was (the
    field's offset: which field is the behaviour feedback's, edited_field)."""
    from harness.sequence.values import edit, edited_field

    header = bytes.fromhex("4b565331" "0100" "0000" "02000000")  # magic, version, flags, count = 2
    # (width 1/2/4, any field, position / width, what): count + 1, count = 0x7fffffff, count = 0x80000000
    assert edit(header, _Scripted(2, 1, 2, 1))[0] == header[:8] + (3).to_bytes(4, "little")
    assert edit(header, _Scripted(2, 1, 2, 5))[0] == header[:8] + bytes.fromhex("ffffff7f")
    assert edit(header, _Scripted(2, 1, 2, 6))[0] == header[:8] + bytes.fromhex("00000080")
    assert edit(header, _Scripted(1, 1, 2, 2))[0] == header[:4] + bytes.fromhex("0000") + header[6:]  # version - 1
    assert edit(header, _Scripted(1, 1, 3, 2))[0] == header[:6] + bytes.fromhex("ffff") + header[8:]  # 0 - 1 wraps
    assert edit(header, _Scripted(0, 1, 0, 0, 0x41))[0] == b"A" + header[1:]
    assert edit(header, _Scripted(0, 1, 5, 7))[0] == header[:5]  # cut short
    odd = header + b"xy"  # 14 bytes: a 4-byte field at 12 is narrowed to the 2 left
    assert edit(odd, _Scripted(2, 1, 3, 4))[0] == header + bytes.fromhex("ffff")
    # the fields whose value fits in the 12 bytes: as 4-byte fields 1 (version, flags) and 2 (count)
    assert edit(header, _Scripted(2, 0, 1, 1))[0] == header[:8] + (3).to_bytes(4, "little")  # the second: count + 1
    assert edit(header, _Scripted(1, 0, 0, 2))[0] == header[:4] + bytes.fromhex("0000") + header[6:]  # version - 1
    assert edit(b"\xff" * 8, _Scripted(2, 0, 1, 3))[0] == b"\xff" * 4 + bytes(4)  # none fits: any field
    assert edit(header, _Scripted(2, 1, 2, 1))[1] == 8 and edit(header, _Scripted(0, 1, 5, 7))[1] == 5
    assert [edited_field(at) for at in (0, 3, 4, 38, 62, 63, 4000)] == [1, 4, 5, 39, 63, 64, 64]
