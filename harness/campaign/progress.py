"""What a running campaign shows and records: a live table (rich) on a terminal, a line per
update otherwise (CI logs), and stats over time as JSON lines (out_dir/stats.jsonl).

Both read Campaign.live_stats() every `interval` seconds, so the JSON lines have a row per
interval even when nothing changes.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from harness.campaign.runner import Campaign

Row = dict[str, Any]  # Campaign.live_stats()


def table(row: Row, budget_s: float | None) -> Table:
    """The live table of one row."""
    remaining = f", {max(budget_s - row['t'], 0):.0f} s left" if budget_s else ""
    title = f"ffi-harness campaign: {row['t']:.0f} s{remaining}, {row['distinct_findings']} distinct finding(s)"
    view = Table(title=title)
    for column in ("fuzzer", "execs", "exec/s", "coverage", "corpus", "findings"):
        view.add_column(column, justify="left" if column == "fuzzer" else "right")
    for name, stats in row["fuzzers"].items():
        view.add_row(name, str(stats["execs"]), f"{stats['exec_per_s']:.0f}", str(stats["coverage"]),
                     str(stats["corpus"]), str(stats["findings"]))
    return view


def line(row: Row) -> str:
    """The plain one-line form of the table (for logs)."""
    parts = [f"{name} {s['execs']} ex {s['exec_per_s']:.0f}/s cov {s['coverage']} corp {s['corpus']}"
             for name, s in row["fuzzers"].items()]
    return f"[{row['t']:7.1f}s] {row['distinct_findings']} finding(s) | " + " | ".join(parts)


class Reporter:
    """Runs beside a campaign: writes stats.jsonl every `interval` s and shows progress on `stream`
    (a rich live table when it is a terminal, a plain line every `interval` s otherwise, nothing
    when stream is None)."""

    def __init__(self, campaign: Campaign, stats_path: Path, stream: TextIO | None, interval: float = 5.0) -> None:
        self.snapshot, self.budget_s = campaign.live_stats, campaign.config.seconds
        self.stats_path, self.interval = stats_path, interval
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

    def _write(self) -> Row:
        row = self.snapshot()
        with open(self.stats_path, "a") as handle:
            handle.write(json.dumps(row) + "\n")
        return row

    def _loop(self) -> None:
        live = None
        if self.console is not None and self.console.is_terminal:
            live = Live(table(self.snapshot(), self.budget_s), console=self.console, refresh_per_second=2)
            live.start()
        try:
            while not self.done.wait(self.interval):
                row = self._write()
                if live is not None:
                    live.update(table(row, self.budget_s))
                elif self.console is not None:
                    self.console.print(line(row), highlight=False, soft_wrap=True)
        finally:
            row = self._write()  # the final numbers
            if live is not None:
                live.update(table(row, self.budget_s))
                live.stop()
