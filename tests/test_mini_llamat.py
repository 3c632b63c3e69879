"""The whole chain in miniature: corpus -> CPT -> SFT (the CPT export as init_from) -> mateval -> rigidity, with
the tiny config and a few steps (eval/mini_llamat.py; `make mini-llamat` runs it with more)."""

import json

import pytest


@pytest.mark.slow
def test_the_chain_runs_end_to_end_and_reports(tmp_path):
    pytest.importorskip("torch")
    from eval.mini_llamat import main

    out = tmp_path / "mini"
    assert main(["--out", str(out), "--cpt-steps", "16", "--sft-steps", "8", "--limit", "2", "--max-new-tokens", "16",
                 "--probe-steps", "2,6", "--probe-seeds", "0,1", "--probe-cpt-steps", "4"]) == 0
    # checkpoints passed stage to stage as Hugging Face folders
    assert (out / "cpt" / "hf" / "config.json").is_file() and (out / "sft" / "hf" / "config.json").is_file()
    # SFT started from the CPT model: before its first step it already knows crystal text better than a fresh model
    with_cpt, without = (json.loads((out / run / "validation.json").read_text())[0] for run in ("sft", "sft_no_cpt"))
    component = next(k for k in with_cpt if k not in ("step", "tokens"))
    assert with_cpt["step"] == without["step"] == 0 and with_cpt[component] < without[component]
    curve = json.loads((out / "cpt" / "validation.json").read_text())
    assert curve[0]["step"] == 0 and curve[-1]["step"] == 16 and curve[-1]["papers"] < curve[0]["papers"]  # CPT learnt the domain
    scores = json.loads((out / "cpt" / "mateval" / "scores.json").read_text())
    assert scores["without_prediction"] == 0 and {"crystal_generation", "sie_doping", "crystal_formula"} <= set(scores["scores"])
    rows = json.loads((out / "rigidity" / "rigidity.json").read_text())
    assert [r["lineage"] for r in rows] == ["mini"] and rows[0]["domain_reduction_per_btok"] > 0 and rows[0]["task_gain"] is not None
    report = (out / "report.md").read_text()
    assert "| continued pretraining |" in report and "| mini |" in report and "CPT + SFT" in report
    assert "| pretrained 6 steps | 2 |" in report  # the probe's table, with its seeds
    # the lineage of the scores: the SFT run, its instruction set, the CPT run it started from, the corpus build
    lineage = report[report.index("## Lineage"):]
    for link in ("ok      model: sft/hf", "ok      training run: sft/lineage.json", "ok      base checkpoint: cpt/hf",
                 "ok      base checkpoint's training run: cpt/lineage.json", "ok      build shards: corpus/shards"):
        assert link in lineage, (link, lineage)
    assert "CHANGED" not in lineage and "MISSING" not in lineage


@pytest.mark.slow
def test_the_rigidity_probe_reports_each_base_with_its_seed_spread(tmp_path):
    pytest.importorskip("torch")
    from conftest import base_manifest, run_cli, write_manifest
    from eval.cli import main as mateval

    data = base_manifest()
    data["mixture"] = {"train_tokens": 100_000, "seq_len": 128, "global_batch_size": 8}
    assert run_cli("build", write_manifest(tmp_path, data)) == 0
    out = tmp_path / "probe"
    assert mateval(["rigidity-probe", "--data", str(tmp_path / "out" / "train_data.yaml"), "--out", str(out),
                    "--pretrain-steps", "2,8", "--seeds", "0,1", "--cpt-steps", "4"]) == 0
    summary = json.loads((out / "probe.json").read_text())
    assert [s["base"] for s in summary] == ["pretrained 2 steps", "pretrained 8 steps"] and all(s["seeds"] == 2 for s in summary)
    # the longer-pretrained base starts lower on the domain text (it has seen English), and every figure has its spread
    assert summary[1]["domain_loss_start"] < summary[0]["domain_loss_start"]
    assert all(s["domain_reduction_per_btok_sd"] >= 0 for s in summary)
    assert "twice the seeds' combined spread" in (out / "probe.md").read_text()
    assert len(json.loads((out / "runs" / "rigidity.json").read_text())) == 4
    assert mateval(["rigidity-probe", "--data", str(tmp_path / "nope.yaml"), "--out", str(out)]) == 2
