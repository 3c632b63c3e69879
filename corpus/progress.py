"""Progress of long builds: tasks publish counters, the launching process shows them.

Tasks may run in other processes (local pool) or on other machines (Slurm, Ray), so each
task writes its counters to a small JSON file under OUT/logs/progress/, replaced atomically at
most once a second. `ProgressDisplay` polls those files from the process that launched the
build and renders one live line per pipeline (a rich progress bar on a terminal, a plain line
every 10 s otherwise): files, documents, tokens, and from the outcome writers the documents passed, dropped and
failed so far with the top reasons and the MB/s read. The same figures go to OUT/logs/progress.json every 10 s
and at each pipeline's end (`state: running | finished`), for a dashboard or a look at a build on another machine.
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
LIVE_SECONDS = 10.0  # the console line and OUT/logs/progress.json are renewed this often during a build
OUTCOMES = ("passed", "dropped", "failed")  # what corpus.outcomes.OutcomeWriter counts (kept = passed less duplicates)
LIVE_FILE = "progress.json"


def reasons(c: Counter) -> Counter:
    """(status, reason) -> documents, from the beacons' "status:reason" counters."""
    out: Counter = Counter()
    for key, n in c.items():
        status, sep, reason = key.partition(":")
        if sep and status in OUTCOMES:
            out[(status, reason)] += n
    return out


def top_reasons(c: Counter, k: int = 3) -> list[tuple[str, int]]:
    return [(reason, n) for (_, reason), n in reasons(c).most_common(k)]


def write_live_stats(folder: str, pipeline: str, stats: dict) -> None:
    """Merge one pipeline's statistics into OUT/logs/progress.json (beside the beacons' folder), atomically."""
    path = os.path.join(os.path.dirname(folder.rstrip(os.sep)), LIVE_FILE)
    try:
        with open(path) as f:
            record = json.load(f)
    except (OSError, ValueError):
        record = {}
    record.setdefault("pipelines", {})[pipeline] = stats
    record["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    with open(path + ".tmp", "w") as f:
        json.dump(record, f, indent=1)
    os.replace(path + ".tmp", path)


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
        outcomes = [f"{s} {c[s]:,}" for s in OUTCOMES if c.get(s)]
        if outcomes:
            top = ", ".join(f"{reason} {n:,}" for reason, n in top_reasons(c))
            parts.append(" ".join(outcomes) + (f" ({top})" if top else ""))
        elapsed = max(time.monotonic() - self._started, 1e-9)
        if c.get("chars"):
            parts.append(f"{c['chars'] / 1e6 / elapsed:.1f} MB/s")
        return ", ".join(parts or ["starting"])

    def _line(self, c: Counter | None = None) -> str:
        return f"{self.description}: {self._counts(c)}  [{time.monotonic() - self._started:.0f}s]"

    def _record(self, c: Counter, final: bool = False) -> None:
        """OUT/logs/progress.json: what every pipeline has counted so far (or in all, once it ended)."""
        elapsed = time.monotonic() - self._started
        write_live_stats(self.folder, self.pipeline, {
            "state": "finished" if final else "running", "seconds": round(elapsed, 1),
            "files": c.get("files", 0), "total_files": self.total_files, "documents": c.get("documents", 0),
            "tokens": c.get("tokens", 0), **{s: c.get(s, 0) for s in OUTCOMES},
            "reasons": {f"{status}:{reason}": n for (status, reason), n in reasons(c).items()},
            "mb_per_s": round(c.get("chars", 0) / 1e6 / max(elapsed, 1e-9), 3),
            "documents_per_s": round((sum(c.get(s, 0) for s in OUTCOMES) or c.get("documents", 0)) / max(elapsed, 1e-9), 1)})

    def _run(self) -> None:
        while not self._stop.wait(LIVE_SECONDS):
            c = read_progress(self.folder, self.pipeline)  # one read of the beacons for the file and the line
            self._record(c)
            self.stream.write(self._line(c) + "\n")
            self.stream.flush()

    def _refresh(self, live: Progress, task) -> None:
        last = time.monotonic()
        while not self._stop.wait(0.5):
            c = read_progress(self.folder, self.pipeline)  # one read of the beacons per refresh
            live.update(task, completed=c.get("files", 0), counts=self._counts(c))
            if time.monotonic() - last >= LIVE_SECONDS:
                self._record(c)
                last = time.monotonic()

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
        c = read_progress(self.folder, self.pipeline)
        self._record(c, final=True)
        self.stream.write(self._line(c) + "\n")
        self.stream.flush()
