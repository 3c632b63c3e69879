"""mateval on LLaMat-2's real generations, beside the LLaMat authors' own figures (issue 34, part 4).

Runs, in one process on `--workers` cores with an empty fingerprint cache:
- `metrics` (what `mateval crystal-metrics` runs) on the even rows of the authors' parsed file
  (../shared/data/eval/llamat_generations/llamat2_parsed_even_rows.csv) against two references: the bundled MP-20
  test sample (samples/crystals/mp_20/test.csv, 142 crystals) and every MP-20 row in ../shared
  (crystals/mp_20_subset: train + val + test, 1,112 crystals); validity does not depend on the reference, coverage
  does;
- the raw-text reader (eval/crystal_text.py) on both parse-failure files: every string's outcome.
The authors' figures are read from the data folder's SOURCE.txt (their notebook, CDVAE's code, on all 9,046
generations against MP-20's full test split of 9,046 crystals) and put beside ours with each difference of protocol.
Writes a Markdown table and the raw numbers.

    .venv/bin/python benchmarks/llamat_generations_report.py [--workers 2] [--out benchmarks/results/llamat_generations_report]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FOLDER = ROOT.parent / "shared" / "data" / "eval" / "llamat_generations"
MP20_SHARED = ROOT.parent / "shared" / "data" / "crystals" / "mp_20_subset"
MP20_SAMPLE = ROOT / "samples" / "crystals" / "mp_20" / "test.csv"
# the authors' names for the figures -> ours (fractions, as their notebook prints them)
AUTHORS = {"comp_valid": "compositional_validity_all", "struct_valid": "structural_validity_all", "valid": "validity_all",
           "cov_recall": "cov_recall", "cov_precision": "cov_precision", "wdist_density": "wdist_density",
           "wdist_num_elems": "wdist_num_elems"}
PERCENT = {"compositional_validity_all", "structural_validity_all", "validity_all", "cov_recall", "cov_precision"}


def authors_figures() -> dict[str, float]:
    """The figures SOURCE.txt quotes from the authors' notebook, by name ("comp_valid 0.8955, ...")."""
    text = (FOLDER / "SOURCE.txt").read_text(encoding="utf-8")
    found = {name: float(value) for name, value in re.findall(r"\b([a-z_]+) (\d+\.\d+)", text) if name in AUTHORS}
    missing = sorted(set(AUTHORS) - set(found))
    if missing:
        raise SystemExit(f"SOURCE.txt no longer quotes {missing}: the report needs the authors' figures")
    constructed = re.search(r"([\d,]+) crystals constructed", text)
    found["constructed"] = float(constructed.group(1).replace(",", "")) if constructed else float("nan")
    return found


def parse_failures() -> dict[str, dict[str, int]]:
    from eval.crystal_metrics import parse_generation

    out = {}
    for name in ("llamat2_parse_failures.csv", "llamat3_parse_failures.csv"):
        outcomes = Counter()
        with open(FOLDER / name, newline="", encoding="utf-8") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for row in csv.DictReader(f):
                outcomes[parse_generation(row["original_gen_str"]).outcome] += 1
        out[name] = dict(outcomes.most_common())
    return out


def scored(reference_paths: list[Path], workers: int, cache: str) -> dict:
    from eval.crystal_metrics import cutoffs_for, metrics, read_generations, reference_structures

    generations = read_generations(str(FOLDER / "llamat2_parsed_even_rows.csv"))
    reference = [c for p in reference_paths for c in reference_structures(str(p))]
    started = time.perf_counter()
    result = metrics([g.structure for g in generations], reference, cutoffs_for(str(reference_paths[0])),
                     outcomes=[g.outcome for g in generations], workers=workers, cache=cache,
                     species=[g.species for g in generations])
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["reference_crystals"] = len(reference)
    result.update(density_tail(generations, reference))
    return result


