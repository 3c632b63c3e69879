"""`corpus check` cost per GB: the structural checks alone (`--quick`) against the full check with checksums, on the same
synthetic shards in the same run, plus the raw speed of the digests considered (xxh3-128, BLAKE2b, SHA-256).

The shards are written in the build's own format (corpus.shards.format): uint16 tokens, documents of ~2,000 tokens
ending in EOS, index, metadata, provenance, and the checksum record the summary stage writes. The two checks run
alternately for several rounds after one warm-up read (so both see the page cache: this measures the check, not the
disk); the medians and their ratio are reported.

    .venv/bin/python benchmarks/check_throughput.py [--gb 2] [--rounds 5]
"""

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xxhash

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from corpus.shards.check import check_shards  # noqa: E402
from corpus.shards.checksums import write_checksums  # noqa: E402
from corpus.shards.format import INDEX_DTYPE, write_metadata, write_provenance  # noqa: E402

EOS, VOCAB = 2, 32000


def write_shards(root: str, gb: float, shard_gb: float = 0.5) -> None:
    rng = np.random.default_rng(0)
    folder = os.path.join(root, "papers")
    os.makedirs(folder)
    n_shards = max(1, round(gb / shard_gb))
    for s in range(n_shards):
        n_tokens = int(shard_gb * 1e9 / 2)
        tokens = rng.integers(3, VOCAB, n_tokens, dtype=np.uint16)
        ends = np.cumsum(rng.integers(1000, 3000, n_tokens // 1000))
        ends = ends[ends < n_tokens]
        ends = np.append(ends, n_tokens).astype(np.int64)
        tokens[ends - 1] = EOS
        ds = os.path.join(folder, f"{s:05d}.ds")
        tokens.tofile(ds)
        ends.astype(INDEX_DTYPE).tofile(ds + ".index")
        write_metadata(ds, "llama2", 2, n_tokens)
        starts = np.concatenate([[0], ends[:-1]])
        rows = {"id": [f"d{i}" for i in range(len(ends))], "record": [f"r{i}" for i in range(len(ends))],
                "source": ["bench"] * len(ends), "licence": [None] * len(ends), "shard": [os.path.basename(ds)] * len(ends),
                "token_start": starts.tolist(), "token_end": ends.tolist()}
        write_provenance(ds, rows, {"eos_id": EOS, "vocab_size": VOCAB, "token_size": 2})
    write_checksums(root, ["papers"])


def digest_speeds(mb: int = 512) -> dict:
    data = os.urandom(mb << 20)
    out = {}
    for name, fn in (("xxh3_128", lambda: xxhash.xxh3_128_hexdigest(data)), ("blake2b", lambda: hashlib.blake2b(data).hexdigest()),
                     ("sha256", lambda: hashlib.sha256(data).hexdigest())):
        times = []
        for _ in range(3):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        out[name] = round(mb / 1024 / statistics.median(times), 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "check_throughput.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        write_shards(tmp, args.gb)
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file()) / 1e9
        check_shards(tmp)  # warm-up: the page cache holds the files for both variants
        quick, full = [], []
        for _ in range(args.rounds):
            for quick_mode, times in ((True, quick), (False, full)):
                t = time.perf_counter()
                check_shards(tmp, quick=quick_mode)
                times.append(time.perf_counter() - t)
        t = time.perf_counter()
        write_checksums(tmp, ["papers"])
        write_s = time.perf_counter() - t
    q, f = statistics.median(quick), statistics.median(full)
    result = {"gb": round(size, 3), "rounds": args.rounds, "quick_s": round(q, 3), "full_s": round(f, 3),
              "quick_s_per_gb": round(q / size, 3), "full_s_per_gb": round(f / size, 3),
              "checksum_s_per_gb": round((f - q) / size, 3), "full_over_quick": round(f / q, 2),
              "write_checksums_s_per_gb": round(write_s / size, 3), "digest_gb_per_s_one_core": digest_speeds(),
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"}
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as fh:
        json.dump(result, fh, indent=2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
