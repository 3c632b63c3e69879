"""The out-of-core clustering finds exactly the in-memory clustering's groups: the same removed rows, reasons, survivors
and cluster sizes, on planted identity, exact and near duplicates, with batches smaller than a file, record-hash ties
forced, and through a whole build."""

import json
import os
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import ROOT, base_manifest, run_cli, tree_bytes, write_manifest
from corpus.dedup import external
from corpus.dedup.minhash import MinHasher
from corpus.dedup.steps import Deduplicator

sys.path.insert(0, str(ROOT / "benchmarks"))
from dedup_clustering import synthetic_signatures  # noqa: E402


def _write(folder, n, files, seed=0, same_lengths=False):
    table = synthetic_signatures(n, seed)
    if same_lengths:  # every row ties on priority and length: the record-hash order decides alone
        import pyarrow as pa

        table = table.set_column(table.schema.get_field_index("chars"), "chars", pa.array(np.full(n, 1000), pa.int64()))
        table = table.set_column(table.schema.get_field_index("priority"), "priority", pa.array(np.ones(n, dtype=np.int32)))
    os.makedirs(folder, exist_ok=True)
    step = -(-n // files)
    for k, start in enumerate(range(0, n, step)):
        pq.write_table(table.slice(start, step), os.path.join(folder, f"{k:05d}.parquet"))


def _run(folder, out, clustering, **kw):
    d = Deduplicator(str(folder), str(out / "removed.parquet"), str(out / "clusters.parquet"), MinHasher(), clustering=clustering, **kw)
    for _ in d.run():
        pass
    return pq.read_table(out / "removed.parquet"), pq.read_table(out / "clusters.parquet")


@pytest.mark.parametrize("same_lengths", [False, True])
def test_out_of_core_equals_in_memory(tmp_path, same_lengths):
    _write(tmp_path / "sig", 6000, files=4, same_lengths=same_lengths)
    memory = _run(tmp_path / "sig", tmp_path / "mem", "memory")
    disk = _run(tmp_path / "sig", tmp_path / "disk", "disk")
    assert memory[0].num_rows > 200 and set(memory[0]["reason"].to_pylist()) == {"duplicate_identity", "duplicate_exact", "duplicate_near"}
    assert disk[0].equals(memory[0]) and disk[1].equals(memory[1])
    assert not (tmp_path / "disk" / "external").exists()  # the memory-mapped work files are removed
    # batches smaller than a file and pair chunks smaller than a band: the same rows
    files = sorted(str(p) for p in (tmp_path / "sig").glob("*.parquet"))
    small = external.deduplicate_out_of_core(files, 128, str(tmp_path / "w"), batch_rows=333, pair_chunk=17)
    assert small.cast(memory[0].schema).equals(memory[0])


def test_hash_ties_are_ordered_by_the_record_key_in_both_paths(tmp_path, monkeypatch):
    weak = lambda records: np.asarray([sum(r.encode()) % 5 for r in records], dtype=np.uint64)  # noqa: E731 - forced ties
    monkeypatch.setattr(external, "record_hash", weak)
    import corpus.dedup.steps as stage

    monkeypatch.setattr(stage, "record_hash", weak)
    _write(tmp_path / "sig", 3000, files=3, same_lengths=True)
    memory = _run(tmp_path / "sig", tmp_path / "mem", "memory")
    disk = _run(tmp_path / "sig", tmp_path / "disk", "disk")
    assert disk[0].equals(memory[0]) and disk[1].equals(memory[1])


@pytest.mark.slow
def test_a_build_clustered_on_disk_equals_the_default_build(tmp_path, demo_build):
    data = base_manifest()
    data["stages"]["dedup"] = {"clustering": "disk"}
    assert run_cli("build", write_manifest(tmp_path, data)) == 0
    a, b = tree_bytes(demo_build), tree_bytes(tmp_path / "out")
    differ = [k for k in a if a[k] != b.get(k)]
    assert a.keys() == b.keys() and differ == []
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["reconciled"]
