"""Replay crash files, crash folders or whole corpora, each input isolated, with verdicts.

Verdicts: reproduces (same stack hash as recorded, or any finding when nothing was
recorded), fixed (quiet), changed (another finding), error (could not run: unreadable
file, unknown fuzzer, a crash from another target...).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.crashstore import METADATA
from harness.errors import UsageError
from harness.fuzzers import NAMES, fuzzer
from harness.fuzzing import ENV_TARGET, ENV_VARIANT
from harness.runtime import SanitizerOptions, child_environment
from harness.target import Target
from harness.triage import Finding

VERDICTS = ("reproduces", "fixed", "changed", "error")


LEAK_TITLES = ("leak", "indirect-leak")


@dataclass(frozen=True)
class ReplayCase:
    """One input to replay and what it is expected to do."""

    input: Path
    fuzzer: str | None
    expected_hash: str | None = None
    expected_title: str = ""
    problem: str = ""


@dataclass(frozen=True)
class ReplayResult:
    """What replaying one input did (the DESIGN.md replay contract plus details)."""

    input: str
    verdict: str
    kind: str | None
    function: str | None
    stack_hash: str | None
    fuzzer: str | None
    title: str = ""
    expected_hash: str | None = None
    file: str = ""
    line: int = 0
    seconds: float = 0.0
    detail: str = ""
    finding: Finding | None = field(default=None, compare=False, repr=False)  # the parsed first finding
    report: str = field(default="", compare=False, repr=False)  # what the isolated run printed

    def to_dict(self) -> dict[str, object]:
        """The DESIGN.md replay contract (without the parsed finding and the report text)."""
        return {k: v for k, v in asdict(self).items() if k not in ("finding", "report")}


def _infer_fuzzer(path: Path) -> str | None:
    """runs/X/NAME/artifacts/crash-..., corpus/NAME/..., or a name in the file's folders."""
    for part in reversed(path.resolve().parts[:-1]):
        if part in NAMES:
            return part
    return None


def _case_from_folder(folder: Path, target: Target, fuzzer_override: str | None) -> ReplayCase:
    try:
        meta = json.loads((folder / METADATA).read_text())
    except (OSError, ValueError) as exc:
        return ReplayCase(folder, None, problem=f"unreadable {METADATA}: {exc}")
    if meta.get("target") != target.name:
        return ReplayCase(folder / "input", meta.get("fuzzer"),
                          problem=f"a crash from target {meta.get('target')!r}, not {target.name!r}: "
                                  f"replay it with --target for that library")
    return ReplayCase(folder / "input", fuzzer_override or meta.get("fuzzer"), meta.get("stack_hash"),
                      meta.get("title", ""))


def collect_cases(paths: list[Path], target: Target, fuzzer_override: str | None = None) -> list[ReplayCase]:
    """Every input under paths: crash folders (metadata.json), crash files, corpus folders."""
    if fuzzer_override is not None:
        fuzzer(fuzzer_override)  # unknown name: UsageError
    cases: list[ReplayCase] = []
    for path in paths:
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
        if path.is_dir() and (path / METADATA).exists():
            cases.append(_case_from_folder(path, target, fuzzer_override))
        elif path.is_dir():
            for child in sorted(path.iterdir()):
                if child.name.startswith("."):
                    continue
                if child.is_dir():
                    cases.extend(collect_cases([child], target, fuzzer_override))
                else:
                    cases.append(ReplayCase(child, fuzzer_override or _infer_fuzzer(child)))
        else:
            cases.append(ReplayCase(path, fuzzer_override or _infer_fuzzer(path)))
    return cases


def _verdict(case: ReplayCase, findings: list[Finding]) -> str:
    if not findings:
        return "fixed"
    if case.expected_hash is None or findings[0].stack_hash == case.expected_hash:
        return "reproduces"
    return "changed"


