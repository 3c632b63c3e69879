"""Shard-writing throughput: our ShardWriter against datatrove's DocumentTokenizer, same documents, same run.

Both tokenise with the same LLaMA-2 tokenizer, append EOS, shuffle documents inside the shard
and write .ds/.ds.index/.ds.metadata (ours also writes the provenance side-car). Beside them, the Megatron output:
ours with `megatron=True` (the .ds as before plus Megatron-Core's .bin + .idx of the same tokens) against datatrove's
`MegatronDocumentTokenizer` (.bin + .idx, unshuffled, no provenance). All are pinned
to one core (RAYON_NUM_THREADS=1, TOKENIZERS_PARALLELISM=false) so the figure is per core. The
two run alternately for several rounds; the medians and their ratio are reported, since this
machine's timings are noisy.

    .venv/bin/python benchmarks/shard_throughput.py [--rounds 5] [--copies 4]
"""

import os

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from datatrove.data import Document  # noqa: E402
from datatrove.pipeline.tokens.megatron_tokenizer import MegatronDocumentTokenizer  # noqa: E402
from datatrove.pipeline.tokens.tokenizer import DocumentTokenizer  # noqa: E402
from loguru import logger  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from corpus.shards.writer import ShardWriter  # noqa: E402

TOKENIZER = ROOT / "samples" / "tokenizers" / "llama2" / "tokenizer.json"


def load_documents(copies: int) -> list[Document]:
    """The bundled papers and general English, repeated `copies` times (distinct ids)."""
    base = []
    for p in sorted((ROOT / "samples" / "papers" / "sofc_exp").glob("*.txt")):
        base.append((p.stem, p.read_text(encoding="utf-8")))
    with gzip.open(ROOT / "samples" / "general" / "general_english_slice.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            base.append((rec["id"], rec["text"]))
    return [Document(text=t, id=f"{i}/{c}", metadata={"source": "bench"}) for c in range(copies) for i, t in base]


def run_datatrove(docs, out: Path) -> int:
    step = DocumentTokenizer(str(out), str(TOKENIZER), eos_token="</s>", seed=1, shuffle_documents=True)
    step.run(iter(docs))
    return sum(os.path.getsize(p) for p in out.glob("*.ds")) // 2


def run_ours(docs, out: Path) -> int:
    step = ShardWriter(str(out), str(TOKENIZER), eos_token="</s>", seed=1, component="bench")
    step.run(iter(docs))
    return sum(os.path.getsize(p) for p in out.glob("*.ds")) // 2


def run_datatrove_megatron(docs, out: Path) -> int:
    MegatronDocumentTokenizer(str(out), tokenizer_name_or_path=str(TOKENIZER), eos_token="</s>").run(iter(docs))
    return sum(os.path.getsize(p) for p in out.glob("*.bin")) // 2


def run_ours_megatron(docs, out: Path) -> int:
    ShardWriter(str(out), str(TOKENIZER), eos_token="</s>", seed=1, component="bench", megatron=True).run(iter(docs))
    return sum(os.path.getsize(p) for p in out.glob("*.bin")) // 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--copies", type=int, default=4, help="how many times the sample documents are repeated")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "shard_throughput.json")
    args = parser.parse_args()
    logger.remove()  # datatrove logs every step at INFO

    docs = load_documents(args.copies)
    mb = sum(len(d.text.encode()) for d in docs) / 1e6
    runners = {"datatrove DocumentTokenizer": run_datatrove, "ours ShardWriter": run_ours,
               "datatrove MegatronDocumentTokenizer": run_datatrove_megatron, "ours ShardWriter + Megatron": run_ours_megatron}
    rates: dict[str, list[float]] = {name: [] for name in runners}
    tokens_seen: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = list(runners) if r % 2 == 0 else list(reversed(runners))  # alternate who goes first
            for name in order:
                out = Path(tmp) / f"{r}-{list(runners).index(name)}"
                start = time.perf_counter()
                tokens = runners[name](docs, out)
                elapsed = time.perf_counter() - start
                rates[name].append(tokens / elapsed)
                tokens_seen[name] = tokens
                shutil.rmtree(out)
    assert len(set(tokens_seen.values())) == 1, f"the writers disagree on the token count: {tokens_seen}"

    medians = {name: statistics.median(v) for name, v in rates.items()}
    ratio = medians["ours ShardWriter"] / medians["datatrove DocumentTokenizer"]
    per_round = [o / d for o, d in zip(rates["ours ShardWriter"], rates["datatrove DocumentTokenizer"])]
    megatron_ratio = medians["ours ShardWriter + Megatron"] / medians["datatrove MegatronDocumentTokenizer"]
    megatron_cost = medians["ours ShardWriter + Megatron"] / medians["ours ShardWriter"]
    result = {
        "documents": len(docs),
        "megabytes": round(mb, 2),
        "tokens": tokens_seen["ours ShardWriter"],
        "rounds": args.rounds,
        "median_tokens_per_s_per_core": {k: round(v) for k, v in medians.items()},
        "ratio_ours_over_datatrove": round(ratio, 3),
        "ratio_per_round": [round(x, 3) for x in per_round],
        "ratio_ours_megatron_over_datatrove_megatron": round(megatron_ratio, 3),
        "ours_with_megatron_over_ours_without": round(megatron_cost, 3),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}",
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")

    print(f"{len(docs):,} documents, {mb:.1f} MB, {result['tokens']:,} tokens, {args.rounds} rounds, one core each")
    print("| writer | median tokens/s per core | min | max |")
    print("|---|---:|---:|---:|")
    for name, v in rates.items():
        print(f"| {name} | {medians[name]:,.0f} | {min(v):,.0f} | {max(v):,.0f} |")
    print(f"\nratio ours/datatrove (median of medians): {ratio:.2f}x; per round: {', '.join(f'{x:.2f}' for x in per_round)}")
    print(f"target: >= 0.9x -> {'met' if ratio >= 0.9 else 'NOT met'}")
    print(f"Megatron output: ours (.ds + .bin/.idx) / datatrove's MegatronDocumentTokenizer {megatron_ratio:.2f}x; "
          f"ours with Megatron / without {megatron_cost:.3f}")


if __name__ == "__main__":
    main()
