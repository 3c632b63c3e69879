"""The fetch ledger: one JSON line per item attempt, appended and flushed as it happens, so a killed fetch loses at
most the item in flight (whose file was never renamed into place) and a rerun knows what it has.

Row: job, service, item (the service's id), doi, journal (where the service says), url, path (under output_dir),
status (fetched | skipped | failed), reason (for failed and skipped), detail (what failed, for a failure; credentials
redacted), http_status, bytes, sha256, licence,
retrieved_at. The last row of an item wins.
Requested = fetched + skipped + failed, per job and run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

FIELDS = ("job", "service", "item", "doi", "journal", "url", "path", "status", "reason", "detail", "http_status", "bytes", "sha256", "licence", "retrieved_at")


def sha256_of(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class Ledger:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.path = self.root / "fetch_ledger.jsonl"
        self.last = self.read_last(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._out = open(self.path, "a", encoding="utf-8")

    @staticmethod
    def read_last(root: str | Path) -> dict[tuple[str, str], dict]:
        """(job, item) -> its last row."""
        last: dict[tuple[str, str], dict] = {}
        path = Path(root) / "fetch_ledger.jsonl"
        if path.exists():
            with open(path, encoding="utf-8") as f:
                for line in f:
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line cut by a kill mid-write: its item is fetched again
                    last[(row["job"], row["item"])] = row
        return last

    def close(self) -> None:
        self._out.close()

    def have(self, job: str, item: str) -> dict | None:
        """The ledger row of an item already here: fetched before, and its file still whole (same checksum)."""
        row = self.last.get((job, item))
        if not row or row["status"] not in ("fetched", "skipped") or not row.get("path"):
            return None
        path = self.root / row["path"]
        return row if path.is_file() and path.stat().st_size == row["bytes"] and sha256_of(path) == row["sha256"] else None

    def write(self, **row) -> dict:
        row = {k: row.get(k) for k in FIELDS}
        row["retrieved_at"] = row["retrieved_at"] or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        self._out.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._out.flush()
        os.fsync(self._out.fileno())
        self.last[(row["job"], row["item"])] = row
        return row