class _Worker:
    """A replay_worker process (target and variant loaded once), fed one request at a time."""

    def __init__(self, target: Target, variant: str) -> None:
        env = child_environment(SanitizerOptions(symbolize=False))
        env[ENV_TARGET] = str(target.spec_path)
        env[ENV_VARIANT] = variant
        self.process = subprocess.Popen([sys.executable, "-m", "harness.replay_worker"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, env=env)

    def run(self, script: Path, path: Path, timeout: float, rss_limit_mb: int, leak_check: bool = True) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(json.dumps({"script": str(script), "path": str(path), "timeout": timeout,
                                                 "rss_limit_mb": rss_limit_mb,
                                                 "leak_check": leak_check}) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            error = self.process.stderr.read() if self.process.stderr else ""
            return {"error": "the replay worker died: " + (error.strip().splitlines() or ["no output"])[-1]}
        return json.loads(line)

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def wants_leak_check(case: ReplayCase, leaks: str) -> bool:
    """leaks='all': every input; 'none': never; 'auto': inputs known to leak (a stored leak
    finding or a leak-* artifact). A LeakSanitizer scan costs ~100 ms, ten forks' worth."""
    if leaks in ("all", "none"):
        return leaks == "all"
    return case.expected_title.startswith(LEAK_TITLES) or case.input.name.startswith("leak-")


def replay(cases: list[ReplayCase], target: Target, variant: str, *, jobs: int = 2,
           timeout: float = 25.0, rss_limit_mb: int = 2048, leaks: str = "auto") -> list[ReplayResult]:
    """Replay every case on `jobs` workers (each loads the target once and serves every
    fuzzer; each input runs in its own fork); leaks: which inputs get a leak check afterwards
    (see wants_leak_check)."""
    results: dict[int, ReplayResult] = {}
    runnable: list[tuple[int, ReplayCase]] = []
    for index, case in enumerate(cases):
        problem = case.problem or ("" if case.fuzzer else "unknown fuzzer: pass --fuzzer NAME")
        if problem:
            results[index] = ReplayResult(str(case.input), "error", None, None, None, case.fuzzer,
                                          expected_hash=case.expected_hash, detail=problem)
        else:
            runnable.append((index, case))
    lock = threading.Lock()
    jobs = max(1, min(jobs, len(runnable)))
    runnable.sort(key=lambda item: item[1].fuzzer or "")  # each worker imports few fuzzer scripts

    def drain(items: list[tuple[int, ReplayCase]]) -> None:
        worker = _Worker(target, variant)
        try:
            for index, case in items:
                answer = worker.run(fuzzer(case.fuzzer).script, case.input, timeout,  # type: ignore[arg-type]
                                    rss_limit_mb, wants_leak_check(case, leaks))
                result = _result(case, answer)
                if "worker died" in result.detail:
                    worker.close()
                    worker = _Worker(target, variant)
                with lock:
                    results[index] = result
        finally:
            worker.close()

    if runnable:
        share = -(-len(runnable) // jobs)  # contiguous shares of the sorted cases
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for future in [pool.submit(drain, runnable[i:i + share]) for i in range(0, len(runnable), share)]:
                future.result()
    return [results[i] for i in range(len(cases))]


def _result(case: ReplayCase, answer: dict) -> ReplayResult:
    if "error" in answer:
        return ReplayResult(str(case.input), "error", None, None, None, case.fuzzer,
                            expected_hash=case.expected_hash, detail=answer["error"])
    findings = [Finding.from_dict(f) for f in answer["findings"]]
    verdict = _verdict(case, findings)
    first = findings[0] if findings else None
    detail = ""
    if first and first.kind == "python-exception" and first.signature in ("ModuleNotFoundError", "ImportError"):
        verdict, detail = "error", f"the fuzzer could not start: {first.summary}"
    return ReplayResult(str(case.input), verdict, first.kind if first else None,
                        first.function if first else None, first.stack_hash if first else None, case.fuzzer,
                        first.title if first else "", case.expected_hash, first.file if first else "",
                        first.line if first else 0, round(answer.get("seconds", 0.0), 3), detail,
                        first, answer.get("output", ""))


def summarize(results: list[ReplayResult]) -> dict[str, int]:
    """Count of each verdict."""
    counts = {verdict: 0 for verdict in VERDICTS}
    for result in results:
        counts[result.verdict] += 1
    return counts


def exit_code(results: list[ReplayResult]) -> int:
    """1 when something reproduces or changed, 2 when only errors kept inputs from running, else 0."""
    counts = summarize(results)
    if counts["reproduces"] or counts["changed"]:
        return 1
    return 2 if counts["error"] else 0


def relative(path: str) -> str:
    """path relative to the working directory when inside it (for SARIF and tables)."""
    try:
        return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
    except ValueError:
        return path
