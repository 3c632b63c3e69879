"""`mateval crystal-metrics` on a 9,046-row generation file with malformed rows, as a user runs it, coverage on.

The file is in LLaMat's parsed layout (`lengths, angles, species, coords`), the layout of the LLaMat-2 file of
9,046 unconditional samples that issue 18 describes (that file is not in ../shared/data). 8,969 rows are real MP-20
crystals (samples/crystals/mp_20 train + val) with their fractional coordinates moved by Gaussian noise (σ 0.01 and
0.02, seed 0; a third as they are), and 77 rows are the malformed classes that file held, in its proportions: 37
with an empty species list, 18 with a lattice of angles around 1° and 17 with a singular lattice (a zero length, or
angles that put the cell in a plane), one with the species 'A', and four more a model writes (NaN and huge numbers,
a truncated row). The command runs in a subprocess with an empty cache on `--workers`; the script reports its wall
time, its exit status and the outcome counts from scores.json.

    .venv/bin/python benchmarks/crystal_metrics_file.py [--workers 2] [--json FILE]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eval.crystal_metrics import reference_structures  # noqa: E402

MP20 = ROOT / "samples" / "crystals" / "mp_20"
ROWS, MALFORMED = 9046, 77


def row_of(crystal) -> dict:
    lat = crystal.lattice
    return {"lengths": str([round(x, 3) for x in lat.abc]), "angles": str([round(x, 2) for x in lat.angles]),
            "species": str([sp.symbol for sp in crystal.species]), "coords": str(np.round(crystal.frac_coords, 4).tolist())}


def malformed_rows(rng: random.Random) -> list[dict]:
    coords = "[[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]]"
    rows = [{"lengths": "[4.1, 4.1, 4.1]", "angles": "[90.0, 90.0, 90.0]", "species": "[]", "coords": "[]"} for _ in range(37)]
    rows += [{"lengths": "[5.2, 4.8, 6.0]", "angles": str([round(rng.uniform(0.5, 1.5), 2), 90.0, round(rng.uniform(0.5, 1.5), 2)]),
              "species": "['Fe', 'O']", "coords": coords} for _ in range(18)]
    rows += [{"lengths": "[0.0, 4.0, 4.0]" if i % 2 else "[4.0, 4.0, 4.0]", "angles": "[90.0, 90.0, 90.0]" if i % 2 else "[120.0, 120.0, 120.0]",
              "species": "['Na', 'Cl']", "coords": coords} for i in range(17)]
    rows.append({"lengths": "[4.0, 4.0, 4.0]", "angles": "[90.0, 90.0, 90.0]", "species": "['A', 'O']", "coords": coords})
    rows += [{"lengths": "[nan, 4.0, 4.0]", "angles": "[90.0, 90.0, 90.0]", "species": "['Si', 'O']", "coords": coords},
             {"lengths": "[1e300, 4.0, 4.0]", "angles": "[90.0, 90.0, 90.0]", "species": "['Si', 'O']", "coords": coords},
             {"lengths": "[4.0, 4.0, 4.0]", "angles": "[90.0, 90.0, 90.0]", "species": "['Si', 'O']", "coords": "[[0.0, 0.0, inf], [0.5, 0.5, 0.5]]"},
             {"lengths": "[4.0, 4.0", "angles": "", "species": "['Si'", "coords": ""}]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--json")
    args = parser.parse_args()
    rng, nrng = random.Random(0), np.random.default_rng(0)
    crystals = reference_structures(str(MP20 / "train.csv")) + reference_structures(str(MP20 / "val.csv"))
    random.Random(0).shuffle(crystals)
    rows = []
    for i in range(ROWS - MALFORMED):
        c = crystals[i % len(crystals)].copy()
        sigma = (0.0, 0.01, 0.02)[i % 3]
        if sigma:
            for j in range(len(c)):
                c.replace(j, c[j].species, np.mod(c[j].frac_coords + nrng.normal(0, sigma, 3), 1.0))
        rows.append(row_of(c))
    bad = malformed_rows(rng)
    for row in bad:  # scattered through the file, as a model's failures are
        rows.insert(rng.randrange(len(rows) + 1), row)
    tmp = Path(tempfile.mkdtemp(prefix="crystal-metrics-file-"))
    path = tmp / "generations.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["lengths", "angles", "species", "coords"])
        writer.writeheader()
        writer.writerows(rows)
    out = tmp / "scores.json"
    command = [str(ROOT / ".venv" / "bin" / "mateval"), "crystal-metrics", str(path), "--reference", str(MP20 / "test.csv"),
               "--workers", str(args.workers), "--no-cache", "--out", str(out)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    scores = json.loads(out.read_text()) if out.exists() else {}
    outcomes = {k: v for k, v in scores.items() if k.startswith("outcome_")}
    result = {"rows": len(rows), "malformed_rows": len(bad), "workers": args.workers, "exit_status": done.returncode,
              "wall_s": round(wall, 1), "outcomes": outcomes, "outcomes_sum": sum(outcomes.values()),
              "coverage": {k: scores.get(k) for k in ("cov_recall", "cov_precision", "coverage_ok", "coverage_small_cell",
                                                      "coverage_failed", "coverage_timeout", "coverage_seconds")},
              "validity": {k: scores.get(k) for k in ("structural_validity_all", "compositional_validity_all", "validity_all",
                                                      "structural_validity_parsed", "compositional_validity_parsed")}}
    print(json.dumps(result, indent=2))
    if done.returncode:
        print(done.stderr[-3000:], file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
