"""Real headers build: what cffi cannot lay out is left to the compiler (`[...]`, `{ ...; }`,
`= ...`), inline functions are called through the wrapper, attributes and asm labels are the
compiler's business, system integer types get their size from it, and what cannot be used at
all is one line naming the header's own file and line - never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.campaign.registry import resolve_fuzzers
from harness.campaign.runner import Campaign, CampaignConfig
from harness.contract.spec import target_contract
from harness.target.header import read_header
from harness.target.loader import load
from harness.target.spec import resolve_target

WILD = Path(__file__).parent / "targets" / "wild" / "wild.toml"


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.fixture(scope="module")
def wild():
    return resolve_target(str(WILD))


def test_a_header_written_as_real_ones_are_builds_with_what_the_compiler_knows(wild):
    """wild.h: a union whose array lengths use sizeof and ?:, enumerators computed with sizeof,
    an inline function, attribute macros, an asm label, off_t. cffi's own cdef() rejected the
    union with "unsupported expression" (a traceback and exit 1 from `build`)."""
    loaded = load(wild, "clean")
    ffi, lib = loaded.ffi, loaded.lib
    assert ffi.sizeof("wild_state") == 512 and ffi.sizeof("wild_options") == 4 + 8
    assert (lib.WILD_OK, lib.WILD_ERR_ARG, lib.WILD_ERR_SPACE) == (0, -4, -5)
    assert (lib.WILD_VERSION, lib.WILD_MAX_LEVEL) == (10203, 16)  # integer macros: `#define X ...`
    assert lib.wild_bound_inline(80) == 80 + 10 + 16  # static inline, through the wrapper
    assert lib.wild_checksum(b"ab", 2) == ord("a") * 31 + ord("b")  # asm label wild_checksum_v2
    stream = lib.wild_new(3)
    assert lib.wild_offset(stream) == 0
    assert ffi.sizeof(ffi.typeof(lib.wild_offset).result) == 8  # off_t: `typedef int... off_t;`, sized by clang
    lib.wild_free(stream)


def test_what_cannot_be_used_is_one_line_with_the_headers_own_line(wild):
    header = wild.header
    _, api = read_header(header, wild.include_dirs, wild.defines)
    line = _line_of(header, "#define WILD_BOUND(n)")
    assert [s.split(": ", 1)[1] for s in api.skipped] == [
        "skipped WILD_BOUND: a function-like macro (cffi calls functions)"]
    place = api.skipped[0].split(": ", 1)[0]
    assert place.endswith(f":{line}") and Path(place.rsplit(":", 1)[0]).resolve() == header.resolve(), place
    # attribute helpers (WILD_API, WILD_DEPRECATED) are not API: no line for them
    assert {"wild_bound_inline", "wild_checksum", "wild_offset", "wild_old_bound"} <= set(api.functions)
    assert "wild_pack" in target_contract(wild).functions


@pytest.mark.parametrize(("source", "name", "line"), [
    # Apple blocks: balanced, but pycparser cannot read the caret
    ("int ok_one(int a);\n\n/* one */\n/* two */\nvoid on_done(void (^handler)(int));\nint ok_two(void);\n",
     "on_done", 5),
    # a type from a header the harness does not read
    ("int ok_one(int a);\nmystery_t made_elsewhere(void);\nint ok_two(void);\n", "made_elsewhere", 2),
    # the same in a struct field: pycparser's error names no line (found by bisection)
    ("int ok_one(int a);\nstruct holder {\n  int a;\n  mystery_t b;\n};\nint ok_two(void);\n", "struct holder", 2),
])
def test_a_declaration_pycparser_cannot_read_is_skipped_with_its_line(tmp_path, source, name, line):
    header = tmp_path / "tiny.h"
    header.write_text(source)
    _, api = read_header(header)
    assert set(api.functions) == {"ok_one", "ok_two"}
    (skipped,) = api.skipped
    assert skipped.startswith(f"{header}:{line}: skipped {name}: pycparser cannot read it"), skipped


def test_the_sequence_fuzzer_is_quiet_on_the_real_style_header(tmp_path, wild):
    """Every function the header declares that the contract does not skip is called (the inline
    one, the asm-labelled one, the off_t one) for 20k executions of a correct library."""
    config = CampaignConfig(tuple(resolve_fuzzers(["sequence"], wild)), wild, "clean", tmp_path / "run",
                            seconds=None, runs=20_000, seed=1)
    summary = Campaign(config).run().to_dict()
    assert summary["findings"] == [], [(f["kind"], f["function"]) for f in summary["findings"]]
    assert summary["fuzzers"]["sequence"]["execs"] >= 20_000
