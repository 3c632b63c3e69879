"""The dedup stack, in order: identity, exact, MinHash near-duplicates. Removal is by record key.

1. `SignatureWriter` (every process task, after the filters) writes one row per surviving
   document: its record key, id, source, component, priority, identity keys (DOI, normalised
   title), exact-text hash and MinHash signature, to OUT/work/dedup/signatures/<task>.parquet.
2. `Deduplicator` (one task) reads them all and groups duplicates:
   - identity: the same DOI, or the same long normalised title and year, from several sources;
   - exact: the same normalised text (lowercase, punctuation dropped, numbers kept);
   - near: datasketch MinHashLSH candidates confirmed by estimated Jaccard >= the threshold.
   Each group keeps one survivor: highest priority (publisher XML > TEI > PDF > text by default, or
   the manifest's per-source priorities), then the longest text, then the smallest record key,
   so the choice is deterministic. Every other member is written to OUT/work/dedup/removed.parquet
   with its reason, survivor and cluster; cluster sizes go to OUT/stats/dedup_clusters.parquet.
3. `DedupFilter` (shards stage) drops exactly the removed record keys, so resharding the input
   cannot remove the wrong document: keys come from the document's source file and position in
   that file, never from its position in a task's stream.
"""

from __future__ import annotations

import glob
import hashlib
import os
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datasketch import MinHashLSH
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from corpus.dedup.minhash import MinHasher, tokens

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

    def __init__(self, folder: str, hasher: MinHasher, priorities: dict[str, int] | None = None):
        super().__init__()
        self.folder = folder
        self.hasher = hasher
        self.priorities = priorities or {}

    def priority(self, doc: Document) -> int:
        md = doc.metadata
        return self.priorities.get(md.get("source"), FORMAT_PRIORITY.get(md.get("source_format", ""), 0))

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        rows = {name: [] for name in SIGNATURE_SCHEMA.names}
        for doc in data:
            with self.track_time():
                md = doc.metadata
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
    """One task: identity, then exact, then near-duplicate groups over every signature."""

    name = "🫂 Deduplicate"
    type = "🫂 - DEDUP"

    def __init__(self, signatures: str, removed_path: str, clusters_path: str, hasher: MinHasher,
                 identity: bool = True, exact: bool = True, near: bool = True, threshold: float = 0.8):
        super().__init__()
        self.signatures, self.removed_path, self.clusters_path = signatures, removed_path, clusters_path
        self.hasher, self.identity, self.exact, self.near, self.threshold = hasher, identity, exact, near, threshold

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        files = sorted(glob.glob(os.path.join(self.signatures, "*.parquet")))
        table = pa.concat_tables([pq.read_table(f) for f in files]) if files else SIGNATURE_SCHEMA.empty_table()
        removed = self.deduplicate(table)
        os.makedirs(os.path.dirname(self.removed_path), exist_ok=True)
        pq.write_table(pa.Table.from_pylist(removed, schema=REMOVED_SCHEMA), self.removed_path)
        clusters = {}
        for r in removed:
            clusters[r["cluster"]] = (r["reason"], r["cluster_size"])
        os.makedirs(os.path.dirname(self.clusters_path), exist_ok=True)
        pq.write_table(
            pa.table({"cluster": list(clusters), "reason": [v[0] for v in clusters.values()], "size": [v[1] for v in clusters.values()]}),
            self.clusters_path,
        )
        self.stat_update("removed", value=len(removed))
        if data:
            yield from data

    def deduplicate(self, table: pa.Table) -> list[dict]:
        # best first: priority, then length, then record key, so every choice below is deterministic
        priority, chars, record = (table[c].to_pylist() for c in ("priority", "chars", "record"))
        order = sorted(range(table.num_rows), key=lambda i: (-priority[i], -chars[i], record[i]))
        table = table.take(pa.array(order, type=pa.int64()))
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
            self._near(table, alive, removed)

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

    def _near(self, table: pa.Table, alive: list[int], removed: dict) -> None:
        lsh = MinHashLSH(threshold=self.threshold, num_perm=self.hasher.num_perm)
        sigs = table["minhash"].to_pylist()
        minhashes = {i: self.hasher.lean(np.frombuffer(sigs[i], dtype=np.uint64)) for i in alive}
        with lsh.insertion_session() as session:
            for i in alive:
                session.insert(i, minhashes[i], check_duplication=False)
        groups = _Groups(table.num_rows)
        for i in alive:
            for j in lsh.query(minhashes[i]):
                if j != i and minhashes[i].jaccard(minhashes[j]) >= self.threshold:
                    groups.union(i, j)
        for i in alive:
            root = groups.find(i)
            if root != i:
                removed[i] = ("duplicate_near", root)


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
