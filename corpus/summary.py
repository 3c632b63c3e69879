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
The ledgers are read lazily: counts are streaming aggregates, and the record-level work (the per-document table,
one row group per bucket, and the record-by-record check) goes through the records in hash buckets of
BUCKET_ROWS, so the summary's memory does not grow with the corpus.
Nothing in it depends on timing or on where OUT lives, so two builds of one manifest give the
same bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import polars as pl
import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from corpus.layout import OutputLayout
from corpus.manifest import Manifest
from corpus.outcomes import DROPPED, FAILED, KEPT, PASSED, LEDGER_SCHEMA
from corpus.shards.check import ShardError, check_shards
from corpus.lineage import content_fingerprint
from corpus.shards.checksums import write_checksums
from corpus.shards.format import PROVENANCE_SCHEMA, provenance_path, shard_files


# Ledger rows reconciled and written at a time. The summary is one task over every document of the build, so it
# works through the records in hash buckets of about this many rows: its memory stays the same whatever the corpus
# size (issue 10's flatness bar). The ledgers, provenance and dedup removals are first split into one file per
# bucket in a single pass, one input batch at a time, so the work stays linear in the corpus.
BUCKET_ROWS = 50_000
SPLIT_BATCH = 65_536
_HASH = {"seed": 0x6D617463}  # fixed: the same buckets every run (stable within a polars version)

_EMPTY_LEDGER = pl.from_arrow(LEDGER_SCHEMA.empty_table())
_EMPTY_PROVENANCE = pl.from_arrow(PROVENANCE_SCHEMA.empty_table()).with_columns(pl.lit(None, pl.String).alias("component"))


def _provenance_files(layout: OutputLayout, components: list[str]) -> list[tuple[str, str]]:
    """(provenance side-car, component) of every shard, component by component."""
    return [(provenance_path(ds), comp) for comp in components if os.path.isdir(layout.component_shards(comp))
            for ds in shard_files(layout.component_shards(comp))]


def _scan_ledger(files: list[str]) -> pl.LazyFrame:
    return pl.scan_parquet(files) if files else _EMPTY_LEDGER.lazy()


def _scan_provenance(files: list[tuple[str, str]], components: list[str]) -> pl.LazyFrame:
    frames = [pl.scan_parquet([p for p, c in files if c == comp]).with_columns(pl.lit(comp).alias("component"))
              for comp in components if any(c == comp for _, c in files)]
    return pl.concat(frames, how="vertical") if frames else _EMPTY_PROVENANCE.lazy()


def _reader_counts(layout: OutputLayout) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for path in layout.input_counts():
        with open(path) as f:
            rec = json.load(f)
        c = counts.setdefault(rec["source"], {"files": 0, "documents": 0, "failed": 0})
        for k in c:
            c[k] += rec[k]
    return counts


def _is_duplicate() -> pl.Expr:
    return (pl.col("status") == DROPPED) & pl.col("reason").str.starts_with("duplicate_")


def _split(inputs: list[tuple[str, str | None]], column: str, buckets: int, folder: str) -> dict[int, str]:
    """Rewrite parquet files as one file per hash bucket of `column` (`inputs`: (path, component to add or None)),
    reading one batch at a time. Returns {bucket: path} for the buckets that got rows."""
    os.makedirs(folder, exist_ok=True)
    writers: dict[int, pq.ParquetWriter] = {}
    try:
        for path, component in inputs:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=SPLIT_BATCH):
                frame = pl.from_arrow(batch)
                if component is not None:
                    frame = frame.with_columns(pl.lit(component).alias("component"))
                frame = frame.with_columns((pl.col(column).hash(**_HASH) % buckets).alias("_bucket"))
                for (b,), part in frame.partition_by("_bucket", as_dict=True, include_key=False).items():
                    table = part.to_arrow()
                    if b not in writers:
                        writers[b] = pq.ParquetWriter(os.path.join(folder, f"{b:05d}.parquet"), table.schema)
                    writers[b].write_table(table.cast(writers[b].schema))
    finally:
        for w in writers.values():
            w.close()
    return {b: os.path.join(folder, f"{b:05d}.parquet") for b in writers}


