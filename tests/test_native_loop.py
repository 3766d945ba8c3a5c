"""The sequence fuzzer's native loop (harness.sequence.native) makes exactly the calls the
Python driver makes: for seeded random inputs and on each library whose contract it can make,
both paths' records - every call with its arguments, its result and the handles it made - are
equal, input by input. A difference would mean a finding of the fast path that replays as
something else (or nothing) through the Python driver that traces and triages it."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

TARGETS = Path(__file__).parent / "targets"
SPECS = {"wild": TARGETS / "wild" / "wild.toml", "zs": TARGETS / "stream" / "zs.toml",
         "cfg": TARGETS / "cfgdoc" / "cfg.toml", "shapes": TARGETS / "shapes" / "shapes.toml",
         "kv": Path(__file__).parent.parent / "target_c" / "target.toml", "dt": TARGETS / "doctree" / "dt.toml"}


def _paths(spec: Path, variant: str = "clean"):
    from harness.contract.spec import target_contract
    from harness.sequence.driver import SequenceDriver
    from harness.sequence.native import native_loop
    from harness.target.loader import load
    from harness.target.spec import resolve_target

    loaded = load(resolve_target(str(spec)), variant)
    driver = SequenceDriver(target_contract(loaded.target), loaded.ffi, loaded.lib)
    loop, why = native_loop(driver, loaded.target)
    return driver, loop, why


def _python_record(driver, data: bytes) -> str:
    from harness.engine.recovery import ContractViolation
    from harness.sequence.driver import FuzzedChoices
    from harness.sequence.trace import violation_line

    driver.record = []
    ended = ""
    try:
        driver.run(FuzzedChoices(data))
    except ContractViolation as violation:
        ended = violation_line(violation)
    finally:
        record, driver.record = driver.record, None
    return "".join(record) + ended


# (library, variant, contract violations expected): clean builds, and one-bug builds whose bug only
# the driver sees (a callback after unwatch, a release never called)
CASES = [("wild", "clean", False), ("zs", "clean", False), ("cfg", "clean", False), ("shapes", "clean", False),
         ("kv", "clean", False), ("dt", "clean", False),
         ("cfg", "unwatch-keeps-last", True), ("cfg", "free-skips-release", True)]


def _in_fork(records, datas: list[bytes]) -> list[str]:
    """records(data) for each input, in order, in a forked child: each path starts from the same
    library state (kv's last error outlives an input, and the other path would change it)."""
    import json
    import tempfile

    with tempfile.TemporaryFile("w+") as out:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            status = 1
            try:
                json.dump([records(data) for data in datas], out)
                out.flush()
                status = 0
            finally:
                os._exit(status)
        _, status = os.waitpid(pid, 0)
        assert status == 0, f"the recording child failed ({status})"
        out.seek(0)
        return json.load(out)


@pytest.mark.parametrize(("library", "variant", "violations"), CASES)
def test_the_native_loop_makes_the_calls_the_python_driver_makes(library, variant, violations):
    driver, loop, why = _paths(SPECS[library], variant)
    assert loop is not None, why
    rng = random.Random(11)
    datas = [bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 400))) for _ in range(400)]
    native = _in_fork(loop.record, datas)
    python = _in_fork(lambda data: _python_record(driver, data), datas)
    for number, data in enumerate(datas):
        assert native[number] == python[number], f"input {number}: {data.hex()}"
    text = "".join(python)
    assert text.count("\n") > 2000  # the inputs made real sequences, not empty runs
    assert ("\n-- " in text) == violations, [line for line in text.splitlines() if line.startswith("--")][:3]


@pytest.mark.parametrize("library", ["cfg", "kv", "dt", "shapes"])
def test_the_paths_agree_on_a_fuzzed_corpus(tmp_path, library):
    """Random bytes seldom reach deep state (a call from inside a callback, a child detached, a
    borrow ended by `until`); a corpus the fuzzer grew does. 30k seeded executions, then every
    input of the corpus recorded by both paths."""
    env = {**os.environ, "FFI_HARNESS_TARGET": str(SPECS[library]), "FFI_HARNESS_VARIANT": "clean"}
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    grown = subprocess.run([sys.executable, "-m", "harness.fuzzers.fuzz_sequence", str(corpus), "-runs=30000",
                            "-seed=5", f"-artifact_prefix={tmp_path}/"], capture_output=True, text=True, env=env,
                           timeout=600)
    assert grown.returncode == 0, grown.stderr[-2000:]
    datas = [path.read_bytes() for path in sorted(corpus.iterdir())]
    assert len(datas) > 100, len(datas)
    driver, loop, why = _paths(SPECS[library])
    assert loop is not None, why
    native = _in_fork(loop.record, datas)
    python = _in_fork(lambda data: _python_record(driver, data), datas)
    for number, data in enumerate(datas):
        assert native[number] == python[number], f"input {number}: {data.hex()}"
    # an input makes the same calls whatever ran before it, or a crash found in a campaign does
    # not replay alone: kv_last_error's message from an earlier input, once reused as a key, made
    # 44 of 737 inputs call differently; kv_last_error_copy's status (it depends on that message's
    # length), once reused as kv_open's flags, 1 of 806. What the library answers may differ.
    backwards = _in_fork(loop.record, datas[::-1])[::-1]
    for number, data in enumerate(datas):
        assert _calls(native[number]) == _calls(backwards[number]), f"input {number}: {data.hex()}"


