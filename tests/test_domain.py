"""The domain classifier: trained from bundled real text, held-out scores reported, applied per component."""

import gzip
import json

import pytest

from conftest import SAMPLES, base_manifest, run_cli, write_manifest
from corpus.filters.domain import DomainFilter

pytestmark = pytest.mark.slow  # full builds, engines or training runs: `make test-fast` leaves them out


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    out = tmp_path_factory.mktemp("domain") / "materials.bin"
    assert run_cli("train-classifier", "--positive", SAMPLES / "papers" / "sofc_exp",
                   "--negative", SAMPLES / "general" / "general_english_slice.jsonl.gz", "-o", out, "--epochs", "25") == 0
    return out


def test_training_reports_held_out_scores(model, capsys):
    report = json.loads(model.with_name(model.name + ".report.json").read_text())
    assert report["test"] > 40 and report["train"] > 300  # classes balanced by repetition in the training part
    assert report["f1"] > 0.9 and set(report["confusion"]) == {"tp", "fp", "fn", "tn"}


def test_filter_scores_papers_high_and_general_text_low(model):
    f = DomainFilter(str(model))
    papers = [p.read_text() for p in sorted((SAMPLES / "papers" / "sofc_exp").glob("*.txt"))[:5]]
    general = [json.loads(line)["text"] for line in list(gzip.open(SAMPLES / "general" / "general_english_slice.jsonl.gz", "rt"))[:5]]
    assert min(f.score(t) for t in papers) > 0.5 > max(f.score(t) for t in general)  # the threshold separates them


def test_build_drops_off_domain_documents_only_in_the_named_components(model, tmp_path):
    data = base_manifest()
    data["components"] = [{"name": "papers", "sources": ["sofc_papers", "general_english"]}]  # general mixed into papers
    data["stages"] = {"filters": {"domain": {"model": str(model), "components": ["papers"]}}, "dedup": {"enabled": False}}
    assert run_cli("build", write_manifest(tmp_path, data)) == 0
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["reconciled"] and s["dropped_by_reason"].get("off_domain", 0) >= 230 and s["sources"]["sofc_papers"]["kept"] == 45
    data["stages"]["filters"]["domain"]["components"] = ["general"]  # the filter does not touch other components
    assert run_cli("build", write_manifest(tmp_path / "b", data)) == 0
    assert "off_domain" not in json.loads((tmp_path / "b" / "out" / "summary.json").read_text())["dropped_by_reason"]


def test_a_missing_model_fails_before_any_work(tmp_path, capsys):
    data = base_manifest()
    data["stages"] = {"filters": {"domain": {"model": "nope.bin"}}}
    assert run_cli("build", write_manifest(tmp_path, data)) == 2
    assert "steps.filters.domain.model" in capsys.readouterr().err


def test_bad_classifier_inputs_fail_clearly(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{not json\n')
    assert run_cli("train-classifier", "--positive", bad, "--negative", bad, "-o", tmp_path / "m.bin") == 2
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert run_cli("train-classifier", "--positive", empty, "--negative", SAMPLES / "general" / "general_english_slice.jsonl.gz", "-o", tmp_path / "m.bin") == 2
    assert "need non-empty positive and negative texts" in capsys.readouterr().err
    not_a_model = tmp_path / "model.bin"
    not_a_model.write_bytes(b"garbage")
    data = base_manifest()
    data["stages"] = {"filters": {"domain": {"model": str(not_a_model)}}}
    assert run_cli("build", write_manifest(tmp_path, data)) == 2
    assert "not a fastText model" in capsys.readouterr().err
