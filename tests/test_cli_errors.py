"""Bad input through the real command line, in a subprocess: one readable line on stderr, the
documented exit code, never a traceback, and nothing written to the crash store. An unexpected
exception is exit 3 with one line naming the log that holds its traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import commands, main
from harness.errors import EXIT_INTERNAL, EXIT_USAGE

KV = Path(__file__).resolve().parent.parent / "target_c" / "target.toml"
CFG_DIR = Path(__file__).parent / "targets" / "cfgdoc"


def _spec(tmp_path: Path, edit: str, replacement: str) -> str:
    """A copy of the cfg library's spec with one line changed; its path."""
    folder = tmp_path / "cfg"
    if not folder.exists():
        shutil.copytree(CFG_DIR, folder)
    spec = folder / "cfg.toml"
    text = spec.read_text()
    assert edit in text
    spec.write_text(text.replace(edit, replacement, 1))
    return str(spec)


def _not_utf8(tmp_path: Path) -> str:
    spec = Path(_spec(tmp_path, "[target]", "[target]"))
    spec.write_bytes(spec.read_bytes() + b"\n# na\xefve\n")  # latin-1, as an editor might save it
    return str(spec)


def _folder_as_library(tmp_path: Path) -> str:
    (tmp_path / "libdir").mkdir()
    return _spec(tmp_path, 'sources = ["src/cfg.c"]', f'library = "{tmp_path / "libdir"}"')


def _missing_include(tmp_path: Path) -> str:
    """A header including a file nobody has (a union with sizeof/?: array sizes builds now:
    tests/test_headers.py)."""
    folder = tmp_path / "u"
    folder.mkdir()
    (folder / "u.h").write_text('#include "absent.h"\nint u_size(void);\n')
    (folder / "u.c").write_text('int u_size(void) { return 1; }\n')
    (folder / "u.toml").write_text('[target]\nname = "u"\nheader = "u.h"\nsources = ["u.c"]\n')
    return str(folder / "u.toml")


def _broken_fuzzer(tmp_path: Path) -> str:
    script = tmp_path / "fuzz_broken.py"
    script.write_text("#!/usr/bin/env python3\nraise ImportError('this fuzzer needs a module that is missing')\n")
    script.chmod(0o755)
    return str(script)


def _reports_file(tmp_path: Path) -> str:
    (tmp_path / "reports.txt").write_text("")
    return str(tmp_path / "reports.txt")


def _reports_xml_folder(tmp_path: Path) -> str:
    (tmp_path / "reports" / "ci.xml").mkdir(parents=True)
    return str(tmp_path / "reports")


# (arguments, extra environment, exit code, what the one line says); "{...}" is filled per test
CASES = [
    (["fuzz", "nosuchfuzzer", "--runs", "10"], {}, 2, "unknown fuzzer 'nosuchfuzzer' for target 'kv'"),
    (["fuzz", "strings", "--variant", "no-such-bug", "--runs", "10"], {}, 2, "unknown bug id 'no-such-bug'"),
    (["build", "--target", "/nonexistent/target.toml"], {}, 2, "unknown target '/nonexistent/target.toml'"),
    (["fuzz", "strings", "--time", "-5"], {}, 2, "argument --time: '-5': must be more than 0"),
    (["fuzz", "strings", "--time", "nan"], {}, 2, "argument --time: 'nan'"),
    (["fuzz", "strings", "--time", "inf"], {}, 2, "argument --time: 'inf'"),
    (["fuzz", "strings", "--time", "1e308", "--runs", "10"], {}, 2, "argument --time: '1e308'"),
    (["fuzz", "strings", "--runs", "0"], {}, 2, "argument --runs: '0'"),
    (["fuzz", "strings", "--runs", "-5"], {}, 2, "argument --runs: '-5'"),
    (["fuzz", "strings", "--jobs", "0"], {}, 2, "argument --jobs: '0'"),
    (["fuzz", "strings", "--jobs", "-3"], {}, 2, "argument --jobs: '-3'"),
    (["fuzz", "strings", "--jobs", "1000000", "--runs", "10"], {}, 2, "--jobs=1000000: must be between 1 and 256"),
    (["fuzz", "strings", "--runs", "10"], {"FFI_HARNESS_JOBS": "x"}, 2, "FFI_HARNESS_JOBS='x': not a whole number"),
    (["replay", "--timeout", "0"], {}, 2, "argument --timeout: '0'"),
    (["replay", "--rss-limit-mb", "-5"], {}, 2, "argument --rss-limit-mb: '-5'"),
    (["reproduce", "nope"], {}, 2, "unknown bug id 'nope'"),
    (["build", "--target", "{folder_as_library}"], {}, 2, "is not a file (a prebuilt shared library"),
    (["build", "--target", "{not_utf8}"], {}, 2, "not UTF-8"),
    (["build", "--target", "{sources_string}"], {}, 2, "sources must be a list of paths"),
    (["build", "--target", "{missing_include}"], {}, 2, "'absent.h' file not found"),
    (["ci", "--runs", "10", "--reports", "{reports_file}"], {}, 2, "a file, not a folder"),
    (["ci", "--runs", "10", "--reports", "{reports_xml_folder}"], {}, 2, "ci.xml is a folder"),
    (["fuzz", "{broken_fuzzer}", "--runs", "100"], {}, 2, "could not start: ImportError: this fuzzer needs"),
]
FILLERS = {
    "folder_as_library": _folder_as_library,
    "not_utf8": _not_utf8,
    "sources_string": lambda tmp: _spec(tmp, 'sources = ["src/cfg.c"]', 'sources = "src/cfg.c"'),
    "missing_include": _missing_include,
    "reports_file": _reports_file,
    "reports_xml_folder": _reports_xml_folder,
    "broken_fuzzer": _broken_fuzzer,
}


