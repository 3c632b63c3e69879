"""Plain-text folders: one document per file, with optional per-file metadata from a table.

Paper collections often come as text files plus a metadata sheet (title, DOI, journal,
licence per file). `metadata_table` joins that sheet on the file name, so the DOI becomes the
document id and the licence reaches the provenance side-car.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import Iterator

import polars as pl
from datatrove.data import Document
from pydantic import Field

from corpus.config import InputPath
from corpus.readers.base import Failure, ReaderOptions, SourceReader
from corpus.readers.bounded import open_bounded, read_limited


class TextOptions(ReaderOptions):
    encoding: str = Field("utf-8", description="files that do not decode fail as not_<encoding>")
    max_bytes: int = Field(256 * 2**20, gt=0, description="larger files fail as too_large instead of exhausting memory")
    metadata_table: InputPath | None = Field(None, description="CSV/TSV with one row per file")
    metadata_key: str = Field("name", description="table column holding the file name without its extension")
    metadata_separator: str = Field(",", description="column separator of the table, e.g. a tab")
    metadata_columns: dict[str, str] = Field(
        default_factory=dict, description="metadata field -> table column (e.g. doi: DOI); default: every column as it is named"
    )


def _read_table(opt: TextOptions) -> pl.DataFrame:
    return pl.read_csv(opt.metadata_table, separator=opt.metadata_separator, infer_schema=False)


class TextFolderReader(SourceReader):
    name = "📄 Text"
    Options = TextOptions
    default_globs = ("*.txt", "*.md")

    @classmethod
    def preflight(cls, options: TextOptions) -> list[str]:
        if not options.metadata_table or not os.path.isfile(options.metadata_table):
            return []
        try:
            columns = set(_read_table(options).columns)
        except Exception as e:  # noqa: BLE001
            return [f"metadata_table {options.metadata_table}: cannot be read as a table: {e}"]
        wanted = [options.metadata_key, *options.metadata_columns.values()]
        missing = [c for c in wanted if c not in columns]
        if missing:
            return [f"metadata_table {options.metadata_table}: no column {', '.join(map(repr, missing))}; columns: {sorted(columns)}"]
        return []

    @cached_property
    def _metadata_by_name(self) -> dict[str, dict]:
        opt: TextOptions = self.options
        if not opt.metadata_table:
            return {}
        table = _read_table(opt)
        mapping = opt.metadata_columns or {c: c for c in table.columns if c != opt.metadata_key}
        rows = {}
        for row in table.iter_rows(named=True):
            key = row[opt.metadata_key]
            rows[key] = {field: row[col] for field, col in mapping.items() if row.get(col) not in (None, "")}
        return rows

    def read_records(self, filepath: str) -> Iterator[Document | Failure]:
        opt: TextOptions = self.options
        with open_bounded(self.data_folder, filepath, opt.max_bytes) as f:
            raw = read_limited(f, opt.max_bytes)
        try:
            text = raw.decode(opt.encoding)
        except UnicodeDecodeError as e:
            yield Failure(f"not_{opt.encoding.replace('-', '').lower()}", f"{e}; set options.encoding if the files use another encoding")
            return
        stem = os.path.basename(filepath).split(".")[0]
        metadata = dict(self._metadata_by_name.get(stem, {}))
        if self.options.metadata_table and not metadata:
            self.stat_update("no_metadata_row")  # the id falls back to the file name
        metadata["source_id"] = stem
        yield Document(text=text.removeprefix("\ufeff"), id="", metadata=metadata)
