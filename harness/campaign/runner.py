"""Fuzz campaigns: run fuzzers as libFuzzer worker processes, restart after every crash,
parse what they print into Findings, and keep per-fuzzer statistics.

A worker is one libFuzzer run of a fuzzer script. When it ends on a finding the campaign
records it (deduplicated by stack hash), removes the input from the working corpus, and
starts a new worker with the next seed until the fuzzer's budget (seconds or executions)
is spent - so one crash never ends a campaign.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.atomic import die_with_parent
from harness.campaign.launch import (
    end_group_with,
    kill_if_running,
    later,
    temp_dir,
    work_corpus,
    worker_command,
    worker_process_environment,
)
from harness.campaign.minimize import minimize_new_findings
from harness.campaign.registry import FuzzerSpec
from harness.campaign.results import CampaignConfig, CampaignFinding, CampaignResult, FuzzerStats
from harness.campaign.worker_log import LogReader, ReportedInput, input_digest, reported_inputs
from harness.engine.protocol import (
    FINAL_EXECS,
    PROGRESS,
    RECOVERED_NOTE,
    STOP_KILLED_NOTE,
    STOP_SIGNAL,
)
from harness.errors import HarnessError
from harness.store.crashstore import CrashStore
from harness.store.replay import ReplayCase, replay, replay_command
from harness.triage import Finding

# a worker asked to stop finishes its input and a last leak check; one still running after this
# (a hanging input, a deadlock) is killed
STOP_GRACE_SECONDS = 5.0
# a worker still running this long after its -max_total_time (plus one input's timeout) hangs:
# seen after a recovered double free, in a LeakSanitizer scan whose tracer had died
OVERTIME_SECONDS = 30.0
# libFuzzer's first line: a worker that exits without it never ran an input (an import error,
# a spec the prebuilt library does not match): a setup error, not a finding, not a quiet run
LIBFUZZER_STARTED = "INFO: Seed: "
FAST_REPEAT_LIMIT = 3  # a fuzzer whose worker dies at once with the same bug this often stops


Event = Callable[[str, dict], None]


class Campaign:
    """Runs a CampaignConfig; thread-safe bookkeeping of stats and findings."""

    def __init__(self, config: CampaignConfig, on_event: Event | None = None) -> None:
        self.config = config
        self.result = CampaignResult(config, {f.name: FuzzerStats() for f in config.fuzzers})
        self.on_event = on_event or (lambda kind, data: None)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.processes: set[subprocess.Popen[bytes]] = set()
        self.target_code = config.target.code
        self.started = time.monotonic()
        self.running: dict[tuple[str, int], int] = {}  # (fuzzer, worker) -> executions of its live process
        self._stalled_tasks = 0

    # -- scheduling ------------------------------------------------------------------
    def _tasks(self) -> list[tuple[FuzzerSpec, int, float | None]]:
        """(fuzzer, worker number, seconds) for every worker thread to run."""
        fuzzers, jobs = self.config.fuzzers, max(1, self.config.jobs)
        seconds = self.config.seconds
        if len(fuzzers) >= jobs:
            share = seconds * jobs / len(fuzzers) if seconds else None
            return [(f, 0, share) for f in fuzzers]
        tasks = []
        for index, f in enumerate(fuzzers):
            count = jobs // len(fuzzers) + (1 if index < jobs % len(fuzzers) else 0)
            tasks += [(f, worker, seconds) for worker in range(count)]
        return tasks

    def run(self) -> CampaignResult:
        """Run every fuzzer to its budget (or until stop()); return the result."""
        self.config.out_dir.mkdir(parents=True, exist_ok=True)
        temp_dir(self.config).mkdir(exist_ok=True)
        tasks = self._tasks()
        try:
            with ThreadPoolExecutor(max_workers=max(1, self.config.jobs)) as pool:
                futures = [pool.submit(self._run_fuzzer, *task) for task in tasks]
                for future in futures:
                    future.result()
            stalled = {name: s.stalled for name, s in self.result.stats.items() if s.stalled}
            if self._stalled_tasks == len(tasks) and not self.result.stopped:  # the campaign ended early
                self.result.stopped = "stalled: every new worker died at once on the same bug (" + \
                    ", ".join(f"{name}: {hash_}" for name, hash_ in stalled.items()) + ")"
            self.result.seconds = time.monotonic() - self.started
            for spec in self.config.fuzzers:
                self.result.stats[spec.name].corpus_size = _count_files(work_corpus(self.config, spec))
                if self.config.merge:
                    self.result.merged[spec.name] = self._merge(spec)
        finally:
            shutil.rmtree(temp_dir(self.config), ignore_errors=True)
        return self.result

    def _merge(self, spec: FuzzerSpec) -> int:
        """libFuzzer -merge=1 of the run's corpus into the seed corpus: only inputs that add
        coverage go in, so it stays minimal; the next campaign starts from it. Inputs added."""
        spec.seeds.mkdir(parents=True, exist_ok=True)
        before = _count_files(spec.seeds)
        artifacts = self.config.out_dir / spec.folder / "artifacts"
        command = [sys.executable, str(spec.script), "-merge=1", str(spec.seeds), str(work_corpus(self.config, spec)),
                   f"-artifact_prefix={artifacts}/", f"-timeout={self.config.input_timeout}"]
        log_path = self.config.out_dir / spec.folder / "merge.log"
        with open(log_path, "wb") as log:
            subprocess.run(command, stdout=log, stderr=subprocess.STDOUT,
                           env=worker_process_environment(self.config, spec), check=False)
        return _count_files(spec.seeds) - before

    def live_stats(self) -> dict[str, object]:
        """The campaign now (one stats.jsonl row): elapsed seconds, distinct findings, and per
        fuzzer its executions (finished and running workers), rate, coverage, corpus, findings."""
        with self.lock:
            elapsed = time.monotonic() - self.started
            fuzzers = {}
            for name, stats in self.result.stats.items():
                execs = stats.execs + sum(n for (fuzzer, _), n in self.running.items() if fuzzer == name)
                fuzzers[name] = {"execs": execs, "exec_per_s": round(execs / max(elapsed, 1e-3), 1),
                                 "coverage": stats.coverage, "corpus": stats.corpus_size,
                                 "findings": sum(f.fuzzer == name for f in self.result.findings.values())}
            return {"t": round(elapsed, 2), "distinct_findings": len(self.result.findings), "fuzzers": fuzzers}

    def request_stop(self, reason: str) -> None:
        """End the campaign soon: running workers are interrupted, found results kept."""
        self.result.stopped = reason
        self.stop.set()
        with self.lock:
            for process in list(self.processes):
                if process.poll() is None:
                    process.send_signal(STOP_SIGNAL)  # ends after its current input (harness.engine.session)
                    later(STOP_GRACE_SECONDS, lambda p=process: kill_if_running(p))

    # -- one fuzzer ------------------------------------------------------------------
    def _run_fuzzer(self, spec: FuzzerSpec, worker: int, seconds: float | None) -> None:
        stats = self.result.stats[spec.name]
        fuzzer_started = time.monotonic()
        deadline = fuzzer_started + seconds if seconds else None
        runs_left = self.config.runs
        seed = self.config.seed + 1000 * worker
        fast_repeats: list[str] = []
        while not self.stop.is_set():
            remaining = deadline - time.monotonic() if deadline else None
            if (remaining is not None and remaining < 1) or (runs_left is not None and runs_left <= 0):
                break
            began = time.monotonic()
            execs, finding = self._run_worker(spec, worker, seed, remaining, runs_left, fuzzer_started)
            with self.lock:
                stats.execs += execs
                stats.seconds += time.monotonic() - began
                stats.workers += 1
                self.running.pop((spec.name, worker), None)
            if runs_left is not None:
                runs_left -= max(execs, 1)
            seed += 1
            if finding is None:
                if runs_left is None and remaining is None:
                    break
                continue
            quick = time.monotonic() - began < 5
            fast_repeats = [*fast_repeats, finding] if quick else []
            if len(fast_repeats) >= FAST_REPEAT_LIMIT and len(set(fast_repeats[-FAST_REPEAT_LIMIT:])) == 1:
                with self.lock:
                    stats.stalled = finding
                    self._stalled_tasks += 1
                self.on_event("stalled", {"fuzzer": spec.name, "stack_hash": finding})
                break

    def _run_worker(self, spec: FuzzerSpec, worker: int, seed: int, seconds: float | None,
                    runs: int | None, fuzzer_started: float) -> tuple[int, str | None]:
        """One libFuzzer process; returns (executions, stack hash of its finding or None)."""
        env = worker_process_environment(self.config, spec)
        log_path = self.config.out_dir / spec.folder / f"worker-{worker}-seed-{seed}.log"
        command = worker_command(self.config, spec, seed, seconds, runs)
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       env=env, start_new_session=True, preexec_fn=die_with_parent)
            end_group_with(process)
            with self.lock:
                self.processes.add(process)
            hung = threading.Event()

            def overtime() -> None:
                if process.poll() is None:
                    hung.set()  # before the kill: read once the process is reaped
                    kill_if_running(process)

            watchdog = None if seconds is None else \
                later(max(1, int(seconds)) + self.config.input_timeout + OVERTIME_SECONDS, overtime)
            execs, recorded = self._follow(spec, worker, process, log, fuzzer_started)
            process.wait()
            if watchdog is not None:
                watchdog.cancel()
            if hung.is_set():
                log.write(f"INFO: ffi-harness: worker killed, still running {OVERTIME_SECONDS:g} s after its "
                          "time budget (hung)\n".encode())
            elif self.stop.is_set() and process.returncode == -signal.SIGKILL:
                log.write(f"{STOP_KILLED_NOTE}, still running {STOP_GRACE_SECONDS:g} s after it was asked to "
                          "stop\n".encode())
            with self.lock:
                self.processes.discard(process)
        text = log_path.read_text(errors="replace")
        if process.returncode and LIBFUZZER_STARTED not in text and not self.stop.is_set():
            last = next((line for line in reversed(text.splitlines()) if line.strip()), "no output")
            with self.lock:
                self.result.setup_error = self.result.setup_error or \
                    f"fuzzer {spec.name!r} could not start: {last.strip()} (its log: {log_path})"
            self.request_stop("setup-error")
            return 0, None
        final = FINAL_EXECS.search(text)
        execs = int(final["execs"]) if final else execs
        inputs = reported_inputs(text, self.target_code)
        recovered = RECOVERED_NOTE in text
        if recovered:  # memory errors went on: what came after may be their consequence
            inputs = self._verified(spec, inputs)
        for reported in inputs:
            if _recorded_key(reported) not in recorded:  # not already recorded as it was printed
                self._record(spec, reported.finding, reported.artifact, reported.report,
                             time.monotonic() - fuzzer_started)
        died_at_once = inputs and process.returncode and not recovered  # what a stalled fuzzer does
        return execs, inputs[-1].finding.stack_hash if died_at_once else None

    def _verified(self, spec: FuzzerSpec, inputs: list[ReportedInput]) -> list[ReportedInput]:
        """Inputs up to the first recovered memory error as reported; each later one replayed
        alone, halting at its first error (as ClusterFuzz reproduces a crash before filing it):
        what it does there is its finding, and a quiet one is dropped as unreproducible (a
        report caused by the earlier error's corruption). Only those later ones: a library's
        global state can make an input depend on the ones before it, and the first error
        cannot be a consequence of another."""
        first = next((i for i, r in enumerate(inputs) if RECOVERED_NOTE in r.report), len(inputs))
        trusted, later = inputs[:first + 1], inputs[first + 1:]
        replayable = [r.artifact is not None and r.artifact.exists() for r in later]
        cases = [ReplayCase(r.artifact, spec.name) for r, ok in zip(later, replayable, strict=True) if ok]
        results = iter(replay(cases, self.config.target, self.config.variant, jobs=1, leaks="auto"))
        verified = list(trusted)
        for reported, ok in zip(later, replayable, strict=True):
            if not ok:
                verified.append(reported)
                continue
            result = next(results)
            if result.verdict == "reproduces" and result.finding is not None:
                verified.append(ReportedInput(result.finding, reported.artifact, result.report))
            elif result.verdict == "error":
                verified.append(reported)
            else:
                with self.lock:
                    self.result.stats[spec.name].unreproducible += 1
        return verified

    def _follow(self, spec: FuzzerSpec, worker: int, process: subprocess.Popen[bytes], log: object,
                fuzzer_started: float) -> tuple[int, set[tuple[str, str]]]:
        """Copy the worker's output to its log while reading progress lines, and record each
        reported input the moment its artifact line is printed, with the time it was found
        (ending the campaign there when it matches stop_on). After a recovered memory error
        the later reports wait for the worker's end, where they are verified (_verified).
        Returns the last execution count and the (artifact, stack hash) pairs recorded."""
        stats = self.result.stats[spec.name]
        execs = 0
        reader = LogReader(self.target_code)
        recorded: set[tuple[str, str]] = set()
        trusted = True
        assert process.stdout is not None
        for raw in process.stdout:
            log.write(raw)  # type: ignore[attr-defined]
            line = raw.decode("utf-8", "replace")
            reported = reader.line(line)
            if reported is not None and trusted:
                self._record(spec, reported.finding, reported.artifact, reported.report,
                             time.monotonic() - fuzzer_started)
                recorded.add(_recorded_key(reported))
                trusted = RECOVERED_NOTE not in reported.report
            elif reported is not None and self._stops_on(reported.finding):
                self.request_stop("found")
            match = PROGRESS.match(line)
            if match:
                execs = int(match["execs"])
                with self.lock:
                    self.running[(spec.name, worker)] = execs
                    stats.coverage = max(stats.coverage, int(match["cov"]))
                    stats.features = max(stats.features, int(match["ft"]))
                    stats.corpus_size = max(stats.corpus_size, int(match["corp"]))
                self.on_event("progress", {"fuzzer": spec.name, "execs": stats.execs + execs,
                                           "coverage": stats.coverage, "corpus": stats.corpus_size})
        return execs, recorded

    def _stops_on(self, finding: Finding) -> bool:
        return any(finding.kind == kind and function in (None, finding.function)
                   for kind, function in self.config.stop_on)

    def _record(self, spec: FuzzerSpec, finding: Finding, artifact: Path | None, report: str,
                seconds: float) -> None:
        if artifact is not None:  # a leak or slow input may sit in the corpus: keep it out
            (work_corpus(self.config, spec) / input_digest(artifact)).unlink(missing_ok=True)
        stored, new = self._store(spec, finding, artifact, report)
        where = stored or artifact
        replay = replay_command(where, self.config.target, self.config.variant, spec.name) if where else None
        with self.lock:
            self.result.stats[spec.name].findings += 1
            known = self.result.findings.get(finding.stack_hash)
            if known:
                known.count += 1
                return
            self.result.findings[finding.stack_hash] = CampaignFinding(
                finding, spec.name, artifact, report, seconds, stored=stored, new=new, replay=replay)
        self.on_event("finding", {"fuzzer": spec.name, "title": finding.title, "finding": finding,
                                  "stack_hash": finding.stack_hash, "seconds": seconds, "replay": replay})
        if self._stops_on(finding):
            self.request_stop("found")

    def _store(self, spec: FuzzerSpec, finding: Finding, artifact: Path | None, report: str
               ) -> tuple[Path | None, bool]:
        """Put the finding in the crash store, atomically, as found: (its folder, whether new)."""
        config = self.config
        if config.crash_dir is None or artifact is None or not artifact.exists():
            return None, False
        try:
            crash, new = CrashStore(config.crash_dir).add(finding, artifact.read_bytes(), report,
                                                          target=config.target.name, variant=config.variant,
                                                          fuzzer=spec.name, spec=config.target.spec_path)
        except (HarnessError, OSError) as why:  # a damaged store entry must not end the campaign
            self.on_event("warning", {"message": f"{finding.title} not stored ({why}); its input stays at "
                                                 f"{artifact}"})
            return None, False
        return crash.folder, new

    def check_reproducible(self) -> int:
        """Replay each distinct finding's input alone, in a fresh process (as ClusterFuzz does
        before it files a crash), and set its `reproducible`; returns how many did not reproduce.
        A finding that needs the inputs its worker ran before (a library's global state, a
        memory error earlier in the same process) is kept - its input is stored - but marked."""
        found = [f for f in self.result.findings.values() if f.artifact is not None and f.artifact.exists()]
        cases = [ReplayCase(f.artifact, f.fuzzer, f.finding.stack_hash, f.finding.title)  # type: ignore[arg-type]
                 for f in found]
        results = replay(cases, self.config.target, self.config.variant, jobs=max(1, self.config.jobs),
                         timeout=self.config.input_timeout,
                         rss_limit_mb=self.config.rss_limit_mb)
        for finding, result in zip(found, results, strict=True):
            if result.verdict != "error":
                finding.reproducible = result.verdict == "reproduces"
        return sum(f.reproducible is False for f in found)

    def minimize_stored(self, seconds: float) -> int:
        """Minimize the crash-store inputs this campaign added, within `seconds` in all (see
        harness.campaign.minimize.minimize_new_findings); returns how many were made smaller."""
        return minimize_new_findings(self.result, seconds, self.stop)


def _recorded_key(reported: ReportedInput) -> tuple[str, str]:
    return str(reported.artifact), reported.finding.stack_hash


def _count_files(folder: Path) -> int:
    return sum(1 for p in folder.iterdir() if p.is_file()) if folder.is_dir() else 0

