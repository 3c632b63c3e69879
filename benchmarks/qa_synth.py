"""QA synthesis at LLaMat-Chat's size: `qa-synth build manifests/sft.yaml` on ../shared/data, timed, twice.

Each run is a fresh process (`qa-synth build`, teacher off: QA_TEACHER_BASE_URL unset); wall time and
peak resident memory are measured there. The two runs' outputs are compared byte for byte
(pairs.jsonl, validation.jsonl, removed.jsonl, the shard and its loss mask): the build is seeded.
Targets (issue 8): >= 175,000 distinct pairs offline, under 30 minutes on 2 cores.

    .venv/bin/python benchmarks/qa_synth.py [--runs 2]
    .venv/bin/python benchmarks/qa_synth.py carbon [--sample 150]

`carbon` measures why Carbon-24's validation file is not a source: for its first N structures, the
time of a StructureMatcher lookup in the Carbon-24 test index and how many are a test crystal.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPARED = ["pairs.jsonl", "validation.jsonl", "removed.jsonl", "shards/sft/00000.ds", "shards/sft/00000.ds.loss"]


def _digest(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def run_once(out: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "QA_TEACHER_BASE_URL"}
    start = time.perf_counter()
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "qa-synth"), "build", str(ROOT / "manifests" / "sft.yaml"), "-o", str(out)],
                          env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2  # GiB (ru_maxrss is KiB on Linux)
    summary = json.loads((out / "summary.json").read_text())
    return {"wall_s": round(wall, 1), "peak_rss_gib": round(peak, 2), "summary": summary,
            "digests": {name: _digest(out / name) for name in COMPARED}}


def carbon(sample: int) -> dict:
    import itertools
    import statistics
    import warnings

    sys.path.insert(0, str(ROOT))
    from corpus.crystals.matching import StructureIndex, spacegroup_number
    from corpus.crystals.structures import CrystalSettings
    from corpus.tasks.crystal import read_structures as structures

    warnings.simplefilter("ignore")
    data = Path(os.environ.get("LLAMAT_SHARED_DATA", ROOT.parent / "shared" / "data")) / "crystals" / "carbon_24"
    settings = CrystalSettings()
    index = StructureIndex.load([{"name": "carbon_24", "paths": [str(data / "test.csv")]}], settings)
    times, hits = [], 0
    for _, s, _ in itertools.islice(structures([str(data / "val.csv")], settings), sample):
        if isinstance(s, str):
            continue
        start = time.perf_counter()
        hits += index.match(s, spacegroup_number(s, settings.symprec)) is not None
        times.append(time.perf_counter() - start)
    return {"structures": len(times), "test_crystals": hits, "share": round(hits / len(times), 3),
            "lookup_s_median": round(statistics.median(times), 3), "lookup_s_mean": round(statistics.mean(times), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", nargs="?", choices=["build", "carbon"], default="build")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--sample", type=int, default=150)
    args = parser.parse_args()
    if args.part == "carbon":
        result = carbon(args.sample)
        (ROOT / "benchmarks" / "results" / "qa_synth_carbon.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        return
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.runs):
            runs.append(run_once(Path(tmp) / f"run{k}"))
            print(f"run {k}: {runs[-1]['wall_s']} s, {runs[-1]['summary']['pairs']:,} pairs", file=sys.stderr)
    s = runs[0]["summary"]
    result = {
        "machine": f"{os.cpu_count()} cores",
        "pairs": s["pairs"], "validation_pairs": s["validation_pairs"], "distinct_pairs": s["distinct_pairs"],
        "converted": s["converted"], "per_source": s["per_source"], "removed": s["removed"],
        "tokens": s["tokens"], "answer_tokens": s["answer_tokens"],
        "wall_s": [r["wall_s"] for r in runs], "stage_s": s["timings_s"], "peak_rss_gib": max(r["peak_rss_gib"] for r in runs),
        "identical_outputs": all(r["digests"] == runs[0]["digests"] for r in runs),
    }
    os.makedirs(ROOT / "benchmarks" / "results", exist_ok=True)
    (ROOT / "benchmarks" / "results" / "qa_synth.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
