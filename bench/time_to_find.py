#!/usr/bin/env python3
"""Time to find each planted bug of the catalogue, per configuration, censored at a cap.

Reached, triggered (the canaries) and detected (the sanitizer finding with the catalogued kind
and function), over several seeds, censored at a cap (Magma's method). Prints a table, writes
bench/results/time_to_find.json (--out) and a PNG of every trial next to it.

Configurations, each on the one-bug variant. Fuzzers (a single libFuzzer process each):
  harness   the bug's surface fuzzer with its seed corpus and the header dictionary
  bare      the same fuzzer from an empty corpus, no dictionary (the seeds' and dictionary's value)
  sequence  the generic contract-driven driver, from kv's spec alone (no hand-written driver)
  native    the library's hand-written native libFuzzer sequence driver (bench/native/sequence_*.c,
            the anchor of `sequence`), linked with the same sanitized one-bug build
  plain     a plain-bytes atheris harness of the surface (bench/plain/: the raw input as every
            argument in a fixed call order; no decoding, no model, no seeds, no dictionary)
Hypothesis suites (in this process, one forked child per example, generation only: the time
to the first failing example, before shrinking; `--seeds` are hypothesis seeds):
  stateful  the surface's state machine of tests/machines.py (ownership, callbacks, binding bugs)
  machine   the contract-driven sequence state machine (harness.sequence_machine), any C bug

Another library (`--target tests/targets/cfgdoc/cfg.toml`): its catalogue's bugs, with the
configurations that need nothing but its spec (sequence, machine).

    .venv/bin/python bench/time_to_find.py [--seeds 10] [--first-seed 1] [--cap 120]
        [--configs harness bare] [--target SPEC]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from functools import cache, partial
from pathlib import Path

import stats
from hypothesis import Phase, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.stateful import run_state_machine_as_test
from overhead import SURFACES, build_native

from harness.campaign.registry import fuzzer
from harness.campaign.runner import Campaign, CampaignConfig
from harness.config import OPTIONS, uninstrumented_environment
from harness.runtime import leaks
from harness.runtime.sanitizers import ensure_runtime, test_process_options
from harness.sequence.machine import sequence_machine
from harness.target.build import build
from harness.target.catalogue import Bug
from harness.target.loader import load
from harness.target.spec import Target, resolve_target
from harness.testing.forked import SanitizerFinding
from harness.triage import parse_report

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
FUZZER_CONFIGS = ("harness", "bare", "sequence", "plain", "native")
PLAIN = BENCH / "plain"
HYPOTHESIS_CONFIGS = ("stateful", "machine")
SPEC_CONFIGS = ("sequence", "machine", "native")  # need nothing but the library (native: its driver)
CONFIGS = FUZZER_CONFIGS + HYPOTHESIS_CONFIGS
MACHINE_SURFACES = ("ownership", "callbacks", "binding")  # the hand-written machines of tests/machines.py
CANARY = re.compile(r"^INFO: ffi-harness: canary (?P<bug>\S+) (?P<event>reached|triggered) at (?P<at>[\d.]+)$", re.M)


def trial(bug: Bug, config: str, seed: int, cap: float, work: Path, target: Target,
          extra: tuple[str, ...] = ()) -> dict[str, float | None]:
    """One seeded campaign on bug's variant; seconds to reached / triggered / detected (None: not in cap).
    extra: libFuzzer flags added to the worker's command line (an A/B of a flag)."""
    spec = fuzzer("sequence" if config == "sequence" else bug.surface, target)
    if config in ("bare", "plain"):
        spec = dataclasses.replace(spec, dictionary=None)
    if config == "plain":
        spec = dataclasses.replace(spec, script=PLAIN / f"{bug.surface}.py")
    out = work / f"{bug.id}-{config}-{seed}"
    campaign = CampaignConfig((spec,), target, bug.id, out, seconds=cap, seed=seed, use_seeds=config == "harness",
                              stop_on=bug.signatures, extra_args=extra)
    started = time.time()
    summary = Campaign(campaign).run().to_dict()
    detected = next((f["seconds_to_find"] for f in summary["findings"]
                     if bug.matches(f["kind"], f["function"])), None)
    events: dict[str, float] = {}
    for log in (out / spec.name).glob("worker-*.log"):
        for match in CANARY.finditer(log.read_text(errors="replace")):
            if match["bug"] == bug.id:
                at = float(match["at"]) - started
                events[match["event"]] = min(events.get(match["event"], at), at)
    return _times(events, detected, cap, summary["fuzzers"][spec.name]["execs"])


