"""The whole chain in miniature: corpus -> CPT -> SFT (the CPT export as init_from) -> mateval -> rigidity, with
the tiny config and a few steps (eval/mini_llamat.py; `make mini-llamat` runs it with more)."""

import json

import pytest


@pytest.mark.slow
def test_the_chain_runs_end_to_end_and_reports(tmp_path):
    pytest.importorskip("torch")
    from eval.mini_llamat import main

    out = tmp_path / "mini"
    assert main(["--out", str(out), "--cpt-steps", "16", "--sft-steps", "8", "--limit", "2", "--max-new-tokens", "16"]) == 0
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
