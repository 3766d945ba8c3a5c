"""Replay results as CI formats: JUnit XML (test reports) and SARIF 2.1.0 (code scanning)."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

from harness.atomic import write_atomic
from harness.store.replay import ReplayResult, relative, summarize

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def junit_xml(results: list[ReplayResult], suite: str = "ffi-harness replay") -> str:
    """One testcase per input: failure when it reproduces or changed, error when it could not run."""
    return junit_suites({suite: results})


def junit_suites(suites: dict[str, list[ReplayResult]], known: frozenset[str] = frozenset()) -> str:
    """A JUnit document with one testsuite per name (see junit_xml); an input reproducing a known
    finding (its stack hash is in `known`) is skipped, not failed."""
    root = ET.Element("testsuites")
    for suite, results in suites.items():
        counts = summarize(results)
        old = [r for r in results if r.verdict == "reproduces" and r.stack_hash in known]
        node = ET.SubElement(root, "testsuite", name=suite, tests=str(len(results)), skipped=str(len(old)),
                             failures=str(counts["reproduces"] + counts["changed"] - len(old)),
                             errors=str(counts["error"]))
        for result in results:
            case = ET.SubElement(node, "testcase", classname=f"replay.{result.fuzzer or 'unknown'}",
                                 name=relative(result.input), time=f"{result.seconds:.3f}")
            if result in old:
                ET.SubElement(case, "skipped", message=f"known finding, still reproduces: {result.title}")
            elif result.verdict in ("reproduces", "changed"):
                failure = ET.SubElement(case, "failure", type=result.kind or "finding",
                                        message=f"{result.verdict}: {result.title}")
                failure.text = (f"{result.title}\nstack hash {result.stack_hash} (expected {result.expected_hash})\n"
                                f"at {result.file}:{result.line}")
            elif result.verdict == "error":
                ET.SubElement(case, "error", message=result.detail)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def sarif(results: list[ReplayResult], tool_version: str = "0.1.0", known: frozenset[str] | None = None) -> dict:
    """SARIF 2.1.0: a rule per finding kind, a result with location per reproducing input.
    With `known` (stack hashes of findings seen before), each result gets a baselineState."""
    kinds = sorted({r.kind for r in results if r.kind and r.verdict in ("reproduces", "changed")})
    rules = [{"id": kind, "name": kind, "shortDescription": {"text": f"Sanitizer finding: {kind}"}}
             for kind in kinds]
    entries = []
    for result in results:
        if result.verdict not in ("reproduces", "changed") or not result.kind:
            continue
        location: dict = {"physicalLocation": {"artifactLocation": {"uri": relative(result.file) or "unknown"}}}
        if result.line:
            location["physicalLocation"]["region"] = {"startLine": result.line}
        if result.function:
            location["logicalLocations"] = [{"name": result.function, "kind": "function"}]
        entries.append({
            "ruleId": result.kind, "ruleIndex": kinds.index(result.kind), "level": "error",
            "message": {"text": f"{result.title} (input {relative(result.input)}, {result.verdict})"},
            "locations": [location],
            "partialFingerprints": {"stackHash/v1": result.stack_hash or ""},
        })
        if known is not None:
            entries[-1]["baselineState"] = "unchanged" if result.stack_hash in known else "new"
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0",
            "runs": [{"tool": {"driver": {"name": "ffi-harness", "version": tool_version,
                                          "informationUri": "https://example.invalid/ffi-harness",
                                          "rules": rules}},
                      "results": entries}]}


def write_sarif(path: Path, results: list[ReplayResult], known: frozenset[str] | None = None) -> None:
    write_atomic(path, json.dumps(sarif(results, known=known), indent=2).encode())


def write_junit(path: Path, results: list[ReplayResult]) -> None:
    write_atomic(path, junit_xml(results).encode())
