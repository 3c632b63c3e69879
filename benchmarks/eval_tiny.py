"""mateval end to end with the tiny LLaMA of the training issue on CPU: a few items of every task, time per task.

The model is the tiny config trained on the demo shards and exported (`make demo`, then
`train/run.sh train/configs/tiny.yaml`, which writes out/train/tiny/hf). Its answers are noise; what is
measured is that every task runs through generation, parsing and scoring, and how long each takes.

    .venv/bin/python benchmarks/eval_tiny.py [--model out/train/tiny/hf] [--limit 3] [--max-new-tokens 128]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "out" / "train" / "tiny" / "hf"))
    parser.add_argument("--limit", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    args = parser.parse_args()
    if not os.path.isdir(args.model):
        raise SystemExit(f"{args.model} not found: run `make demo` and `train/run.sh train/configs/tiny.yaml` first")
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([str(ROOT / ".venv" / "bin" / "mateval"), "run", "--model", args.model, "--limit", str(args.limit),
                        "--max-new-tokens", str(args.max_new_tokens), "--batch-size", "4",
                        "--tasks", "matnlp,matsie,mascqa,crystal_understanding,crystal_generation", "--out", out], check=True)
        wall = time.perf_counter() - start
        scores = json.loads(Path(out, "scores.json").read_text())
    result = {"machine": f"{os.cpu_count()} cores, CPU", "model": args.model, "items_per_task": args.limit,
              "max_new_tokens": args.max_new_tokens, "wall_s": round(wall, 1), "items": scores["items"],
              "seconds_per_task": scores["seconds"], "without_prediction": scores["without_prediction"]}
    os.makedirs(ROOT / "benchmarks" / "results", exist_ok=True)
    (ROOT / "benchmarks" / "results" / "eval_tiny.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2), file=sys.stdout)


if __name__ == "__main__":
    main()
