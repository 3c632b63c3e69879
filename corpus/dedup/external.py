"""Text dedup clustering in bounded memory: the same groups as `Deduplicator.deduplicate`, with the signatures on disk.

The in-memory clustering holds every MinHash signature (1 KB a document) and Python objects per row: 3.3 GB
per million documents (BENCHMARKS.md), so a 10-30M-paper corpus would need a machine of its own for one task.
Here only fixed-size integer arrays per document stay in memory (about 60 bytes a document at the peak,
BENCHMARKS.md "Clustering in bounded memory"); the rest streams:

1. Order: one pass reads priority, length and an xxh3-64 hash of the record key of every row; rows are ranked
   best first by (priority desc, chars desc, hash, record key), the order the in-memory path uses too.
2. Identity and exact: one pass per key (DOI, title key, exact-text hash) hashes the key to 128 bits (polars'
   vectorised hash with two seeds; only equality matters, and a false merge needs a 128-bit collision); within
   equal keys the best alive row survives, as `group_by` does.
3. Near: one pass over the MinHash column writes the signature matrix and each band's keys to memory-mapped
   files in OUT/work/dedup/external/ (the bands of datasketch's optimal choice for the threshold, as the
   in-memory path). Each band is then loaded alone (8 bytes a row), sorted, and its bucket pairs (every member
   with the bucket's best and with its neighbour) confirmed by estimated Jaccard, reading only the pairs' rows
   of the signature file, a chunk at a time. Confirmed pairs are joined in a union-find whose roots are the
   smallest (best) row of each group whatever the order of the unions, so the groups equal the in-memory ones.
4. Output: the removed rows' and survivors' record keys are read back in one more pass.

The arrays in step 1-3 are what grows (about 60 bytes a document at the peak: ~1.8 GB at 30M); everything else is
bounded by `batch_rows`.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

REASONS = ("", "duplicate_identity", "duplicate_exact", "duplicate_near")
_BAND_MIX = np.uint64(0x9E3779B97F4A7C15)
_SEEDS = (0x5EED, 0xC0FFEE)


def record_hash(records) -> np.ndarray:
    """xxh3-64 of each record key: the third sort key of the best-first order (stable across library versions)."""
    return np.fromiter((xxhash.xxh3_64_intdigest(r.encode()) for r in records), dtype=np.uint64, count=len(records))


class _Files:
    """The signature files as one table addressed by global row (file order, then row order), read in batches."""

    def __init__(self, files: list[str], batch_rows: int):
        self.files, self.batch_rows = files, batch_rows
        self.rows = [pq.ParquetFile(f).metadata.num_rows for f in files]
        self.offsets = np.concatenate([[0], np.cumsum(self.rows)]).astype(np.int64)
        self.n = int(self.offsets[-1])

    def batches(self, columns: list[str]):
        """(first global row, record batch) of every batch of every file, in order."""
        for k, f in enumerate(self.files):
            start = int(self.offsets[k])
            for batch in pq.ParquetFile(f).iter_batches(batch_size=self.batch_rows, columns=columns):
                yield start, batch
                start += batch.num_rows

    def columns(self, converters: dict) -> list[np.ndarray]:
        """Whole columns as numpy arrays, one pass over the files: {name: batch column -> array}."""
        parts: list[list[np.ndarray]] = [[] for _ in converters]
        for _, batch in self.batches(list(converters)):
            for k, (name, convert) in enumerate(converters.items()):
                parts[k].append(convert(batch.column(name)))
        return [np.concatenate(p) if p else np.zeros(0) for p in parts]

    def take(self, name: str, rows: np.ndarray) -> pa.Array:
        """The column's values at sorted global `rows`."""
        parts = []
        for k, f in enumerate(self.files):
            lo, hi = np.searchsorted(rows, [self.offsets[k], self.offsets[k + 1]])
            if lo == hi:
                continue
            col = pq.read_table(f, columns=[name]).column(0)
            parts.append(col.take(pa.array(rows[lo:hi] - self.offsets[k])))
        return pa.concat_arrays([c for p in parts for c in p.chunks]) if parts else pa.array([], pa.string())


def _as_int(column) -> np.ndarray:
    return column.to_numpy(zero_copy_only=False).astype(np.int64)


