"""What a LLaMat-scale build costs, projected from throughputs measured on this machine.

Inputs (every one read from a result file another benchmark wrote; the table printed shows them):
  XML reading, bytes/s per core        paper_readers.json   (the slower of JATS and Elsevier per byte)
  PDF reading, pages/s per core        paper_readers.json   (only if a share of papers is PDF)
  filter chain, bytes/s per core       filters.json         (annotate + quality + language + prose + decontamination)
  MinHash signatures, bytes/s per core filters.json
  clustering, s and GiB per million    dedup_clustering.json (one task; the only phase that grows with the corpus)
  token shards, tokens/s per core      shard_throughput.json
  crystal records, structures/s/core   crystals.json
  per-document overhead, s per core    memory_flatness.json (the process stage of the largest synthetic build, whose
                                        documents are so short that the stage time is nearly all per-document cost)
  peak memory of a process task        memory_flatness.json (largest run's process/shards stage peak / workers)

Corpus (LLaMat): 4.06M papers of ~40 KB XML, 94.4% of 30B tokens from papers, 3.05% replay, 2.5% CIF from ~470k
structures, ~4 characters per token. Output: core-hours per stage, wall time on N cores, peak memory per node,
disk, and the task/file sharding the full manifest should use.

    .venv/bin/python benchmarks/project_full_build.py [--cores 64 256 1024] [--pdf-share 0.0]
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

CORPUS = {"papers": 4_060_000, "xml_bytes_per_paper": 40_000, "tokens": 30e9, "paper_share": 0.944, "replay_share": 0.0305,
          "cif_share": 0.025, "structures": 470_000, "chars_per_token": 4.0, "pages_per_paper": 12}


def _load(name: str) -> dict:
    path = RESULTS / name
    if not path.exists():
        raise SystemExit(f"{path} is missing: run benchmarks/{name.split('.')[0]}.py first")
    return json.loads(path.read_text())


def inputs() -> dict:
    readers, filters, clustering = _load("paper_readers.json"), _load("filters.json"), _load("dedup_clustering.json")
    shards, crystals, flat = _load("shard_throughput.json"), _load("crystals.json"), _load("memory_flatness.json")
    xml = readers["xml_documents_per_s_per_core"]
    biggest = max(flat["runs"], key=lambda r: r["documents"])
    workers = 2  # memory_flatness.py builds with 2 workers
    return {
        "xml_bytes_per_s": min(size * rate for size, rate in (xml["jats"], xml["elsevier"])),
        "pdf_pages_per_s": readers["pages_per_s_per_core"],
        "filter_bytes_per_s": 1e6 * filters["throughput_mb_per_s"]["ours (annotate+quality+language+prose+decontamination)"],
        "minhash_bytes_per_s": 1e6 * filters["minhash"]["signature_mb_per_s"]["ours MinHasher"],
        "cluster_s_per_million": clustering["projection_4m"]["per_million_seconds"],
        "cluster_gib_per_million": clustering["projection_4m"]["per_million_gb"],
        "shard_tokens_per_s": shards["median_tokens_per_s_per_core"]["ours ShardWriter"],
        "structures_per_s": crystals["throughput"]["all"]["structures_per_s"],
        "overhead_s_per_doc": biggest["stage_s"]["process"] * workers / biggest["documents"],
        "task_peak_gib": max(biggest["peak_gib_by_stage"]["process"], biggest["peak_gib_by_stage"]["shards"]) / workers,
        "flatness_documents": biggest["documents"],
    }


def project(m: dict, cores: list[int], pdf_share: float) -> dict:
    c = CORPUS
    paper_tokens = c["tokens"] * c["paper_share"]
    paper_text = paper_tokens * c["chars_per_token"]
    replay_text = c["tokens"] * c["replay_share"] * c["chars_per_token"]
    replay_docs = replay_text / 5_000  # RedPajama-style documents of ~5 KB
    xml_papers = c["papers"] * (1 - pdf_share)
    core_s = {
        "read papers": xml_papers * c["xml_bytes_per_paper"] / m["xml_bytes_per_s"]
        + c["papers"] * pdf_share * c["pages_per_paper"] / m["pdf_pages_per_s"],
        "filters": (paper_text + replay_text) / m["filter_bytes_per_s"],
        "minhash signatures": (paper_text + replay_text) / m["minhash_bytes_per_s"],
        "per-document overhead": (c["papers"] + replay_docs + c["structures"]) * m["overhead_s_per_doc"],
        "crystal records": c["structures"] / m["structures_per_s"],
        "token shards": c["tokens"] / m["shard_tokens_per_s"],
    }
    docs_m = (c["papers"] + replay_docs) / 1e6
    cluster_s = docs_m * m["cluster_s_per_million"]
    cluster_gib = docs_m * m["cluster_gib_per_million"]
    parallel = sum(core_s.values())
    tasks = 2 ** math.ceil(math.log2(max(1, c["papers"] / 4000)))  # ~4k papers (~160 MB of XML) a task
    disk = {
        "input XML": c["papers"] * c["xml_bytes_per_paper"],
        "kept documents (zstd, ~3.5x)": (paper_text + replay_text) / 3.5,
        "MinHash signatures": (c["papers"] + replay_docs) * 128 * 8,
        "token shards (uint16 + index)": c["tokens"] * 2 + (c["papers"] + replay_docs + c["structures"]) * 8,
    }
    return {
        "core_hours": {k: round(v / 3600, 1) for k, v in core_s.items()},
        "core_hours_total": round(parallel / 3600, 1),
        "clustering": {"seconds": round(cluster_s), "peak_gib": round(cluster_gib, 1), "documents_millions": round(docs_m, 2)},
        "wall_hours": {str(n): round((parallel / n + cluster_s) / 3600, 2) for n in cores},
        "peak_memory_gib": {"per process task": round(m["task_peak_gib"], 2), "clustering node": round(cluster_gib + 1, 1)},
        "disk_gb": {k: round(v / 1e9) for k, v in disk.items()} | {"total": round(sum(disk.values()) / 1e9)},
        "sharding": {"tasks": tasks, "papers_per_task": round(c["papers"] / tasks),
                     "input_files": f"at least {tasks} (one or more per task; datatrove splits the file list by task)"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--pdf-share", type=float, default=0.0, help="share of papers only available as PDF")
    args = parser.parse_args()
    m = inputs()
    result = {"inputs": {k: round(v, 6) if isinstance(v, float) else v for k, v in m.items()}, "corpus": CORPUS,
              "pdf_share": args.pdf_share, "projection": project(m, args.cores, args.pdf_share)}
    os.makedirs(RESULTS, exist_ok=True)
    (RESULTS / "project_full_build.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
