"""mateval: gold answers score the maximum on every task (real data), corrupted answers score what a hand
computation says, and all three backends run end to end."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import SAMPLES, SHARED

from eval.items import Item
from eval.scoring import score

pytestmark = pytest.mark.slow  # full builds, engines or training runs: `make test-fast` leaves them out

GROUPS = ["matnlp", "matsie", "mascqa", "crystal_understanding"]


def _need_shared():
    if not (SHARED / "eval" / "matsci_nlp").is_dir():
        pytest.skip("../shared/data is not beside the repository")


@pytest.fixture(scope="module")
def items():
    _need_shared()
    from eval.items import load

    return load(GROUPS, str(SHARED))


def test_gold_answers_score_the_maximum_on_every_task(items):
    scores = score(items, {i.id: i.reference for i in items})
    assert {i.group for i in items} == set(GROUPS) and len(scores) >= 27
    for task, metrics in scores.items():
        for metric, value in metrics.items():
            if metric != "items":
                f1 = metric.split(":")[0] in ("entity_f1", "link_f1", "similarity")
                assert value == pytest.approx(1.0 if f1 else 100.0), (task, metric)
    assert "link_f1:formula|||applications" in scores["sie_mof1"] and "entity_f1:guest_species" in scores["sie_mof2"]


def test_no_answer_scores_zero(items):
    scores = score(items, {})
    assert all(m.get("micro_f1", 0) == 0 for t, m in scores.items() if t.startswith(("ner_", "sf_", "sar")))
    assert all(m["parsable"] == 0 and m["exact_match"] == 0 for t, m in scores.items() if t.startswith("sie_"))
    # MaScQA's key gives some questions to every answer ('Marks to all'): exactly those count
    from eval.items import mascqa

    free = sum(i.reference.strip().upper() == "MARKS TO ALL" for i in mascqa(str(SHARED / "eval" / "mascqa" / "mascqa_650.jsonl")))
    assert sum(m["accuracy"] * m["items"] / 100 for t, m in scores.items() if t.startswith("mascqa_")) == pytest.approx(free)


def _item(n, task, group, reference, **meta):
    return Item(f"{task}:{n}", task, group, "", "", reference, meta)


def test_classification_hand_computed():
    items = [_item(k, "pc_glass", "matnlp", r) for k, r in enumerate(["yes", "yes", "no", "no"])]
    s = score(items, {"pc_glass:0": "yes", "pc_glass:1": "no", "pc_glass:2": "no", "pc_glass:3": "nope"})["pc_glass"]
    # predictions map to yes, no, no, no: 3 of 4 right; F1(yes) = 2/3, F1(no) = 0.8
    assert s["micro_f1"] == pytest.approx(75.0) and s["macro_f1"] == pytest.approx(100 * (2 / 3 + 0.8) / 2)


def test_token_labels_hand_computed():
    items = [_item(0, "ner_sofc", "matnlp", "a : material\nb : null\nc : property")]
    s = score(items, {"ner_sofc:0": "a : materail\nb : property"})["ner_sofc"]
    # a -> material (nearest label), b -> property (gold null: a false positive), c missing -> null (a miss)
    assert s["micro_f1"] == pytest.approx(50.0) and s["macro_f1"] == pytest.approx(50.0)


def test_sie_hand_computed():
    gold = {"basemats": {"b0": "ZnO"}, "dopants": {"d0": "Al"}, "dopants2basemats": {"d0": ["b0"]}}
    wrong = {"basemats": {"b0": "ZnO"}, "dopants": {"d0": "Ga"}, "dopants2basemats": {"d0": ["b0"]}}
    items = [_item(k, "sie_doping", "matsie", json.dumps(gold)) for k in range(2)]
    s = score(items, {"sie_doping:0": json.dumps(wrong), "sie_doping:1": "oops"})["sie_doping"]
    # entities: item 0 tp 1 (ZnO), fp 1 (Ga), fn 1 (Al); item 1 fn 2 -> F1 = 2/(2+1+3); links: tp 0
    assert s["entity_f1"] == pytest.approx(2 / 6) and s["link_f1"] == 0
    assert s["parsable"] == 50 and s["exact_match"] == 0 and 0 < s["similarity"] < 1


def test_mof_fields_and_links_hand_computed(tmp_path):
    gold = [{"acronym": "", "name": "", "formula": "Cu-Pt", "applications": ["HER", "electrocatalyst"], "description": ["nanowires"]},
            {"name": "x", "formula": "", "applications": ["sensing"]}]  # no formula: nothing to link from
    got = [{"formula": "Cu-Pt", "applications": ["HER"], "description": ["nanowires", "core-shell"], "name": ""}]
    items = [_item(0, "sie_mof1", "matsie", json.dumps(gold))]
    s = score(items, {"sie_mof1:0": json.dumps(got)})["sie_mof1"]
    # entities: applications gold {her, electrocatalyst, sensing}, got {her}: 2/(2+0+2); description 1 tp 1 fp: 2/3;
    # name gold {x} got {}: 0; formula 1 tp: 1
    assert s["entity_f1:applications"] == pytest.approx(0.5) and s["entity_f1:description"] == pytest.approx(2 / 3)
    assert s["entity_f1:name"] == 0 and s["entity_f1:formula"] == 1
    # links from the formula: applications gold {her, electrocatalyst}, got {her} -> 2/3; description 1 tp 1 fp -> 2/3
    assert s["link_f1:formula|||applications"] == pytest.approx(2 / 3) and s["link_f1:formula|||description"] == pytest.approx(2 / 3)


def test_the_report_sets_the_papers_mof_table_beside_ours(tmp_path):
    if not (SHARED / "reference" / "mof1_all.csv").exists():
        pytest.skip("../shared/data is not beside the repository")
    from eval.cli import write_report

    gold = [{"formula": "Cu-Pt", "applications": ["HER", "electrocatalyst"]}]
    got = [{"formula": "Cu-Pt", "applications": ["HER"]}]
    s = score([_item(0, "sie_mof1", "matsie", json.dumps(gold))], {"sie_mof1:0": json.dumps(got)})["sie_mof1"]
    write_report(str(tmp_path), {"sie_mof1": {"items": 1, **s}}, "test", str(SHARED / "reference"), {})
    line = next(x for x in (tmp_path / "report.md").read_text().splitlines() if "| link_f1:formula\\|\\|\\|applications |" in x)
    assert "| 0.67 | 0.43 |" in line  # ours (gold {her, electrocatalyst}, got {her}), then LLaMat3-chat's 0.435 from mof1_all.csv
    # and drawn: this model beside the paper's models, one row per metric the paper reports
    svg = (tmp_path / "scores.svg").read_text()
    assert "<svg" in svg and "this model" in svg and "LLaMat3-chat" in svg and "link_f1:formula|||applications" in svg
    assert "![this model's scores beside the paper's](scores.svg)" in (tmp_path / "report.md").read_text()


def test_mascqa_key_hand_computed():
    items = [_item(0, "mascqa_mcqs", "mascqa", "B,D", qtype="MCQS"), _item(1, "mascqa_mcqs", "mascqa", "B,D", qtype="MCQS"),
             _item(2, "mascqa_mcqs", "mascqa", "C OR D", qtype="MCQS"), _item(3, "mascqa_num", "mascqa", "0.85 to 0.89", qtype="NUM"),
             _item(4, "mascqa_num", "mascqa", "0.85 to 0.89", qtype="NUM")]
    s = score(items, {"mascqa_mcqs:0": "Both hold. Answer: B, D", "mascqa_mcqs:1": "Answer: B", "mascqa_mcqs:2": "so (D)",
                      "mascqa_num:3": "λ = hc/E ... Answer: 0.87 μm", "mascqa_num:4": "Answer: 0.9"})
    assert s["mascqa_mcqs"]["accuracy"] == pytest.approx(200 / 3) and s["mascqa_num"]["accuracy"] == 50


def test_crystal_answers_hand_computed(items):
    crystal = [i for i in items if i.group == "crystal_understanding"]
    volume = next(i for i in crystal if i.task == "crystal_cell_volume")
    v = float(volume.reference.split()[0])
    close, far = f"{v * 1.005:.3f} Å³", f"{v * 1.05:.3f} Å³"
    s = score([volume], {volume.id: close})["crystal_cell_volume"]["accuracy"], score([volume], {volume.id: far})["crystal_cell_volume"]["accuracy"]
    assert s == (100, 0)  # within 1% counts, 5% off does not


class _Echo(ThreadingHTTPServer):
    """An OpenAI-compatible endpoint that answers 'yes' to everything."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                data = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": body["model"], "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "yes<|im_end|>"}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        super().__init__(("127.0.0.1", 0), Handler)


