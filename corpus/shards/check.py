"""`corpus check`: validate token shards before anyone trains on them.

Completeness: every shard has its four files (`.ds`, `.ds.index`, `.ds.metadata`,
`.provenance.parquet`) and no file is left of a shard that is gone; against the build's integrity
record (`SHARDS/checksums.json`, corpus/shards/checksums.py) every component, shard and file the
build wrote is there and nothing else is; against `summary.json` beside the shards, the components
and their shard counts are the ones the build reported.
Structure, for every `.ds` file: the token file is a whole number of tokens; the index is uint64,
strictly increasing and ends at the file's token count; the token before every document end
is EOS; no token id reaches the vocabulary size; the token size matches the vocabulary; the
`.metadata` agrees with the file and with the rest of the folder; an SFT shard's `.ds.loss` has one byte per token; and the provenance side-car
has exactly one row per index entry with the same token ranges; where the build wrote Megatron's `.bin` + `.idx`, both
are there, the `.idx` is a well-formed index of the same documents and the `.bin` holds the `.ds`'s bytes.
Integrity (skipped with `quick`): every file's size and block checksums equal the record, which
finds any changed byte (a bit flip, two swapped tokens) that the structure cannot show.
The first problem is reported with its file and offset (the block, for a checksum); no library
exception reaches the caller unnamed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pyarrow.parquet as pq

from corpus.readers.bounded import TooLarge, loads_bounded, read_limited
from corpus.shards import checksums
from corpus.shards.megatron import prefix_of, read_megatron_index
from corpus.shards.format import (
    INDEX_DTYPE,
    LOSS_DTYPE,
    loss_path,
    provenance_path,
    read_metadata,
    shard_of,
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
    verified_files: int = 0  # files whose checksums were verified (0 with quick)
    record: str | None = None  # the checksum record used

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


def check_shards(path: str, eos_id: int | None = None, vocab_size: int | None = None, quick: bool = False) -> CheckReport:
    """Validate every shard under `path`; raises ShardError at the first problem.

    `quick` skips the checksums (and so the need for a checksum record): structure and completeness only."""
    record_path = _record_path(path)
    record = None
    if record_path:
        try:
            record = checksums.read_checksums(record_path)
        except ValueError as e:
            raise ShardError(record_path, None, str(e)) from None
    elif not quick:
        raise ShardError(path, None, f"no {checksums.NAME} here or beside it: the build's integrity record is missing, so "
                                     "changed bytes cannot be found (pass --quick to check structure and completeness only)")
    folders = _recorded_folders(path, record) if record else component_folders(path)
    for folder in folders:
        _check_complete(folder, record, record_path)
    if record is not None:
        _check_recorded_components(path, record, record_path, folders)
    verified = 0
    if record is not None and not quick:
        # integrity before structure: a flipped bit in an index shows in the structure as a token "not EOS" in the .ds,
        # the checksum names the file that changed; what the structure check says is added to the message
        for folder in folders:
            try:
                verified += _verify(folder, record["components"][os.path.basename(folder)]["files"])
            except ShardError as changed:
                try:
                    check_component(folder, eos_id, vocab_size)
                except ShardError as structure:
                    changed = ShardError(changed.path, changed.offset, f"{changed.message}; the structure check says: {structure}")
                raise changed from None
    report = CheckReport([check_component(folder, eos_id, vocab_size) for folder in folders], record=record_path)
    report.verified_files = verified
    return report


def _record_path(path: str) -> str | None:
    """The checksum record of a shards folder (in it) or of one component folder (beside it)."""
    for candidate in (os.path.join(path, checksums.NAME), os.path.join(os.path.dirname(os.path.abspath(path)), checksums.NAME)):
        if os.path.isfile(candidate):
            return candidate
    return None


def _recorded_folders(path: str, record: dict) -> list[str]:
    """The component folders to check: `path` itself when it is one, else every recorded one (present or not)."""
    if os.path.isfile(os.path.join(path, checksums.NAME)):
        return [os.path.join(path, c) for c in sorted(record["components"])]
    return [path]


def _check_recorded_components(path: str, record: dict, record_path: str, folders: list[str]) -> None:
    root = os.path.dirname(record_path)
    recorded = set(record["components"])
    if os.path.isfile(os.path.join(path, checksums.NAME)):  # the whole shards folder: no component more or less
        present = {d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))}
        for extra in sorted(present - recorded):
            if any(shard_of(f) for f in os.listdir(os.path.join(root, extra))):
                raise ShardError(os.path.join(root, extra), None, f"component folder not written by the build ({record_path} does not list it)")
        summary = os.path.join(os.path.dirname(root), "summary.json")
        if os.path.isfile(summary):
            try:
                with open(summary, "rb") as f:
                    said = {c: v.get("shards") for c, v in loads_bounded(read_limited(f, checksums.MAX_RECORD_BYTES, "summary.json"))
                            .get("components", {}).items() if v.get("shards")}
            except (OSError, ValueError, AttributeError, TooLarge) as e:
                raise ShardError(summary, None, f"unreadable: {e}") from None
            wrote = {c: v["shards"] for c, v in record["components"].items() if v["shards"]}
            if said != wrote:
                raise ShardError(summary, None, f"says the build wrote shards {said}, the checksum record lists {wrote}")
    for folder in folders:
        if os.path.basename(folder) not in recorded:
            raise ShardError(folder, None, f"component folder not written by the build ({record_path} does not list it)")


def _check_complete(folder: str, record: dict | None, record_path: str | None) -> None:
    """Every shard's four files and no orphan; with a record, exactly the files the build wrote."""
    if not os.path.isdir(folder):
        raise ShardError(folder, None, f"component folder missing (the build wrote it: {record_path})")
    names = sorted(os.listdir(folder))
    stems: dict[str, set[str]] = {}
    for name in names:
        if (shard := shard_of(name)) is not None:
            stems.setdefault(shard, set()).add(name)
    for shard, present in sorted(stems.items()):
        for needed in (shard, shard + ".index", shard + ".metadata", os.path.basename(provenance_path(shard))):
            if needed not in present:
                what = "missing" if shard in present else f"missing: {', '.join(sorted(present))} remain of a shard whose tokens are gone"
                raise ShardError(os.path.join(folder, needed), None, what)
    if record is None:
        return
    component = os.path.basename(folder)
    wrote = record["components"].get(component, {}).get("files", {})
    for name in sorted(set(wrote) - set(names)):
        raise ShardError(os.path.join(folder, name), None, f"missing: the build wrote it ({wrote[name]['bytes']:,} bytes; {record_path})")
    for name in names:
        if shard_of(name) is not None and name not in wrote:
            raise ShardError(os.path.join(folder, name), None, f"not written by the build ({record_path} does not list it)")


