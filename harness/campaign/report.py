"""The end-of-campaign report: report.png (coverage and findings over time per fuzzer, drawn
from stats.jsonl) and report.md (the summary table, the plot, the distinct findings with
their replay commands)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from harness.atomic import write_atomic


def read_stats(path: Path) -> list[dict]:
    """The JSON lines a campaign's Reporter wrote (a torn last line is skipped)."""
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def plot(rows: list[dict], path: Path) -> Path:
    """Coverage (top) and cumulative findings (bottom) against seconds, one line per fuzzer."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, (coverage, findings) = pyplot.subplots(2, 1, sharex=True, figsize=(8, 6))
    times = [row["t"] for row in rows]
    for name in rows[-1]["fuzzers"] if rows else []:
        coverage.plot(times, [row["fuzzers"][name]["coverage"] for row in rows], label=name)
        findings.step(times, [row["fuzzers"][name]["findings"] for row in rows], where="post", label=name)
    coverage.set_ylabel("coverage (edges)")
    findings.set_ylabel("findings (cumulative)")
    findings.set_xlabel("seconds")
    if rows:
        coverage.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=100)
    pyplot.close(figure)
    return write_atomic(path, image.getvalue())


def markdown(summary: dict, image: str | None) -> str:
    """The report text for a campaign's JSON summary."""
    lines = [f"# Campaign on {summary['target']} ({summary['variant']})", "",
             f"{summary['seconds']:.0f} s, stopped: {summary['stopped'] or 'budget spent'}", "",
             "| fuzzer | execs | exec/s | coverage | corpus |", "|---|---:|---:|---:|---:|"]
    for name, stats in summary["fuzzers"].items():
        lines.append(f"| {name} | {stats['execs']} | {stats['exec_per_s']:.0f} | {stats['coverage']} | "
                     f"{stats['corpus_size']} |")
    if image:
        lines += ["", f"![coverage and findings over time]({image})"]
    lines += ["", f"## {len(summary['findings'])} distinct finding(s)", ""]
    if summary["findings"]:
        lines += ["| found after | fuzzer | finding | seen | alone | replay |", "|---:|---|---|---:|---|---|"]
        for f in summary["findings"]:
            replay = f"`{f['replay']}`" if f["replay"] else "no input"
            alone = {True: "reproduces", False: "**did not reproduce**"}.get(f.get("reproducible"), "not checked")
            lines.append(f"| {f['seconds_to_find']:.1f} s | {f['fuzzer']} | {f['title']} | {f['count']} | {alone} "
                         f"| {replay} |")
    for check in summary.get("checks_off", []):
        lines.append(f"\nCheck off (binary-only target): {check}")
    return "\n".join(lines) + "\n"


def write_report(out_dir: Path, summary: dict) -> Path:
    """Write report.png (when there are stats) and report.md into out_dir; the .md's path."""
    stats = out_dir / "stats.jsonl"
    rows = read_stats(stats) if stats.exists() else []
    image = plot(rows, out_dir / "report.png").name if rows else None
    return write_atomic(out_dir / "report.md", markdown(summary, image).encode())