@cache
def _native_build(surface: str, work: Path, variant: str) -> Path:
    """The sanitized native driver of surface on variant, built once for all its seeds."""
    return build_native(surface, "sanitized", work, variant)


def native_trial(bug: Bug, seed: int, cap: float, work: Path, target: Target) -> dict[str, float | None]:
    """One seeded run of the native sequence driver on bug's variant until its first report (or
    the cap); detected when that report is one of the bug's (triaged as the harness would)."""
    binary = _native_build(f"sequence-{target.name}", work, bug.id)
    env = uninstrumented_environment()
    env["ASAN_OPTIONS"] = "detect_leaks=1:halt_on_error=1"
    env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1"
    with tempfile.TemporaryDirectory(prefix="ffih-native-ttf-", dir=work) as corpus:
        started = time.monotonic()
        try:
            out = subprocess.run([str(binary), corpus, f"-seed={seed}", f"-max_total_time={int(cap)}", "-max_len=512",
                                  f"-artifact_prefix={corpus}/", "-print_final_stats=1"], env=env, capture_output=True,
                                 text=True, errors="replace", timeout=cap * 3 + 60)
        except subprocess.TimeoutExpired:
            return _times({}, None, cap, 0)
        seconds = time.monotonic() - started
    found = parse_report(out.stderr, target.code) if out.returncode else []
    finding = found[0] if found else None
    execs = int(runs["n"]) if (runs := re.search(r"stat::number_of_executed_units:\s*(?P<n>\d+)", out.stderr)) else 0
    detected = seconds if finding is not None and bug.matches(finding.kind, finding.function) else None
    if finding is not None and detected is None:
        print(f"  {bug.id} native seed {seed}: ended by {finding.kind} in {finding.function}", flush=True)
    return _times({}, detected, cap, execs)


def _times(events: dict[str, float], detected: float | None, cap: float, execs: int) -> dict[str, float | None]:
    """A trial's result: a detection after the cap is censored (a worker that ran past it), and
    detection implies triggered implies reached (a crash can end the process before the next
    canary read)."""
    if detected is not None and detected > cap:
        detected = None
    triggered = _first(events.get("triggered"), detected)
    return {"reached": _first(events.get("reached"), triggered), "triggered": triggered, "detected": detected,
            "execs": execs}


class Censored(BaseException):
    """Raised past the cap; a BaseException, so hypothesis does not take it for a failure."""


