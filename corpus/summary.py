"""The accounting of a build: OUT/summary.json and OUT/stats/documents.parquet.

Three independent records are reconciled:
- what the readers say they read (OUT/stats/inputs/: files, documents, failures per task),
- where every document ended (the outcome ledgers under OUT/stats/outcomes/),
- what is in the shards (the provenance side-cars, and `corpus check` over the shard files).
Inputs must equal kept + dropped + failed per source, every input file must have been read, the
documents that passed the filters must be exactly the shard entries plus the duplicates removed,
per source and per component, and the shards must pass the check. Documents are matched by
record key (source file and position), which is unique even when two documents share an id.
The summary says `"reconciled": true` only when all hold; otherwise it lists what did not.
Nothing in it depends on timing or on where OUT lives, so two builds of one manifest give the
same bytes.
"""

from __future__ import annotations

import glob
import json
import os

import polars as pl
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from corpus.manifest import Manifest
from corpus.outcomes import DROPPED, FAILED, PASSED, LEDGER_SCHEMA
from corpus.shards.check import ShardError, check_shards
from corpus.shards.format import PROVENANCE_SCHEMA, provenance_path, shard_files


def _ledger(stats_folder: str) -> pl.DataFrame:
    files = sorted(glob.glob(os.path.join(stats_folder, "outcomes", "*.parquet")))
    if not files:
        return pl.from_arrow(LEDGER_SCHEMA.empty_table())
    return pl.concat([pl.read_parquet(f) for f in files], how="vertical")


def _provenance(shards_folder: str, components: list[str]) -> pl.DataFrame:
    frames = []
    for comp in components:
        folder = os.path.join(shards_folder, comp)
        if not os.path.isdir(folder):
            continue
        for ds in shard_files(folder):
            frames.append(pl.read_parquet(provenance_path(ds)).with_columns(pl.lit(comp).alias("component")))
    if not frames:
        return pl.from_arrow(PROVENANCE_SCHEMA.empty_table()).with_columns(pl.lit(None, pl.String).alias("component"))
    return pl.concat(frames, how="vertical")


def _reader_counts(stats_folder: str) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for path in sorted(glob.glob(os.path.join(stats_folder, "inputs", "*.json"))):
        with open(path) as f:
            rec = json.load(f)
        c = counts.setdefault(rec["source"], {"files": 0, "documents": 0, "failed": 0})
        for k in c:
            c[k] += rec[k]
    return counts


def _by(frame: pl.DataFrame, key: str) -> dict[str, int]:
    if frame.is_empty():
        return {}
    rows = frame.group_by(key).len().sort(key).iter_rows()
    return {str(k): int(n) for k, n in rows}


def build_summary(manifest: Manifest, root: str, ledger: pl.DataFrame, provenance: pl.DataFrame) -> dict:
    stats = os.path.join(root, "stats")
    shards = os.path.join(root, "shards")
    components = [c.name for c in manifest.components]
    readers = _reader_counts(stats)
    problems: list[str] = []
    dropped = ledger.filter(pl.col("status") == DROPPED)
    failed = ledger.filter(pl.col("status") == FAILED)
    passed = ledger.filter(pl.col("status") == PASSED)
    duplicates = dropped.filter(pl.col("reason").str.starts_with("duplicate_"))

    def count(frame: pl.DataFrame, column: str, value: str) -> int:
        return frame.filter(pl.col(column) == value).height

    # per source: what was read against where it ended
    by_source = {}
    expected_files = _count_listed_inputs(root)
    for src in manifest.sources:
        outcome = {"kept": count(provenance, "source", src.name), "dropped": count(dropped, "source", src.name), "failed": count(failed, "source", src.name)}
        read = readers.get(src.name, {"files": 0, "documents": 0, "failed": 0})
        inputs = read["documents"] + read["failed"]
        by_source[src.name] = {"component": manifest.component_of(src.name), "files": read["files"], "inputs": inputs, **outcome}
        if inputs != sum(outcome.values()):
            problems.append(f"source {src.name}: {inputs} inputs read but {sum(outcome.values())} outcomes recorded")
        if count(passed, "source", src.name) != outcome["kept"] + count(duplicates, "source", src.name):
            problems.append(f"source {src.name}: {count(passed, 'source', src.name)} passed the filters but "
                            f"{outcome['kept']} are in shards and {count(duplicates, 'source', src.name)} were removed as duplicates")
        if read["files"] != expected_files.get(src.name, 0):
            problems.append(f"source {src.name}: {read['files']} of {expected_files.get(src.name, 0)} input files were read")

    # per component: what passed against shard entries and duplicates, record by record
    by_component = {}
    for comp in components:
        prov = provenance.filter(pl.col("component") == comp)
        tokens = int((prov["token_end"] - prov["token_start"]).sum()) if prov.height else 0
        folder = os.path.join(shards, comp)
        files = len(shard_files(folder)) if os.path.isdir(folder) else 0
        weight = next((c.weight for c in manifest.components if c.name == comp), None)
        by_component[comp] = {"documents": prov.height, "tokens": tokens, "shards": files, "folder": os.path.relpath(folder, root),
                              "target_weight": weight}
        expected = set(passed.filter(pl.col("component") == comp)["record"].to_list())
        ended = set(prov["record"].to_list()) | set(duplicates.filter(pl.col("component") == comp)["record"].to_list())
        if expected != ended:
            problems.append(f"component {comp}: {len(expected - ended)} passed documents are neither in the shards nor removed "
                            f"as duplicates, {len(ended - expected)} are in the shards without having passed")

    if provenance.is_empty():  # nothing was kept: no shards to check, and nothing wrong with that
        check_result = {"ok": True, "documents": 0, "tokens": 0}
    else:
        check_result = _check(shards, provenance, by_component, problems)

    total_inputs = sum(s["inputs"] for s in by_source.values())
    return {
        "name": manifest.name,
        "seed": manifest.seed,
        "inputs": total_inputs,
        "kept": provenance.height,
        "dropped": dropped.height,
        "failed": failed.height,
        "dropped_by_reason": _by(dropped, "reason"),
        "failed_by_reason": _by(failed, "reason"),
        "tokens": sum(c["tokens"] for c in by_component.values()),
        "components": by_component,
        "sources": by_source,
        "shard_check": check_result,
        **({"crystal_contamination": contamination} if (contamination := _crystal_contamination(stats)) else {}),
        "reconciled": not problems,
        "problems": problems,
        "outputs": {
            "shards": "shards/",
            "rejected": "rejected/",
            "failed": "failed/",
            "documents": "stats/documents.parquet",
        },
    }