def _key128(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = pl.from_arrow(column)
    return (s.hash(_SEEDS[0]).to_numpy(), s.hash(_SEEDS[1]).to_numpy(), s.is_not_null().to_numpy())


def _pointer_jump(parent: np.ndarray) -> np.ndarray:
    """Roots of a forest in which every node points to a smaller index (or itself)."""
    p = parent.copy()
    while True:
        q = p[p]
        if np.array_equal(q, p):
            return p
        p = q


def deduplicate_out_of_core(files: list[str], num_perm: int, work: str, identity: bool = True, exact: bool = True,
                            near: bool = True, threshold: float = 0.8, batch_rows: int = 50_000,
                            pair_chunk: int = 50_000) -> pa.Table:
    """Removed rows (REMOVED_SCHEMA columns), in best-first order, as `Deduplicator.deduplicate` gives them."""
    src = _Files(files, batch_rows)
    n = src.n
    # 1. best-first order
    priority, chars, rhash = src.columns({"priority": _as_int, "chars": _as_int, "record": lambda c: record_hash(c.to_pylist())})
    order = np.lexsort((rhash, -chars, -priority))  # global row at each rank
    del chars, priority
    sorted_hash = rhash[order]
    del rhash
    ties = np.flatnonzero(sorted_hash[1:] == sorted_hash[:-1])
    if len(ties):  # equal hashes (and maybe equal priority and length): order those by the record key itself
        _order_ties(src, order, ties, sorted_hash)
    del sorted_hash
    rank_of = np.empty(n, dtype=np.int64)
    rank_of[order] = np.arange(n)

    reason = np.zeros(n, dtype=np.int8)  # by rank
    survivor = np.arange(n, dtype=np.int64)  # by rank: the row a removed row was grouped with

    # 2. identity and exact, in the in-memory order of passes
    passes = ([("doi", 1), ("title_key", 1)] if identity else []) + ([("exact", 2)] if exact else [])
    for column, code in passes:
        hi, lo, present = (np.concatenate(parts) for parts in zip(*(_key128(b.column(0)) for _, b in src.batches([column]))))
        hi, lo, present = hi[order], lo[order], present[order]
        rows = np.flatnonzero(present & (reason == 0))
        by_key = rows[np.lexsort((rows, lo[rows], hi[rows]))]
        same = (hi[by_key][1:] == hi[by_key][:-1]) & (lo[by_key][1:] == lo[by_key][:-1])
        start = np.ones(len(by_key), dtype=bool)
        start[1:] = ~same
        head = by_key[np.maximum.accumulate(np.where(start, np.arange(len(by_key)), 0))]
        dup = ~start
        reason[by_key[dup]] = code
        survivor[by_key[dup]] = head[dup]
        del hi, lo, present

    # 3. near duplicates among the rows still alive
    if near:
        alive = np.flatnonzero(reason == 0)  # ranks, best first
        if len(alive):
            roots = _near_roots(src, order[alive], rank_of, num_perm, threshold, work, pair_chunk)
            moved = np.flatnonzero(roots != np.arange(len(alive)))
            reason[alive[moved]] = 3
            survivor[alive[moved]] = alive[roots[moved]]

    # 4. final survivors, cluster sizes, record keys
    final = _pointer_jump(survivor)
    removed_ranks = np.flatnonzero(reason > 0)
    sizes = np.bincount(final[removed_ranks], minlength=n) + 1
    needed = np.unique(np.concatenate([order[removed_ranks], order[final[removed_ranks]]]))
    records = src.take("record", needed)
    pos = lambda ranks: pa.array(np.searchsorted(needed, order[ranks]))  # noqa: E731
    survivors = records.take(pos(final[removed_ranks]))
    return pa.table({
        "record": records.take(pos(removed_ranks)),
        "reason": pa.array([REASONS[c] for c in reason[removed_ranks].tolist()], pa.string()),
        "survivor": survivors,
        "cluster": survivors,
        "cluster_size": pa.array(sizes[final[removed_ranks]], pa.int64()),
    })


def band_shape(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band): datasketch's choice for the threshold (equal weight on false positives and negatives),
    read from a MinHashLSH through its public attributes (0.8 and 128 permutations: 9 x 13)."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return lsh.b, lsh.r


def band_key(sig: np.ndarray, band: int, per_band: int, salt: np.ndarray | None = None) -> np.ndarray:
    """One uint64 bucket key per row for LSH band `band` (its `per_band` signature values hashed together)."""
    key = np.zeros(len(sig), dtype=np.uint64) if salt is None else salt.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):  # wrap-around hashing of the band's values
        for j in range(band * per_band, (band + 1) * per_band):
            key = key * _BAND_MIX + sig[:, j]
    return key