def test_run_with_an_endpoint_and_with_a_predictions_file(tmp_path):
    _need_shared()
    from eval.cli import main

    server = _Echo()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert main(["run", "--endpoint", f"http://127.0.0.1:{server.server_address[1]}/v1", "--endpoint-model", "echo",
                     "--tasks", "matnlp", "--limit", "20", "--data", str(SHARED), "--out", str(tmp_path / "ep")]) == 0
    finally:
        server.shutdown()
    scores = json.loads((tmp_path / "ep" / "scores.json").read_text())
    assert scores["without_prediction"] == 0
    # 'yes' to every question: right exactly on the 'yes' items of the yes/no tasks
    preds = [json.loads(x) for x in (tmp_path / "ep" / "predictions.jsonl").read_text().splitlines()]
    glass = [p for p in preds if p["task"] == "pc_glass"]
    assert scores["scores"]["pc_glass"]["micro_f1"] == pytest.approx(100 * sum(p["reference"] == "yes" for p in glass) / len(glass))
    report = (tmp_path / "ep" / "report.md").read_text()
    assert "| pc_glass | micro_f1 | 20 |" in report and "94.33" in report  # the paper's LLaMat3-chat value beside ours

    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"id": p["id"], "prediction": p["reference"]}) + "\n" for p in preds))
    assert main(["run", "--predictions", str(tmp_path / "p.jsonl"), "--tasks", "matnlp", "--limit", "20", "--data", str(SHARED),
                 "--out", str(tmp_path / "pf")]) == 0
    assert all(m["micro_f1"] == 100 for m in json.loads((tmp_path / "pf" / "scores.json").read_text())["scores"].values())


