"""What a running campaign shows and records: a live table (rich) on a terminal, a line per
update otherwise (CI logs), and stats over time as JSON lines (out_dir/stats.jsonl).

Both follow the campaign's events ("progress", "finding"); the recorder also samples on its own
clock, so the JSON lines have a row every `interval` seconds even when nothing changes.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table


@dataclass
class FuzzerView:
    """The latest numbers of one fuzzer, as the events tell them."""

    execs: int = 0
    coverage: int = 0
    corpus: int = 0
    findings: int = 0
    started: float = field(default_factory=time.monotonic)

    def exec_per_s(self) -> float:
        return self.execs / max(time.monotonic() - self.started, 1e-3)


class CampaignView:
    """Thread-safe latest state of every fuzzer, fed by Campaign events."""

    def __init__(self, fuzzers: list[str], budget_s: float | None) -> None:
        self.fuzzers = {name: FuzzerView() for name in fuzzers}
        self.distinct: set[str] = set()
        self.budget_s = budget_s
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def on_event(self, kind: str, data: dict) -> None:
        """Campaign event hook."""
        with self.lock:
            view = self.fuzzers.get(data.get("fuzzer", ""))
            if view is None:
                return
            if kind == "progress":
                view.execs = max(view.execs, data["execs"])
                view.coverage, view.corpus = max(view.coverage, data["coverage"]), max(view.corpus, data["corpus"])
            elif kind == "finding":
                view.findings += 1
                self.distinct.add(data["stack_hash"])

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def row(self) -> dict[str, object]:
        """One JSON-lines record: elapsed seconds, distinct findings, per-fuzzer numbers."""
        with self.lock:
            return {"t": round(self.elapsed(), 2), "distinct_findings": len(self.distinct),
                    "fuzzers": {name: {"execs": v.execs, "exec_per_s": round(v.exec_per_s(), 1),
                                       "coverage": v.coverage, "corpus": v.corpus, "findings": v.findings}
                                for name, v in self.fuzzers.items()}}

    def table(self) -> Table:
        """The live table."""
        row = self.row()
        remaining = f", {max(self.budget_s - row['t'], 0):.0f} s left" if self.budget_s else ""  # type: ignore[operator]
        table = Table(title=f"ffi-harness campaign: {row['t']:.0f} s{remaining}, "
                            f"{row['distinct_findings']} distinct finding(s)")
        for column in ("fuzzer", "execs", "exec/s", "coverage", "corpus", "findings"):
            table.add_column(column, justify="left" if column == "fuzzer" else "right")
        for name, stats in row["fuzzers"].items():  # type: ignore[union-attr]
            table.add_row(name, str(stats["execs"]), f"{stats['exec_per_s']:.0f}", str(stats["coverage"]),
                          str(stats["corpus"]), str(stats["findings"]))
        return table

    def line(self) -> str:
        """The plain one-line form of the table (for logs)."""
        row = self.row()
        parts = [f"{name} {s['execs']} ex {s['exec_per_s']:.0f}/s cov {s['coverage']} corp {s['corpus']}"
                 for name, s in row["fuzzers"].items()]  # type: ignore[union-attr]
        return f"[{row['t']:7.1f}s] {row['distinct_findings']} finding(s) | " + " | ".join(parts)


class Reporter:
    """Runs beside a campaign: writes stats.jsonl every `interval` s and shows progress on `stream`
    (a rich live table when it is a terminal, a plain line every `interval` s otherwise, nothing
    when stream is None)."""

    def __init__(self, view: CampaignView, stats_path: Path, stream: TextIO | None, interval: float = 5.0) -> None:
        self.view, self.stats_path, self.interval = view, stats_path, interval
        self.console = Console(file=stream) if stream is not None else None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Reporter:
        self.stats_path.parent.mkdir(parents=True, exist_ok=True)
        self.stats_path.write_text("")
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()

    def _write(self) -> None:
        with open(self.stats_path, "a") as handle:
            handle.write(json.dumps(self.view.row()) + "\n")

    def _loop(self) -> None:
        live = None
        if self.console is not None and self.console.is_terminal:
            live = Live(self.view.table(), console=self.console, refresh_per_second=2)
            live.start()
        try:
            while not self.done.wait(self.interval):
                self._write()
                if live is not None:
                    live.update(self.view.table())
                elif self.console is not None:
                    self.console.print(self.view.line(), highlight=False, soft_wrap=True)
        finally:
            self._write()  # the final numbers
            if live is not None:
                live.update(self.view.table())
                live.stop()
