"""Where every document ends: kept, dropped (with a reason) or failed (with the error).

`OutcomeWriter` is a datatrove `JsonlWriter` that also keeps a ledger: one row per document it
writes (id, source, component, status, reason, characters, file). The ledgers of all writers
and tasks are what `summary.json` counts, so the accounting never re-reads document text.
It plugs in wherever datatrove takes a writer, e.g. as any filter's `exclusion_writer`.
"""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document
from datatrove.pipeline.writers.jsonl import JsonlWriter

LEDGER_SCHEMA = pa.schema(
    [
        ("record", pa.string()),
        ("id", pa.string()),
        ("source", pa.string()),
        ("component", pa.string()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("chars", pa.int64()),
        ("file_path", pa.string()),
    ]
)

# passed: through every filter of the process stage; kept: in a shard (dedup may still drop a passed document)
PASSED, KEPT, DROPPED, FAILED = "passed", "kept", "dropped", "failed"


def licence_of(doc: Document) -> str | None:
    """The document's licence, whichever spelling its source used."""
    value = doc.metadata.get("licence", doc.metadata.get("license"))
    return None if value is None else str(value)


class OutcomeWriter(JsonlWriter):
    """Writes documents of one outcome as zstd JSONL and records them in a parquet ledger.

    Args:
        output_folder: where the documents go (e.g. OUT/rejected)
        output_filename: datatrove template, may use ${rank} and metadata fields such as ${component}
        status: kept | dropped | failed
        ledger_path: template of the ledger file, with {rank}
    """

    name = "📒 Outcome"

    def __init__(self, output_folder: str, output_filename: str, status: str, ledger_path: str):
        super().__init__(output_folder, output_filename=output_filename, compression="zstd")
        self.status = status
        self.ledger_path = ledger_path
        self._rows: list[dict] = []
        self._rank: int | None = None

    def write(self, document: Document, rank: int = 0, **kwargs):
        self._rank = rank
        md = document.metadata
        reason = md.get("filter_reason") if self.status == DROPPED else md.get("error_kind") if self.status == FAILED else None
        self._rows.append(
            {
                "record": md.get("record"),
                "id": document.id,
                "source": md.get("source"),
                "component": md.get("component"),
                "status": self.status,
                "reason": reason,
                "chars": len(document.text),
                "file_path": md.get("file_path"),
            }
        )
        super().write(document, rank, **kwargs)

    def close(self):
        super().close()
        if self._rows:
            path = self.ledger_path.format(rank=self._rank)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            pq.write_table(pa.Table.from_pylist(self._rows, schema=LEDGER_SCHEMA), path)
            self._rows = []
