"""Where every document ends: kept, dropped (with a reason) or failed (with the error).

`OutcomeWriter` is a datatrove `JsonlWriter` that also keeps a ledger: one row per document it
writes (id, source, component, status, reason, characters, file, and what the report groups and
plots by: publisher, journal, year, licence, language, quality signals, extraction quality,
crystal facts, duplicate and contamination links). The ledgers of all writers
and tasks are what `summary.json` counts, so the accounting never re-reads document text.
It plugs in wherever datatrove takes a writer, e.g. as any filter's `exclusion_writer`.
"""

from __future__ import annotations

import json
import os
import re
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document
from datatrove.pipeline.writers.jsonl import JsonlWriter

from corpus.publishers import normalise_publisher

# the signals (corpus.text.annotate) the report plots for kept against dropped documents
REPORTED_SIGNALS = ("words", "letter_ratio", "stopword_ratio", "numeric_line_ratio", "duplicate_line_char_ratio",
                    "latex_commands", "cid_runs")

LEDGER_SCHEMA = pa.schema(
    [
        ("record", pa.string()),
        ("id", pa.string()),
        ("source", pa.string()),
        ("component", pa.string()),
        ("reader", pa.string()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("chars", pa.int64()),
        ("file_path", pa.string()),
        ("publisher", pa.string()),
        ("journal", pa.string()),
        ("year", pa.int32()),
        ("licence", pa.string()),
        ("language", pa.string()),
        ("language_score", pa.float64()),
        ("domain_score", pa.float64()),
        *[(f"signal_{k}", pa.float64()) for k in REPORTED_SIGNALS],
        ("garbled_chars", pa.int64()),  # (cid:NN) runs + U+FFFD + mojibake pairs: extraction garble
        ("pages", pa.int32()),
        ("no_text_pages", pa.int32()),
        ("ocr_pages", pa.int32()),  # pages read by OCR (scans)
        ("layout_dropped_chars", pa.int64()),  # characters of page blocks the PDF reader left out (figure text, front matter, ...)
        ("sections", pa.int32()),
        ("formula", pa.string()),
        ("spacegroup", pa.int32()),
        ("crystal_system", pa.string()),
        ("elements", pa.string()),  # space-separated symbols
        ("duplicate_of", pa.string()),
        ("contamination", pa.string()),
        ("error", pa.string()),
    ]
)
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")


def read_documents(path: str) -> Iterator[dict]:
    """The documents an OutcomeWriter wrote to one zstd JSONL file, streamed (never the whole file in memory)."""
    import io

    import zstandard

    with open(path, "rb") as fh, io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(fh), encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def year_of(md: dict) -> int | None:
    """The publication year from whichever field the source had (year, date, cover date)."""
    for key in ("year", "date", "cover_date", "publication_date", "published"):
        value = md.get(key)
        if value is not None:
            m = _YEAR.search(str(value))
            if m:
                return int(m.group(1))
    return None


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def ledger_row(document: Document, status: str) -> dict:
    """Everything the report groups and plots by, taken from the document's metadata (never its text)."""
    md = document.metadata
    reason = md.get("filter_reason") if status == DROPPED else md.get("error_kind") if status == FAILED else None
    signals = md.get("signals") or {}
    no_text = md.get("no_text_pages")
    contamination = md.get("contamination")
    return {
        "record": md.get("record"),
        "id": document.id,
        "source": md.get("source"),
        "component": md.get("component"),
        "reader": md.get("reader"),
        "status": status,
        "reason": reason,
        "chars": len(document.text),
        "file_path": md.get("file_path"),
        "publisher": normalise_publisher(_text(md.get("publisher"))),  # one name per house (corpus/publishers.py)
        "journal": _text(md.get("journal")),
        "year": year_of(md),
        "licence": licence_of(document),
        "language": md.get("language"),
        "language_score": _number(md.get("language_score")),
        "domain_score": _number(md.get("domain_score")),
        **{f"signal_{k}": _number(signals.get(k)) for k in REPORTED_SIGNALS},
        "garbled_chars": int(signals.get("cid_runs", 0) + signals.get("replacement_chars", 0) + signals.get("mojibake", 0)) if signals else None,
        "pages": md.get("pages") if isinstance(md.get("pages"), int) else None,
        "no_text_pages": len(no_text) if isinstance(no_text, list) else no_text if isinstance(no_text, int) else None,
        "ocr_pages": len(md["ocr_pages"]) if isinstance(md.get("ocr_pages"), list) else None,
        "layout_dropped_chars": md.get("layout_dropped_chars") if isinstance(md.get("layout_dropped_chars"), int) else None,
        "sections": len(md["sections"]) if isinstance(md.get("sections"), list) else None,
        "formula": md.get("formula"),
        "spacegroup": md.get("spacegroup_number"),
        "crystal_system": md.get("crystal_system"),
        "elements": " ".join(md["elements"]) if isinstance(md.get("elements"), list) else None,
        "duplicate_of": md.get("duplicate_of"),
        "contamination": " ".join(map(str, contamination)) if isinstance(contamination, list) else None,
        "error": str(md["error"])[:500] if md.get("error") else None,
    }


def _text(value) -> str | None:
    return None if value is None else str(value)[:300]

# passed: through every filter of the process pipeline; kept: in a shard (dedup may still drop a passed document)
PASSED, KEPT, DROPPED, FAILED = "passed", "kept", "dropped", "failed"


def licence_of(doc: Document) -> str | None:
    """The document's licence, whichever spelling its source used."""
    value = doc.metadata.get("licence", doc.metadata.get("license"))
    return None if value is None else str(value)


LEDGER_FLUSH_ROWS = 10_000  # ledger rows a task buffers before writing them out


class OutcomeWriter(JsonlWriter):
    """Writes documents of one outcome as zstd JSONL and records them in a parquet ledger.

    Args:
        output_folder: where the documents go (e.g. OUT/rejected)
        output_filename: datatrove template, may use ${rank} and metadata fields such as ${component}
        status: kept | dropped | failed
        ledger_path: template of the ledger file, with {rank}
        progress: counts each outcome (and its reason, and the characters) for the live statistics
    """

    name = "📒 Outcome"

    def __init__(self, output_folder: str, output_filename: str, status: str, ledger_path: str, progress=None):
        super().__init__(output_folder, output_filename=output_filename, compression="zstd")
        self.status = status
        self.ledger_path = ledger_path
        self.progress = progress  # a corpus.progress.ProgressBeacon: outcomes and reasons counted live
        self._rows: list[dict] = []
        self._rank: int | None = None
        self._ledger: pq.ParquetWriter | None = None
        self.flush_rows = LEDGER_FLUSH_ROWS  # read at construction, so it travels with the pipeline to the workers

    def write(self, document: Document, rank: int = 0, **kwargs):
        self._rank = rank
        row = ledger_row(document, self.status)
        self._rows.append(row)
        if self.progress is not None:
            reason = {f"{self.status}:{row['reason']}": 1} if row["reason"] else {}
            self.progress.add(rank, **{self.status: 1, "chars": row["chars"]}, **reason)
        if len(self._rows) >= self.flush_rows:
            self._flush()
        super().write(document, rank, **kwargs)

    def _flush(self) -> None:
        """Append the buffered rows to the task's ledger as a row group: a task's memory does not grow with its
        documents. The file is written under a .partial name and renamed when the task closes it."""
        if self._ledger is None:
            path = self.ledger_path.format(rank=self._rank)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self._ledger = pq.ParquetWriter(path + ".partial", LEDGER_SCHEMA)
        self._ledger.write_table(pa.Table.from_pylist(self._rows, schema=LEDGER_SCHEMA))
        self._rows = []

    def close(self):
        super().close()
        if self.progress is not None:
            self.progress.flush()
        if self._rows:
            self._flush()
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None
            path = self.ledger_path.format(rank=self._rank)
            os.replace(path + ".partial", path)
