"""Memory and time of the dedup clustering phase (the one single-node task) as the corpus grows.

The signature and removal phases run in parallel tasks and stream; the clustering phase
(`corpus.dedup.steps.Deduplicator`) reads every signature into one process. This measures its
wall time and peak resident memory on synthetic signature tables of growing size (synthetic
signatures are fine here: the phase never looks at text), each size in a fresh process so the
peak belongs to that size alone, and extrapolates linearly to LLaMat's ~4M papers.

Every table has the real schema: 128 uint64 MinHash values per document, a DOI for 80% of the
rows, a title key for 90%, an exact-text hash, and planted duplicates (1% identity, 1% exact,
3% near with 90% of the hash values kept) so all three grouping passes do work.

    .venv/bin/python benchmarks/dedup_clustering.py [--sizes 100000 300000 1000000] [--paths memory disk]

With `--paths memory disk` both clusterings run on the same signature files (each in a fresh process) and the
removed.parquet files are compared byte for byte.
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


def synthetic_signatures(n: int, seed: int = 0):
    import numpy as np
    import pyarrow as pa

    from corpus.dedup.steps import SIGNATURE_SCHEMA

    rng = np.random.default_rng(seed)
    sig = rng.integers(0, 2**63, size=(n, 128), dtype=np.uint64)
    ids = np.arange(n)
    doi = np.array([f"10.1000/{i}" for i in ids], dtype=object)
    title = np.array([f"title of paper {i} with enough words to be a key|2020" for i in ids], dtype=object)
    exact = np.array([f"{i:040x}" for i in ids], dtype=object)
    doi[rng.random(n) < 0.2] = None
    title[rng.random(n) < 0.1] = None
    planted = rng.permutation(n)
    k = n // 100
    ident, ex, near = planted[:k], planted[k : 2 * k], planted[2 * k : 5 * k]
    doi[ident] = doi[(ident + 1) % n]
    exact[ex] = exact[(ex + 1) % n]
    near_src = (near + 1) % n
    keep = rng.random((len(near), 128)) < 0.9
    sig[near] = np.where(keep, sig[near_src], sig[near])
    return pa.Table.from_pydict(
        {
            "record": [f"r{i:09d}" for i in ids],
            "id": [f"doc{i}" for i in ids],
            "source": ["papers"] * n,
            "component": ["papers"] * n,
            "priority": rng.integers(0, 4, n).astype("int32"),
            "chars": rng.integers(5_000, 80_000, n),
            "doi": doi.tolist(),
            "title_key": title.tolist(),
            "exact": exact.tolist(),
            "minhash": [row.tobytes() for row in sig],
        },
        schema=SIGNATURE_SCHEMA,
    )


def write_signatures(n: int, folder: str) -> None:
    """Runs in a child process, so the clustering process below starts without the generator's memory."""
    import pyarrow.parquet as pq

    table = synthetic_signatures(n)
    os.makedirs(folder, exist_ok=True)
    for k, start in enumerate(range(0, n, 100_000)):  # one file per signature task, as a build writes them
        pq.write_table(table.slice(start, 100_000), os.path.join(folder, f"{k:05d}.parquet"))


def measure(folder: str, clustering: str = "memory") -> dict:
    """Runs in a child process: the clustering task as a build runs it, from the signature files to removed.parquet."""
    import pyarrow.parquet as pq

    from corpus.dedup.minhash import MinHasher
    from corpus.dedup.steps import Deduplicator

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = os.path.join(folder, f"out-{clustering}")
    dedup = Deduplicator(folder, os.path.join(out, "removed.parquet"), os.path.join(out, "clusters.parquet"), MinHasher(),
                         clustering=clustering)
    start = time.perf_counter()
    for _ in dedup.run():
        pass
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    removed = pq.read_table(os.path.join(out, "removed.parquet"))["reason"].value_counts().to_pylist()
    return {
        "seconds": round(seconds, 1),
        "peak_rss_gb": round(peak / 2**20, 2),
        "rss_after_imports_gb": round(before / 2**20, 2),
        "removed": {r["values"]: r["counts"] for r in removed},
        "removed_digest": __import__("hashlib").sha256(open(os.path.join(out, "removed.parquet"), "rb").read()).hexdigest()[:16],
    }