def bucket_pairs(key: np.ndarray) -> np.ndarray:
    """Candidate pairs of one LSH band: rows (best first) sharing a bucket key, each member paired with the bucket's
    best member and with its neighbour, as (m, 2) row positions."""
    order = np.argsort(key, kind="stable")  # stable: members of a bucket stay best-first
    ordered = key[order]
    same = np.flatnonzero(ordered[1:] == ordered[:-1])  # position k: order[k] and order[k+1] share a bucket
    if len(same) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    run_start = np.ones(len(ordered), dtype=bool)
    run_start[1:] = ordered[1:] != ordered[:-1]
    head = np.maximum.accumulate(np.where(run_start, np.arange(len(ordered)), 0))
    return np.stack([np.concatenate([order[same], order[head[same + 1]]]), np.concatenate([order[same + 1], order[same + 1]])], axis=1)


def _order_ties(src: _Files, order: np.ndarray, ties: np.ndarray, sorted_hash: np.ndarray) -> None:
    """Runs of equal record hash in the best-first order (64-bit collisions: rare) sorted by the whole key, the record
    key last, in place."""
    positions = np.unique(np.concatenate([ties, ties + 1]))
    rows = order[positions].copy()
    priority, chars = (column[rows] for column in src.columns({"priority": _as_int, "chars": _as_int}))
    by_row = np.argsort(rows)
    record_of = dict(zip(rows[by_row].tolist(), src.take("record", rows[by_row]).to_pylist()))
    run_start = np.ones(len(positions), dtype=bool)
    run_start[1:] = positions[1:] != positions[:-1] + 1
    bounds = np.flatnonzero(run_start).tolist() + [len(positions)]
    for a, b in zip(bounds, bounds[1:]):
        members = sorted(range(a, b), key=lambda i: (-priority[i], -chars[i], int(sorted_hash[positions[i]]), record_of[int(rows[i])]))
        order[positions[a:b]] = rows[members]


def _read_rows(path: str, rows: np.ndarray, num_perm: int) -> np.ndarray:
    """Rows of the on-disk signature matrix, read one by one (pread): a memory map would fault in the kernel's
    readahead around every row, and at a million scattered rows the whole file ends up resident in the task."""
    width = 8 * num_perm
    out = np.empty((len(rows), num_perm), dtype=np.uint64)
    view = memoryview(out).cast("B")
    fd = os.open(path, os.O_RDONLY)
    try:
        for k, row in enumerate(rows.tolist()):
            view[k * width : (k + 1) * width] = os.pread(fd, width, row * width)
    finally:
        os.close(fd)
    return out


def _near_roots(src: _Files, alive_rows: np.ndarray, rank_of: np.ndarray, num_perm: int, threshold: float, work: str,
                pair_chunk: int) -> np.ndarray:
    """For the alive rows in best-first order, each row's group representative (its position), as
    `near_duplicate_roots` computes it over the whole signature matrix."""
    bands, per_band = band_shape(threshold, num_perm)
    os.makedirs(work, exist_ok=True)
    a = len(alive_rows)
    sig_path = os.path.join(work, "signatures.u64")
    band_paths = [os.path.join(work, f"band{b:02d}.u64") for b in range(bands)]
    try:
        # written with plain sequential writes, not through a memory map: dirty mapped pages would count in the task's
        # resident memory until the whole file is flushed
        from corpus.dedup.steps import signature_matrix  # here: steps.py imports this module

        outs = [open(p, "wb") for p in [sig_path, *band_paths]]
        try:
            for _, batch in src.batches(["minhash"]):
                sig = signature_matrix(pa.chunked_array([batch.column(0)]), num_perm)
                outs[0].write(np.ascontiguousarray(sig).tobytes())
                for b in range(bands):
                    outs[b + 1].write(band_key(sig, b, per_band).tobytes())
                del sig, batch
        finally:
            for f in outs:
                f.close()
        parent = np.arange(a, dtype=np.int64)

        def find(i: int) -> int:
            root = i
            while parent[root] != root:
                root = parent[root]
            while parent[i] != root:
                parent[i], i = root, parent[i]
            return root

        for b in range(bands):
            key = np.fromfile(band_paths[b], dtype=np.uint64)[alive_rows]  # one band in memory, alive rows best first
            pairs = bucket_pairs(key)
            del key
            pairs = np.unique(pairs, axis=0)
            pairs = pairs[pairs[:, 0] != pairs[:, 1]]
            for lo in range(0, len(pairs), pair_chunk):
                chunk = pairs[lo : lo + pair_chunk]
                rows, inverse = np.unique(chunk, return_inverse=True)
                inverse = inverse.reshape(chunk.shape)
                sig = _read_rows(sig_path, alive_rows[rows], num_perm)
                similar = (sig[inverse[:, 0]] == sig[inverse[:, 1]]).mean(axis=1) >= threshold
                for i, j in chunk[similar].tolist():
                    x, y = find(i), find(j)
                    if x != y:
                        parent[max(x, y)] = min(x, y)
        return _pointer_jump(parent)
    finally:
        shutil.rmtree(work, ignore_errors=True)
