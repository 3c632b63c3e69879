"""The interleave detector (corpus/filters/interleave.py) on real text: garbage recall and false drops (issue 17 item 6).

Positives: every real full paper there is (../shared/data SOFC-Exp texts, SuperMat ground truth, unarXive; the
bundled SOFC papers without ../shared) with its two halves set as columns of 30-60 characters and read across, in both
forms (tests/garbage.py `interleaved_columns`: side by side on one line; `interleaved_lines`: column lines taking
turns), seed = the paper's index.
Negatives, each as given and hard-wrapped (60 and 90 columns: clean text with a line break inside most sentences, the
only text the detector judges):
- the same full papers, and the PDFs of ../shared/data (SuperMat and the four ground-truth collections) through our
  PDF reader;
- general English: ../shared/data's general sample (WikiText-2, reviews, MASC, speeches, Gutenberg) less the 240
  documents of the bundled slice the model was built from.
Real extractor output (when poppler's `pdftotext` is installed: `make poppler`): the same PDFs through
`pdftotext -layout` (a layout-keeping extractor: both columns of a two-column page side by side on each line; caught
per collection, the single-column JOSE papers among them being clean) and through plain `pdftotext` (its reading
order: clean, a negative). And a layout-blind reading made here from the same PDFs: PyMuPDF's words sorted by
baseline across the whole page (what a tool that ignores columns makes: rows of two column lines, or lines taking
turns where the baselines differ), for the two-column collections (SuperMat, JuliaCon, LiveCoMS).
Target (issue 17): recall >= 0.95 with false drops <= 1% on papers and on general English.
Also: documents per second through the filter, and the scores' margin at the threshold.

    .venv/bin/python benchmarks/interleave.py [--json benchmarks/results/interleave.json]
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import random
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the garbage makers are test tooling
from garbage import KINDS  # noqa: E402

from corpus.extract import extract  # noqa: E402
from corpus.filters.interleave import InterleaveSettings, JunctionModel, interleave_score  # noqa: E402

WIDTHS = (60, 90)


def papers() -> dict[str, list[str]]:
    if not SHARED.is_dir():
        return {"bundled SOFC-Exp papers": [p.read_text() for p in sorted((ROOT / "samples" / "papers" / "sofc_exp").glob("*.txt"))]}
    from filters import unarxive_papers  # benchmarks/filters.py

    return {
        "SOFC-Exp papers": [p.read_text() for p in sorted((SHARED / "papers" / "sofc_exp_texts").glob("*.txt"))],
        "SuperMat papers (ground truth text)": [p.read_text() for p in sorted((SHARED / "papers" / "pdf_supermat" / "groundtruth_txt").glob("*.txt"))],
        "unarXive papers": unarxive_papers(),
    }


def shared_pdfs() -> list[str]:
    pdfs = sorted(glob.glob(str(SHARED / "papers" / "pdf_supermat" / "pdf" / "*.pdf")))
    return pdfs + sorted(glob.glob(str(SHARED / "papers" / "pdf_groundtruth" / "*" / "pdf" / "*.pdf")))


def collection(pdf: str) -> str:
    parts = Path(pdf).parts
    return "SuperMat" if "pdf_supermat" in parts else parts[parts.index("pdf_groundtruth") + 1]


def pdf_reader_output() -> list[str]:
    return [d.text for _, d in extract(shared_pdfs(), "pdf") if hasattr(d, "text")]


def read_across(pdf: str) -> str:
    import pymupdf

    lines = []
    with pymupdf.open(pdf) as doc:
        for page in doc:
            rows: dict[int, list] = {}
            for x0, _, _, y1, word, *_ in page.get_text("words"):
                rows.setdefault(round(y1 / 3), []).append((x0, word))  # one row per 3-point band of baselines
            lines += [" ".join(w for _, w in sorted(rows[y])) for y in sorted(rows)]
    return "\n".join(lines)


def pdftotext(pdf: str, *options: str) -> str:
    return subprocess.run(["pdftotext", *options, pdf, "-"], capture_output=True, text=True, timeout=120).stdout


def general_english() -> list[str]:
    path = SHARED / "general" / "general_english_sample.jsonl.gz"
    if not path.exists():
        return []
    with gzip.open(ROOT / "samples" / "general" / "general_english_slice.jsonl.gz", "rt") as f:
        training = {json.loads(line)["text"] for line in f}
    with gzip.open(path, "rt") as f:
        return [t for t in (json.loads(line)["text"] for line in f) if t not in training]


def hard_wrapped(texts: list[str], width: int) -> list[str]:
    return ["\n".join(textwrap.fill(p, width) for p in t.split("\n") if p.strip()) for t in texts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    model, threshold = JunctionModel.load(), InterleaveSettings().threshold

    def score(texts):
        return [interleave_score(model, t) for t in texts]

    paper_sets = papers()
    all_papers = [t for texts in paper_sets.values() for t in texts]
    result = {"threshold": threshold, "positives": {}, "negatives": {}}
    for kind in ("interleaved_columns", "interleaved_lines"):
        scores = score([KINDS[kind](t, random.Random(i)) for i, t in enumerate(all_papers)])
        judged = [s for s in scores if s is not None]
        result["positives"][kind] = {"documents": len(scores), "judged": len(judged),
                                     "recall": sum(s is not None and s > threshold for s in scores) / len(scores),
                                     "min_score": min(judged), "median_score": statistics.median(judged)}
    result["pdftotext_layout"] = {}
    if SHARED.is_dir() and shutil.which("pdftotext"):
        for pdf in shared_pdfs():
            s = interleave_score(model, pdftotext(pdf, "-layout"))
            row = result["pdftotext_layout"].setdefault(collection(pdf), {"documents": 0, "judged": 0, "caught": 0, "scores": []})
            row["documents"] += 1
            row["judged"] += s is not None
            row["caught"] += s is not None and s > threshold
            if s is not None:
                row["scores"].append(round(s, 3))
    if SHARED.is_dir():
        scores = score([read_across(p) for p in shared_pdfs() if collection(p) in ("SuperMat", "juliacon_proc", "livecoms")])
        judged = [x for x in scores if x is not None]
        result["read_across"] = {"documents": len(scores), "judged": len(judged), "caught": sum(x > threshold for x in judged)}
    negatives = dict(paper_sets)
    if SHARED.is_dir():
        negatives["../shared PDFs through our PDF reader"] = pdf_reader_output()
        if shutil.which("pdftotext"):
            negatives["../shared PDFs through plain pdftotext"] = [pdftotext(pdf) for pdf in shared_pdfs()]
    negatives["general English (less the model's training slice)"] = general_english()
    timing = []
    for name, texts in negatives.items():
        if not texts:
            continue
        for width in (None, *WIDTHS):
            variant = texts if width is None else hard_wrapped(texts, width)
            start = time.perf_counter()
            scores = score(variant)
            timing.append((len(variant), sum(len(t.encode()) for t in variant), time.perf_counter() - start))
            judged = [s for s in scores if s is not None]
            result["negatives"][f"{name}{'' if width is None else f', hard-wrapped at {width}'}"] = {
                "documents": len(scores), "judged": len(judged),
                "false_drops": sum(s is not None and s > threshold for s in scores) / len(scores),
                "max_score": max(judged) if judged else None}
    docs, size, seconds = map(sum, zip(*timing))
    result["speed"] = {"documents_per_s": docs / seconds, "mb_per_s": size / 1e6 / seconds}

    print(f"threshold {threshold}")
    print("| interleaved (all papers) | documents | judged | caught | lowest score | median score |\n|---|---:|---:|---:|---:|---:|")
    for kind, r in result["positives"].items():
        print(f"| {kind} | {r['documents']} | {r['judged']} | {100 * r['recall']:.1f}% | {r['min_score']:.3f} | {r['median_score']:.3f} |")
    if result["pdftotext_layout"]:
        print("\n| `pdftotext -layout` (read across) | documents | judged (laid out in columns) | caught | scores |\n|---|---:|---:|---:|---|")
        for name, r in result["pdftotext_layout"].items():
            print(f"| {name} | {r['documents']} | {r['judged']} | {r['caught']} | {', '.join(f'{x:.2f}' for x in sorted(r['scores']))} |")
    if "read_across" in result:
        r = result["read_across"]
        print(f"\nlayout-blind reading (words by baseline across the page), two-column collections: {r['documents']} papers, "
              f"{r['judged']} judged, {r['caught']} caught")
    print("\n| clean text | documents | judged (wrapped prose) | false drops | highest score |\n|---|---:|---:|---:|---:|")
    for name, r in result["negatives"].items():
        top = "-" if r["max_score"] is None else f"{r['max_score']:.3f}"
        print(f"| {name} | {r['documents']} | {r['judged']} | {100 * r['false_drops']:.2f}% | {top} |")
    s = result["speed"]
    print(f"\nspeed over the clean sets: {s['documents_per_s']:.0f} documents/s, {s['mb_per_s']:.1f} MB/s on one core")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
