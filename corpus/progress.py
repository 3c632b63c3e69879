"""Progress of long builds: tasks publish counters, the launching process shows them.

Tasks may run in other processes (local pool) or on other machines (Slurm, Ray), so each
task writes its counters to a small JSON file under OUT/logs/progress/, replaced atomically at
most once a second. `ProgressDisplay` polls those files from the process that launched the
build and renders one live line per stage (rich on a terminal, a plain line every few
seconds otherwise).
"""

from __future__ import annotations

import glob
import json
import os
import sys
import threading
import time
from collections import Counter

FLUSH_SECONDS = 1.0


class ProgressBeacon:
    """Per-task counters (files, documents, tokens, ...) for one stage, flushed to disk."""

    def __init__(self, folder: str, stage: str):
        self.folder = folder
        self.stage = stage
        self._counts: Counter = Counter()
        self._rank: int | None = None
        self._last_flush = 0.0

    def __getstate__(self):
        # each task starts from zero in its own process
        return {"folder": self.folder, "stage": self.stage}

    def __setstate__(self, state):
        self.__init__(state["folder"], state["stage"])

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
        path = os.path.join(self.folder, f"{self.stage}-{self._rank:05d}.json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(dict(self._counts), f)
        os.replace(tmp, path)


def read_progress(folder: str, stage: str) -> Counter:
    total: Counter = Counter()
    for path in glob.glob(os.path.join(folder, f"{stage}-*.json")):
        try:
            with open(path) as f:
                total.update(json.load(f))
        except (OSError, ValueError):
            continue  # being replaced right now
    return total


class ProgressDisplay:
    """Polls the beacons of one stage while it runs and shows files/documents/tokens."""

    def __init__(self, folder: str, stage: str, description: str, total_files: int | None = None, stream=None):
        self.folder, self.stage, self.description = folder, stage, description
        self.total_files = total_files
        self.stream = stream or sys.stdout
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0

    def _line(self) -> str:
        c = read_progress(self.folder, self.stage)
        parts = []
        if self.total_files:
            parts.append(f"files {c.get('files', 0):,}/{self.total_files:,}")
        if "documents" in c:
            parts.append(f"documents {c['documents']:,}")
        if "tokens" in c:
            parts.append(f"tokens {c['tokens']:,}")
        elapsed = time.monotonic() - self._started
        return f"{self.description}: " + ", ".join(parts or ["starting"]) + f"  [{elapsed:.0f}s]"

    def _run(self) -> None:
        interactive = self.stream.isatty()
        every = 0.5 if interactive else 10.0
        while not self._stop.wait(every):
            if interactive:
                self.stream.write("\r\033[K" + self._line())
            else:
                self.stream.write(self._line() + "\n")
            self.stream.flush()
        if interactive:
            self.stream.write("\r\033[K")

    def __enter__(self) -> "ProgressDisplay":
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.stream.write(self._line() + "\n")
        self.stream.flush()
