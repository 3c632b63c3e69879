"""The dedup stack, in order: identity, exact, MinHash near-duplicates (crystals: by structure). Removal is by record key.

1. `SignatureWriter` (every process task, after the filters) writes one row per surviving
   document: its record key, id, source, component, priority, identity keys (DOI, normalised
   title), exact-text hash and MinHash signature, to OUT/work/dedup/signatures/<task>.parquet.
2. `Deduplicator` (one task) reads them all and groups duplicates:
   - identity: the same DOI, or the same long normalised title and year, from several sources;
   - exact: the same normalised text (lowercase, punctuation dropped, numbers kept);
   - near: datasketch MinHashLSH candidates confirmed by estimated Jaccard >= the threshold.
   Each group keeps one survivor: highest priority (publisher XML > TEI > PDF > text by default, or
   the manifest's per-source priorities), then the longest text, then the smallest xxh3 hash of the
   record key (then the key), so the choice is deterministic. Beyond `memory_budget` the same groups
   are found out of core (corpus/dedup/external.py). Every other member is written to OUT/work/dedup/removed.parquet
   with its reason, survivor and cluster; cluster sizes go to OUT/stats/dedup_clusters.parquet.
3. `DedupFilter` (shards pipeline) drops exactly the removed record keys, so resharding the input
   cannot remove the wrong document: keys come from the document's source file and position in
   that file, never from its position in a task's stream.

Crystal records never enter the text passes (two CIFs of different polymorphs share most of their
words); `SignatureWriter` writes their structures to OUT/work/dedup/structures/ instead, and the
`Deduplicator` groups them with `corpus.dedup.structures`.
"""

from __future__ import annotations

import glob
import hashlib
import os
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import polars as pl
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from corpus.dedup.external import band_key, band_shape, bucket_pairs, deduplicate_out_of_core, record_hash
from corpus.dedup.minhash import MinHasher, tokens
from corpus.dedup.structures import STRUCTURE_SCHEMA, structure_duplicates, structure_row
from corpus.records import is_crystal
from corpus.registry import StepContext, StepSpec, register

FORMAT_PRIORITY = {"elsevier": 3, "jats": 3, "tei": 2, "pdf": 1}

SIGNATURE_SCHEMA = pa.schema(
    [
        ("record", pa.string()),
        ("id", pa.string()),
        ("source", pa.string()),
        ("component", pa.string()),
        ("priority", pa.int32()),
        ("chars", pa.int64()),
        ("doi", pa.string()),
        ("title_key", pa.string()),
        ("exact", pa.string()),
        ("minhash", pa.binary()),
    ]
)
REMOVED_SCHEMA = pa.schema(
    [("record", pa.string()), ("reason", pa.string()), ("survivor", pa.string()), ("cluster", pa.string()), ("cluster_size", pa.int64())]
)
# resident memory of the in-memory clustering per text document (benchmarks/dedup_clustering.py: 3.29 GB per million)
IN_MEMORY_BYTES_PER_DOC = 3_400


def exact_key(text: str) -> str:
    return hashlib.sha1(" ".join(tokens(text)).encode()).hexdigest()


def title_key(metadata: dict) -> str | None:
    """A title identifies a work only when it is long (8+ words); the year guards against reprints."""
    title = metadata.get("title")
    if not title:
        return None
    words = tokens(str(title))
    if len(words) < 8:
        return None
    return " ".join(words) + f"|{metadata.get('year', '')}"


