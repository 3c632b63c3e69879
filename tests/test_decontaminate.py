"""Decontamination against real evaluation items planted in real papers."""

import glob
import json

import pytest

import zstandard

from conftest import SAMPLES, base_manifest, run_cli, write_manifest
from corpus.filters.decontaminate import NgramIndex

pytestmark = pytest.mark.slow  # full builds, engines or training runs: `make test-fast` leaves them out

SIE = str(SAMPLES / "eval" / "llamat_sie" / "*_test.jsonl")
ITEM = json.loads((SAMPLES / "eval" / "llamat_sie" / "doping_test.jsonl").read_text().splitlines()[3])
PAPER = sorted((SAMPLES / "papers" / "sofc_exp").glob("*.txt"))[0].read_text()


def _build(tmp_path, mode):
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "contaminated.txt").write_text(PAPER[:4000] + "\n" + ITEM["question"] + "\n" + PAPER[4000:8000])
    (folder / "clean.txt").write_text(PAPER[8000:16000])
    data = base_manifest()
    data["sources"] = [{"name": "t", "reader": "text", "paths": [str(folder)]}]
    data["components"] = [{"name": "c", "sources": ["t"]}]
    data["stages"] = {"decontamination": {"benchmarks": [{"name": "sie", "paths": [SIE]}], "mode": mode}}
    assert run_cli("build", write_manifest(tmp_path, data)) == 0
    return tmp_path / "out"


def test_index_covers_the_real_test_sets():
    index = NgramIndex.build([{"name": "sie", "paths": [SIE]}])
    assert len(index.items) > 300 and len(index.hashes) > 10_000
    starts, items = index.hits("unrelated words " * 10 + ITEM["question"])
    assert items == ["sie:doping_test.jsonl#3"] and len(starts) > 0
    assert index.hits(PAPER)[1] == []  # a real paper does not hit by chance


def test_a_contaminated_document_is_dropped_and_the_item_named(tmp_path):
    out = _build(tmp_path, "drop")
    s = json.loads((out / "summary.json").read_text())
    assert s["reconciled"] and s["dropped_by_reason"] == {"benchmark_contamination": 1} and s["kept"] == 1
    items = sum(1 for path in glob.glob(SIE) for _ in open(path))
    tc = s["text_contamination"]["sie"]
    assert tc["documents"] == 1 and tc["items"] + tc["too_short_items"] == items and tc["items"] > 300
    rejected = b"".join(zstandard.ZstdDecompressor().stream_reader(p.open("rb")).read() for p in sorted((out / "rejected").glob("decontamination-*")))
    records = [json.loads(line) for line in rejected.decode().splitlines()]
    assert [r["metadata"]["contamination"] for r in records] == [["sie:doping_test.jsonl#3"]]


def test_remove_span_keeps_the_paper_without_the_item(tmp_path):
    out = _build(tmp_path, "remove_span")
    s = json.loads((out / "summary.json").read_text())
    assert s["reconciled"] and s["kept"] == 2 and s["dropped"] == 0


def test_missing_benchmark_files_fail_before_any_work(tmp_path, capsys):
    data = base_manifest()
    data["stages"] = {"decontamination": {"benchmarks": [{"name": "mascqa", "paths": ["/nonexistent/mascqa.jsonl"]}]}}
    assert run_cli("build", write_manifest(tmp_path, data)) == 2
    assert "steps.decontamination.benchmarks[0].paths[0] (mascqa)" in capsys.readouterr().err


def test_a_corrupt_benchmark_file_fails_before_any_work(tmp_path, capsys):
    broken = tmp_path / "mascqa.jsonl"
    broken.write_text('{"question": "ok"}\n{"question": broken\n')
    data = base_manifest()
    data["stages"] = {"decontamination": {"benchmarks": [{"name": "mascqa", "paths": [str(broken)]}]}}
    assert run_cli("build", write_manifest(tmp_path, data)) == 2
    assert "cannot read" in capsys.readouterr().err and not (tmp_path / "out").exists()
