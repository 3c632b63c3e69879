"""The PDF reader (corpus/formats/pdf: page blocks -> reading order -> block roles from a model trained on aligned
ground truth -> assembly) measured for generalisation, beside the rule reader it replaced (corpus/papers/pdf.py as
it was at `--rules-at`, default 9535902, its last commit) and plain PyMuPDF in the same run (issue 33).

Development collections (benchmarks/pdf_collections.py loads them and their truths): SuperMat (74 papers, expert
truth) and jose, juliacon_proc, livecoms, papers_in_repo (67 papers; truths through our JATS and LaTeX readers).
- (a) leave-one-collection-out: the model trained on four collections scores the fifth;
- (b) 5-fold cross-validation inside SuperMat, folds by paper (paper i in fold i mod 5, papers sorted by name);
- (c) in-sample: trained on everything and scored on it (the shipped model's fit, never a generalisation figure);
- the oracle: the blocks the alignment labels as text (the ceiling of a perfect role model on these blocks and this
  reading order), with the alignment coverage per paper.
Metric as benchmarks/paper_readers.py: token F1 and order (normalised Levenshtein similarity of token sequences).

The learned columns are the reader's output as a user gets it: roles from the model, the Paper assembled
(corpus/formats/pdf/assemble.py) and rendered by the section policy; the oracle is the text-labelled blocks joined.

    .venv/bin/python benchmarks/pdf_learned.py [--json benchmarks/results/pdf_learned.json] [--no-rules]
        [--rules-at 9535902] [--save-model corpus/formats/pdf/roles/role_model.json.gz]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from paper_readers import joined_f1, score as token_score  # noqa: E402
from pdf_collections import collections, extractor_at, plain_pymupdf  # noqa: E402

from corpus.formats.pdf.reader import PdfExtractor  # noqa: E402
from corpus.formats.pdf.roles.features import block_features  # noqa: E402
from corpus.formats.pdf.roles.model import RoleModel, save  # noqa: E402
from corpus.formats.pdf.training.align import Truth, alignment_coverage, labels, tokens  # noqa: E402

RULES_AT = "9535902"  # the rule reader's last commit
# the reader with its defaults, OCR off: the development PDFs have text layers, and the model is what is measured
READER = PdfExtractor(ocr="off")



def score(truth: str, text: str) -> dict:
    """The benchmark's token F1 and order, and beside them the joined F1 (benchmarks/paper_readers.py): a diagnostic that
    forgives the truths' own convention of sub/superscripts and line-end hyphens kept apart ("T c", "mea- surements")
    where the readers join them; it says how much of a gap is that convention rather than text lost or added."""
    return {**token_score(truth, text), "joined_f1": joined_f1(truth, text)}


class Paper:
    def __init__(self, collection: str, pdf: Path, truth: str):
        self.collection, self.name, self.truth_text, self.pdf = collection, pdf.stem, truth, pdf
        started = time.perf_counter()
        self.layout = READER.layout(pdf.read_bytes())
        self.pages, self.blocks = self.layout.pages, self.layout.blocks
        self.features = block_features(self.blocks)
        self.seconds = time.perf_counter() - started
        self.texts = [b.text for b in self.blocks]
        truth_index = Truth(truth)
        self.labels = np.array(labels(self.texts, truth_index), dtype=int)
        self.coverage = alignment_coverage(self.texts, list(self.labels), truth_index)
        self.weights = np.array([1.0 + np.sqrt(len(tokens(t))) for t in self.texts])  # long blocks weigh more

    def text_of(self, keep: np.ndarray) -> str:
        return "\n\n".join(t for t, k in zip(self.texts, keep) if k)


def train(papers: list[Paper]) -> RoleModel:
    x = np.vstack([p.features for p in papers])
    y = np.concatenate([p.labels for p in papers])
    w = np.concatenate([p.weights for p in papers])
    d = np.concatenate([np.full(len(p.labels), i) for i, p in enumerate(papers)])
    return RoleModel.train(x, y, d, w)


def scored(model: RoleModel, paper: Paper) -> dict:
    """The paper as the reader gives it: roles from the model, assembled into a Paper, rendered by the section policy."""
    started = time.perf_counter()
    probabilities = model.probabilities(paper.features)
    model_s = time.perf_counter() - started
    text = READER.assemble(paper.layout, probabilities).text
    assemble_s = time.perf_counter() - started - model_s  # the reader's time only, not the metric's
    return {**score(paper.truth_text, text), "model_s": model_s, "assemble_s": assemble_s}


def summary(rows: list[dict], key: str) -> dict:
    f1 = [r[key]["f1"] for r in rows]
    order = [r[key]["order"] for r in rows]
    return {"papers": len(rows), "f1": statistics.mean(f1), "order": statistics.mean(order), "worst_f1": min(f1),
            "joined_f1": statistics.mean(r[key]["joined_f1"] for r in rows),
            "worst_order": min(order), "under_085": sum(v < 0.85 for v in f1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--no-rules", action="store_true", help="leave the rule reader out (it is the slow column)")
    ap.add_argument("--rules-at", default=RULES_AT, help="the commit whose corpus/papers/pdf.py is the rule reader scored")
    ap.add_argument("--save-model", type=Path, help="write the model trained on every paper here (after the held-out "
                                                     "figures; corpus/formats/pdf/roles/role_model.json.gz is the shipped one)")
    args = ap.parse_args()
    papers = [Paper(name, pdf, truth) for name, pairs in collections(None).items() for pdf, truth in pairs]
    by = {}
    for p in papers:
        by.setdefault(p.collection, []).append(p)
    rows = {p.name: {"collection": p.collection, "paper": p.name, "pages": p.pages, "alignment_coverage": p.coverage,
                     "oracle": score(p.truth_text, p.text_of(p.labels)), "pymupdf": score(p.truth_text, plain_pymupdf(p.pdf))}
            for p in papers}
    if not args.no_rules:
        rules = extractor_at(args.rules_at)()
        for p in papers:
            rows[p.name]["rules"] = score(p.truth_text, rules.extract(p.pdf.read_bytes()).text)
    # (a) leave one collection out
    for held in by:
        model = train([p for p in papers if p.collection != held])
        for p in by[held]:
            rows[p.name]["loco"] = scored(model, p)
    # (b) 5-fold inside SuperMat, folds by paper
    supermat = sorted(by.get("supermat", []), key=lambda p: p.name)
    others = [p for p in papers if p.collection != "supermat"]
    for fold in range(5):
        held = [p for i, p in enumerate(supermat) if i % 5 == fold]
        model = train([p for i, p in enumerate(supermat) if i % 5 != fold] + others)
        for p in held:
            rows[p.name]["cv5"] = scored(model, p)
    # (c) in-sample
    started = time.perf_counter()
    model = train(papers)
    train_s = time.perf_counter() - started
    for p in papers:
        rows[p.name]["in_sample"] = scored(model, p)
    if args.save_model:
        save(model, args.save_model)
    keys = ["loco", "cv5", "in_sample", "oracle", "pymupdf"] + ([] if args.no_rules else ["rules"])
    out = {}
    print("| collection | reader | papers | F1 mean / worst | order mean / worst | under F1 0.85 | joined F1 (diagnostic) |")
    print("|---|---|---:|---|---|---:|---:|")
    for name in list(by) + ["all"]:
        rs = [r for r in rows.values() if name in ("all", r["collection"])]
        out[name] = {}
        for key in keys:
            have = [r for r in rs if key in r]
            if not have:
                continue
            s = out[name][key] = summary(have, key)
            print(f"| {name} | {key} | {s['papers']} | {s['f1']:.3f} / {s['worst_f1']:.3f} | {s['order']:.3f} / {s['worst_order']:.3f} | {s['under_085']} | {s['joined_f1']:.3f} |")
    pages = sum(p.pages for p in papers)
    page_s = sum(p.seconds for p in papers)
    model_s = sum(rows[p.name]["in_sample"]["model_s"] for p in papers)
    assemble_s = sum(rows[p.name]["in_sample"]["assemble_s"] for p in papers)
    total_s = page_s + model_s + assemble_s
    print(f"\npages {pages}: blocks, order and features {page_s:.1f} s, model {model_s:.2f} s, assembly {assemble_s:.2f} s -> "
          f"{pages / total_s:.0f} pages/s on one core; training on all {len(papers)} papers {train_s:.1f} s")
    print("alignment coverage (share of the truth the text-labelled blocks hold): mean "
          f"{statistics.mean(p.coverage for p in papers):.3f}, lowest " +
          ", ".join(f"{p.name} {p.coverage:.3f}" for p in sorted(papers, key=lambda p: p.coverage)[:5]))
    print("\nworst held-out papers (LOCO F1 / order; oracle F1):")
    for r in sorted(rows.values(), key=lambda r: r["loco"]["f1"])[:12]:
        print(f"  {r['collection']:<15} {r['paper']:<32} {r['loco']['f1']:.3f} / {r['loco']['order']:.3f}; oracle {r['oracle']['f1']:.3f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"command": " ".join(sys.argv), "summary": out, "papers": list(rows.values()),
                                         "pages": pages, "pages_per_s": pages / total_s,
                                         "seconds": {"pages_order_features": page_s, "model": model_s, "assembly": assemble_s}, "train_s": train_s}, indent=1) + "\n")


if __name__ == "__main__":
    main()
