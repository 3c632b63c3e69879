"""Dedup on real papers: identity across formats, exact copies, near-duplicates at known Jaccard, numbers kept."""

import json
import random
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SAMPLES, base_manifest, run_cli, write_manifest
from corpus.dedup.minhash import MinHasher, jaccard, shingle_hashes

PAPERS = sorted((SAMPLES / "papers" / "sofc_exp").glob("*.txt"))


def edit(text: str, fraction: float, rng: random.Random) -> str:
    """Replace a fraction of the words: a realistic near-copy (another extraction, a revised preprint)."""
    words = text.split()
    for i in rng.sample(range(len(words)), int(fraction * len(words))):
        words[i] = rng.choice(["sample", "cell", "layer", "800", "anode", "measured", "the", "film"])
    return " ".join(words)


def _corpus(tmp_path: Path, tasks: int = 2) -> Path:
    texts = tmp_path / "texts"
    texts.mkdir()
    for p in PAPERS[:10]:
        (texts / p.name).write_text(p.read_text())
    copies = tmp_path / "copies.jsonl"
    rng = random.Random(0)
    t0, t1, t2, t3 = (p.read_text() for p in PAPERS[:4])
    records = [
        {"id": "c1", "doi": "10.1186/1556-276X-8-48", "text": "A different rendering of the same paper. " + t0[:3000]},  # same DOI as PAPERS[0]
        {"id": "c2", "text": t1},  # exact copy of PAPERS[1]
        {"id": "c3", "text": " ".join(t2.split()).upper().replace("; ", ", ")},  # the same text, other case, spacing, punctuation
        {"id": "c4", "text": edit(t3, 0.01, rng)},  # near copy
        {"id": "c5", "text": edit(PAPERS[5].read_text(), 0.3, rng)},  # too different to be a duplicate
    ]
    copies.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    data = base_manifest()
    data["executor"]["tasks"] = tasks
    data["sources"] = [
        {"name": "papers", "reader": "text", "paths": [str(texts)], "options": dict(base_manifest()["sources"][0]["options"])},
        {"name": "copies", "reader": "jsonl", "paths": [str(copies)], "options": {"id_key": "id", "doi_key": "doi"}},
    ]
    data["components"] = [{"name": "papers", "sources": ["papers", "copies"]}]
    data["stages"] = {"dedup": {"priority": {"papers": 5, "copies": 1}}}
    assert run_cli("build", write_manifest(tmp_path, data)) == 0
    return tmp_path / "out"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return _corpus(tmp_path_factory.mktemp("dedup"))


@pytest.mark.slow
def test_each_kind_of_duplicate_is_removed_with_its_reason_and_survivor(built):
    s = json.loads((built / "summary.json").read_text())
    assert s["reconciled"], s["problems"]
    assert s["dropped_by_reason"] == {"duplicate_exact": 2, "duplicate_identity": 1, "duplicate_near": 1}
    removed = pl.read_parquet(built / "work" / "dedup" / "removed.parquet")
    assert all(r.startswith("copies:") for r in removed["record"])  # the lower-priority copies go
    assert all(r.startswith("papers:") for r in removed["survivor"])  # the higher-priority source survives
    assert s["kept"] == 10 + 1  # ten papers and the copy that is too different
    clusters = pl.read_parquet(built / "stats" / "dedup_clusters.parquet")
    assert clusters.height == 4 and set(clusters["size"]) == {2}


@pytest.mark.slow
def test_removal_is_by_record_so_another_sharding_removes_the_same_documents(built, tmp_path):
    other = _corpus(tmp_path, tasks=3)
    a = pl.read_parquet(built / "work" / "dedup" / "removed.parquet")
    b = pl.read_parquet(other / "work" / "dedup" / "removed.parquet")
    assert a.equals(b)


