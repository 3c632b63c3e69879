"""`corpus export`: the documents a build's shards hold, as parquet that `datasets` loads, with a card whose counts are
the summary's and licences that decide what leaves the machine."""

import json

import pyarrow.parquet as pq
import pytest

from conftest import base_manifest, run_cli, write_manifest
from corpus.export import licence_class
from corpus.shards.format import provenance_path, shard_files

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("licence,expected", [
    ("CC BY 4.0", "open"), ("CC-BY-4.0", "open"), ("https://creativecommons.org/licenses/by/4.0/", "open"),
    ("CC BY-SA 3.0", "open"), ("CC0 1.0", "open"), ("public domain (Project Gutenberg)", "open"), ("MIT", "open"),
    ("CC-BY-NC-4.0", "noncommercial"), ("CC BY NC SA 4.0", "noncommercial"),
    ("https://creativecommons.org/licenses/by-nc-nd/4.0/", "no_derivatives"), ("CC BY-ND 4.0", "no_derivatives"),
    ("Elsevier user license", "restricted"), ("", "restricted"), (None, "restricted"), ("all rights reserved", "restricted"),
])
def test_licence_classes(licence, expected):
    assert licence_class(licence) == expected


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    data = base_manifest()
    # one source's licence forbids redistribution, so the card has something to leave out
    data["sources"][1]["metadata"] = {"licence": "publisher TDM licence, no redistribution"}
    data["sources"][1]["options"]["metadata_keys"] = ["source"]
    assert run_cli("build", write_manifest(tmp, data)) == 0
    return tmp / "out"


def test_export_loads_with_datasets_and_reconciles_with_the_summary(build, tmp_path):
    import datasets

    out = tmp_path / "export"
    assert run_cli("export", build, "-o", out, "--rows-per-file", "20") == 0
    summary = json.loads((build / "summary.json").read_text())
    record = json.loads((out / ".export.json").read_text())
    papers, general = summary["components"]["papers"]["documents"], summary["components"]["general"]["documents"]
    assert record["rows"] == papers and record["left_out"] == general  # every document exported or counted out
    assert record["left_out_by_class_and_licence"] == {"restricted/publisher TDM licence, no redistribution": general}
    assert all(pq.read_metadata(f).num_rows <= 20 for f in (out / "data").rglob("*.parquet"))
    ds = datasets.load_dataset("parquet", data_dir=str(out), split="train")
    assert len(ds) == papers and set(ds["component"]) == {"papers"} and set(ds["licence_class"]) == {"open"}
    shard_ids = [i for ds_path in shard_files(str(build / "shards" / "papers"))
                 for i in pq.read_table(provenance_path(ds_path), columns=["id"]).column("id").to_pylist()]
    assert sorted(ds["id"]) == sorted(shard_ids)
    row = ds[0]
    assert row["text"] and row["doi"] and row["title"] and json.loads(row["signals"])["words"] > 0
    card = (out / "README.md").read_text()
    assert f"| papers | {papers:,} | {papers:,} |" in card and f"Left out: {general:,} document(s)" in card
    assert "no licence that allows redistribution" in card


def test_include_restricted_exports_everything_and_says_so(build, tmp_path):
    out = tmp_path / "all"
    assert run_cli("export", build, "-o", out, "--include-restricted") == 0
    record = json.loads((out / ".export.json").read_text())
    assert record["left_out"] == 0 and record["rows"] == sum(c["documents"] for c in json.loads((build / "summary.json").read_text())["components"].values())
    assert "check their terms before sharing" in (out / "README.md").read_text()


def test_commercial_policy_leaves_non_commercial_out(build, tmp_path):
    assert run_cli("export", build, "-o", tmp_path / "c", "--licence", "commercial") == 0
    assert json.loads((tmp_path / "c" / ".export.json").read_text())["licence_policy"] == "commercial"
    assert run_cli("export", tmp_path, "-o", tmp_path / "bad") == 2
