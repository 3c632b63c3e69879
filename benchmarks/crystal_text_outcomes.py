"""How mateval reads the generated strings LLaMat's own parser refused (../shared/data/eval/llamat_generations:
llamat{2,3}_parse_failures.csv, column original_gen_str): the outcome of every string, per file, and which strings
were read (eval/crystal_text.py). These files were looked at while writing the reader: in-sample figures.

    .venv/bin/python benchmarks/crystal_text_outcomes.py
"""

from __future__ import annotations

import csv
import json
import sys
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FOLDER = ROOT.parent / "shared" / "data" / "eval" / "llamat_generations"

from eval.crystal_metrics import parse_generation  # noqa: E402


def main() -> None:
    total = Counter()
    for name in ("llamat2_parse_failures.csv", "llamat3_parse_failures.csv"):
        outcomes, read = Counter(), []
        with open(FOLDER / name, newline="", encoding="utf-8") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for row in csv.DictReader(f):
                generation = parse_generation(row["original_gen_str"])
                outcomes[generation.outcome] += 1
                if generation.structure is not None:
                    read.append({"index": row["index"], "formula": generation.structure.composition.formula})
        total.update(outcomes)
        print(json.dumps({"file": name, "strings": sum(outcomes.values()), "outcomes": dict(outcomes.most_common()), "read": read}))
    print(json.dumps({"all": dict(total.most_common())}))


if __name__ == "__main__":
    main()
