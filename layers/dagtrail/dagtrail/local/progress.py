"""Live progress of a local run: a redrawn table on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from dagtrail.local.summary import TaskSummary

_SYMBOL = {"NOT_STARTED": "·", "SUBMITTED": "…", "PENDING": "…", "RUNNABLE": "…", "STARTING": "…",
           "RUNNING": "▶", "SUCCEEDED": "✔", "FAILED": "✘"}


class Progress:
    def __init__(self, run_id: str, tasks: list[str], stream: TextIO | None = None,
                 tty: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.tasks = tasks
        self.run_id = run_id
        self.t0 = time.monotonic()
        self._last: dict[str, tuple] = {}
        self._sweep_t0: dict[str, float] = {}
        self._drawn = 0
        self.stream.write(f"run {run_id}: {len(tasks)} tasks\n")

    def update(self, states: dict[str, TaskSummary]) -> None:
        elapsed = time.monotonic() - self.t0
        if self.tty:
            self._redraw(states, elapsed)
            return
        for name in self.tasks:
            s = states[name]
            if s.items is not None:
                line = self.sweep_line(s, elapsed)
                if self._last.get(name) != (line[0],):  # at most one line per change of counts
                    self._last[name] = (line[0],)
                    self.stream.write(f"{elapsed:7.1f}s  {name:<24} {line[1]}\n")
                continue
            key = (s.status, s.attempts)
            if self._last.get(name) != key:
                self._last[name] = key
                if s.status != "NOT_STARTED":
                    attempt = f" (attempt {s.attempts})" if s.attempts > 1 else ""
                    self.stream.write(f"{elapsed:7.1f}s  {name:<24} {s.status}{attempt}\n")
        self.stream.flush()

    def sweep_line(self, s: TaskSummary, elapsed: float) -> tuple[tuple[int, int, str], str]:
        """(what changed, "done/failed/total, rate, ETA") for a sweep."""
        assert s.items is not None
        items = s.items
        ended = items.succeeded + items.failed
        t0 = self._sweep_t0.setdefault(s.name, elapsed)
        rate = ended / (elapsed - t0) if elapsed > t0 and ended else 0.0
        left = items.total - ended
        eta = f"ETA {left / rate:.0f}s" if rate and left and s.status == "RUNNING" else ""
        text = (f"{s.status.lower()} {items.succeeded}/{items.failed}/{items.total} done/failed/total"
                + (f", {rate:.1f}/s" if rate else "") + (f", {eta}" if eta else ""))
        # Plain output: a line per tenth of the sweep, not per item.
        return (items.succeeded * 10 // max(items.total, 1), items.failed, s.status), text

    def _redraw(self, states: dict[str, TaskSummary], elapsed: float) -> None:
        counts: dict[str, int] = {}
        for s in states.values():
            counts[s.status] = counts.get(s.status, 0) + 1
        lines = []
        for name in self.tasks:
            s = states[name]
            attempt = f" attempt {s.attempts}" if s.attempts > 1 else ""
            detail = f"{s.status.lower()}{attempt}" if s.items is None else self.sweep_line(s, elapsed)[1]
            lines.append(f"  {_SYMBOL.get(s.status, '?')} {name:<24} {detail}")
        done = counts.get("SUCCEEDED", 0)
        lines.append(f"  {done}/{len(self.tasks)} succeeded, {counts.get('RUNNING', 0)} running, "
                     f"{counts.get('FAILED', 0)} failed — {elapsed:.1f}s")
        if self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F")
        self.stream.write("".join(f"{line}\x1b[K\n" for line in lines))
        self.stream.flush()
        self._drawn = len(lines)
