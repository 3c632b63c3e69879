"""Which pages the PDF reader sends to OCR (corpus/formats/pdf/ocr.py `needs_ocr`), over every PDF under
../shared/data/papers and samples/: the count of pages looked at and each page routed, with why (a garbage layer or a
scan). The figure behind BENCHMARKS.md's "OCR now goes to a page only where ..." (issue 33).

    .venv/bin/python benchmarks/ocr_routing.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import pymupdf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from corpus.formats.pdf.ocr import garbage_layer, needs_ocr  # noqa: E402
from corpus.formats.pdf.page import document_blocks  # noqa: E402


def main() -> None:
    pdfs = sorted((ROOT.parent / "shared" / "data" / "papers").rglob("*.pdf")) + sorted((ROOT / "samples").rglob("*.pdf"))
    pages = 0
    for pdf in pdfs:
        with pymupdf.open(pdf) as doc:
            blocks = document_blocks(doc)
            for i, page_blocks in enumerate(blocks):
                pages += 1
                garbage = garbage_layer("\n".join(b.text for b in page_blocks))
                routed = needs_ocr(doc[i], page_blocks)
                if routed or garbage:
                    print(f"{pdf.relative_to(pdf.parents[2])} page {i + 1}: {'OCR' if routed else 'not OCR'}"
                          f"{' (unmapped glyphs)' if garbage else ''}")
    print(f"{len(pdfs)} PDFs, {pages} pages")


if __name__ == "__main__":
    main()