def _verify(folder: str, files: dict) -> int:
    for name, expected in sorted(files.items()):
        path = os.path.join(folder, name)
        size = os.path.getsize(path)
        if size != expected["bytes"]:
            raise ShardError(path, min(size, expected["bytes"]), f"{size:,} bytes, the build wrote {expected['bytes']:,}")
        for i, (got, want) in enumerate(zip(checksums.block_digests(path), expected["blocks"])):
            if got != want:
                lo = i * checksums.BLOCK_BYTES
                raise ShardError(path, lo, f"bytes {lo:,}-{min(lo + checksums.BLOCK_BYTES, size):,} differ from the checksum the build "
                                           "recorded (changed after it was written)")
    return len(files)


def check_component(folder: str, eos_id: int | None = None, vocab_size: int | None = None) -> ComponentReport:
    report = ComponentReport(folder)
    first_header = None
    for ds in shard_files(folder):
        for needed in (ds + ".index", ds + ".metadata", provenance_path(ds)):
            if not os.path.isfile(needed):
                raise ShardError(needed, None, "missing")
        try:
            name, token_size, count = read_metadata(ds)
        except (ValueError, UnicodeDecodeError) as e:
            raise ShardError(ds + ".metadata", 0, f"malformed: {e}") from None
        if first_header is None:
            first_header = (name, token_size)
        elif (name, token_size) != first_header:
            raise ShardError(ds + ".metadata", 0, f"says {name}|{token_size}, but other shards in the folder say {first_header[0]}|{first_header[1]}")
        if token_size not in (2, 4):
            raise ShardError(ds + ".metadata", 0, f"token size {token_size} is neither 2 nor 4")

        try:
            info = read_provenance_info(provenance_path(ds))
        except Exception as e:  # noqa: BLE001 - pyarrow's errors name no file
            raise ShardError(provenance_path(ds), None, f"not a readable Parquet file: {type(e).__name__}: {e}") from None
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
        if os.path.exists(loss_path(ds)) and (loss_bytes := os.path.getsize(loss_path(ds))) != n_tokens * LOSS_DTYPE.itemsize:
            raise ShardError(loss_path(ds), loss_bytes, f"{loss_bytes} loss-mask bytes for {n_tokens} tokens (one per token)")

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

        try:
            prov = pq.read_table(provenance_path(ds), columns=["shard", "token_start", "token_end"])
        except Exception as e:  # noqa: BLE001
            raise ShardError(provenance_path(ds), None, f"not a readable Parquet file: {type(e).__name__}: {e}") from None
        if prov.num_rows != len(ends):
            raise ShardError(provenance_path(ds), None, f"{prov.num_rows} rows for {len(ends)} index entries")
        starts = prov.column("token_start").to_numpy()
        stops = prov.column("token_end").to_numpy()
        if (bad := np.flatnonzero((stops != ends) | (starts != np.concatenate([[0], ends[:-1]])))).size:
            i = int(bad[0])
            raise ShardError(provenance_path(ds), None, f"row {i} covers tokens [{starts[i]}, {stops[i]}) but the index says [{0 if i == 0 else ends[i-1]}, {ends[i]})")
        if set(prov.column("shard").to_pylist()) != {os.path.basename(ds)}:
            raise ShardError(provenance_path(ds), None, f"rows name another shard than {os.path.basename(ds)}")

        _check_megatron(ds, token_size, ends)

        report.files += 1
        report.documents += len(ends)
        report.tokens += n_tokens
        report.tokenizer, report.token_size = name, token_size
    return report