class SignatureWriter(PipelineStep):
    name = "🔑 Dedup signatures"
    type = "🫂 - DEDUP"

    def __init__(self, folder: str, hasher: MinHasher, priorities: dict[str, int] | None = None, structures_folder: str | None = None):
        super().__init__()
        self.folder = folder
        self.structures_folder = structures_folder
        self.hasher = hasher
        self.priorities = priorities or {}

    def priority(self, doc: Document) -> int:
        md = doc.metadata
        return self.priorities.get(md.get("source"), FORMAT_PRIORITY.get(md.get("source_format", ""), 0))

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        rows = {name: [] for name in SIGNATURE_SCHEMA.names}
        crystals = []
        for doc in data:
            with self.track_time():
                md = doc.metadata
                if is_crystal(doc):  # crystals are deduplicated by structure, never by text
                    if "structure" in md:
                        crystals.append(structure_row(doc, self.priority(doc)))
                    yield doc
                    continue
                rows["record"].append(md["record"])
                rows["id"].append(doc.id)
                rows["source"].append(md.get("source"))
                rows["component"].append(md.get("component"))
                rows["priority"].append(self.priority(doc))
                rows["chars"].append(len(doc.text))
                rows["doi"].append(doc.id[4:] if doc.id.startswith("doi:") else None)
                rows["title_key"].append(title_key(md))
                rows["exact"].append(exact_key(doc.text))
                rows["minhash"].append(self.hasher.signature(doc.text).tobytes())
            yield doc
        os.makedirs(self.folder, exist_ok=True)
        pq.write_table(pa.Table.from_pydict(rows, schema=SIGNATURE_SCHEMA), os.path.join(self.folder, f"{rank:05d}.parquet"))
        if self.structures_folder:
            os.makedirs(self.structures_folder, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(crystals, schema=STRUCTURE_SCHEMA), os.path.join(self.structures_folder, f"{rank:05d}.parquet"))


class _Groups:
    """Union-find over row indices; the root of a group is always its best row (lowest index)."""

    def __init__(self, n: int):
        self.parent = np.arange(n)

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


