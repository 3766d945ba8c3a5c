"""A leak on a first-time path, which no forked copy of the fuzzing process can repeat, is traced
from the library's first state in a fresh process of the same fuzzer (harness.engine.freshtrace).

The fuzzer is tests/helpers/fuzz_first_time_leak.py on kv's last-error-leak build: its inputs are
comma-separated keys whose failed deletes store messages naming them, and the old message block
leaks only when a message longer than any before it is stored."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from harness.engine.freshtrace import trace_in_fresh_process
from harness.engine.protocol import LEAK_IN_CONTEXT, LEAK_TRACED_NOTE
from harness.runtime.sanitizers import child_environment
from harness.target.spec import resolve_target
from harness.triage import parse_report

TARGET = resolve_target(None)
SCRIPT = Path(__file__).parent / "helpers" / "fuzz_first_time_leak.py"
ALONE = b"e,eeeeeeeeeeeee"  # a short message, then a longer one: leaks in a fresh process


def _environment(variant: str, **settings: str) -> dict[str, str]:
    env = child_environment()
    env.update({"FFI_HARNESS_TARGET": str(TARGET.spec_path), "FFI_HARNESS_VARIANT": variant})
    env.update({f"FFI_HARNESS_{name.upper()}": value for name, value in settings.items()})
    return env


@pytest.fixture(scope="module")
def leak_stack(tmp_path_factory) -> str:
    """The stack hash of the leak ALONE makes when replayed: LeakSanitizer fired in store_message,
    and the replay's only input is the one it names (no rerun of it could leak again)."""
    folder = tmp_path_factory.mktemp("alone")
    (folder / "alone").write_bytes(ALONE)
    out = subprocess.run([sys.executable, str(SCRIPT), str(folder / "alone")], capture_output=True, text=True,
                         env=_environment("last-error-leak"), timeout=300, cwd=folder)
    leaks = [f for f in parse_report(out.stderr, TARGET.code) if f.kind == "leak"]
    assert [f.function for f in leaks] == ["store_message"], out.stderr[-3000:]
    assert LEAK_TRACED_NOTE in out.stderr and (folder / f"leak-{hashlib.sha1(ALONE).hexdigest()}").exists()
    return leaks[0].stack_hash


@pytest.mark.parametrize("inputs, index, alone", [
    ([b"a", b"bb", b"ccccccccc", b"d"], 1, False),  # only "bb" after "a" leaks; none leaks alone
    ([b"a", b"bb", b"ccccccccc", b"d", ALONE], 4, True),  # the longest input leaks alone
    # deep in a long run: the checkpoints 128 and 256 bound it, the search moves forward from 128
    ([b"a"] * 200 + [b"bb"] + [b"a"] * 90, 200, False),
], ids=["in-context", "alone", "deep"])
def test_a_fresh_process_finds_the_input_that_leaks_from_the_first_state(leak_stack, monkeypatch,
                                                                         inputs, index, alone):
    monkeypatch.setenv("FFI_HARNESS_VARIANT", "last-error-leak")
    monkeypatch.setenv("FFI_HARNESS_TARGET", str(TARGET.spec_path))
    found = trace_in_fresh_process(inputs, {leak_stack}, script=str(SCRIPT))
    assert found is not None
    assert (found.index, found.alone) == (index, alone)
    assert [f.function for f in parse_report(found.report, TARGET.code)] == ["store_message"], found.report


def test_a_fresh_process_of_the_clean_build_finds_no_leak(leak_stack, monkeypatch):
    monkeypatch.setenv("FFI_HARNESS_VARIANT", "clean")
    monkeypatch.setenv("FFI_HARNESS_TARGET", str(TARGET.spec_path))
    assert trace_in_fresh_process([b"a", b"bb", ALONE], {leak_stack}, script=str(SCRIPT)) is None


def test_a_fuzzing_run_traces_a_first_time_leak_its_copy_cannot_repeat(tmp_path):
    """The seeds "a" then "bbbbbb" leak once, in the fuzzing process; its forked copy re-runs
    them with the buffer already grown and sees nothing (before the fresh trace: `not traced to
    one input`). The fresh process pins the leak on "bbbbbb", in context, and says so."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "1").write_bytes(b"a")
    (seeds / "2").write_bytes(b"bbbbbb")
    env = _environment("last-error-leak", leak_interval="3600", keep_going="1")
    out = subprocess.run([sys.executable, str(SCRIPT), str(seeds), "-runs=3", "-seed=1",
                          f"-artifact_prefix={tmp_path}/"], capture_output=True, text=True, env=env,
                         timeout=300, cwd=tmp_path)
    assert out.returncode == 0 and LEAK_TRACED_NOTE in out.stderr, out.stderr[-3000:]
    assert LEAK_IN_CONTEXT in out.stderr
    assert [f.function for f in parse_report(out.stderr, TARGET.code) if f.kind == "leak"] == ["store_message"]
    assert [p.name for p in tmp_path.glob("leak-*")] == [f"leak-{hashlib.sha1(b'bbbbbb').hexdigest()}"]