def _check_megatron(ds: str, token_size: int, ends: np.ndarray) -> None:
    """Megatron's `.bin` + `.idx` of a shard, where there are any: the same documents and the same bytes."""
    bin_path, idx_path = prefix_of(ds) + ".bin", prefix_of(ds) + ".idx"
    present = [p for p in (bin_path, idx_path) if os.path.exists(p)]
    if not present:
        return
    if len(present) == 1:
        missing = idx_path if present[0] == bin_path else bin_path
        raise ShardError(missing, None, f"missing: Megatron's dataset needs both, {os.path.basename(present[0])} is there")
    try:
        size, megatron_ends = read_megatron_index(idx_path)
    except ValueError as e:
        raise ShardError(idx_path, None, str(e)) from None
    if size != token_size:
        raise ShardError(idx_path, len(b"MMIDIDX") + 10, f"{size}-byte tokens, the shard's metadata says {token_size}")
    n = min(len(ends), len(megatron_ends))
    differ = np.flatnonzero(megatron_ends[:n] != ends[:n])
    if differ.size or len(megatron_ends) != len(ends):
        i = int(differ[0]) if differ.size else n
        raise ShardError(idx_path, None, f"document {i} differs from the shard's index ({len(megatron_ends)} documents, the .ds has {len(ends)})")
    if os.path.getsize(bin_path) != os.path.getsize(ds):
        raise ShardError(bin_path, None, f"{os.path.getsize(bin_path):,} bytes, the .ds holds {os.path.getsize(ds):,}")
    if os.path.samefile(bin_path, ds):
        return
    with open(bin_path, "rb") as a, open(ds, "rb") as b:
        offset = 0
        while block := b.read(checksums.BLOCK_BYTES):
            other = a.read(len(block))
            if other != block:
                j = next(k for k in range(len(block)) if other[k] != block[k])
                raise ShardError(bin_path, offset + j, "differs from the .ds (Megatron would train on other tokens)")
            offset += len(block)