def measure_datasketch(folder: str) -> dict:
    """The baseline on the same files: datasketch's MinHashLSH (in-memory storage), insert + query of
    every signature with the same confirmation, as this project's clustering did before the numpy banding."""
    import glob

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasketch import LeanMinHash, MinHashLSH

    table = pa.concat_tables([pq.read_table(f, columns=["minhash"]) for f in sorted(glob.glob(os.path.join(folder, "*.parquet")))])
    start = time.perf_counter()
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    hashes = {i: LeanMinHash(seed=1, hashvalues=np.frombuffer(b, dtype=np.uint64), scheme="affine64") for i, b in enumerate(table["minhash"].to_pylist())}
    with lsh.insertion_session() as session:
        for i, m in hashes.items():
            session.insert(i, m, check_duplication=False)
    pairs = sum(1 for i, m in hashes.items() for j in lsh.query(m) if j != i and m.jaccard(hashes[j]) >= 0.8)
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 1), "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2), "similar_pairs": pairs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--write", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--paths", nargs="+", default=["memory"], choices=["memory", "disk"],
                        help="clustering paths measured on each size, one fresh process each (disk: corpus/dedup/external.py)")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "dedup_clustering.json"))
    parser.add_argument("--baseline", help=argparse.SUPPRESS)
    parser.add_argument("--baseline-size", type=int, default=100_000, help="size at which datasketch's MinHashLSH runs beside ours")
    args = parser.parse_args()
    if args.write:
        write_signatures(int(args.write[0]), args.write[1])
        return
    if args.baseline:
        print(json.dumps(measure_datasketch(args.baseline)))
        return
    if args.measure:
        print(json.dumps(measure(args.measure[0], args.measure[1])))
        return
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, __file__, "--write", str(n), tmp], check=True)
            row = {"documents": n}
            for path in args.paths:
                out = subprocess.run([sys.executable, __file__, "--measure", tmp, path], check=True, capture_output=True, text=True)
                row[path] = json.loads(out.stdout.strip().splitlines()[-1])
            first = row[args.paths[0]]
            rows.append({**row, **{k: first[k] for k in ("seconds", "peak_rss_gb", "removed")}})
            if len(args.paths) > 1:
                rows[-1]["same_removals"] = len({row[p]["removed_digest"] for p in args.paths}) == 1
            if n == args.baseline_size:
                base = subprocess.run([sys.executable, __file__, "--baseline", tmp], check=True, capture_output=True, text=True)
                rows[-1]["datasketch_minhashlsh"] = json.loads(base.stdout.strip().splitlines()[-1])
        print(rows[-1], flush=True)
    # linear fit through the two largest sizes, per path, extrapolated to 4M (LLaMat) and 10M / 30M (the next corpora)
    projections = {}
    for path in args.paths:
        a, b = rows[-2][path], rows[-1][path]
        span = rows[-1]["documents"] - rows[-2]["documents"]
        per_doc_s, per_doc_gb = (b["seconds"] - a["seconds"]) / span, (b["peak_rss_gb"] - a["peak_rss_gb"]) / span
        projections[path] = {"per_million_seconds": round(per_doc_s * 1e6, 1), "per_million_gb": round(per_doc_gb * 1e6, 3)} | {
            f"{target // 10**6}M": {"seconds": round(b["seconds"] + per_doc_s * (target - rows[-1]["documents"])),
                                    "peak_rss_gb": round(b["peak_rss_gb"] + per_doc_gb * (target - rows[-1]["documents"]), 2)}
            for target in (4_000_000, 10_000_000, 30_000_000)}
    print("projection", projections)
    Path(args.output).write_text(json.dumps({"sizes": rows, "projection": projections}, indent=1) + "\n")

if __name__ == "__main__":
    main()
