"""The on-disk token shard format, as datatrove's `DocumentTokenizer` writes it and nanotron reads it.

One flat folder per mixture component, per shard `NAME.ds` plus:
- `NAME.ds`: the tokens, little-endian uint16 when the vocabulary has at most 65,536 entries, else uint32;
- `NAME.ds.index`: little-endian uint64, the cumulative end (in tokens) of every document;
- `NAME.ds.metadata`: `tokenizer|token_size`, the token count, and the count in words (datatrove's 3 lines);
- `NAME.provenance.parquet` (ours): one row per index entry: id, record (source file and position),
  source, licence, shard, token_start, token_end; its schema metadata records the tokenizer, EOS id, vocabulary size and seed, which
  is what `corpus check` validates against.
Every document ends with the EOS token.
"""

from __future__ import annotations

import json
import os

import humanize
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

INDEX_DTYPE = np.dtype("<u8")

PROVENANCE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("record", pa.string()),
        ("source", pa.string()),
        ("licence", pa.string()),
        ("shard", pa.string()),
        ("token_start", pa.int64()),
        ("token_end", pa.int64()),
    ]
)


def token_size_for(vocab_size: int) -> int:
    return 2 if vocab_size <= np.iinfo(np.uint16).max + 1 else 4


def token_dtype(token_size: int) -> np.dtype:
    return np.dtype("<u2") if token_size == 2 else np.dtype("<u4")


def shard_name(rank: int) -> str:
    return f"{rank:05d}.ds"


def provenance_path(ds_path: str) -> str:
    return ds_path[: -len(".ds")] + ".provenance.parquet"


def write_metadata(ds_path: str, tokenizer_name: str, token_size: int, token_count: int) -> None:
    with open(ds_path + ".metadata", "w") as f:
        f.write("\n".join([f"{tokenizer_name}|{token_size}", str(token_count), humanize.metric(token_count, unit="T")]))


def read_metadata(ds_path: str) -> tuple[str, int, int]:
    """(tokenizer name, token size, token count); raises ValueError when malformed."""
    with open(ds_path + ".metadata") as f:
        lines = f.read().splitlines()
    if len(lines) < 2 or "|" not in lines[0]:
        raise ValueError("expected 'tokenizer|token_size' then the token count")
    name, _, size = lines[0].rpartition("|")
    return name, int(size), int(lines[1])


def write_provenance(ds_path: str, rows: dict[str, list], info: dict) -> None:
    table = pa.Table.from_pydict(rows, schema=PROVENANCE_SCHEMA)
    table = table.replace_schema_metadata({"matcorpus": json.dumps(info, sort_keys=True)})
    pq.write_table(table, provenance_path(ds_path))


def read_provenance_info(path: str) -> dict:
    md = pq.read_schema(path).metadata or {}
    return json.loads(md.get(b"matcorpus", b"{}"))


SHARD_SUFFIXES = (".ds", ".ds.index", ".ds.metadata", ".ds.loss", ".provenance.parquet")  # .ds.loss: SFT shards only


def shard_of(filename: str) -> str | None:
    """The shard (NAME.ds) a file of a component folder belongs to, or None when it is no shard file."""
    for suffix in sorted(SHARD_SUFFIXES, key=len, reverse=True):
        if filename.endswith(suffix):
            return filename[: -len(suffix)] + ".ds"
    return None


def shard_files(folder: str) -> list[str]:
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".ds"))
