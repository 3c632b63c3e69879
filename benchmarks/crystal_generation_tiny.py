"""Real crystal generations from a real (tiny) model, for checking the crystal-generation metrics.

There are no published model generations in ../shared/data, so this makes some: it builds LLaMat's "generate a
crystal of this formula in this space group" pairs from the MP-20 training crystals (qa-synth, the crystals
source with `tasks: [generate]`), trains the tiny LLaMA on them on CPU (train/run.sh's trainer), and lets
`mateval run --model` generate a crystal for the first N MP-20 test prompts. The generations are what a weak
model writes -- most parse, many put atoms on top of each other or miss charge balance -- which is what the
validity and coverage metrics are for. They are written to samples/eval/tiny_generations.jsonl (with the model's
step count and the command) for tests/test_crystal_metrics_agreement.py, and the metrics to
benchmarks/results/crystal_generation_tiny.json.

    .venv/bin/python benchmarks/crystal_generation_tiny.py [--steps 300] [--items 200] [--work DIR] [--init-from DIR/model/hf]
    .venv/bin/python benchmarks/crystal_generation_tiny.py --agreement   # only: eval's metrics vs the independent ones

`--agreement` scores samples/eval/tiny_generations.jsonl against all MP-20 test crystals with eval/crystal_metrics.py
and with tests/crystal_metrics_reference.py (coverage included) and writes both and their largest difference to
benchmarks/results/crystal_metrics_agreement.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))


def _compare(texts: list[str], reference_path: str) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    import crystal_metrics_reference as independent
    from eval.crystal_metrics import metrics, parse_structure, reference_structures

    t0 = time.time()
    ours = metrics([parse_structure(t) for t in texts], reference_structures(reference_path))
    t1 = time.time()
    theirs = independent.metrics(texts, independent.reference_from_csv(reference_path))
    t2 = time.time()
    # percentages against fractions: the bar (0.005 as a fraction) is 0.5 on the percent scale; distances as they are
    diff = {k: abs(ours[k] - theirs[k]) / (1 if k.startswith("wdist_") else 100)
            for k in ours if k in theirs and k not in ("generations", "parsed")}
    return {"generations": len(texts), "same_parsed": ours["parsed"] == theirs["parsed"], "same_metrics": ours.keys() == theirs.keys(),
            "eval": ours, "independent": theirs, "abs_difference_as_fraction": diff, "max_difference": max(diff.values()),
            "seconds": {"eval": round(t1 - t0, 1), "independent": round(t2 - t1, 1)}}


def agreement() -> None:
    from corpus.crystals.text import crystal_string
    from eval.crystal_metrics import reference_structures

    generations = ROOT / "samples" / "eval" / "tiny_generations.jsonl"
    reference = str(ROOT / "samples" / "crystals" / "mp_20" / "test.csv")
    texts = [json.loads(line)["prediction"] for line in generations.read_text().splitlines() if line.strip()]
    # the tiny model's crystals are all structurally invalid: mixed with 20 test crystals' strings, structural
    # validity, the Wasserstein distances and recall are exercised too
    mixed = texts[:80] + [crystal_string(s) for s in reference_structures(reference)[:20]]
    result = {"command": "benchmarks/crystal_generation_tiny.py --agreement", "reference": "MP-20 test (samples/crystals/mp_20/test.csv)",
              "real_generations": _compare(texts, reference), "real_80_plus_20_test_crystals": _compare(mixed, reference)}
    (ROOT / "benchmarks" / "results" / "crystal_metrics_agreement.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--work", default="", help="keep the build and model here (default: a temporary folder)")
    parser.add_argument("--agreement", action="store_true", help="only compare the two metric implementations")
    parser.add_argument("--init-from", default="", help="continue training this exported model (e.g. WORK/model/hf of a first run)")
    parser.add_argument("--lr", type=float, default=3e-3)
    args = parser.parse_args()
    if args.agreement:
        return agreement()
    from eval.cli import main as mateval
    from qa_synth.cli import main as qa_synth
    from train.trainer import main as train

    work = Path(args.work or tempfile.mkdtemp(prefix="crystal_gen_"))
    work.mkdir(parents=True, exist_ok=True)
    manifest = {
        "name": "crystal_generation", "output_dir": str(work / "sft"), "seed": 7,
        "tokenizer": {"path": str(ROOT / "samples" / "tokenizers" / "llama2"), "eos_token": "</s>"},
        "validation_fraction": 0.01, "seq_len": 512, "global_batch_size": 8,
        "sources": [{"name": "mp20", "kind": "crystals", "per_structure": 2, "tasks": ["generate"],
                     "paths": [str(ROOT / "samples" / "crystals" / "mp_20" / "train.csv")]}],
        "exclude": [{"name": "mp_20", "kind": "structures", "paths": [str(ROOT / "samples" / "crystals" / "mp_20" / "test.csv")]}],
    }
    (work / "sft.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    timings = {}
    t0 = time.time()
    if not (work / "sft" / "train_data.yaml").exists():
        assert qa_synth(["build", str(work / "sft.yaml")]) == 0
    timings["qa_synth_s"] = round(time.time() - t0, 1)

    t0 = time.time()
    model = {"hidden_size": 128, "intermediate_size": 352, "num_hidden_layers": 4, "num_attention_heads": 4,
             "num_key_value_heads": 4, "max_position_embeddings": 1024, "tie_word_embeddings": True}
    overrides = [f"data={work / 'sft' / 'train_data.yaml'}", f"out_dir={work / 'model'}", f"max_steps={args.steps}",
                 "seq_len=512", "global_batch_size=8", "micro_batch_size=8", f"lr={args.lr}", f"min_lr={args.lr / 10}", "warmup_steps=20",
                 f"eval_every={args.steps}", f"save_every={args.steps}", "log_every=50", "export=true",
                 "model=" + json.dumps(model)] + ([f"init_from={args.init_from}"] if args.init_from else [])
    if not (work / "model" / "hf").exists():
        assert train([str(ROOT / "train" / "configs" / "tiny.yaml"), *overrides]) == 0
    timings["train_s"] = round(time.time() - t0, 1)

    t0 = time.time()
    run = work / "mateval"
    assert mateval(["run", "--model", str(work / "model" / "hf"), "--tasks", "crystal_generation", "--limit", str(args.items),
                    "--max-new-tokens", "448", "--batch-size", "16", "--data", str(SHARED), "--out", str(run)]) == 0
    timings["generate_s"] = round(time.time() - t0, 1)

    predictions = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines() if line.strip()]
    out = ROOT / "samples" / "eval" / "tiny_generations.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w") as f:
        for p in predictions:
            f.write(json.dumps({"id": p["id"], "prediction": p["prediction"]}) + "\n")
    scores = json.loads((run / "scores.json").read_text())
    result = {"command": "benchmarks/crystal_generation_tiny.py " + " ".join(sys.argv[1:]), "steps": args.steps,
              "init_from": args.init_from or None, "items": len(predictions),
              "model": model, "timings": timings, "scores": scores.get("crystal_generation", scores)}
    (ROOT / "benchmarks" / "results").mkdir(exist_ok=True)
    (ROOT / "benchmarks" / "results" / "crystal_generation_tiny.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