class _Ledgers:
    """The build's outcome ledgers, shard provenance and dedup removals: small aggregates over all of them (lazy,
    streaming), and the record-level work (the per-document table, the record-by-record check) one hash bucket of
    records at a time (`part`)."""

    def __init__(self, root: str, components: list[str], bucket_rows: int = BUCKET_ROWS):
        self.root = root
        layout = OutputLayout(root)
        ledger_files, provenance_files = layout.ledgers(), _provenance_files(layout, components)
        self.ledger = _scan_ledger(ledger_files)
        self.provenance = _scan_provenance(provenance_files, components)
        removed = layout.removed
        self.removed = pl.scan_parquet(removed).select("record", "cluster", "cluster_size") if os.path.exists(removed) else None
        rows = self.ledger.select(pl.len()).collect().item()
        self.buckets = max(1, -(-rows // bucket_rows))
        # outcomes per (source, component, status, reason) and shard entries per (source, component): small tables
        self.outcomes = (self.ledger.group_by("source", "component", "status", "reason").agg(pl.len().alias("n"))
                         .collect(engine="streaming"))
        self.kept = (self.provenance.group_by("source", "component")
                     .agg(pl.len().alias("n"), (pl.col("token_end") - pl.col("token_start")).sum().alias("tokens"))
                     .collect(engine="streaming"))
        self._parts: dict[str, dict[int, str]] = {}
        self._work = layout.summary_buckets
        if self.buckets > 1:
            shutil.rmtree(self._work, ignore_errors=True)
            self._parts["ledger"] = _split([(f, None) for f in ledger_files], "record", self.buckets, os.path.join(self._work, "ledger"))
            self._parts["provenance"] = _split(provenance_files, "record", self.buckets, os.path.join(self._work, "provenance"))
            if self.removed is not None:
                self._parts["members"] = _split([(removed, None)], "record", self.buckets, os.path.join(self._work, "members"))
                self._parts["survivors"] = _split([(removed, None)], "cluster", self.buckets, os.path.join(self._work, "survivors"))

    def part(self, name: str, b: int) -> pl.DataFrame:
        """Bucket b of the ledger, the provenance, or the dedup removals by member ("members") or by group
        ("survivors"); with one bucket, all of it."""
        whole = {"ledger": self.ledger, "provenance": self.provenance, "members": self.removed, "survivors": self.removed}[name]
        if self.buckets == 1:
            return whole.collect()
        path = self._parts[name].get(b)
        frame = pl.scan_parquet(path) if path else pl.LazyFrame(schema=whole.collect_schema())
        return frame.select(whole.collect_schema().names()).collect()

    def close(self) -> None:
        shutil.rmtree(self._work, ignore_errors=True)

    def count(self, where: pl.Expr) -> int:
        return int(self.outcomes.filter(where)["n"].sum())

    def by_reason(self, status: str) -> dict[str, int]:
        rows = (self.outcomes.filter(pl.col("status") == status).group_by("reason").agg(pl.col("n").sum())
                .sort("reason").iter_rows())
        return {str(k): int(n) for k, n in rows}

    def kept_in(self, column: str, value: str) -> tuple[int, int]:
        part = self.kept.filter(pl.col(column) == value)
        return int(part["n"].sum()), int(part["tokens"].sum())


def build_summary(manifest: Manifest, root: str, led: _Ledgers, record_problems: dict[str, tuple[int, int]]) -> dict:
    layout = OutputLayout(root)
    components = [c.name for c in manifest.components]
    readers = _reader_counts(layout)
    problems: list[str] = []

    # per source: what was read against where it ended
    by_source = {}
    expected_files = _count_listed_inputs(layout)
    for src in manifest.sources:
        is_src = pl.col("source") == src.name
        outcome = {"kept": led.kept_in("source", src.name)[0], "dropped": led.count(is_src & (pl.col("status") == DROPPED)),
                   "failed": led.count(is_src & (pl.col("status") == FAILED))}
        read = readers.get(src.name, {"files": 0, "documents": 0, "failed": 0})
        inputs = read["documents"] + read["failed"]
        by_source[src.name] = {"component": manifest.component_of(src.name), "files": read["files"], "inputs": inputs, **outcome}
        if inputs != sum(outcome.values()):
            problems.append(f"source {src.name}: {inputs} inputs read but {sum(outcome.values())} outcomes recorded")
        passed, duplicates = led.count(is_src & (pl.col("status") == PASSED)), led.count(is_src & _is_duplicate())
        if passed != outcome["kept"] + duplicates:
            problems.append(f"source {src.name}: {passed} passed the filters but "
                            f"{outcome['kept']} are in shards and {duplicates} were removed as duplicates")
        if read["files"] != expected_files.get(src.name, 0):
            problems.append(f"source {src.name}: {read['files']} of {expected_files.get(src.name, 0)} input files were read")

    # per component: what passed against shard entries and duplicates, record by record (counted bucket by bucket)
    by_component = {}
    for comp in components:
        documents, tokens = led.kept_in("component", comp)
        folder = layout.component_shards(comp)
        files = len(shard_files(folder)) if os.path.isdir(folder) else 0
        weight = next((c.weight for c in manifest.components if c.name == comp), None)
        by_component[comp] = {"documents": documents, "tokens": tokens, "shards": files, "folder": os.path.relpath(folder, root),
                              "target_weight": weight}
        missing, unexpected = record_problems.get(comp, (0, 0))
        if missing or unexpected:
            problems.append(f"component {comp}: {missing} passed documents are neither in the shards nor removed "
                            f"as duplicates, {unexpected} are in the shards without having passed")

    kept = int(led.kept["n"].sum())
    if kept == 0:  # nothing was kept: no shards to check, and nothing wrong with that
        check_result = {"ok": True, "documents": 0, "tokens": 0}
    else:
        check_result = _check(layout.shards, kept, by_component, problems)

    total_inputs = sum(s["inputs"] for s in by_source.values())
    return {
        "name": manifest.name,
        "seed": manifest.seed,
        "inputs": total_inputs,
        "kept": kept,
        "dropped": led.count(pl.col("status") == DROPPED),
        "failed": led.count(pl.col("status") == FAILED),
        "dropped_by_reason": led.by_reason(DROPPED),
        "failed_by_reason": led.by_reason(FAILED),
        "tokens": sum(c["tokens"] for c in by_component.values()),
        "components": by_component,
        "sources": by_source,
        "shard_check": check_result,
        # the shards' identity (corpus/lineage.py): what a training run records and `corpus lineage` checks again
        "lineage": {"content_fingerprint": content_fingerprint(layout.shards)},
        **step_summaries(manifest, layout),
        "thresholds": manifest.steps.thresholds(),  # drawn on the report's histograms
        "reconciled": not problems,
        "problems": problems,
        "outputs": {
            "shards": "shards/",
            "rejected": "rejected/",
            "failed": "failed/",
            "documents": "stats/documents.parquet",
        },
    }


def step_summaries(manifest: Manifest, layout: OutputLayout) -> dict:
    """What the manifest's steps add to summary.json (`StepSpec.summary`: e.g. crystal_contamination)."""
    from corpus.registry import steps

    registry, out = steps(), {}
    for name in manifest.steps.names():
        if registry[name].summary:
            out.update(registry[name].summary(layout))
    return out


def _check(shards: str, kept: int, by_component: dict, problems: list[str]) -> dict:
    # the integrity record first (the shards are complete once every shards task is done), then the structural check
    # of what it records; its checksums were just computed, so reading every byte again would prove nothing
    write_checksums(shards, list(by_component))
    try:
        check = check_shards(shards, quick=True)
    except ShardError as e:
        problems.append(f"shard check failed: {e}")
        return {"ok": False, "error": str(e)}
    if check.documents != kept or check.tokens != sum(c["tokens"] for c in by_component.values()):
        problems.append("shard check counts differ from the provenance side-cars")
    return {"ok": True, "documents": check.documents, "tokens": check.tokens}


def _count_listed_inputs(layout: OutputLayout) -> dict[str, int]:
    out = {}
    for path in layout.paths_files():
        with open(path) as f:
            out[os.path.basename(path)[: -len(".txt")]] = sum(1 for line in f if line.strip())
    return out


_TABLE_EXTRA = {"shard": pl.String, "token_start": pl.Int64, "token_end": pl.Int64, "tokens": pl.Int64,
                "cluster": pl.String, "cluster_size": pl.Int64}


def _documents_rows(led: _Ledgers, b: int, ledger: pl.DataFrame, provenance: pl.DataFrame) -> pl.DataFrame:
    """One bucket's rows of the per-document table: every input document of the bucket with its outcome and
    everything the ledger recorded, for kept ones its shard and token range, and for members of a duplicate group
    the group (named by its survivor's record key) and its size. Sorted by status, source and record."""
    prov = provenance.select(
        "record", "shard", "token_start", "token_end", (pl.col("token_end") - pl.col("token_start")).alias("tokens"))
    kept = ledger.filter(pl.col("status") == PASSED).join(prov, on="record", how="inner").with_columns(pl.lit(KEPT).alias("status"))
    rest = ledger.filter(pl.col("status") != PASSED)
    table = pl.concat([kept, rest], how="diagonal_relaxed")
    if led.removed is not None:
        survivors = (led.part("survivors", b).group_by("cluster", maintain_order=True).agg(pl.col("cluster_size").first())
                     .with_columns(pl.col("cluster").alias("record")))
        clusters = pl.concat([led.part("members", b), survivors.select("record", "cluster", "cluster_size")], how="vertical")
        table = table.join(clusters, on="record", how="left")
    columns = [pl.col(c) for c in ledger.columns] + [
        (pl.col(c) if c in table.columns else pl.lit(None)).cast(t).alias(c) for c, t in _TABLE_EXTRA.items()]
    return table.select(columns).sort("status", "source", "record", nulls_last=True)


def _record_problems(ledger: pl.DataFrame, provenance: pl.DataFrame) -> pl.DataFrame:
    """Per component: passed records that are neither in the shards nor removed as duplicates ("missing"), and
    shard or duplicate records that did not pass ("unexpected")."""
    passed = ledger.filter(pl.col("status") == PASSED).select("record", "component")
    ended = pl.concat([provenance.select("record", "component"), ledger.filter(_is_duplicate()).select("record", "component")])
    missing = passed.join(ended, on=["record", "component"], how="anti").group_by("component").len("missing")
    unexpected = ended.join(passed, on=["record", "component"], how="anti").group_by("component").len("unexpected")
    return missing.join(unexpected, on="component", how="full", coalesce=True).fill_null(0)


def write_documents_table(root: str, led: _Ledgers) -> dict[str, tuple[int, int]]:
    """Write OUT/stats/documents.parquet one bucket (one row group) at a time; returns the record-level check's
    (missing, unexpected) counts per component."""
    path = OutputLayout(root).documents
    problems: dict[str, tuple[int, int]] = {}
    writer = None
    try:
        for b in range(led.buckets):
            ledger, prov = led.part("ledger", b), led.part("provenance", b)
            rows = _documents_rows(led, b, ledger, prov)
            for comp, missing, unexpected in _record_problems(ledger, prov).iter_rows():
                m, u = problems.get(comp, (0, 0))
                problems[comp] = (m + missing, u + unexpected)
            table = rows.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="zstd")
            if table.num_rows or b == 0:  # an empty bucket adds no row group (the first one gives an empty build its schema)
                writer.write_table(table.cast(writer.schema))
    finally:
        if writer is not None:
            writer.close()
    return problems


def summarise(manifest: Manifest, root: str, bucket_rows: int = BUCKET_ROWS) -> None:
    """Write OUT/stats/documents.parquet, the training data stages and OUT/summary.json."""
    ledgers = _Ledgers(root, [c.name for c in manifest.components], bucket_rows)
    try:
        record_problems = write_documents_table(root, ledgers)
    finally:
        ledgers.close()
    summary = build_summary(manifest, root, ledgers, record_problems)
    from corpus.mixture import write as write_data_stages

    try:
        summary["mixture"] = write_data_stages(manifest, root, summary)
    except ValueError as e:  # an impossible schedule: the shards stand, the training config does not
        summary["mixture"] = {"error": str(e)}
        summary["problems"].append(f"mixture: {e}")
        summary["reconciled"] = False
    with open(OutputLayout(root).summary, "w") as f:
        json.dump(summary, f, indent=2, sort_keys=False)
        f.write("\n")


class SummaryStep(PipelineStep):
    """Last stage (one task): writes summary.json, the per-document table and the training data stages.

    The work runs in a fresh interpreter (`python -m corpus.summary`) unless the task already runs in `corpus build`'s
    own forkserver child: executors may fork the task from a worker process (datatrove's Ray RankWorker forks a pool),
    and polars' thread pool does not survive a fork -- a streaming query in the forked child waited forever under Ray.
    A subprocess is also allowed where a daemonic pool worker may not start a multiprocessing child."""

    name = "🧾 Summary"
    type = "🧾 - ACCOUNTING"

    def __init__(self, manifest: Manifest, root: str):
        super().__init__()
        self.manifest = manifest
        self.root = root
        self.bucket_rows = BUCKET_ROWS  # read at construction, so it travels with the pipeline

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if os.environ.get("CORPUS_FRESH_PROCESS") == "1":  # corpus build's own clean child (local executor)
            summarise(self.manifest, self.root, self.bucket_rows)
            if data:
                yield from data
            return
        spec = OutputLayout(self.root).summary_manifest
        os.makedirs(os.path.dirname(spec), exist_ok=True)
        with open(spec, "w") as f:
            f.write(self.manifest.model_dump_json())
        done = subprocess.run([sys.executable, "-m", "corpus.summary", spec, self.root, str(self.bucket_rows)],
                              capture_output=True, text=True)
        os.remove(spec)
        if done.returncode != 0:
            raise RuntimeError(f"the summary failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
        if data:
            yield from data


if __name__ == "__main__":  # python -m corpus.summary MANIFEST_JSON ROOT BUCKET_ROWS (what SummaryStep runs)
    with open(sys.argv[1]) as f:
        summarise(Manifest.model_validate_json(f.read()), sys.argv[2], int(sys.argv[3]))