def test_estimated_similarity_tracks_true_jaccard_and_numbers_count():
    hasher = MinHasher(128, seed=3)
    text = PAPERS[7].read_text()
    rng = random.Random(1)
    for fraction in (0.01, 0.05, 0.2):
        copy = edit(text, fraction, rng)
        assert abs(hasher.minhash(text).jaccard(hasher.minhash(copy)) - jaccard(text, copy)) < 0.1
    record = "Cubic perovskite, space group Pm-3m, a = {a} Å, atoms at 0.0 0.0 0.0 and 0.5 0.5 0.5, density {d} g/cm3. " * 5
    x, y = record.format(a=3.905, d=5.12), record.format(a=4.012, d=4.98)
    assert jaccard(x, y) < 0.6  # two structures differing only in their numbers are not the same record


def _summarise(out: Path, monkeypatch, bucket_rows: int) -> tuple[dict, pl.DataFrame]:
    """Rerun the summary stage of a finished build in this process, with buckets of `bucket_rows` records."""
    from corpus import summary
    from corpus.manifest import load_manifest

    monkeypatch.setattr(summary, "BUCKET_ROWS", bucket_rows)
    manifest = load_manifest(out.parent / "manifest.yaml", output_dir=str(out))
    list(summary.SummaryStep(manifest, str(out)).run())
    return json.loads((out / "summary.json").read_text()), pl.read_parquet(out / "stats" / "documents.parquet")


@pytest.mark.slow
def test_the_summary_in_record_buckets_equals_the_summary_in_one(built, tmp_path, monkeypatch):
    # The summary goes through the records in hash buckets so that its memory does not grow with the corpus;
    # with 3 ledger rows a bucket (7 buckets here, duplicates and their survivors in different buckets) it must say
    # exactly what one bucket says.
    import pyarrow.parquet as pq

    copy = tmp_path / "out"
    shutil.copytree(built, copy)
    shutil.copy(built.parent / "manifest.yaml", tmp_path / "manifest.yaml")
    one, table_one = _summarise(copy, monkeypatch, 1_000_000)
    many, table_many = _summarise(copy, monkeypatch, 3)
    assert pq.ParquetFile(copy / "stats" / "documents.parquet").metadata.num_row_groups >= 4
    assert not (copy / "work" / "summary_buckets").exists()  # the per-bucket split is scratch
    assert many == one and one["reconciled"]
    assert table_many.sort("record").equals(table_one.sort("record"))
    assert table_one.filter(pl.col("cluster").is_not_null()).height == 8  # four pairs: removed copy + survivor
    # a shard entry that is lost after the fact is found record by record, whatever the bucket size
    prov = sorted((copy / "shards" / "papers").glob("*.provenance.parquet"))[0]
    rows = pl.read_parquet(prov)
    rows.head(rows.height - 1).write_parquet(prov)
    lost, _ = _summarise(copy, monkeypatch, 3)
    assert not lost["reconciled"]
    assert "component papers: 1 passed documents are neither in the shards nor removed as duplicates, 0 are in the shards without having passed" in lost["problems"]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abc de 1.5 ,xyzé")), max_size=3000), st.sampled_from([16, 128]), st.integers(0, 3))
def test_block_signature_equals_datasketchs_minhash(text, num_perm, seed):
    """`signature` computes datasketch's affine64 MinHash block by block: the same values as `update_batch` over the
    whole matrix, for any text (empty, one shingle, more shingles than a block)."""
    hasher = MinHasher(num_perm, seed=seed)
    assert np.array_equal(hasher.signature(text), np.asarray(hasher.minhash(text).hashvalues, dtype=np.uint64))


def test_block_signature_equals_datasketchs_on_a_whole_paper():
    hasher = MinHasher(128, seed=5)
    text = PAPERS[3].read_text()
    assert len(shingle_hashes(text)) > 3 * 256
    assert np.array_equal(hasher.signature(text), np.asarray(hasher.minhash(text).hashvalues, dtype=np.uint64))
