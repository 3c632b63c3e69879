"""Lineage from a score back to the fetched files: fetch ledger -> build (manifest fingerprint, shards' content
fingerprint) -> training run (train_data.yaml, config, base) -> mateval's scores.json; `corpus lineage` checks every
link again and names the one that changed."""

import json
import shutil

import pytest

from conftest import ROOT, SAMPLES, SHARED, base_manifest, run_cli, write_manifest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A build of 'fetched' papers (a fetch ledger above them), and a 3-step tiny training run on it."""
    from train.trainer import main as train

    tmp = tmp_path_factory.mktemp("lineage")
    fetched = tmp / "fetched"
    (fetched / "sofc").mkdir(parents=True)
    for p in sorted((SAMPLES / "papers" / "sofc_exp").glob("*"))[:12]:
        shutil.copy(p, fetched / "sofc")
    shutil.copy(SAMPLES / "papers" / "sofc_exp" / "SOFC-Exp-Metadata.csv", fetched / "sofc")
    (fetched / "fetch_ledger.jsonl").write_text(json.dumps({"job": "sofc", "item": "PMC1", "sha256": "0" * 64}) + "\n")
    data = base_manifest()
    data["sources"][0]["paths"] = [str(fetched / "sofc" / "*.txt")]
    data["sources"][0]["options"]["metadata_table"] = str(fetched / "sofc" / "SOFC-Exp-Metadata.csv")
    assert run_cli("build", write_manifest(tmp, data)) == 0
    out = tmp / "run"
    assert train([str(ROOT / "train" / "configs" / "tiny.yaml"), f"data={tmp / 'out' / 'train_data.yaml'}", f"out_dir={out}",
                  "max_steps=3", "log_every=100", "save_every=100"]) == 0
    return tmp


def test_each_step_records_its_link(run):
    build = json.loads((run / "out" / "build.json").read_text())
    assert [ledger["path"] for ledger in build["fetch_ledgers"]] == [str(run / "fetched" / "fetch_ledger.jsonl")]
    fingerprint = json.loads((run / "out" / "summary.json").read_text())["lineage"]["content_fingerprint"]
    record = json.loads((run / "run" / "lineage.json").read_text())
    assert record["build_content_fingerprint"] == fingerprint and len(fingerprint) == 64
    assert record["train_data"] == str(run / "out" / "train_data.yaml") and record["config"]["max_steps"] == 3


def test_lineage_walks_from_the_run_to_the_ledger_and_names_a_change(run, capsys, tmp_path):
    assert run_cli("lineage", run / "run") == 0
    out = capsys.readouterr().out
    for what in ("training run", "train_data.yaml", "build shards", "build manifest", "fetch ledger"):
        assert f"ok      {what}" in out, (what, out)
    ledger = run / "fetched" / "fetch_ledger.jsonl"
    before = ledger.read_text()
    ledger.write_text(before + json.dumps({"job": "sofc", "item": "PMC2"}) + "\n")  # the fetch ran again since
    try:
        assert run_cli("lineage", run / "run") == 1
        assert "CHANGED fetch ledger" in capsys.readouterr().out
    finally:
        ledger.write_text(before)
    # a shard changed after the run trained on it: the content fingerprint no longer matches
    copy = tmp_path / "out"
    shutil.copytree(run / "out", copy)
    record = json.loads((run / "run" / "lineage.json").read_text())
    record["build"] = str(copy)
    (tmp_path / "lineage.json").write_text(json.dumps(record))
    ds = next((copy / "shards" / "papers").glob("*.ds"))
    data = bytearray(ds.read_bytes())
    data[10] ^= 1
    ds.write_bytes(bytes(data))
    from corpus.shards.checksums import write_checksums

    write_checksums(str(copy / "shards"), ["papers", "general"])  # even a re-recorded checksum changes the fingerprint
    assert run_cli("lineage", tmp_path / "lineage.json") == 1
    assert "CHANGED build shards" in capsys.readouterr().out


def test_mateval_scores_carry_the_checkpoints_lineage(run, capsys):
    if not SHARED.is_dir():
        pytest.skip("../shared/data is absent (mateval's items)")
    from eval.cli import main

    scores_dir = run / "scores"
    assert main(["run", "--model", str(run / "run" / "hf"), "--tasks", "mascqa", "--limit", "1", "--max-new-tokens", "4",
                 "--data", str(SHARED), "--out", str(scores_dir)]) == 0
    lineage = json.loads((scores_dir / "scores.json").read_text())["lineage"]
    assert lineage["run"]["path"] == str(run / "run" / "lineage.json") and lineage["model_xxh3"]
    capsys.readouterr()
    assert run_cli("lineage", scores_dir / "scores.json") == 0
    out = capsys.readouterr().out
    assert out.index("ok      model") < out.index("ok      training run") < out.index("ok      fetch ledger")