@pytest.mark.parametrize(("args", "environment", "code", "message"), CASES,
                         ids=[" ".join(c[0])[:60] + (f" {c[1]}" if c[1] else "") for c in CASES])
def test_bad_input_is_one_line_and_its_exit_code(tmp_path, args, environment, code, message):
    filled = [FILLERS[a[1:-1]](tmp_path) if a.startswith("{") else a for a in args]
    env = {**os.environ, "FFI_HARNESS_CRASH_DIR": str(tmp_path / "crashes"),
           "FFI_HARNESS_RUNS_DIR": str(tmp_path / "runs"), "FFI_HARNESS_CACHE": str(tmp_path / "cache")}
    env.update(environment)
    done = subprocess.run([sys.executable, "-m", "harness", *filled], capture_output=True, text=True, timeout=300,
                          env=env, cwd=KV.parent.parent)
    assert done.returncode == code, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr[-2000:]
    assert message in done.stderr, done.stderr
    assert not (tmp_path / "crashes").exists()


@pytest.mark.parametrize("metadata", ["[]", "null", '{"target": "kv", "fuzzer": 123, "stack_hash": "x"}', "{nope"])
def test_a_bad_crash_folder_is_an_error_verdict_and_the_others_still_run(tmp_path, metadata):
    good = tmp_path / "crashes" / "a-good-one"
    bad = tmp_path / "crashes" / "b-bad-one"
    for folder in (good, bad):
        folder.mkdir(parents=True)
        (folder / "input").write_bytes(b"x")
    (good / "metadata.json").write_text(json.dumps({"target": "kv", "fuzzer": "strings", "stack_hash": "0",
                                                    "spec": str(KV), "variant": "clean"}))
    (bad / "metadata.json").write_text(metadata)
    done = subprocess.run([sys.executable, "-m", "harness", "replay", str(tmp_path / "crashes"), "--json"],
                          capture_output=True, text=True, timeout=300, cwd=KV.parent.parent)
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    inputs = [(Path(r["input"]), r["verdict"]) for r in json.loads(done.stdout.strip().splitlines()[-1])["results"]]
    verdicts = {(path.parent if path.name == "input" else path).name: verdict for path, verdict in inputs}
    assert verdicts == {"a-good-one": "fixed", "b-bad-one": "error"}, verdicts
    assert done.returncode == EXIT_USAGE  # nothing reproduced and one input could not run


def test_an_unexpected_exception_is_exit_3_with_the_traceback_in_a_log(monkeypatch, capsys):
    def broken(args: object) -> int:
        raise RuntimeError("a bug of ffi-harness")

    monkeypatch.setattr(commands, "bugs", broken)
    assert main(["bugs"]) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error (RuntimeError: a bug of ffi-harness)" in err
    log = Path(err.rstrip().rsplit(" ", 1)[1])
    assert "Traceback" in log.read_text() and "a bug of ffi-harness" in log.read_text()
    log.unlink()
