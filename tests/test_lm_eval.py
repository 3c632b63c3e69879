"""lm-evaluation-harness interop (eval/lm_eval_export.py): our tasks run under lm-eval offline, with our scores."""

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SAMPLES, SHARED
from eval.cli import main
from eval.items import load
from eval.lm_eval_export import export, read_results, read_samples
from eval.scoring import score

LM_EVAL = Path(sys.executable).with_name("lm_eval")
OFFLINE = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    path = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=32000, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                 num_key_value_heads=4, max_position_embeddings=4096)).save_pretrained(path)
    AutoTokenizer.from_pretrained(str(SAMPLES / "tokenizers" / "llama2")).save_pretrained(path)
    return path


def _same(theirs: float, ours) -> bool:
    # lm-eval says NaN where our scoring gives no value (e.g. property distances when nothing generated is valid)
    return (ours is None and math.isnan(theirs)) or (ours is not None and abs(theirs - ours) < 1e-9)


def _lm_eval_then_mateval(tmp_path, model, tasks: str, data: str, limit: int):
    """export -> lm_eval (hf backend, offline, greedy, 8 new tokens) -> mateval run on lm-eval's samples; and
    mateval's own run of the same model on the same items."""
    assert main(["export-lm-eval", str(tmp_path / "tasks"), "--tasks", tasks, "--data", data, "--limit", str(limit),
                 "--max-new-tokens", "8"]) == 0
    groups = sorted({p.name[1:-5] for p in (tmp_path / "tasks").glob("_*.yaml")})
    run = subprocess.run([str(LM_EVAL), "--model", "hf", "--model_args", f"pretrained={model}", "--include_path", str(tmp_path / "tasks"),
                          "--tasks", ",".join(groups), "--batch_size", "1", "--log_samples", "--output_path", str(tmp_path / "lm")],
                         cwd=tmp_path, env=OFFLINE, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    common = ["--tasks", tasks, "--data", data, "--limit", str(limit)]
    assert main(["run", "--lm-eval-results", str(tmp_path / "lm"), *common, "--out", str(tmp_path / "from_lm_eval")]) == 0
    assert main(["run", "--model", str(model), "--batch-size", "1", "--max-new-tokens", "8", *common, "--out", str(tmp_path / "ours")]) == 0
    theirs = read_results(str(tmp_path / "lm"))
    ours = json.loads((tmp_path / "from_lm_eval" / "scores.json").read_text())
    assert ours["without_prediction"] == 0 and set(theirs) == set(ours["scores"])
    for task, metrics in theirs.items():
        assert set(metrics) >= {m for m in ours["scores"][task] if m != "items" and "seconds" not in m}, task
        for metric, value in metrics.items():
            assert _same(value, ours["scores"][task].get(metric)), (task, metric, value, ours["scores"][task].get(metric))
    # the generations themselves: lm-eval's hf backend and mateval's, from the same prompt, greedy
    own = {json.loads(x)["id"]: json.loads(x)["prediction"] for x in open(tmp_path / "ours" / "predictions.jsonl")}
    assert read_samples(str(tmp_path / "lm")) == own
    return theirs


def test_lm_eval_runs_the_exported_tasks_offline_with_our_scores(tmp_path, tiny_model):
    # the bundled LLaMat MatSIE test items (samples/eval is laid out like ../shared/data/eval)
    theirs = _lm_eval_then_mateval(tmp_path, tiny_model, "matsie", str(SAMPLES), 3)
    assert set(theirs) == {"sie_doping", "sie_mof1", "sie_mof2"}
    report = (tmp_path / "from_lm_eval" / "report.md").read_text()
    assert report.startswith("# mateval: lm-eval:") and "sie_mof2" in report


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")
def test_every_task_group_under_lm_eval(tmp_path, tiny_model):
    groups = "matnlp,matsie,mascqa,crystal_understanding,crystal_generation,general_english"
    theirs = _lm_eval_then_mateval(tmp_path, tiny_model, groups, str(SHARED), 2)
    assert {"squad", "hellaswag", "crystal_generation", "mascqa_num"} <= set(theirs)


def test_the_aggregators_are_our_scoring_on_any_mix_of_answers(tmp_path):
    # lm-eval calls process_results per item, then each metric's aggregation over them: the same numbers as
    # eval.scoring on the same answers, here gold for two items in three and junk for the rest
    items = load(["matsie"], str(SAMPLES))
    items = [i for n, i in enumerate(items) if n % 4 == 0]
    export(items, str(tmp_path / "tasks"))
    spec = importlib.util.spec_from_file_location("mateval_lm_eval_utils", tmp_path / "tasks" / "utils.py")
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    predictions = {i.id: (i.reference if n % 3 else "not an answer <|im_end|> trailing") for n, i in enumerate(items)}
    expected = score(items, {k: v.split("<|im_end|>")[0].strip() for k, v in predictions.items()})
    for task in expected:
        rows = utils.load(task)["test"]
        per_metric: dict = {}
        for doc in rows:
            for metric, value in utils.process_results(doc, [predictions[doc["id"]]]).items():
                per_metric.setdefault(metric, []).append(value)
        assert set(utils.METRICS[task]) == set(expected[task]) - {"items"}
        yaml_text = (tmp_path / "tasks" / f"{task}.yaml").read_text()
        for metric, values in per_metric.items():
            function = yaml_text.split(f'metric: {json.dumps(metric)}\n    aggregation: !function utils.')[1].split("\n")[0]
            assert getattr(utils, function)(values) == pytest.approx(expected[task][metric]), (task, metric)


def test_samples_that_are_not_lm_eval_samples_fail_naming_the_line(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "samples_mateval_sie_doping_x.jsonl").write_text('{"doc": {"id": "sie_doping:0"}, "resps": [["a"]]}\n{"nope": 1}\n')
    with pytest.raises(ValueError, match=r"samples_mateval_sie_doping_x.jsonl:2"):
        read_samples(str(tmp_path / "run"))
    (tmp_path / "empty").mkdir()
    assert main(["run", "--lm-eval-results", str(tmp_path / "empty"), "--tasks", "matsie", "--data", str(SAMPLES), "--out", str(tmp_path / "o")]) == 2
    assert "no samples_*.jsonl" in capsys.readouterr().err
