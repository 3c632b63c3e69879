"""`corpus check`: validate token shards before anyone trains on them.

For every `.ds` file: the token file is a whole number of tokens; the index is uint64,
strictly increasing and ends at the file's token count; the token before every document end
is EOS; no token id reaches the vocabulary size; the token size matches the vocabulary; the
`.metadata` agrees with the file and with the rest of the folder; and the provenance side-car
has exactly one row per index entry with the same token ranges. The first problem is reported
with its file and offset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pyarrow.parquet as pq

from corpus.shards.format import (
    INDEX_DTYPE,
    provenance_path,
    read_metadata,
    read_provenance_info,
    shard_files,
    token_dtype,
    token_size_for,
)

SCAN_BLOCK = 64 * 2**20  # tokens read at a time for the vocabulary check


class ShardError(Exception):
    def __init__(self, path: str, offset: int | None, message: str):
        self.path, self.offset, self.message = path, offset, message
        where = path if offset is None else f"{path} @ byte {offset}"
        super().__init__(f"{where}: {message}")


@dataclass
class ComponentReport:
    folder: str
    files: int = 0
    documents: int = 0
    tokens: int = 0
    tokenizer: str = ""
    token_size: int = 0


@dataclass
class CheckReport:
    components: list[ComponentReport] = field(default_factory=list)

    @property
    def documents(self) -> int:
        return sum(c.documents for c in self.components)

    @property
    def tokens(self) -> int:
        return sum(c.tokens for c in self.components)


def component_folders(path: str) -> list[str]:
    """A component folder itself, or every sub-folder holding shards."""
    if not os.path.isdir(path):
        raise ShardError(path, None, "not a folder")
    if shard_files(path):
        return [path]
    subs = sorted(os.path.join(path, d) for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)))
    found = [d for d in subs if shard_files(d)]
    if not found:
        raise ShardError(path, None, "no .ds shards here or in its sub-folders")
    return found


def check_shards(path: str, eos_id: int | None = None, vocab_size: int | None = None) -> CheckReport:
    """Validate every shard under `path`; raises ShardError at the first problem."""
    return CheckReport([check_component(folder, eos_id, vocab_size) for folder in component_folders(path)])


def check_component(folder: str, eos_id: int | None = None, vocab_size: int | None = None) -> ComponentReport:
    report = ComponentReport(folder)
    first_header = None
    for ds in shard_files(folder):
        for needed in (ds + ".index", ds + ".metadata", provenance_path(ds)):
            if not os.path.isfile(needed):
                raise ShardError(needed, None, "missing")
        try:
            name, token_size, count = read_metadata(ds)
        except ValueError as e:
            raise ShardError(ds + ".metadata", 0, f"malformed: {e}") from None
        if first_header is None:
            first_header = (name, token_size)
        elif (name, token_size) != first_header:
            raise ShardError(ds + ".metadata", 0, f"says {name}|{token_size}, but other shards in the folder say {first_header[0]}|{first_header[1]}")
        if token_size not in (2, 4):
            raise ShardError(ds + ".metadata", 0, f"token size {token_size} is neither 2 nor 4")

        info = read_provenance_info(provenance_path(ds))
        eos = eos_id if eos_id is not None else info.get("eos_id")
        vocab = vocab_size if vocab_size is not None else info.get("vocab_size")
        if eos is None:
            raise ShardError(provenance_path(ds), None, "does not record the EOS id; pass --eos-id")
        if vocab is not None and token_size != token_size_for(vocab):
            raise ShardError(ds + ".metadata", 0, f"token size {token_size} does not fit a vocabulary of {vocab} (expected {token_size_for(vocab)})")

        nbytes = os.path.getsize(ds)
        if nbytes % token_size:
            raise ShardError(ds, nbytes, f"size {nbytes} is not a multiple of the token size {token_size}")
        n_tokens = nbytes // token_size
        if count != n_tokens:
            raise ShardError(ds + ".metadata", 0, f"token count {count} differs from the file's {n_tokens}")

        index_bytes = os.path.getsize(ds + ".index")
        if index_bytes == 0 or index_bytes % INDEX_DTYPE.itemsize:
            raise ShardError(ds + ".index", index_bytes, f"size {index_bytes} is not a positive multiple of 8")
        ends = np.fromfile(ds + ".index", dtype=INDEX_DTYPE).astype(np.int64)
        steps = np.diff(np.concatenate([[0], ends]))
        if (bad := np.flatnonzero(steps <= 0)).size:
            i = int(bad[0])
            raise ShardError(ds + ".index", i * 8, f"entry {i} ({ends[i]}) does not increase on the previous one")
        if ends[-1] != n_tokens:
            raise ShardError(ds + ".index", index_bytes - 8, f"last document ends at {ends[-1]} but the file holds {n_tokens} tokens")

        tokens = np.memmap(ds, dtype=token_dtype(token_size), mode="r")
        last = tokens[ends - 1]
        if (bad := np.flatnonzero(last != eos)).size:
            i = int(bad[0])
            raise ShardError(ds, int(ends[i] - 1) * token_size, f"document {i} does not end with EOS {eos} (found {last[i]})")
        if vocab is not None:
            for lo in range(0, n_tokens, SCAN_BLOCK):
                block = tokens[lo : lo + SCAN_BLOCK]
                if (over := np.flatnonzero(block >= vocab)).size:
                    j = lo + int(over[0])
                    raise ShardError(ds, j * token_size, f"token id {tokens[j]} is outside the vocabulary of {vocab}")
        del tokens

        prov = pq.read_table(provenance_path(ds), columns=["shard", "token_start", "token_end"])
        if prov.num_rows != len(ends):
            raise ShardError(provenance_path(ds), None, f"{prov.num_rows} rows for {len(ends)} index entries")
        starts = prov.column("token_start").to_numpy()
        stops = prov.column("token_end").to_numpy()
        if (bad := np.flatnonzero((stops != ends) | (starts != np.concatenate([[0], ends[:-1]])))).size:
            i = int(bad[0])
            raise ShardError(provenance_path(ds), None, f"row {i} covers tokens [{starts[i]}, {stops[i]}) but the index says [{0 if i == 0 else ends[i-1]}, {ends[i]})")
        if set(prov.column("shard").to_pylist()) != {os.path.basename(ds)}:
            raise ShardError(provenance_path(ds), None, f"rows name another shard than {os.path.basename(ds)}")

        report.files += 1
        report.documents += len(ends)
        report.tokens += n_tokens
        report.tokenizer, report.token_size = name, token_size
    return report