def hypothesis_trial(bug: Bug, config: str, seed: int, cap: float, target: Target) -> dict[str, float | None]:
    """One seeded hypothesis run on bug's variant until its first failing example (or the cap),
    with the machine's default settings (examples in a shared worker, the per-example leak
    check). Each example appends the canaries it saw to a file the trial reads after."""
    from machines import BASE, make_machines  # tests/, on sys.path from main()

    loaded = load(target, bug.id)
    machine = make_machines(loaded)[bug.surface] if config == "stateful" else sequence_machine(loaded)
    leaks.check(loaded.target.code)  # forked children inherit this process's leak bookkeeping
    started, started_wall = time.monotonic(), time.time()
    state = {"examples": 0, "detected": None}
    with tempfile.NamedTemporaryFile(prefix="ffih-canaries-", suffix=".txt") as canary_file:

        class CanaryExecutor(machine.executor):  # type: ignore[name-defined, misc]
            def finish(self) -> None:
                try:
                    super().finish()
                finally:
                    reached, triggered = loaded.canaries().get(bug.id, (0, 0))
                    with open(canary_file.name, "a") as out:
                        out.writelines(f"{event} {time.time()}\n"
                                       for event, n in (("reached", reached), ("triggered", triggered)) if n)

        class Timed(machine):  # type: ignore[misc, valid-type]
            executor = CanaryExecutor

            def teardown(self) -> None:
                if time.monotonic() - started > cap:
                    raise Censored
                state["examples"] += 1
                try:
                    super().teardown()
                except SanitizerFinding as found:
                    if bug.matches(found.finding.kind, found.finding.function):
                        state["detected"] = state["detected"] or time.monotonic() - started
                    raise

        budget = settings(BASE, derandomize=False, max_examples=10**7, phases=[Phase.generate])
        try:
            run_state_machine_as_test(hypothesis_seed(seed)(Timed), settings=budget)
        except Censored:
            pass
        except Exception as failure:  # another failing example ends generation too
            if state["detected"] is None:
                print(f"  {bug.id} {config} seed {seed}: ended by {type(failure).__name__}: "
                      f"{str(failure).splitlines()[0][:120] if str(failure) else ''}", flush=True)
        events: dict[str, float] = {}
        for line in Path(canary_file.name).read_text().splitlines():
            event, at = line.split()
            events.setdefault(event, float(at) - started_wall)
    return _times(events, state["detected"], cap, state["examples"])


def applies(config: str, bug: Bug, target: Target) -> bool:
    """Whether config can look for bug: the fuzzers and the sequence machine take the C bugs,
    the hand-written state machines the bugs of their surfaces; another library than kv only
    the configurations made from its spec alone."""
    if target.name != "kv" and config not in SPEC_CONFIGS:
        return False
    if config == "stateful":
        return bug.surface in MACHINE_SURFACES
    if config == "plain":
        return (PLAIN / f"{bug.surface}.py").is_file()
    if config == "native":
        return f"sequence-{target.name}" in SURFACES and not bug.in_binding
    return not bug.in_binding


def _first(*times: float | None) -> float | None:
    return min((t for t in times if t is not None), default=None)