def _calls(record: str) -> list[str]:
    """A record's calls and their arguments, without what they returned."""
    return [line.split(" -> ")[0] for line in record.splitlines()]


def _report(library: str, data_file: Path, bug: str, native: bool, tmp: Path) -> str:
    env = {**os.environ, "FFI_HARNESS_TARGET": str(SPECS[library]), "FFI_HARNESS_VARIANT": bug,
           "FFI_HARNESS_NATIVE_LOOP": "1" if native else "0"}
    done = subprocess.run([sys.executable, "-m", "harness.fuzzers.fuzz_sequence", str(data_file),
                           f"-artifact_prefix={tmp}/"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=env, timeout=300)
    assert ("native loop" if native else "Python driver") in done.stdout.splitlines()[0]
    return done.stdout


@pytest.mark.parametrize(("library", "bug"), [("zs", "compress-exact-fit"), ("zs", "dict-replace-leak"),
                                              ("cfg", "free-skips-release"), ("cfg", "escape-truncated-nul"),
                                              ("kv", "unsubscribe-during-dispatch"), ("dt", "render-escape-short")])
def test_a_finding_of_the_native_loop_is_the_same_finding_through_the_python_driver(tmp_path, library, bug):
    """A campaign's finding is triaged, stored and replayed by its report: the native loop's report
    of an input must be the Python driver's - same kind, same function, same stack hash - or a
    stored crash would not replay as itself. Found by the native loop on a one-bug build (heap
    overflows; a leak, found by the periodic leak check; a release never called, which only the
    driver sees; a use after free that needs a call made from inside a callback), then replayed
    both ways."""
    from harness.target.spec import resolve_target
    from harness.triage.parse import primary_finding

    target = resolve_target(str(SPECS[library]))
    expected = target.bug(bug)
    env = {**os.environ, "FFI_HARNESS_TARGET": str(SPECS[library]), "FFI_HARNESS_VARIANT": bug}
    # kv's needs a call from inside a callback: 108k-215k executions in 4 seeds, once over 400k
    runs = 1_000_000 if library == "kv" else 400_000
    found = subprocess.run([sys.executable, "-m", "harness.fuzzers.fuzz_sequence", f"-runs={runs}", "-seed=3",
                            f"-artifact_prefix={tmp_path}/"], capture_output=True, text=True, env=env,
                           timeout=600, cwd=tmp_path)
    artifacts = [p for p in tmp_path.iterdir() if p.name.startswith(("crash-", "leak-", "contract-"))]
    assert artifacts, found.stderr[-3000:]
    findings = [primary_finding(_report(library, artifacts[0], bug, native, tmp_path), target.code)
                for native in (True, False)]
    assert all(f is not None and expected.matches(f.kind, f.function) for f in findings), findings
    native, python = findings
    assert (native.kind, native.function, native.stack_hash) == (python.kind, python.function, python.stack_hash)


def test_a_borrow_ends_when_its_node_changes_through_another_handle():
    """An input found on libdt (tests/fixtures/inputs; after a decoding change, found again by
    fuzzing the clean libdt with `ends_borrow` judging by handle - a crash in check_borrows within
    2M executions): one node is reached through two
    handles, dt_text lends its text through one and dt_set_text replaces it through the other.
    The borrow ends there (`until` is judged by the object, not by the handle it came from);
    judged by the handle, both paths flagged `borrowed-changed` and first read the freed text
    themselves: a heap-use-after-free of the harness on the clean build, which kills the child."""
    data = (Path(__file__).parent / "fixtures" / "inputs" / "sequence-dt-text-through-alias").read_bytes()
    driver, loop, why = _paths(SPECS["dt"])
    assert loop is not None, why
    [native] = _in_fork(loop.record, [data])
    [python] = _in_fork(lambda data: _python_record(driver, data), [data])
    assert native == python
    assert "dt_text(" in native and "dt_set_text(" in native and "\n-- " not in native, native[-500:]