def test_run_with_a_tiny_local_model_on_every_task_group(tmp_path):
    _need_shared()
    torch = pytest.importorskip("torch")
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from eval.cli import main

    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=32000, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                 num_key_value_heads=4, max_position_embeddings=4096)).save_pretrained(tmp_path / "m")
    AutoTokenizer.from_pretrained(str(SAMPLES / "tokenizers" / "llama2")).save_pretrained(tmp_path / "m")
    assert main(["run", "--model", str(tmp_path / "m"), "--tasks", ",".join(GROUPS + ["crystal_generation"]), "--limit", "1", "--max-new-tokens", "8",
                 "--data", str(SHARED), "--out", str(tmp_path / "out")]) == 0
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert scores["without_prediction"] == 0 and scores["items"] == len(scores["scores"]) >= 28  # one item per task
    assert set(scores["seconds"]) == set(scores["scores"])


def test_bad_arguments_fail_clearly(tmp_path, capsys):
    from eval.cli import main

    assert main(["run", "--tasks", "matnlp", "--out", str(tmp_path)]) == 2
    assert "exactly one of" in capsys.readouterr().err
    assert main(["run", "--predictions", "x.jsonl", "--tasks", "poetry", "--out", str(tmp_path)]) == 2
    assert "unknown task group" in capsys.readouterr().err


def test_crystal_validity_hand_computed():
    from pymatgen.core import Lattice, Structure

    from eval.crystal_metrics import metrics

    rocksalt = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    wrong_charge = Structure(Lattice.cubic(5.64), ["Na", "Cl", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]])
    too_close = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.05, 0, 0]])  # 0.28 Å apart
    m = metrics([rocksalt, wrong_charge, too_close, None], [rocksalt], cutoffs=None)
    assert (m["generations"], m["parsed"]) == (4, 3)
    assert m["structural_validity_all"] == 50 and m["compositional_validity_all"] == 50 and m["validity_all"] == 25
    assert m["validity_parsed"] == pytest.approx(100 / 3) and m["wdist_density"] == 0 and m["wdist_num_elems"] == 0


def test_crystal_metrics_command_on_test_structures_as_crystal_strings(tmp_path):
    _need_shared()
    from corpus.crystals.text import crystal_string
    from eval.cli import main
    from eval.crystal_metrics import reference_structures

    reference = str(SHARED / "crystals" / "mp_20_subset" / "test.csv")
    structures = reference_structures(reference)[:25]
    lines = [json.dumps({"prediction": crystal_string(s)}) for s in structures] + [json.dumps({"prediction": "not a crystal"})]
    (tmp_path / "gen.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["crystal-metrics", str(tmp_path / "gen.jsonl"), "--reference", reference, "--out", str(tmp_path / "m.json"),
                 "--coverage-of", "constructed"]) == 0
    m = json.loads((tmp_path / "m.json").read_text())
    assert (m["generations"], m["parsed"]) == (26, 25) and m["structural_validity_parsed"] == 100
    # every parsed generation is a reference crystal (coordinates rounded to 0.01); CDVAE's precision counts all 26
    assert m["cov_precision"] == pytest.approx(25 / 26 * 100) and m["valid_only_coverage"] == 0
    assert 25 / 142 * 100 <= m["cov_recall"] <= 100


