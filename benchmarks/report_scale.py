"""Report generation at scale: `corpus report` on a synthetic per-document table of 1M rows.

The table has the real schema (OUT/stats/documents.parquet) with realistic spreads: 8 sources,
6 readers, 400 journals, 40 publishers, 30 years, 9 licences, drop reasons at realistic rates,
signals and scores drawn per row, crystal rows with elements and space groups, duplicate groups.
The report runs in a fresh process; wall time and peak resident memory are measured there.
Target (issue 6): under 30 s and under 2 GB at 1M rows.

    .venv/bin/python benchmarks/report_scale.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def synthetic(root: str, n: int, seed: int = 0) -> None:
    import numpy as np
    import polars as pl

    from corpus.outcomes import REPORTED_SIGNALS

    rng = np.random.default_rng(seed)
    sources = np.array(["elsevier", "springer", "pdf", "tei", "general", "forum", "mp", "cod"])
    readers = {"elsevier": "elsevier", "springer": "jats", "pdf": "pdf", "tei": "tei", "general": "jsonl", "forum": "jsonl", "mp": "crystal_json", "cod": "cif"}
    components = {"elsevier": "papers", "springer": "papers", "pdf": "papers", "tei": "papers", "general": "general", "forum": "forum", "mp": "crystals", "cod": "crystals"}
    src = sources[rng.choice(8, n, p=[0.55, 0.12, 0.08, 0.02, 0.1, 0.01, 0.1, 0.02])]
    outcome = rng.choice(["kept", "too_short", "wrong_language", "not_prose", "number_dump", "duplicate_near", "duplicate_exact",
                          "font_garble", "no_text_layer", "unparsable_cif"], n, p=[0.86, 0.03, 0.02, 0.01, 0.01, 0.03, 0.01, 0.01, 0.01, 0.01])
    status = np.where(outcome == "kept", "kept", np.where(np.isin(outcome, ["no_text_layer", "unparsable_cif"]), "failed", "dropped"))
    crystal = np.isin(src, ["mp", "cod"])
    elements = np.array(["O", "Fe", "Li", "Si", "Cu", "Ni", "Co", "Mn", "Ti", "Al", "Zn", "S", "N", "C", "Ba", "Sr"])
    chars = rng.lognormal(9.5, 1.0, n).astype(np.int64)
    tokens = np.where(status == "kept", chars // 4, None)
    frame = {
        "record": [f"{s}:{i}" for s, i in zip(src, range(n))],
        "id": [f"doc{i}" for i in range(n)],
        "source": src, "component": [components[s] for s in src], "reader": [readers[s] for s in src],
        "status": status, "reason": np.where(outcome == "kept", None, outcome), "chars": chars, "file_path": None,
        "publisher": np.where(crystal, None, np.array([f"Publisher {k}" for k in range(40)])[rng.integers(0, 40, n)]),
        "journal": np.where(crystal, None, np.array([f"Journal of Materials {k}" for k in range(400)])[rng.zipf(1.3, n) % 400]),
        "year": np.where(crystal, None, rng.integers(1995, 2025, n)),
        "licence": np.array(["CC BY 4.0", "CC BY-NC 4.0", "Elsevier user licence", "arXiv", "CC0", "MIT", "CC BY-SA 3.0", "public domain", "proprietary"])[rng.integers(0, 9, n)],
        "language": np.where(crystal, "zxx", "en"), "language_score": rng.beta(20, 2, n), "domain_score": rng.beta(8, 2, n),
        **{f"signal_{k}": rng.random(n) * (1000 if k in ("words", "latex_commands", "cid_runs") else 1) for k in REPORTED_SIGNALS},
        "garbled_chars": rng.poisson(0.05, n), "pages": np.where(src == "pdf", rng.integers(4, 30, n), None),
        "no_text_pages": np.where(src == "pdf", rng.poisson(0.02, n), None), "sections": np.where(crystal, None, rng.integers(3, 12, n)),
        "formula": np.where(crystal, "LiFePO4", None), "spacegroup": np.where(crystal, rng.integers(1, 231, n), None),
        "crystal_system": np.where(crystal, np.array(["cubic", "hexagonal", "orthorhombic", "monoclinic"])[rng.integers(0, 4, n)], None),
        "elements": np.where(crystal, [" ".join(sorted(set(rng.choice(elements, 3)))) for _ in range(n)], None),
        "duplicate_of": None, "contamination": None, "error": None, "shard": None, "token_start": None, "token_end": None,
        "tokens": tokens, "cluster": np.where(np.char.startswith(outcome.astype(str), "duplicate_"), [f"c{i % 50000}" for i in range(n)], None),
        "cluster_size": np.where(np.char.startswith(outcome.astype(str), "duplicate_"), rng.integers(2, 6, n), None),
    }
    df = pl.DataFrame({k: (v.tolist() if isinstance(v, np.ndarray) else [v] * n if v is None else v) for k, v in frame.items()}, strict=False)
    os.makedirs(os.path.join(root, "stats"), exist_ok=True)
    df.write_parquet(os.path.join(root, "stats", "documents.parquet"))
    kept = df.filter(pl.col("status") == "kept")
    comps = {c: {"documents": int(g.height), "tokens": int(g["tokens"].sum()), "shards": 1, "folder": f"shards/{c}",
                 "target_weight": w} for (c,), g in kept.group_by("component") for w in [{"papers": 0.944, "general": 0.0305, "crystals": 0.025, "forum": 0.0005}[c]]}
    dropped, failed = df.filter(pl.col("status") == "dropped"), df.filter(pl.col("status") == "failed")
    summary = {"name": "synthetic", "seed": seed, "inputs": n, "kept": kept.height, "dropped": dropped.height, "failed": failed.height,
               "dropped_by_reason": dict(dropped.group_by("reason").len().sort("len", descending=True).iter_rows()),
               "failed_by_reason": dict(failed.group_by("reason").len().iter_rows()), "tokens": int(kept["tokens"].sum()),
               "components": comps, "sources": {}, "reconciled": True, "problems": []}
    with open(os.path.join(root, "summary.json"), "w") as f:
        json.dump(summary, f)


def measure(root: str) -> dict:
    from corpus.report.html import write_report

    start = time.perf_counter()
    path = write_report(root)
    return {"seconds": round(time.perf_counter() - start, 2), "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
            "html_bytes": os.path.getsize(path)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--write", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        synthetic(args.write, args.rows)
        return
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        # the table is made in its own process: a child forked from a process that held it would
        # inherit that process's peak resident memory in getrusage
        subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--write", tmp], check=True)
        out = subprocess.run([sys.executable, __file__, "--measure", tmp], check=True, capture_output=True, text=True)
    result = {"rows": args.rows, **json.loads(out.stdout.strip().splitlines()[-1])}
    print(result)
    (ROOT / "benchmarks" / "results" / "report_scale.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
