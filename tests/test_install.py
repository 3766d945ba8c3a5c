"""ffi-harness in a user's own project: the built wheel installed into a fresh venv outside this
repository runs init, fuzz, replay (the printed command), ci and export-ossfuzz on a library in
another folder, and writes nothing outside that folder and the build cache."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CFG_DIR = Path(__file__).parent / "targets" / "cfgdoc"
BUG = "escape-truncated-nul"


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_runs_the_whole_workflow_in_the_users_project(tmp_path):
    dist, venv, project, cache, scratch = (tmp_path / n for n in ("dist", "venv", "project", "cache", "tmp"))
    scratch.mkdir()
    source = tmp_path / "src"  # built from a copy: a build writes build/ and *.egg-info next to the sources
    shutil.copytree(REPO / "harness", source / "harness", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    wheel = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)],
                           capture_output=True, text=True, timeout=600)
    assert wheel.returncode == 0, wheel.stderr[-2000:]
    (built,) = dist.glob("ffi_harness-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(built)], capture_output=True,
                             text=True, timeout=1200)
    assert install.returncode == 0, install.stderr[-2000:]

    shutil.copytree(CFG_DIR, project / "cfgdoc")
    (project / "pyproject.toml").write_text('[project]\nname = "my-cfg-binding"\n\n'
                                            '[tool.ffi-harness]\ntarget = "cfgdoc/cfg.toml"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FFI_HARNESS", "LD_PRELOAD", "ASAN", "LSAN",
                                                                     "UBSAN", "PYTHONMALLOC", "VIRTUAL_ENV"))}
    env.update(FFI_HARNESS_CACHE=str(cache), TMPDIR=str(scratch), PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}")
    ffih = str(venv / "bin" / "ffi-harness")
    repo_before = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=REPO, capture_output=True,
                                 text=True).stdout

    where = _run([str(venv / "bin" / "python"), "-c", "import harness; print(harness.__file__)"], project, env)
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr  # the wheel, not this checkout

    init = _run([ffih, "init", "cfgdoc/include/cfg.h", "--sources", "cfgdoc/src/cfg.c", "--out", "starter.toml"],
                project, env)
    assert init.returncode == 0 and "guesses marked REVIEW" in init.stdout, init.stderr

    fuzz = _run([ffih, "fuzz", "--variant", BUG, "--runs", "20000", "--json", "--no-minimize"], project, env)
    assert fuzz.returncode == 1, fuzz.stderr[-3000:]
    finding = json.loads(fuzz.stdout.strip().splitlines()[-1])["findings"][0]
    assert (finding["kind"], finding["function"]) == ("heap-buffer-overflow", "cfg_escape")
    assert Path(finding["stored"]).parent == project / "corpus" / "crashes"  # state lives with the project

    words = shlex.split(finding["replay"])
    replay = _run([ffih, *words[1:], "--json"], tmp_path, env)  # pasted, in another folder
    assert [r["verdict"] for r in json.loads(replay.stdout.strip().splitlines()[-1])["results"]] == ["reproduces"]

    ci = _run([ffih, "ci", "--variant", BUG, "--runs", "20000", "--reports", "reports"], project, env)
    assert ci.returncode == 0, ci.stdout[-2000:] + ci.stderr[-2000:]  # the stored bug is known
    assert (project / "reports" / "ci.xml").is_file()

    export = _run([ffih, "export-ossfuzz", "cfgdoc/exp"], project, env)
    assert export.returncode == 0, export.stderr[-2000:]
    exported = sorted(p.name for p in (project / "cfgdoc" / "exp").iterdir())
    assert "fuzz_sequence" in exported and "ffi_harness_prebuilt" in exported
    copied = {p.relative_to(project / "cfgdoc" / "exp" / "ffi_harness_prebuilt" / "target")
              for p in _files(project / "cfgdoc" / "exp" / "ffi_harness_prebuilt" / "target")}
    assert copied == {Path("cfg.toml"), Path("bugs.toml"), Path("include/cfg.h"), Path("src/cfg.c")}, copied
    runs = _run([str(project / "cfgdoc" / "exp" / "fuzz_sequence"), "-runs=500", f"-artifact_prefix={scratch}/"],
                project, env)
    assert runs.returncode == 0 and "Done 500 runs" in runs.stderr, runs.stderr[-2000:]

    written = {p for p in _files(tmp_path) if not any(p.is_relative_to(d) for d in (venv, dist, source))}
    outside = {p for p in written if not (p.is_relative_to(project) or p.is_relative_to(cache)
                                          or p.is_relative_to(scratch))}
    assert outside == set(), sorted(outside)[:10]
    assert subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=REPO, capture_output=True,
                          text=True).stdout == repo_before, "the ffi-harness checkout was written to"