def test_rigidity_from_two_tiny_training_runs(tmp_path):
    """Two lineages of the tiny LLaMA on a small build: one from scratch, one continuing from the first one's export
    (a base that has already learnt this text). The second must show the smaller domain-loss reduction."""
    pytest.importorskip("torch")
    from conftest import ROOT, base_manifest, run_cli, write_manifest
    from eval.cli import main
    from train.trainer import main as train

    data = base_manifest()
    data["components"][0]["weight"], data["components"][1]["weight"] = 0.8, 0.2
    data["mixture"] = {"train_tokens": 100_000, "seq_len": 128, "global_batch_size": 8}
    assert run_cli("build", write_manifest(tmp_path, data)) == 0
    tiny = str(ROOT / "train" / "configs" / "tiny.yaml")
    common = [f"data={tmp_path / 'out' / 'train_data.yaml'}", "max_steps=24", "eval_every=8", "log_every=100"]
    assert train([tiny, *common, f"out_dir={tmp_path / 'a'}", "export=true"]) == 0
    assert train([tiny, *common, f"out_dir={tmp_path / 'b'}", f"init_from={tmp_path / 'a' / 'hf'}", "export=false"]) == 0
    curve = json.loads((tmp_path / "a" / "validation.json").read_text())
    assert [p["step"] for p in curve] == [0, 8, 16, 24] and curve[1]["tokens"] == 8 * 8 * 128

    # task scores: lineage a answers the bundled SIE items perfectly, b and both baselines not at all (scored by mateval itself)
    items = [json.loads(x) for x in _items_file(tmp_path).read_text().splitlines()]
    (tmp_path / "gold.jsonl").write_text("".join(json.dumps({"id": i["id"], "prediction": i["reference"]}) + "\n" for i in items))
    (tmp_path / "none.jsonl").write_text("")
    for out, preds in ((tmp_path / "a" / "mateval", "gold"), (tmp_path / "b" / "mateval", "none"), (tmp_path / "base", "none")):
        assert main(["run", "--predictions", str(tmp_path / f"{preds}.jsonl"), "--tasks", "matsie", "--limit", "5",
                     "--data", str(SAMPLES), "--out", str(out)]) == 0
    baseline = ["--baseline", f"scratch={tmp_path / 'base' / 'scores.json'}", "--baseline", f"continued={tmp_path / 'base' / 'scores.json'}"]
    assert main(["rigidity", f"scratch={tmp_path / 'a'}", f"continued={tmp_path / 'b'}", "--out", str(tmp_path / "r"), *baseline]) == 0
    rows = {r["lineage"]: r for r in json.loads((tmp_path / "r" / "rigidity.json").read_text())}
    assert rows["scratch"]["domain_reduction_per_btok"] > rows["continued"]["domain_reduction_per_btok"] > 0
    assert rows["scratch"]["domain_loss_end"] > rows["continued"]["domain_loss_end"]  # b starts where a ended
    assert rows["scratch"]["general_drift"] is not None
    def metrics(path):
        return {(t, k): v for t, m in json.loads(path.read_text())["scores"].items() for k, v in m.items() if k != "items"}

    gold, base = metrics(tmp_path / "a" / "mateval" / "scores.json"), metrics(tmp_path / "base" / "scores.json")
    assert set(gold) == set(base) and all(v == 0 for v in base.values())  # no answer scores nothing on SIE
    assert rows["scratch"]["task_gain"] == pytest.approx(sum(gold.values()) / len(gold))
    assert rows["continued"]["task_gain"] == 0
    assert (tmp_path / "r" / "rigidity.svg").read_text().startswith("<?xml") and "| continued |" in (tmp_path / "r" / "rigidity.md").read_text()


def _items_file(tmp_path):
    """The gold answers of the first 5 bundled SIE items per task, via the item loader."""
    from eval.items import matsie

    seen, rows = {}, []
    for i in matsie(str(SAMPLES / "eval" / "llamat_sie")):
        seen[i.task] = seen.get(i.task, 0) + 1
        if seen[i.task] <= 5:
            rows.append({"id": i.id, "reference": i.reference})
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_gold_generations_reproduce_the_test_set(tmp_path):
    """Crystal generation's maximum is the test set itself: everything parses and is structurally valid, the
    compositional validity is the test set's own (SMACT rejects some real MP-20 crystals), precision is 100%."""
    _need_shared()
    from eval.crystal_metrics import composition_validity, parse_structure
    from eval.items import crystal_generation

    items = crystal_generation([str(SHARED / "crystals" / "mp_20_subset" / "test.csv")])[:40]
    s = score(items, {i.id: i.reference for i in items})["crystal_generation"]
    own = 100 * sum(composition_validity(parse_structure(i.reference)) for i in items) / len(items)
    assert s["parsed"] == s["generations"] == 40 and s["structural_validity_all"] == 100
    assert s["compositional_validity_all"] == pytest.approx(own) and s["validity_all"] == pytest.approx(own)
    # LLaMat's protocol (the default) fingerprints the valid ones: each is its own test crystal, so precision is
    # their share of all generations
    assert s["cov_precision"] == pytest.approx(own) and s["cov_recall"] >= own and s["valid_only_coverage"] == 1
    half = score(items, {i.id: i.reference for i in items[:20]})["crystal_generation"]  # no answer for the rest
    assert half["parsed"] == 20 and half["validity_parsed"] == pytest.approx(2 * half["validity_all"])
