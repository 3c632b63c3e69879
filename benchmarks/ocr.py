"""OCR on real scans: the 1987/89 SuperMat papers (PHC14*, PHC15*: scans with a publisher's text layer behind) with
their text layer removed, read by our PDF reader through Tesseract, against the expert ground truth; the same papers
through their text layer in the same run.

Each page is rendered at 200 dpi to a grey image and written to a new PDF with nothing else on it (a scan as a
library's scanner makes it); the reader then OCRs it at `--dpi` (default 300). Metric as benchmarks/paper_readers.py
(token F1, order). Speed: OCR'd pages per second on one core (Tesseract with OMP_THREAD_LIMIT=1).

    .venv/bin/python benchmarks/ocr.py [--dpi 300] [--json benchmarks/results/ocr.json]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # Tesseract's own threads: one core, as the other benchmarks

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pymupdf  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from paper_readers import score  # noqa: E402

from corpus.formats.pdf.reader import PdfExtractor  # noqa: E402

SUPERMAT = ROOT.parent / "shared" / "data" / "papers" / "pdf_supermat"


def delayered(pdf: Path) -> bytes:
    src, out = pymupdf.open(pdf), pymupdf.open()
    for page in src:
        pix = page.get_pixmap(dpi=200, colorspace=pymupdf.csGRAY)
        new = out.new_page(width=page.rect.width, height=page.rect.height)
        new.insert_image(new.rect, stream=pix.tobytes("png"))
    return out.tobytes(deflate=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dpi", type=int, default=300)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    rows, pages, seconds = [], 0, 0.0
    for pdf in sorted((SUPERMAT / "pdf").glob("PHC*.pdf")):
        truth = (SUPERMAT / "groundtruth_txt" / f"{pdf.stem}.txt").read_text(encoding="utf-8")
        scan = delayered(pdf)
        t = time.perf_counter()
        result = PdfExtractor(ocr_dpi=args.dpi).extract(scan)
        seconds += time.perf_counter() - t
        pages += len(result.paper.metadata.get("ocr_pages", []))
        layer = PdfExtractor().extract(pdf.read_bytes())
        rows.append({"paper": pdf.stem, "ocr": score(truth, result.text), "text_layer": score(truth, layer.text),
                     "ocr_pages": result.paper.metadata.get("ocr_pages", [])})
        print(f"{pdf.stem}: OCR F1 {rows[-1]['ocr']['f1']:.3f} / order {rows[-1]['ocr']['order']:.3f}; "
              f"text layer F1 {rows[-1]['text_layer']['f1']:.3f} / order {rows[-1]['text_layer']['order']:.3f}")
    print(f"OCR: {pages} pages in {seconds:.1f} s = {pages / seconds:.2f} pages/s on one core at {args.dpi} dpi")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"dpi": args.dpi, "papers": rows, "pages": pages, "pages_per_s": pages / seconds}, indent=1))


if __name__ == "__main__":
    main()
