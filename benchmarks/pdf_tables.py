"""Tables from PDFs (`keep_tables: true`, issue 17 item 3) against the tables of the papers' own sources, beside
PyMuPDF's table finder run bare on every page, in the same run.

Truth: the tables of pdf_groundtruth/ (../shared/data/papers) as the project's readers see the sources: JATS
`<table-wrap>`s through the jats reader, LaTeX `tabular`s through the latex reader, both with keep_tables (Markdown
tables, read back with corpus.papers.model.markdown_tables). Papers whose source has no table are still run: a table
found there is spurious.

Per truth table, the extracted table of the same paper that matches it best:
- `cells`: F1 of the multisets of non-empty cells (lowercase, letters and digits only) — a cell split over two rows
  or glued to its neighbour counts as wrong;
- `words`: F1 of the multisets of the table's words — what a language model reads, whatever the grid;
- `shape`: the share of truth tables whose best match has the same number of rows and columns.
`found`: truth tables whose best match has word F1 >= 0.5. `spurious`: extracted tables that match no truth table
(word F1 < 0.3 against each). Speed: seconds per page of the whole reader with keep_tables on and off.

    .venv/bin/python benchmarks/pdf_tables.py [--json benchmarks/results/pdf_tables.json]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import pymupdf  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from corpus.extract import extract  # noqa: E402
from corpus.papers.model import markdown_tables  # noqa: E402
from corpus.formats.pdf.reader import PdfExtractor  # noqa: E402

TRUTH = ROOT.parent / "shared" / "data" / "papers" / "pdf_groundtruth"
_WORD = re.compile(r"[a-z]+|[0-9]+")


def truth_tables(path: Path) -> list[list[list[str]]]:
    reader = "jats" if path.suffix == ".xml" else "latex"
    docs = [d for _, d in extract([str(path)], reader, {"keep_tables": True}) if hasattr(d, "text")]
    return markdown_tables(docs[0].text) if docs else []


def bare_finder(pdf: Path) -> list[list[list[str]]]:
    with pymupdf.open(pdf) as doc:
        return [[[c or "" for c in row] for row in t.extract()] for page in doc for t in page.find_tables().tables]


def _f1(a: Counter, b: Counter) -> float:
    overlap = sum((a & b).values())
    return 2 * overlap / (sum(a.values()) + sum(b.values())) if a or b else 1.0


def cells(table: list[list[str]]) -> Counter:
    return Counter(k for r in table for c in r if (k := "".join(_WORD.findall(c.lower()))))


def words(table: list[list[str]]) -> Counter:
    return Counter(w for r in table for c in r for w in _WORD.findall(c.lower()))


def shape(table: list[list[str]]) -> tuple[int, int]:
    return len(table), max((len(r) for r in table), default=0)


def score(truths: list, found: list) -> dict:
    rows = []
    for t in truths:
        best = max(found, key=lambda f: _f1(words(t), words(f)), default=None)
        rows.append({"words": _f1(words(t), words(best)) if best else 0.0, "cells": _f1(cells(t), cells(best)) if best else 0.0,
                     "shape": bool(best) and shape(best) == shape(t)})
    spurious = sum(1 for f in found if all(_f1(words(t), words(f)) < 0.3 for t in truths))
    return {"tables": rows, "spurious": spurious, "extracted": len(found)}


def summary(per_paper: list[dict]) -> dict:
    rows = [r for p in per_paper for r in p["tables"]]
    return {"truth_tables": len(rows), "found": sum(r["words"] >= 0.5 for r in rows),
            "words_f1": round(statistics.mean(r["words"] for r in rows), 3) if rows else None,
            "cells_f1": round(statistics.mean(r["cells"] for r in rows), 3) if rows else None,
            "shape": round(statistics.mean(r["shape"] for r in rows), 3) if rows else None,
            "extracted": sum(p["extracted"] for p in per_paper), "spurious": sum(p["spurious"] for p in per_paper)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not TRUTH.is_dir():
        sys.exit(f"{TRUTH} is missing")
    ours, bare, pages = [], [], 0
    seconds = {"keep_tables": 0.0, "no_tables": 0.0, "bare_finder": 0.0}
    for folder in sorted(p for p in TRUTH.iterdir() if p.is_dir()):
        for pdf in sorted((folder / "pdf").glob("*.pdf")):
            source = next((folder / "groundtruth").glob(f"{pdf.stem}.*"), None)
            if source is None:
                continue
            truths = truth_tables(source)
            data = pdf.read_bytes()
            t = time.process_time()
            result = PdfExtractor(keep_tables=True).extract(data)
            seconds["keep_tables"] += time.process_time() - t
            t = time.process_time()
            PdfExtractor().extract(data)
            seconds["no_tables"] += time.process_time() - t
            t = time.process_time()
            found_bare = bare_finder(pdf)
            seconds["bare_finder"] += time.process_time() - t
            pages += result.pages
            mine = markdown_tables(result.text)
            ours.append({"paper": f"{folder.name}/{pdf.stem}", **score(truths, mine),
                         "unstructured": result.paper.metadata.get("tables_unstructured", 0)})
            bare.append({"paper": f"{folder.name}/{pdf.stem}", **score(truths, found_bare)})
    out = {"pages": pages, "ours": summary(ours), "bare_pymupdf_find_tables": summary(bare),
           "unstructured_captions": sum(p["unstructured"] for p in ours),
           "seconds_per_page": {k: round(v / max(pages, 1), 4) for k, v in seconds.items()},
           "per_paper": [{"paper": o["paper"], "truth": len(o["tables"]), "ours": [round(r["words"], 2) for r in o["tables"]],
                          "ours_spurious": o["spurious"], "bare": [round(r["words"], 2) for r in b["tables"]], "bare_spurious": b["spurious"]}
                         for o, b in zip(ours, bare) if o["tables"] or o["spurious"] or b["spurious"]]}
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
