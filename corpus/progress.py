"""Progress of long builds: tasks publish counters, the launching process shows them.

Tasks may run in other processes (local pool) or on other machines (Slurm, Ray), so each
task writes its counters to a small JSON file under OUT/logs/progress/, replaced atomically at
most once a second. `ProgressDisplay` polls those files from the process that launched the
build and renders one live line per pipeline (a rich progress bar on a terminal, a plain line
every 10 s otherwise).
"""

from __future__ import annotations

import glob
import json
import os
import sys
import threading
import time
from collections import Counter

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

FLUSH_SECONDS = 1.0


class ProgressBeacon:
    """Per-task counters (files, documents, tokens, ...) for one pipeline, flushed to disk."""

    def __init__(self, folder: str, pipeline: str):
        self.folder = folder
        self.pipeline = pipeline
        self._counts: Counter = Counter()
        self._rank: int | None = None
        self._last_flush = 0.0

    def __getstate__(self):
        # each task starts from zero in its own process
        return {"folder": self.folder, "pipeline": self.pipeline}

    def __setstate__(self, state):
        self.__init__(state["folder"], state["pipeline"])

    def add(self, rank: int, **counts: int) -> None:
        self._rank = rank
        self._counts.update(counts)
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_SECONDS:
            self.flush()
            self._last_flush = now

    def flush(self) -> None:
        if self._rank is None:
            return
        os.makedirs(self.folder, exist_ok=True)
        path = os.path.join(self.folder, f"{self.pipeline}-{self._rank:05d}.json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(dict(self._counts), f)
        os.replace(tmp, path)


def read_progress(folder: str, pipeline: str) -> Counter:
    total: Counter = Counter()
    for path in glob.glob(os.path.join(folder, f"{pipeline}-*.json")):
        try:
            with open(path) as f:
                total.update(json.load(f))
        except (OSError, ValueError):
            continue  # being replaced right now
    return total


class ProgressDisplay:
    """Polls the beacons of one pipeline while it runs and shows files/documents/tokens: a live `rich.progress` bar
    on a terminal; in a log file (no terminal: Slurm, CI, nohup) a plain line every 10 s instead, since a live
    display there would write nothing until the end. Either way one final plain line stays in the output."""

    def __init__(self, folder: str, pipeline: str, description: str, total_files: int | None = None, stream=None):
        self.folder, self.pipeline, self.description = folder, pipeline, description
        self.total_files = total_files
        self.stream = stream or sys.stdout
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._live: Progress | None = None

    def _counts(self, c: Counter | None = None) -> str:
        c = read_progress(self.folder, self.pipeline) if c is None else c
        parts = []
        if self.total_files:
            parts.append(f"files {c.get('files', 0):,}/{self.total_files:,}")
        if "documents" in c:
            parts.append(f"documents {c['documents']:,}")
        if "tokens" in c:
            parts.append(f"tokens {c['tokens']:,}")
        return ", ".join(parts or ["starting"])

    def _line(self) -> str:
        return f"{self.description}: {self._counts()}  [{time.monotonic() - self._started:.0f}s]"

    def _run(self) -> None:
        while not self._stop.wait(10.0):
            self.stream.write(self._line() + "\n")
            self.stream.flush()

    def _refresh(self, live: Progress, task) -> None:
        while not self._stop.wait(0.5):
            c = read_progress(self.folder, self.pipeline)  # one read of the beacons per refresh
            live.update(task, completed=c.get("files", 0), counts=self._counts(c))

    def __enter__(self) -> "ProgressDisplay":
        self._started = time.monotonic()
        if self.stream.isatty():
            self._live = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[counts]}"),
                                  TimeElapsedColumn(), console=Console(file=self.stream), transient=True)
            self._live.start()
            task = self._live.add_task(self.description, total=self.total_files or None, counts="starting")
            self._thread = threading.Thread(target=self._refresh, args=(self._live, task), daemon=True)
        else:
            self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        if self._live is not None:
            self._live.stop()
        self.stream.write(self._line() + "\n")
        self.stream.flush()
