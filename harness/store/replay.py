"""Replay crash files, crash folders or whole corpora, each input isolated, with verdicts.

Verdicts: reproduces (same stack hash as recorded, or any finding when nothing was
recorded), fixed (quiet), changed (another finding), error (could not run: unreadable
file, unknown fuzzer, a crash from another target...).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.atomic import die_with_parent
from harness.campaign.registry import fuzzer
from harness.config import worker_environment
from harness.errors import HarnessError, UsageError
from harness.runtime.sanitizers import SanitizerOptions, child_environment
from harness.store.crashstore import METADATA
from harness.target.spec import Target, load_target_file, resolve_target
from harness.triage import Finding

VERDICTS = ("reproduces", "fixed", "changed", "error")


LEAK_TITLES = ("leak", "indirect-leak")


@dataclass(frozen=True)
class ReplayCase:
    """One input to replay, what it is expected to do, and (from a crash's metadata.json) the
    spec and variant it was found on."""

    input: Path
    fuzzer: str | None
    expected_hash: str | None = None
    expected_title: str = ""
    problem: str = ""
    spec: str | None = None
    variant: str | None = None


@dataclass(frozen=True)
class ReplayResult:
    """What replaying one input did (the `replay --json` contract plus details)."""

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
        """The `replay --json` result (without the parsed finding and the report text)."""
        return {k: v for k, v in asdict(self).items() if k not in ("finding", "report")}


def _infer_fuzzer(path: Path, names: tuple[str, ...]) -> str | None:
    """runs/X/NAME/artifacts/crash-..., corpus/NAME/..., or a fuzzer's name in the file's folders."""
    for part in reversed(path.resolve().parts[:-1]):
        if part in names:
            return part
    return None


def _text(meta: dict, key: str) -> str | None:
    value = meta.get(key)
    return value if isinstance(value, str) and value else None


def _case_from_folder(folder: Path, target: Target | None, fuzzer_override: str | None) -> ReplayCase:
    try:
        meta = json.loads((folder / METADATA).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return ReplayCase(folder, None, problem=f"unreadable {METADATA}: {exc}")
    if not isinstance(meta, dict):
        return ReplayCase(folder, None, problem=f"{METADATA} holds {type(meta).__name__}, not a crash's metadata")
    fuzzer_name, spec, name = _text(meta, "fuzzer"), _text(meta, "spec"), _text(meta, "target")
    if fuzzer_name is None and fuzzer_override is None:
        return ReplayCase(folder, None, problem=f"{METADATA} names no fuzzer (\"fuzzer\": {meta.get('fuzzer')!r})")
    if target is not None and name != target.name:
        return ReplayCase(folder / "input", fuzzer_name,
                          problem=f"a crash from target {name!r}, not {target.name!r}: replay it with --target "
                                  "for that library")
    if target is None and (spec is None or not Path(spec).is_file()):
        own = _project_target()
        if own is None or own.name != name:
            where = f"is not at {spec} any more" if spec else "is not recorded"
            return ReplayCase(folder / "input", fuzzer_name,
                              problem=f"the spec of target {name!r} {where}: replay it with --target")
        spec = str(own.spec_path)
    return ReplayCase(folder / "input", fuzzer_override or fuzzer_name, _text(meta, "stack_hash"),
                      _text(meta, "title") or "", spec=spec, variant=_text(meta, "variant"))


def _project_target() -> Target | None:
    """The working directory's project's target, or None."""
    try:
        return resolve_target(None)
    except HarnessError:
        return None


def collect_cases(paths: list[Path], target: Target | None, fuzzer_override: str | None = None) -> list[ReplayCase]:
    """Every input under paths: crash folders (metadata.json), crash files, corpus folders.
    Without a target, crash folders name their own; other inputs are the project's target's."""
    fallback: list[Target] = []

    def default_target() -> Target:
        if not fallback:
            fallback.append(target or resolve_target(None))
        return fallback[0]

    if fuzzer_override is not None:
        fuzzer(fuzzer_override, default_target())  # unknown name: UsageError
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
                    cases.append(_bare_case(child, default_target(), fuzzer_override))
        else:
            cases.append(_bare_case(path, default_target(), fuzzer_override))
    return cases


def _bare_case(path: Path, target: Target, fuzzer_override: str | None) -> ReplayCase:
    return ReplayCase(path, fuzzer_override or _infer_fuzzer(path, target.fuzzers), spec=str(target.spec_path))


def replay_command(path: Path, target: Target, variant: str, fuzzer_name: str | None) -> str:
    """The complete command that replays path (pasted into a shell, it works from anywhere)."""
    command = ["ffi-harness", "replay", str(path), "--target", str(target.spec_path), "--variant", variant]
    if fuzzer_name:
        command += ["--fuzzer", fuzzer_name]
    return shlex.join(command)


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
        env.update(worker_environment(target=target.spec_path, variant=variant))
        self.process = subprocess.Popen([sys.executable, "-m", "harness.store.replay_worker"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, env=env, preexec_fn=die_with_parent)

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
    scripts: dict[str, Path] = {}
    for index, case in enumerate(cases):
        problem = case.problem or ("" if case.fuzzer else "unknown fuzzer: pass --fuzzer NAME")
        if not problem and case.fuzzer not in scripts:
            try:
                scripts[case.fuzzer] = fuzzer(case.fuzzer, target).script  # type: ignore[index, arg-type]
            except UsageError as why:
                problem = str(why)
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
                answer = worker.run(scripts[case.fuzzer], case.input, timeout,  # type: ignore[index]
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


def replay_groups(cases: list[ReplayCase], target: Target | None, variant: str | None, **options: object
                  ) -> list[ReplayResult]:
    """Replay cases on their own target and variant (each crash's metadata, unless target or
    variant are given; default variant clean); results in the order of cases."""
    groups: dict[tuple[str, str], list[int]] = {}
    results: dict[int, ReplayResult] = {}
    for index, case in enumerate(cases):
        if case.problem or (target is None and case.spec is None):
            results[index] = ReplayResult(str(case.input), "error", None, None, None, case.fuzzer,
                                          expected_hash=case.expected_hash, detail=case.problem or "no target")
            continue
        spec = str(target.spec_path) if target is not None else case.spec
        groups.setdefault((spec, variant or case.variant or "clean"), []).append(index)  # type: ignore[arg-type]
    for (spec, group_variant), indices in groups.items():
        group_target = target if target is not None else load_target_file(Path(spec))
        try:
            group_target.check_variant(group_variant)
        except UsageError as why:
            for index in indices:
                results[index] = ReplayResult(str(cases[index].input), "error", None, None, None,
                                              cases[index].fuzzer, expected_hash=cases[index].expected_hash,
                                              detail=str(why))
            continue
        done = replay([cases[i] for i in indices], group_target, group_variant, **options)  # type: ignore[arg-type]
        results.update(zip(indices, done, strict=True))
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