def density_tail(generations, reference) -> dict:
    """How much of wdist_density the valid crystals denser than any reference crystal carry (near-flat generated
    cells whose atoms are still 0.5 Å apart): the distance without the valid cells that have less volume per atom
    than the reference's least. A reading of the figure, not a change of its definition."""
    from scipy.stats import wasserstein_distance

    from eval.crystal_metrics import composition_validity, structure_validity

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        valid = [g.structure for g in generations if g.structure is not None and structure_validity(g.structure)
                 and composition_validity(g.structure)]
    least = min(c.volume / len(c) for c in reference)
    ordinary = [c for c in valid if c.volume / len(c) >= least]
    return {"reference_least_volume_per_atom": round(least, 2), "valid_denser_than_reference": len(valid) - len(ordinary),
            "wdist_density_without_them": float(wasserstein_distance([c.density for c in ordinary], [c.density for c in reference]))}


def table(authors: dict, runs: dict[str, dict]) -> str:
    names = list(runs)
    lines = ["| metric (fraction) | LLaMat authors | " + " | ".join(f"mateval, reference {n}" for n in names) + " |",
             "|---|---:|" + "---:|" * len(names)]
    for theirs, ours in AUTHORS.items():
        cells = []
        for n in names:
            value = runs[n].get(ours)
            cells.append("-" if value is None else f"{value / 100 if ours in PERCENT else value:.4f}")
        lines.append(f"| {theirs} | {authors[theirs]:.4f} | " + " | ".join(cells) + " |")
    first = runs[names[0]]
    lines.append("| generations | 9,046 | " + " | ".join(f"{runs[n]['generations']:,}" for n in names) + " |")
    lines.append(f"| constructed | {authors['constructed']:,.0f} | " + " | ".join(f"{runs[n]['parsed']:,}" for n in names) + " |")
    lines.append("| reference crystals | 9,046 | " + " | ".join(f"{runs[n]['reference_crystals']:,}" for n in names) + " |")
    outcomes = ", ".join(f"{k[len('outcome_'):]} {v:,}" for k, v in first.items() if k.startswith("outcome_") and v)
    statuses = ", ".join(f"{k[len('coverage_'):]} {v:,}" for k, v in first.items()
                         if k.startswith("coverage_") and not k.startswith("coverage_seconds") and isinstance(v, int))
    lines += ["", f"wdist_density without the {first['valid_denser_than_reference']} valid generations denser than any "
              f"reference crystal (under {first['reference_least_volume_per_atom']} Å³ per atom: near-flat cells whose atoms "
              f"are still 0.5 Å apart): {first['wdist_density_without_them']:.4f} (reference {names[0]}).",
              "", f"Outcomes of the {first['generations']:,} rows: {outcomes}.",
              f"Coverage fingerprints (reference {names[0]}): {statuses}; {first['coverage_seconds']:.1f} s on the "
              f"generations, {first['seconds']:.1f} s for the whole scoring."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "llamat_generations_report"))
    args = parser.parse_args()
    authors = authors_figures()
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:  # empty at the start: cold, as a user's first run
        cache = os.path.join(tmp, "fingerprints.sqlite")
        runs["MP-20 sample (142)"] = scored([MP20_SAMPLE], args.workers, cache)
        # the second run shares the cache: the generations' fingerprints are not computed twice
        runs["MP-20 in ../shared (1,112)"] = scored([MP20_SHARED / f"{s}.csv" for s in ("test", "val", "train")], args.workers, cache)
    failures = parse_failures()
    markdown = table(authors, runs) + "\n\nParse-failure files (strings the authors' parser refused), mateval's outcomes: " + "; ".join(
        f"{name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()) for name, counts in failures.items()) + "\n"
    print(markdown)
    Path(args.out + ".md").write_text(markdown)
    Path(args.out + ".json").write_text(json.dumps({"command": " ".join(sys.argv), "authors": authors, "runs": runs,
                                                    "parse_failures": failures}, indent=1) + "\n")


if __name__ == "__main__":
    main()
