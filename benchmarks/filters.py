"""Science-aware filters and MinHash dedup, measured against datatrove's on the same documents in the same run.

1. False drops on real science text (../shared/data): full papers (SOFC-Exp, SuperMat ground truth,
   unarXive with its LaTeX put back, the bundled PDF/XML papers through our readers), abstracts
   (arXiv, JARVIS superconductors), CIF text (COD, MP-20). Our chain (quality -> language ->
   prose -> interleave -> decontamination against MaScQA, MatSci-NLP, NERRE and the SIE test sets) beside datatrove's Gopher quality, C4 quality and FineWeb quality filters, each alone.
2. Garbage caught: realistic bad documents made from the real papers (tests/garbage.py), recall per kind.
3. Throughput in MB/s on one core on the full papers: our chain (annotation included) against
   datatrove's Gopher + C4 + FineWeb chain; median of 3 passes.
4. MinHash: signature throughput against datatrove's MinhashDedupSignature (5-gram shingles,
   both 128 hashes: ours 128 permutations, datatrove 16 buckets x 8), and match decisions on planted
   near-duplicates of real papers at known 5-gram Jaccard: ours (datasketch LSH + estimated Jaccard
   >= 0.8) against datatrove's (any equal bucket).

    .venv/bin/python benchmarks/filters.py      (needs `pip install -e .[bench]` for spaCy)
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import json  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

import polars as pl  # noqa: E402
from datasketch import MinHashLSH  # noqa: E402
from datatrove.data import Document  # noqa: E402
from loguru import logger  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the garbage makers are test tooling (tests/garbage.py)
from corpus.dedup.minhash import MinHasher, jaccard  # noqa: E402
from corpus.extract import extract  # noqa: E402
from corpus.filters.decontaminate import DecontaminationFilter  # noqa: E402
from corpus.filters.interleave import InterleaveFilter  # noqa: E402
from corpus.filters.language import LanguageFilter  # noqa: E402
from corpus.filters.quality import ProseFilter, ScienceQualityFilter  # noqa: E402
from garbage import KINDS  # noqa: E402
from corpus.text.annotate import Annotator  # noqa: E402


def unarxive_papers() -> list[str]:
    out = []
    with tarfile.open(SHARED / "papers" / "unarxive" / "unarXive_data_sample.tar.gz") as tar:
        for member in tar.getmembers():
            if not member.name.endswith(".jsonl"):
                continue
            for line in tar.extractfile(member):
                paper = json.loads(line)
                formulas = {k: v.get("latex", "") for k, v in (paper.get("ref_entries") or {}).items()}
                body = "\n".join(p["text"] for p in paper["body_text"])
                body = re.sub(r"\{\{formula:([0-9a-f-]+)\}\}", lambda m: f"${formulas.get(m.group(1), '')}$", body)
                body = re.sub(r"\{\{(cite|figure|table):[^}]+\}\}", "", body)
                out.append((paper.get("abstract") or {}).get("text", "") + "\n" + body)
    return out


def datasets() -> dict[str, list[str]]:
    papers = {
        "SOFC-Exp papers": [p.read_text() for p in sorted((SHARED / "papers" / "sofc_exp_texts").glob("*.txt"))],
        "SuperMat papers (ground truth text)": [p.read_text() for p in sorted((SHARED / "papers" / "pdf_supermat" / "groundtruth_txt").glob("*.txt"))],
        "unarXive papers (LaTeX restored)": unarxive_papers(),
        "bundled PDF/JATS/TEI papers via our readers": [d.text for _, d in extract([str(ROOT / "samples" / "papers" / "pdf"), str(ROOT / "samples" / "papers" / "xml")]) if isinstance(d, Document)],
    }
    abstracts = {
        "arXiv materials abstracts": [json.loads(line)["abstract"] for line in open(SHARED / "abstracts" / "arxiv_ai4mat_abstracts.jsonl")],
        "JARVIS superconductor abstracts": [json.loads(line)["abstract"] for line in open(SHARED / "abstracts" / "jarvis_supercon_abstracts.jsonl")],
    }
    mp20 = pl.read_csv(SHARED / "crystals" / "mp_20_subset" / "test.csv")["cif"].to_list()
    cifs = {
        "COD CIFs": [p.read_text() for p in sorted((SHARED / "crystals" / "cod_cifs").glob("*.cif"))],
        "MP-20 CIFs": mp20,
    }
    return {"papers": papers, "abstracts": abstracts, "cif": cifs}


EVAL_SETS = [
    {"name": "mascqa", "paths": [str(SHARED / "eval" / "mascqa" / "mascqa_650.jsonl")]},
    {"name": "llamat_sie", "paths": [str(SHARED / "eval" / "llamat_sie" / "*_test.jsonl")]},
    {"name": "nerre", "paths": [str(SHARED / "eval" / "nerre" / "*.jsonl")]},
    {"name": "matsci_nlp", "paths": [str(SHARED / "eval" / "matsci_nlp" / "*.json")]},
]


def our_chain(decontaminate: DecontaminationFilter | None = None):
    steps = [ScienceQualityFilter(), LanguageFilter(["en"]), ProseFilter(), InterleaveFilter()] + ([decontaminate] if decontaminate else [])

    def run(text: str) -> str:
        doc = Document(text=text, id="x")
        next(Annotator().run(iter([doc])))
        for f in steps:
            r = f.filter(doc)
            if r is not True:
                return r[1]
        return "kept"

    return run


def datatrove_filters():
    from datatrove.pipeline.filters import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter

    made = {"datatrove Gopher": GopherQualityFilter(), "datatrove C4": C4QualityFilter(), "datatrove FineWeb": FineWebQualityFilter()}

    def wrap(f):
        def run(text: str) -> str:
            r = f.filter(Document(text=text, id="x"))
            return "kept" if r is True else (r[1] if isinstance(r, tuple) else "dropped")
        return run

    return {name: wrap(f) for name, f in made.items()}


def false_drops(data, chains, index) -> list[dict]:
    rows = []
    for group, sets in data.items():
        for name, texts in sets.items():
            row = {"group": group, "set": name, "documents": len(texts),
                   "contaminated": sum(bool(index.hits(t)[1]) for t in texts)}
            for chain_name, chain in chains.items():
                reasons = Counter(chain(t) for t in texts)
                dropped = len(texts) - reasons.pop("kept", 0)
                row[chain_name] = {"dropped": dropped / len(texts), "by_reason": dict(reasons.most_common())}
            rows.append(row)
    return rows


def garbage_recall(papers: list[str], chain) -> dict:
    out = {}
    for kind, make in KINDS.items():
        results = [chain(make(t, random.Random(i))) for i, t in enumerate(papers)]
        out[kind] = {"caught": sum(r != "kept" for r in results) / len(results), "reasons": dict(Counter(results).most_common(3))}
    return out


def throughput(texts: list[str], chains: dict) -> dict:
    mb = sum(len(t.encode()) for t in texts) / 1e6
    out = {}
    for name, chain in chains.items():
        times = []
        for _ in range(3):
            start = time.perf_counter()
            for t in texts:
                chain(t)
            times.append(time.perf_counter() - start)
        out[name] = mb / statistics.median(times)
    return out


def datatrove_chain():
    from datatrove.pipeline.filters import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter

    steps = [GopherQualityFilter(), C4QualityFilter(), FineWebQualityFilter()]

    def run(text: str) -> str:
        doc = Document(text=text, id="x")
        for f in steps:
            r = f.filter(doc)
            if r is not True:
                return "dropped"
        return "kept"

    return run


def minhash_benchmark(papers: list[str]) -> dict:
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature

    config = MinhashConfig(n_grams=5, num_buckets=16, hashes_per_bucket=8)
    with tempfile.TemporaryDirectory() as tmp:
        dt = MinhashDedupSignature(tmp, config=config)
        ours = MinHasher(128, seed=1, shingle_size=5)
        mb = sum(len(t.encode()) for t in papers) / 1e6
        rates = defaultdict(list)
        for _ in range(3):
            start = time.perf_counter()
            for t in papers:
                dt.get_signature(dt.get_shingles(t))
            rates["datatrove MinhashDedupSignature"].append(mb / (time.perf_counter() - start))
            start = time.perf_counter()
            for t in papers:
                ours.signature(t)
            rates["ours MinHasher"].append(mb / (time.perf_counter() - start))
        speed = {k: statistics.median(v) for k, v in rates.items()}

        # planted near-duplicates at known Jaccard: replace a fraction of the words of a real paper
        rng = random.Random(0)
        pairs = []
        for i, t in enumerate(papers):
            words = t.split()
            for fraction in (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2):
                copy = list(words)
                for j in rng.sample(range(len(words)), int(fraction * len(words))):
                    copy[j] = f"w{rng.randrange(10**6)}"
                copy = " ".join(copy)
                pairs.append((jaccard(t, copy), t, copy))
        decisions = {"ours": [], "datatrove": []}
        for j, a, b in pairs:
            ma, mb_ = ours.minhash(a), ours.minhash(b)
            lsh = MinHashLSH(threshold=0.8, num_perm=128)
            lsh.insert("a", ma)
            decisions["ours"].append((j, bool(lsh.query(mb_)) and ma.jaccard(mb_) >= 0.8))
            sa, sb = dt.get_signature(dt.get_shingles(a)), dt.get_signature(dt.get_shingles(b))
            decisions["datatrove"].append((j, any(list(x) == list(y) for x, y in zip(sa, sb))))
    quality = {}
    for name, ds in decisions.items():
        high = [m for j, m in ds if j >= 0.85]
        low = [m for j, m in ds if j <= 0.6]
        quality[name] = {"recall_j_ge_0.85": sum(high) / max(len(high), 1), "pairs_j_ge_0.85": len(high),
                         "false_match_j_le_0.6": sum(low) / max(len(low), 1), "pairs_j_le_0.6": len(low)}
    return {"signature_mb_per_s": speed, "planted_pairs": quality, "jaccard_range": [min(p[0] for p in pairs), max(p[0] for p in pairs)]}


def main() -> None:
    if not SHARED.is_dir():
        sys.exit(f"{SHARED} not found: this benchmark runs on ../shared/data")
    logger.remove()
    data = datasets()
    decontaminate = DecontaminationFilter(EVAL_SETS)
    index = decontaminate.index
    print(f"decontamination index: {len(index.items):,} evaluation items, {len(index.hashes):,} 13-grams")
    ours = our_chain()  # quality judgements; contamination is counted in its own column
    chains = {"ours": ours, **datatrove_filters()}
    rows = false_drops(data, chains, index)
    papers = [t for texts in data["papers"].values() for t in texts]
    result = {
        "false_drops": rows,
        "garbage": garbage_recall(papers, ours),
        "throughput_mb_per_s": throughput(papers, {"ours (annotate+quality+language+prose+interleave+decontamination)": our_chain(decontaminate), "datatrove Gopher+C4+FineWeb": datatrove_chain()}),
        "minhash": minhash_benchmark(papers),
    }
    out = ROOT / "benchmarks" / "results" / "filters.json"
    out.write_text(json.dumps(result, indent=2) + "\n")

    names = list(chains)
    print("| set | documents | " + " | ".join(f"{n} dropped" for n in names) + " | contain an evaluation item |")
    print("|---|---:|" + "---:|" * len(names) + "---:|")
    for r in rows:
        print(f"| {r['set']} | {r['documents']} | " + " | ".join(f"{100 * r[n]['dropped']:.1f}%" for n in names) + f" | {r['contaminated']} |")
    print()
    for r in rows:
        print(f"{r['set']}: ours drops {r['ours']['by_reason']}")
    total = sum(r["documents"] for r in rows if r["group"] == "papers")
    dropped = sum(r["documents"] * r["ours"]["dropped"] for r in rows if r["group"] == "papers")
    print(f"full papers dropped by ours: {dropped:.0f} of {total} = {100 * dropped / total:.2f}% (target <= 1%)")
    print("\n| garbage kind | caught | reasons |\n|---|---:|---|")
    for kind, g in result["garbage"].items():
        print(f"| {kind} | {100 * g['caught']:.0f}% | {g['reasons']} |")
    overall = statistics.mean(g["caught"] for g in result["garbage"].values())
    print(f"overall garbage recall {overall:.3f} (target >= 0.95)")
    t = result["throughput_mb_per_s"]
    print(f"\nthroughput on {len(papers)} full papers, one core: " + ", ".join(f"{k} {v:.2f} MB/s" for k, v in t.items()))
    v = list(t.values())
    print(f"ratio {v[0] / v[1]:.1f}x (target >= 10x)")
    m = result["minhash"]
    s = m["signature_mb_per_s"]
    print("minhash signatures: " + ", ".join(f"{k} {v:.2f} MB/s" for k, v in s.items()) + f"; ratio {s['ours MinHasher'] / s['datatrove MinhashDedupSignature']:.1f}x (target >= 10x)")
    for name, q in m["planted_pairs"].items():
        print(f"planted pairs, {name}: recall {q['recall_j_ge_0.85']:.3f} on {q['pairs_j_ge_0.85']} pairs with J >= 0.85 (target >= 0.95), "
              f"false matches {q['false_match_j_le_0.6']:.3f} on {q['pairs_j_le_0.6']} pairs with J <= 0.6 (target <= 0.01)")


if __name__ == "__main__":
    main()
