"""The README's property-test file, run as written: quiet on the clean build of a library this
project did not write it for (tests/targets/cfgdoc), and on its planted build each test fails
with the library's own finding, its frame symbolized first, shrunk by hypothesis."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.target.spec import resolve_target

REPO = Path(__file__).resolve().parent.parent
CFG_SPEC = REPO / "tests" / "targets" / "cfgdoc" / "cfg.toml"
LOAD = 'harness.load("cfg.toml")'


def readme_file() -> str:
    """The python block of the README section "Property tests for your library"."""
    section = (REPO / "README.md").read_text().split("## Property tests for your library", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def _run(tmp_path: Path, variant: str) -> subprocess.CompletedProcess[str]:
    source = readme_file()
    assert LOAD in source and len(source.splitlines()) < 25
    (tmp_path / "test_cfg_properties.py").write_text(source.replace(LOAD, f'harness.load("{CFG_SPEC}", "{variant}")'))
    command = [sys.executable, "-m", "pytest", "--sanitize", "-q", "-p", "no:cacheprovider", "--hypothesis-seed=0",
               "test_cfg_properties.py"]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)


def test_the_readme_properties_pass_on_the_clean_build(tmp_path):
    done = _run(tmp_path, "clean")
    assert done.returncode == 0 and "3 passed" in done.stdout, done.stdout[-3000:]


def test_the_readme_properties_fail_with_the_library_finding_first(tmp_path):
    done = _run(tmp_path, "planted")
    assert "3 failed" in done.stdout, done.stdout[-3000:]
    titles = re.findall(r"SanitizerFinding: (\S+(?: WRITE \d+| READ \d+)?) in (\w+) \[[0-9a-f]{16}\]\n(.*)",
                        done.stdout)
    found = {(kind.split()[0], function): first.removeprefix("E").strip() for kind, function, first in titles}
    assert found[("heap-buffer-overflow", "cfg_escape")].startswith("#0 cfg_escape ")
    assert f"{CFG_SPEC.parent}/src/cfg.c:" in found[("heap-buffer-overflow", "cfg_escape")]
    assert "cfg_set " in found[("leak", "cfg_set")] and "/src/cfg.c:" in found[("leak", "cfg_set")]
    catalogue = {(b.kind, b.function) for b in resolve_target(str(CFG_SPEC)).bugs}
    machine = set(found) - {("heap-buffer-overflow", "cfg_escape"), ("leak", "cfg_set")}
    assert machine and machine <= catalogue, found  # the state machine's failure is a planted bug
    assert "Failing test case: test_escape_stays_in_its_buffer" in done.stdout
    assert "frame(s) without symbols" in done.stdout and "(libpython" not in done.stdout


@pytest.fixture(autouse=True)
def _no_state_in_the_repository():
    """Loading a spec writes nothing next to it (the test library stays as committed)."""
    before = sorted(p.name for p in CFG_SPEC.parent.iterdir())
    yield
    assert sorted(p.name for p in CFG_SPEC.parent.iterdir()) == before
