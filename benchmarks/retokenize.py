"""`corpus retokenize` against a rebuild, and `corpus export`'s throughput, on the demo manifest (manifests/demo.yaml,
the bundled real samples), same run.

A rebuild for another tokenizer reads every source, runs the readers, filters, dedup and shards; retokenize reads
the build's kept documents and writes the shards only. Both are timed end to end (wall clock, one worker each:
`executor.workers: 1` for the build, `--workers 1` for retokenize), `--rounds` times, medians reported; the
retokenized shards are checked equal to the build's byte for byte (same tokenizer), so both did the same work.
`corpus export --include-restricted` of the same build is timed too (MB of text written per second, end to end).

    .venv/bin/python benchmarks/retokenize.py [--rounds 3] [--json benchmarks/results/retokenize.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CORPUS = [str(ROOT / ".venv" / "bin" / "corpus")]


def run(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([*CORPUS, *args], check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "retokenize.json")
    args = ap.parse_args()
    manifest = yaml.safe_load((ROOT / "manifests" / "demo.yaml").read_text())
    manifest["executor"] = {**manifest.get("executor", {}), "workers": 1}
    builds, retokenizes, exports = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        path = ROOT / "manifests" / f".bench-retokenize-{Path(tmp).name}.yaml"  # relative paths resolve as in demo.yaml
        path.write_text(yaml.safe_dump(manifest, sort_keys=False))
        try:
            for r in range(args.rounds):
                out, again = Path(tmp) / f"build{r}", Path(tmp) / f"retok{r}"
                builds.append(run("build", str(path), "--output", str(out)))
                retokenizes.append(run("retokenize", str(out), "--tokenizer", str(ROOT / "samples" / "tokenizers" / "llama2"),
                                       "-o", str(again), "--workers", "1"))
                exports.append(run("export", str(out), "-o", str(Path(tmp) / f"export{r}"), "--include-restricted"))
                for ds in sorted((out / "shards").glob("*/*.ds")):
                    twin = again / "shards" / ds.parent.name / ds.name
                    assert twin.read_bytes() == ds.read_bytes(), f"{twin} differs from {ds}"
            summary = json.loads((Path(tmp) / "build0" / "summary.json").read_text())
            import pyarrow.parquet as pq

            text_mb = sum(len(t.encode()) for f in (Path(tmp) / "export0" / "data").rglob("*.parquet")
                          for t in pq.read_table(f, columns=["text"]).column("text").to_pylist()) / 1e6
        finally:
            path.unlink()
    result = {"command": " ".join(sys.argv), "documents": summary["kept"], "tokens": summary["tokens"], "rounds": args.rounds,
              "build_s": builds, "retokenize_s": retokenizes, "median_build_s": statistics.median(builds),
              "median_retokenize_s": statistics.median(retokenizes),
              "ratio": statistics.median(builds) / statistics.median(retokenizes),
              "export_s": exports, "export_text_mb": text_mb, "export_mb_per_s": text_mb / statistics.median(exports)}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"demo: {summary['kept']:,} documents, {summary['tokens']:,} tokens; {args.rounds} rounds")
    print(f"| | median s | per round |\n|---|---:|---|\n| corpus build (rebuild) | {result['median_build_s']:.1f} | "
          f"{', '.join(f'{x:.1f}' for x in builds)} |\n| corpus retokenize | {result['median_retokenize_s']:.1f} | "
          f"{', '.join(f'{x:.1f}' for x in retokenizes)} |")
    print(f"retokenize is {result['ratio']:.1f}x faster than a rebuild (shards byte-identical with the same tokenizer)")
    print(f"corpus export: {text_mb:.1f} MB of text in a median {statistics.median(exports):.1f} s end to end "
          f"({result['export_mb_per_s']:.1f} MB/s, the command's start included)")


if __name__ == "__main__":
    main()
