"""Megatron-Core's indexed dataset (`NAME.bin` + `NAME.idx`) beside a `.ds` shard, and the `--data-path` blend.

What Megatron-LM, Megatron-Core, NeMo and LLaMat's own pretraining script (Megatron-LLM) read: the dataset prefix
`shards/<component>/00000` names `00000.bin` (the tokens of every document, one after the other) and `00000.idx`
(megatron/core/datasets/indexed_dataset.py, `_IndexWriter`):

    b"MMIDIDX\\x00\\x00" | <Q version 1 | <B dtype code | <Q sequence count | <Q document count
    | int32 sequence lengths | int64 sequence byte offsets | int64 document indices (0, 1, ..., sequence count)

One sequence per document. The dtype follows Megatron's `DType.optimal_dtype`: uint16 (code 8) for a vocabulary of
at most 65,536 entries, else int32 (code 4). Our `.ds` stores the same tokens in the same order as little-endian
uint16 or uint32, and every token id is below the vocabulary size (< 2^31), so the `.bin` is the `.ds` byte for byte:
it is a hard link to it (a copy where the file system has none), and only the `.idx` is written. Neither megatron-core
(it needs torch) nor datatrove's `MegatronDocumentTokenizer` (it tokenises again) can write an index for tokens already
on disk, hence the forty lines here; tests read the files with megatron-core's own `IndexedDataset`.
"""

from __future__ import annotations

import os
import shutil
import struct

import numpy as np

from corpus.shards.format import INDEX_DTYPE, TrainData

HEADER = b"MMIDIDX\x00\x00"
VERSION = 1
DTYPE_CODES = {2: 8, 4: 4}  # our token size -> Megatron's DType code: uint16, int32
_FIXED = len(HEADER) + 8 + 1 + 8 + 8


def prefix_of(ds_path: str) -> str:
    """The Megatron dataset prefix of a shard: `.../00000.ds` -> `.../00000`."""
    return ds_path[: -len(".ds")]


def megatron_index(ends: np.ndarray, token_size: int) -> bytes:
    """The `.idx` bytes for documents ending (cumulatively, in tokens) at `ends`."""
    ends = np.asarray(ends, dtype=np.int64)
    lengths = np.diff(np.concatenate([[0], ends]))
    if lengths.size and lengths.max() >= 2**31:
        raise ValueError(f"a document of {int(lengths.max()):,} tokens does not fit Megatron's int32 sequence length")
    pointers = np.concatenate([[0], ends[:-1]]) * token_size
    documents = np.arange(len(ends) + 1, dtype=np.int64)
    return b"".join([HEADER, struct.pack("<Q", VERSION), struct.pack("<B", DTYPE_CODES[token_size]),
                     struct.pack("<Q", len(ends)), struct.pack("<Q", len(documents)),
                     lengths.astype("<i4").tobytes(), pointers.astype("<i8").tobytes(), documents.astype("<i8").tobytes()])


def write_megatron(ds_path: str, token_size: int) -> tuple[str, str]:
    """Write `PREFIX.bin` (a hard link to the `.ds`, or a copy) and `PREFIX.idx` beside a finished shard."""
    prefix = prefix_of(ds_path)
    bin_path, idx_path = prefix + ".bin", prefix + ".idx"
    for path in (bin_path, idx_path):
        if os.path.lexists(path):
            os.remove(path)
    try:
        os.link(ds_path, bin_path)
    except OSError:  # a file system without hard links (some network mounts): the bytes twice
        shutil.copyfile(ds_path, bin_path)
    ends = np.fromfile(ds_path + ".index", dtype=INDEX_DTYPE)
    with open(idx_path + ".partial", "wb") as f:
        f.write(megatron_index(ends, token_size))
    os.replace(idx_path + ".partial", idx_path)
    return bin_path, idx_path


def read_megatron_index(idx_path: str) -> tuple[int, np.ndarray]:
    """(token size, document ends in tokens) of an `.idx` this module writes; ValueError naming what is wrong."""
    size = os.path.getsize(idx_path)
    with open(idx_path, "rb") as f:
        head = f.read(_FIXED)
        if len(head) < _FIXED or head[: len(HEADER)] != HEADER:
            raise ValueError("not a Megatron index (no MMIDIDX header)")
        version, code, sequences, documents = struct.unpack("<QBQQ", head[len(HEADER):])
        if version != VERSION:
            raise ValueError(f"index version {version}, expected {VERSION}")
        sizes = {code_: ts for ts, code_ in DTYPE_CODES.items()}
        if code not in sizes:
            raise ValueError(f"dtype code {code} is neither uint16 (8) nor int32 (4)")
        expected = _FIXED + 4 * sequences + 8 * sequences + 8 * documents
        if size != expected or documents != sequences + 1:
            raise ValueError(f"{size:,} bytes for {sequences:,} sequences and {documents:,} document indices (expected {expected:,}, "
                             "one document per sequence)")
        lengths = np.frombuffer(f.read(4 * sequences), dtype="<i4").astype(np.int64)
        pointers = np.frombuffer(f.read(8 * sequences), dtype="<i8")
        docs = np.frombuffer(f.read(8 * documents), dtype="<i8")
    ends = np.cumsum(lengths)
    if sequences and (np.any(lengths <= 0) or np.any(pointers != (ends - lengths) * sizes[code])):
        raise ValueError("sequence lengths and byte offsets do not tile the .bin")
    if np.any(docs != np.arange(documents)):
        raise ValueError("document indices are not 0, 1, ..., one per sequence")
    return sizes[code], ends


def data_paths(data: TrainData, shards_root: str, tokens: dict[str, dict[str, int]]) -> list[tuple[str, int, str]]:
    """Megatron's `--data-path` blend for each stage of the mixture: (stage, start step, "w1 prefix1 w2 prefix2 ...").

    A component's weight is shared among its shards by their tokens (`tokens[component][shard file name]`), so every
    document of a component is equally likely, as in our own trainer; Megatron normalises the weights. Prefixes are
    absolute: Megatron resolves them against its own working folder."""
    out = []
    for stage in data.stages:
        parts = []
        for component, weight in stage.weights.items():
            shards = tokens.get(component, {})
            total = sum(shards.values())
            if weight <= 0 or not total:
                continue
            for name, n in sorted(shards.items()):
                prefix = os.path.abspath(os.path.join(shards_root, component, prefix_of(name)))
                parts.append(f"{weight * n / total:.10g} {prefix}")
        out.append((stage.name, stage.start_step, " ".join(parts)))
    return out


def write_data_paths(path: str, data: TrainData, shards_root: str, tokens: dict[str, dict[str, int]], writer: str) -> None:
    """`megatron_data_path.txt`: a comment and one blend line per stage (the first is the whole run when there is one)."""
    lines = [f"# Megatron --data-path blends (weight prefix ...), one line per mixture stage; written by `{writer}`",
             "# use: --data-path $(grep -v '^#' megatron_data_path.txt | head -1); a later stage is a continued run (--load)"]
    for name, start, blend in data_paths(data, shards_root, tokens):
        lines += [f"# stage {name}: from optimizer step {start}", blend]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")