def summarize(trials: list[dict], cap: float) -> dict[str, object]:
    detected = [t["detected"] for t in trials]
    return {"found": sum(t is not None for t in detected), "trials": len(trials),
            "median_s": stats.median(detected, cap), "rmst_s": round(stats.restricted_mean(detected, cap), 2),
            "median_reached_s": stats.median([t["reached"] for t in trials], cap),
            "median_triggered_s": stats.median([t["triggered"] for t in trials], cap)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=1, help="seeds first-seed .. first-seed + seeds - 1")
    parser.add_argument("--cap", type=float, default=120.0, help="seconds before a trial is censored")
    parser.add_argument("--configs", nargs="+", default=list(FUZZER_CONFIGS), choices=CONFIGS)
    parser.add_argument("--bugs", nargs="*", default=None, help="bug ids (default: all a config applies to)")
    parser.add_argument("--out", default=str(RESULTS / "time_to_find.json"))
    parser.add_argument("--target", default=None, help="spec of the library (default: the embedded kv)")
    parser.add_argument("--fuzzer-arg", action="append", default=[], metavar="FLAG",
                        help="a libFuzzer flag for the fuzzer configurations, e.g. --fuzzer-arg=-len_control=0")
    args = parser.parse_args()
    target = resolve_target(args.target)
    bugs = [target.bug(b) for b in args.bugs] if args.bugs else list(target.bugs)
    bugs = [b for b in bugs if any(applies(c, b, target) for c in args.configs)]
    if set(args.configs) & set(HYPOTHESIS_CONFIGS):
        ensure_runtime(test_process_options())  # the hypothesis suites run in this process, as under pytest
        sys.path.insert(0, str(BENCH.parent / "tests"))  # their state machines
    os.environ[OPTIONS["canaries"].variable] = "1"
    for bug in bugs:
        build(target, bug.id)  # outside the timed trials
    results: dict[str, dict[str, object]] = {}
    print(f"{'bug':30} {'config':9} {'found':>6} {'median':>8} {'RMST':>7} {'reached':>8} {'trig.':>7}")
    with tempfile.TemporaryDirectory(prefix="ffih-ttf-") as work:
        for bug in bugs:
            results[bug.id] = {}
            for config in (c for c in args.configs if applies(c, bug, target)):
                if config in HYPOTHESIS_CONFIGS:
                    run = partial(hypothesis_trial, bug, config, target=target)
                elif config == "native":
                    run = partial(native_trial, bug, work=Path(work), target=target)
                else:
                    run = partial(trial, bug, config, work=Path(work), target=target, extra=tuple(args.fuzzer_arg))
                trials = [run(seed=seed, cap=args.cap) for seed in range(args.first_seed, args.first_seed + args.seeds)]
                row = summarize(trials, args.cap) | {"times": trials}
                results[bug.id][config] = row
                print(f"{bug.id:30} {config:9} {row['found']:>3}/{row['trials']:<2} {_s(row['median_s']):>8} "
                      f"{row['rmst_s']:>6.1f}s {_s(row['median_reached_s']):>8} {_s(row['median_triggered_s']):>7}",
                      flush=True)
            _compare(results[bug.id], args.cap)
    report = {"target": target.name, "seeds": args.seeds, "first_seed": args.first_seed, "cap_s": args.cap,
              "configs": args.configs, "fuzzer_args": args.fuzzer_arg, "bugs": results,
              "measured_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    plot(results, args.cap, Path(args.out).with_suffix(".png"))
    print(f"\nwritten {args.out} and its .png")


def plot(results: dict[str, dict[str, dict]], cap: float, path: Path) -> None:
    """Every trial's detection time per bug and configuration (log scale); censored trials as x at the cap."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    bugs = list(results)
    configs = sorted({c for rows in results.values() for c in rows}, key=CONFIGS.index)
    figure, axes = pyplot.subplots(figsize=(9, 0.4 * len(bugs) + 1.5))
    for index, config in enumerate(configs):
        offset = (index - (len(configs) - 1) / 2) * 0.8 / max(len(configs), 1)
        found_x, found_y, censored_y = [], [], []
        for row, bug in enumerate(bugs):
            for t in results[bug].get(config, {}).get("times", []):
                if t["detected"] is None:
                    censored_y.append(row + offset)
                else:
                    found_x.append(max(t["detected"], 0.1))
                    found_y.append(row + offset)
        color = f"C{index}"
        axes.scatter(found_x, found_y, s=12, color=color, label=config)
        axes.scatter([cap] * len(censored_y), censored_y, s=16, color=color, marker="x")
    axes.set_xscale("log")
    axes.set_yticks(range(len(bugs)), bugs, fontsize=8)
    axes.invert_yaxis()
    axes.axvline(cap, color="grey", linewidth=0.5)
    axes.set_xlabel(f"seconds to detection (x: not found within {cap:g} s)")
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def _compare(rows: dict[str, dict], cap: float) -> None:
    """harness against each other configuration: A12 (harness sooner) and Mann-Whitney p."""
    if "harness" not in rows:
        return
    ours = [t["detected"] for t in rows["harness"]["times"]]
    for config, row in rows.items():
        if config == "harness":
            continue
        theirs = [t["detected"] for t in row["times"]]
        row["a12_harness_sooner"] = round(stats.a12(ours, theirs, cap), 3)
        row["mann_whitney_p"] = round(stats.mann_whitney_p(ours, theirs, cap), 4)
        print(f"{'':30} harness vs {config}: A12={row['a12_harness_sooner']:.2f} p={row['mann_whitney_p']:.3f}")


def _s(value: object) -> str:
    return "-" if value is None else f"{value:.1f}s"


if __name__ == "__main__":
    main()
