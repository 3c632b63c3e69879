"""JSON Lines: one document per line, text and metadata fields configurable.

Unlike datatrove's `JsonlReader`, which logs and skips a bad line, every line that is not a
JSON object with a text field ends as a failure with its line number, so nothing is lost
silently. Lines are parsed from bytes with orjson, which also rejects invalid UTF-8.
"""

from __future__ import annotations

from typing import Iterator

import orjson
from datatrove.data import Document
from pydantic import Field

from corpus.readers.base import Failure, ReaderOptions, SourceReader
from corpus.readers.bounded import bounded_lines


class JsonlOptions(ReaderOptions):
    text_key: str = "text"
    id_key: str | None = Field(None, description="field with the record's own id inside its source (e.g. an arXiv or database id)")
    doi_key: str | None = Field(None, description="field with the DOI, which then becomes the document id")
    metadata_keys: list[str] | None = Field(None, description="fields kept as metadata; default: every field but the text")
    compression: str | None = Field("infer", description="infer (from the extension), gzip, zstd, or null")
    max_line_bytes: int = Field(64 * 2**20, gt=0, description="longer lines fail as too_large instead of exhausting memory")


class JsonlSourceReader(SourceReader):
    name = "🐿 JSONL"
    Options = JsonlOptions
    default_globs = ("*.jsonl", "*.jsonl.gz", "*.jsonl.zst", "*.json")

    def read_records(self, filepath: str) -> Iterator[Document | Failure]:
        opt: JsonlOptions = self.options
        with self.data_folder.open(filepath, "rb", compression=opt.compression) as f:
            for lineno, line, size in bounded_lines(f, opt.max_line_bytes):
                if line is None:
                    yield Failure("too_large", f"line of {size:,} bytes exceeds max_line_bytes={opt.max_line_bytes:,}", lineno)
                    continue
                if not line.strip():
                    continue  # blank separator lines are not records
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError as e:
                    kind = "not_utf8" if "utf-8" in str(e).lower() else "invalid_json"
                    yield Failure(kind, str(e), lineno)
                    continue
                if not isinstance(record, dict):
                    yield Failure("not_an_object", f"line is a JSON {type(record).__name__}, not an object", lineno)
                    continue
                text = record.get(opt.text_key)
                if not isinstance(text, str):
                    found = "missing" if text is None else f"a {type(text).__name__}"
                    yield Failure("missing_text_field", f"field {opt.text_key!r} is {found}; fields: {sorted(record)[:20]}", lineno)
                    continue
                keys = opt.metadata_keys if opt.metadata_keys is not None else [k for k in record if k != opt.text_key]
                metadata = {k: record[k] for k in keys if k in record and k != opt.text_key}
                if opt.id_key and record.get(opt.id_key) not in (None, ""):
                    metadata["source_id"] = str(record[opt.id_key])
                if opt.doi_key and record.get(opt.doi_key):
                    metadata["doi"] = str(record[opt.doi_key])
                yield Document(text=text, id="", metadata=metadata)
