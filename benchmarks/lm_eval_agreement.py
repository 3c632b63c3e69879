"""lm-evaluation-harness against mateval on the same model and items, per task (issue 18 item 5).

A tiny LLaMA (random weights, seed 0; 2 layers, the bundled LLaMA-2 tokenizer) answers the first N items of every
task group twice on CPU: through lm-eval (`mateval export-lm-eval` tasks, `lm_eval --model hf`, batch 1, offline) and
through `mateval run --model` (batch 1). Per task: the metrics lm-eval reports, how many equal mateval's scoring of
lm-eval's generations (`mateval run --lm-eval-results`), how many generations are identical between the two
backends, and the wall time of each.

    .venv/bin/python benchmarks/lm_eval_agreement.py [--limit 10] [--json benchmarks/results/lm_eval_agreement.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))
from eval.cli import main as mateval  # noqa: E402
from eval.lm_eval_export import read_results, read_samples  # noqa: E402

GROUPS = "matnlp,matsie,mascqa,crystal_understanding,crystal_generation,general_english"


def tiny_model(path: Path) -> None:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=32000, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                 num_key_value_heads=4, max_position_embeddings=4096)).save_pretrained(path)
    AutoTokenizer.from_pretrained(str(ROOT / "samples" / "tokenizers" / "llama2")).save_pretrained(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--json")
    args = parser.parse_args()
    data = str(SHARED) if SHARED.is_dir() else str(ROOT / "samples")
    groups = GROUPS if SHARED.is_dir() else "matsie"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tiny_model(tmp / "model")
        common = ["--tasks", groups, "--data", data, "--limit", str(args.limit)]
        mateval(["export-lm-eval", str(tmp / "tasks"), *common, "--max-new-tokens", "16"])
        start = time.perf_counter()
        subprocess.run([str(Path(sys.executable).with_name("lm_eval")), "--model", "hf", "--model_args", f"pretrained={tmp / 'model'}",
                        "--include_path", str(tmp / "tasks"), "--tasks", groups, "--batch_size", "1", "--log_samples",
                        "--output_path", str(tmp / "lm")], cwd=tmp, env=env, check=True, capture_output=True)
        lm_seconds = time.perf_counter() - start
        mateval(["run", "--lm-eval-results", str(tmp / "lm"), *common, "--out", str(tmp / "scored")])
        start = time.perf_counter()
        mateval(["run", "--model", str(tmp / "model"), "--batch-size", "1", "--max-new-tokens", "16", *common, "--out", str(tmp / "ours")])
        our_seconds = time.perf_counter() - start
        theirs = read_results(str(tmp / "lm"))
        scored = json.loads((tmp / "scored" / "scores.json").read_text())["scores"]
        generations = read_samples(str(tmp / "lm"))
        own = [json.loads(x) for x in open(tmp / "ours" / "predictions.jsonl")]
    same_generation, per_task_items = Counter(), Counter()
    for row in own:
        per_task_items[row["task"]] += 1
        same_generation[row["task"]] += generations.get(row["id"]) == row["prediction"]
    rows = []
    for task in sorted(theirs):
        differ = {m: [v, scored[task].get(m)] for m, v in theirs[task].items()
                  if not ((scored[task].get(m) is None and math.isnan(v)) or (scored[task].get(m) is not None and abs(v - scored[task][m]) < 1e-9))}
        rows.append({"task": task, "items": per_task_items[task], "metrics": len(theirs[task]), "equal_metrics": len(theirs[task]) - len(differ),
                     "identical_generations": same_generation[task], "differ": differ})
    print(f"{len(rows)} tasks, {args.limit} items each at most; lm-eval {lm_seconds:.1f} s, mateval {our_seconds:.1f} s (wall, with model load)")
    print("| task | items | lm-eval metrics | equal to mateval's scoring | identical generations |\n|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['task']} | {r['items']} | {r['metrics']} | {r['equal_metrics']} | {r['identical_generations']} |")
    for r in rows:
        for metric, (lm, ours) in r["differ"].items():
            print(f"differs: {r['task']} {metric}: lm-eval {lm!r}, mateval {ours!r}")
    total = {k: sum(r[k] for r in rows) for k in ("items", "metrics", "equal_metrics", "identical_generations")}
    print(f"| all | {total['items']} | {total['metrics']} | {total['equal_metrics']} | {total['identical_generations']} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"limit": args.limit, "lm_eval_seconds": lm_seconds, "mateval_seconds": our_seconds,
                                               "tasks": rows, "total": total}, indent=2) + "\n")


if __name__ == "__main__":
    main()