class Deduplicator(PipelineStep):
    """One task: identity, then exact, then near-duplicate groups over every text signature; structure groups over every crystal."""

    name = "🫂 Deduplicate"
    type = "🫂 - DEDUP"

    def __init__(self, signatures: str, removed_path: str, clusters_path: str, hasher: MinHasher,
                 identity: bool = True, exact: bool = True, near: bool = True, threshold: float = 0.8,
                 structures: str | None = None, structure_preference: list[str] | None = None,
                 memory_budget: int = 4 * 10**9, clustering: str = "auto"):
        super().__init__()
        # auto: in memory while the signatures fit the budget (the faster path), on disk beyond (corpus/dedup/external.py)
        self.memory_budget, self.clustering = memory_budget, clustering
        self.structures = structures  # crystal records' structure rows; None: no structure dedup
        self.structure_preference = structure_preference or ["priority", "e_above_hull", "volume_per_formula_unit"]
        self.signatures, self.removed_path, self.clusters_path = signatures, removed_path, clusters_path
        self.hasher, self.identity, self.exact, self.near, self.threshold = hasher, identity, exact, near, threshold

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        files = sorted(glob.glob(os.path.join(self.signatures, "*.parquet")))
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        on_disk = self.clustering == "disk" or (self.clustering == "auto" and rows * IN_MEMORY_BYTES_PER_DOC > self.memory_budget)
        self.stat_update("clustered_on_disk" if on_disk else "clustered_in_memory", value=rows)
        if on_disk:
            removed = deduplicate_out_of_core(
                files, self.hasher.num_perm, os.path.join(os.path.dirname(self.removed_path), "external"), self.identity, self.exact,
                self.near, self.threshold, batch_rows=max(10_000, min(200_000, self.memory_budget // (64 * 8 * self.hasher.num_perm))),
            ).cast(REMOVED_SCHEMA)
        else:
            table = pa.concat_tables([pq.read_table(f) for f in files]) if files else SIGNATURE_SCHEMA.empty_table()
            removed = pa.Table.from_pylist(self.deduplicate(table), schema=REMOVED_SCHEMA)
            del table
        if self.structures:
            files = sorted(glob.glob(os.path.join(self.structures, "*.parquet")))
            crystals = pa.concat_tables([pq.read_table(f) for f in files]) if files else STRUCTURE_SCHEMA.empty_table()
            removed = pa.concat_tables([removed, pa.Table.from_pylist(structure_duplicates(crystals, self.structure_preference), schema=REMOVED_SCHEMA)])
        os.makedirs(os.path.dirname(self.removed_path), exist_ok=True)
        pq.write_table(removed, self.removed_path)
        # one row per cluster in order of first appearance, with the reason and size of its last removed member
        clusters = (pl.from_arrow(removed).group_by("cluster", maintain_order=True)
                    .agg(pl.col("reason").last(), pl.col("cluster_size").last().alias("size")))
        os.makedirs(os.path.dirname(self.clusters_path), exist_ok=True)
        pq.write_table(clusters.to_arrow().cast(pa.schema([("cluster", pa.string()), ("reason", pa.string()), ("size", pa.int64())])),
                       self.clusters_path)
        self.stat_update("removed", value=removed.num_rows)
        if data:
            yield from data

    def deduplicate(self, table: pa.Table) -> list[dict]:
        # best first: priority, then length, then a hash of the record key, then the key itself, so every choice below
        # is deterministic (record keys are unique, so this order is total); the hash rather than the key decides
        # ties so the out-of-core path can order 30M rows without a string sort
        table = table.append_column("record_hash", pa.array(record_hash(table["record"].to_pylist()), pa.uint64()))
        order = pc.sort_indices(table, sort_keys=[("priority", "descending"), ("chars", "descending"), ("record_hash", "ascending"),
                                                  ("record", "ascending")])
        signatures = table["minhash"]
        table = table.drop_columns(["minhash"]).take(order)  # the signatures stay where they are: no 1 KB-per-row copy
        records = table["record"].to_pylist()
        removed: dict[int, tuple[str, int]] = {}  # row -> (reason, survivor row)
        alive = list(range(table.num_rows))

        def group_by(keys: list, reason: str) -> None:
            nonlocal alive
            first: dict = {}
            for i in alive:
                k = keys[i]
                if k is None:
                    continue
                if k in first:
                    removed[i] = (reason, first[k])
                else:
                    first[k] = i
            alive = [i for i in alive if i not in removed]

        if self.identity:
            group_by(table["doi"].to_pylist(), "duplicate_identity")
            group_by(table["title_key"].to_pylist(), "duplicate_identity")
        if self.exact:
            group_by(table["exact"].to_pylist(), "duplicate_exact")
        if self.near and alive:
            self._near(signatures, order.to_numpy(), alive, removed)

        # a removed row's survivor may itself have been removed later: follow to the final survivor
        def final(i: int) -> int:
            while i in removed:
                i = removed[i][1]
            return i

        sizes: dict[int, int] = {}
        for i in removed:
            sizes[final(i)] = sizes.get(final(i), 1) + 1
        return [
            {"record": records[i], "reason": reason, "survivor": records[final(i)], "cluster": records[final(i)], "cluster_size": sizes[final(i)]}
            for i, (reason, _) in sorted(removed.items())
        ]

    def _near(self, signatures: pa.ChunkedArray, order: np.ndarray, alive: list[int], removed: dict) -> None:
        rows = np.asarray(alive, dtype=np.int64)
        sig = signature_matrix(signatures, self.hasher.num_perm)[order[rows]]
        for k, root in enumerate(near_duplicate_roots(sig, self.threshold).tolist()):
            if root != k:
                removed[alive[k]] = ("duplicate_near", alive[root])


def near_duplicate_roots(sig: np.ndarray, threshold: float, salt: np.ndarray | None = None) -> np.ndarray:
    """For rows ordered best first, each row's group representative (itself when it has no near-duplicate).

    LSH banding with datasketch's band/row choice, done over one numpy signature matrix:
    datasketch's `MinHashLSH` keeps a Python set per band bucket and a MinHash object per
    document, measured at ~5 KB per document, ~20 GB for LLaMat's 4M papers on the one
    clustering node (benchmarks/dedup_clustering.py). The same banding over a uint64 matrix
    costs the matrix (1 KB per document at 128 permutations) plus one sort per band.
    Candidates (same bucket in any band) are confirmed by estimated Jaccard >= threshold; groups
    are the connected components, represented by their best (lowest) row. `salt` (one uint64 per
    row) is mixed into every band key: rows with different salts are never candidates.
    """
    n, num_perm = sig.shape
    groups = _Groups(n)
    bands, per_band = band_shape(threshold, num_perm)
    candidates = []
    for b in range(bands):
        if len(pairs := bucket_pairs(band_key(sig, b, per_band, salt))):
            candidates.append(pairs)
    if candidates:
        pairs = np.unique(np.concatenate(candidates), axis=0)
        pairs = pairs[pairs[:, 0] != pairs[:, 1]]
        similar = np.concatenate([
            (sig[chunk[:, 0]] == sig[chunk[:, 1]]).mean(axis=1) >= threshold
            for chunk in np.array_split(pairs, max(1, len(pairs) // 100_000))
        ]) if len(pairs) else np.zeros(0, dtype=bool)
        for i, j in pairs[similar].tolist():
            groups.union(i, j)
    return np.asarray([groups.find(k) for k in range(n)], dtype=np.int64)


def signature_matrix(column: pa.ChunkedArray, num_perm: int) -> np.ndarray:
    """The binary MinHash column as an (n, num_perm) uint64 matrix, read from Arrow's buffer without per-row objects."""
    parts = []
    for chunk in column.chunks:
        if len(chunk) == 0:
            continue
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[chunk.offset : chunk.offset + len(chunk) + 1]
        if np.any(np.diff(offsets) != 8 * num_perm):
            raise ValueError(f"MinHash signatures are not all {num_perm} values long: signatures from another hasher setting?")
        data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
        parts.append(data.view(np.uint64).reshape(len(chunk), num_perm))
    return np.concatenate(parts) if parts else np.zeros((0, num_perm), dtype=np.uint64)


class DedupFilter(BaseFilter):
    """Drops the documents whose record key the Deduplicator removed, with its reason."""

    name = "🫂 Dedup removal"

    def __init__(self, removed_path: str, exclusion_writer: DiskWriter | None = None):
        super().__init__(exclusion_writer)
        self.removed_path = removed_path

    @cached_property
    def removed(self) -> dict[str, tuple[str, str]]:
        if not os.path.exists(self.removed_path):
            return {}
        t = pq.read_table(self.removed_path, columns=["record", "reason", "survivor"])
        return {r: (reason, s) for r, reason, s in zip(t["record"].to_pylist(), t["reason"].to_pylist(), t["survivor"].to_pylist())}

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        hit = self.removed.get(doc.metadata["record"])
        if hit is None:
            return True
        doc.metadata["duplicate_of"] = hit[1]
        return False, hit[0]


# ---- registration (corpus/registry.py): signatures in the process pipeline, the clustering as a pipeline of its own,
# the removal per component before the shard writer


def _structures_folder(ctx: StepContext) -> str | None:
    return ctx.layout.structures if ctx.has_crystals and ctx.manifest.steps.crystals.dedup else None


def _active(ctx: StepContext) -> bool:
    return ctx.manifest.steps.dedup.enabled or bool(_structures_folder(ctx))


def _hasher(ctx: StepContext) -> MinHasher:
    d = ctx.manifest.steps.dedup
    return MinHasher(d.num_perm, seed=ctx.manifest.seed, shingle_size=d.shingle_size)


def _signature_step(ctx: StepContext):
    if not _active(ctx):
        return None
    return SignatureWriter(ctx.layout.signatures, _hasher(ctx), ctx.manifest.steps.dedup.priority, structures_folder=_structures_folder(ctx))


def _clustering_pipeline(ctx: StepContext):
    if not _active(ctx):
        return None
    d, layout = ctx.manifest.steps.dedup, ctx.layout
    return "dedup", "finding duplicates", [Deduplicator(
        layout.signatures, layout.removed, layout.dedup_clusters, _hasher(ctx),
        identity=d.enabled and d.identity, exact=d.enabled and d.exact, near=d.enabled and d.near,
        threshold=d.threshold, structures=_structures_folder(ctx), structure_preference=list(ctx.manifest.steps.crystals.prefer),
        memory_budget=int(d.memory_budget_gb * 1e9), clustering=d.clustering,
    )]


def _removal_steps(ctx: StepContext, component: str) -> list[PipelineStep]:
    # one filter and writer per component: a writer is closed at the end of its step, and a second step sharing it
    # would overwrite the first one's rejected file and ledger
    return [DedupFilter(ctx.layout.removed, exclusion_writer=ctx.rejected(f"dedup_{component}"))] if _active(ctx) else []


register(StepSpec(
    "dedup", "identity, exact and MinHash near-duplicate groups over every text, StructureMatcher groups over every crystal "
    "(steps.dedup, steps.crystals.dedup); one survivor per group", process=_signature_step, pipeline=_clustering_pipeline,
    per_component=_removal_steps, reasons=("duplicate_identity", "duplicate_exact", "duplicate_near", "duplicate_structure"),
    cleanup=lambda layout: [layout.task_glob(layout.signatures, ".parquet"), layout.task_glob(layout.structures, ".parquet")],
    last=True, why="it signs the documents every filter kept; a filter after it could drop the survivor of a duplicate group "
    "and lose the whole group",
))