def _crystal_contamination(stats_folder: str) -> dict[str, dict[str, int]]:
    """Per benchmark: its test structures and how many corpus records were one of them (summed over tasks)."""
    out: dict[str, dict[str, int]] = {}
    for path in sorted(glob.glob(os.path.join(stats_folder, "crystal_contamination", "*.json"))):
        with open(path) as f:
            rec = json.load(f)
        for bench, n in rec["test_structures"].items():
            out.setdefault(bench, {"test_structures": n, "hits": 0})
        for bench, n in rec["hits"].items():
            out.setdefault(bench, {"test_structures": 0, "hits": 0})["hits"] += n
    return out


def _check(shards: str, provenance: pl.DataFrame, by_component: dict, problems: list[str]) -> dict:
    try:
        check = check_shards(shards)
    except ShardError as e:
        problems.append(f"shard check failed: {e}")
        return {"ok": False, "error": str(e)}
    if check.documents != provenance.height or check.tokens != sum(c["tokens"] for c in by_component.values()):
        problems.append("shard check counts differ from the provenance side-cars")
    return {"ok": True, "documents": check.documents, "tokens": check.tokens}


def _count_listed_inputs(root: str) -> dict[str, int]:
    out = {}
    for path in glob.glob(os.path.join(root, "work", "inputs", "*.txt")):
        with open(path) as f:
            out[os.path.basename(path)[: -len(".txt")]] = sum(1 for line in f if line.strip())
    return out


def write_documents_table(root: str, ledger: pl.DataFrame, provenance: pl.DataFrame) -> None:
    """One row per input document: its outcome and everything the ledger recorded, for kept ones
    its shard and token range, and for members of a duplicate group the group (named by its
    survivor's record key) and its size."""
    prov = provenance.select(
        "record", "shard", "token_start", "token_end", (pl.col("token_end") - pl.col("token_start")).alias("tokens")
    )
    kept = ledger.filter(pl.col("status") == PASSED).join(prov, on="record", how="inner").with_columns(pl.lit("kept").alias("status"))
    rest = ledger.filter(pl.col("status") != PASSED)
    table = pl.concat([kept, rest], how="diagonal_relaxed")
    removed_path = os.path.join(root, "work", "dedup", "removed.parquet")
    if os.path.exists(removed_path):
        removed = pl.read_parquet(removed_path, columns=["record", "cluster", "cluster_size"])
        survivors = removed.group_by("cluster").agg(pl.col("cluster_size").first()).with_columns(pl.col("cluster").alias("record"))
        clusters = pl.concat([removed, survivors.select("record", "cluster", "cluster_size")], how="vertical")
        table = table.join(clusters, on="record", how="left")
    else:
        table = table.with_columns(pl.lit(None, pl.String).alias("cluster"), pl.lit(None, pl.Int64).alias("cluster_size"))
    table.sort("status", "source", "record", nulls_last=True).write_parquet(os.path.join(root, "stats", "documents.parquet"))


class SummaryStep(PipelineStep):
    """Last stage (one task): writes summary.json, the per-document table and the training data stages."""

    name = "🧾 Summary"
    type = "🧾 - ACCOUNTING"

    def __init__(self, manifest: Manifest, root: str):
        super().__init__()
        self.manifest = manifest
        self.root = root

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        components = [c.name for c in self.manifest.components]
        ledger = _ledger(os.path.join(self.root, "stats"))  # read once, for both outputs
        provenance = _provenance(os.path.join(self.root, "shards"), components)
        write_documents_table(self.root, ledger, provenance)
        summary = build_summary(self.manifest, self.root, ledger, provenance)
        from corpus.mixture import write as write_data_stages

        try:
            summary["mixture"] = write_data_stages(self.manifest, self.root, summary)
        except ValueError as e:  # an impossible schedule: the shards stand, the training config does not
            summary["mixture"] = {"error": str(e)}
            summary["problems"].append(f"mixture: {e}")
            summary["reconciled"] = False
        with open(os.path.join(self.root, "summary.json"), "w") as f:
            json.dump(summary, f, indent=2, sort_keys=False)
            f.write("\n")
        if data:
            yield from data
