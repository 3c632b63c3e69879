"""The PDF reader's speed as a user meets it (issue 33): `corpus extract` end to end on a folder of papers, one core,
with its defaults (OCR on: only scanned pages go to Tesseract), beside the rule reader it replaced, and where the
time goes.

1. `corpus extract FOLDER -o OUT.jsonl` in a fresh process pinned to one core (`taskset -c 0` where there is one):
   start-up, imports, the model, every paper; pages per second over the folder's pages; median of `--repeat` runs.
2. In-process, paper after paper on the same PDFs: the share of the time in page blocks (PyMuPDF and ours),
   features, the model and the assembly; and the rule reader as it was at `--rules-at` (benchmarks/pdf_collections.py
   `extractor_at`), timed in the same loop (the baseline of the same run).

    .venv/bin/python benchmarks/pdf_speed.py [--folder ../shared/data/papers/pdf_supermat/pdf] [--repeat 3]
        [--json benchmarks/results/pdf_speed.json]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pymupdf  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from pdf_collections import extractor_at  # noqa: E402

from corpus.formats.pdf.reader import PdfExtractor  # noqa: E402
from corpus.formats.pdf.roles.features import block_features  # noqa: E402
from corpus.formats.pdf.roles.model import load  # noqa: E402

FOLDER = ROOT.parent / "shared" / "data" / "papers" / "pdf_supermat" / "pdf"


def end_to_end(folder: Path, repeat: int) -> dict:
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            started = time.perf_counter()
            done = subprocess.run([*pin, sys.executable, "-m", "corpus", "extract", str(folder), "-o", f"{tmp}/out.jsonl"],
                                  cwd=ROOT, capture_output=True, text=True)
            runs.append(time.perf_counter() - started)
            if done.returncode != 0:
                raise RuntimeError(f"corpus extract failed: {done.stderr[-500:]}")
        documents = sum(1 for _ in open(f"{tmp}/out.jsonl", encoding="utf-8"))
        started = time.perf_counter()
        subprocess.run([*pin, sys.executable, "-c", "import corpus.cli, corpus.readers.pdf, corpus.formats.pdf.roles.model as m; m.load()"],
                       cwd=ROOT, check=True)
        start_up = time.perf_counter() - started
    return {"seconds_median": statistics.median(runs), "seconds": runs, "documents": documents,
            "start_up_s": start_up, "pinned": bool(pin)}


def in_process(pdfs: list[Path], rules_at: str) -> dict:
    reader = PdfExtractor()
    rules = extractor_at(rules_at)()
    model = load()
    shares = {"page_blocks_s": 0.0, "features_s": 0.0, "model_s": 0.0, "assembly_s": 0.0, "rules_s": 0.0}
    for pdf in pdfs:
        data = pdf.read_bytes()
        t0 = time.perf_counter()
        layout = reader.layout(data)
        t1 = time.perf_counter()
        features = block_features(layout.blocks)
        t2 = time.perf_counter()
        p = model.probabilities(features)
        t3 = time.perf_counter()
        reader.assemble(layout, p)
        t4 = time.perf_counter()
        rules.extract(data)
        t5 = time.perf_counter()
        for key, dt in zip(shares, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            shares[key] += dt
    return shares


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", type=Path, default=FOLDER)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rules-at", default="9535902")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    pdfs = sorted(args.folder.glob("*.pdf"))
    pages = 0
    for pdf in pdfs:
        with pymupdf.open(pdf) as doc:
            pages += doc.page_count
    e2e = end_to_end(args.folder, args.repeat)
    shares = in_process(pdfs, args.rules_at)
    ours = sum(v for k, v in shares.items() if k != "rules_s")
    result = {"folder": str(args.folder), "pdfs": len(pdfs), "pages": pages, "end_to_end": e2e,
              "end_to_end_pages_per_s": pages / e2e["seconds_median"], "in_process": shares,
              "in_process_pages_per_s": pages / ours, "rules_pages_per_s": pages / shares["rules_s"]}
    print(f"{len(pdfs)} PDFs, {pages} pages: corpus extract end to end {e2e['seconds_median']:.1f} s (median of {args.repeat}, "
          f"{'one core' if e2e['pinned'] else 'not pinned'}) = {pages / e2e['seconds_median']:.1f} pages/s; start-up "
          f"{e2e['start_up_s']:.2f} s")
    print(f"in process: {pages / ours:.1f} pages/s (page blocks {shares['page_blocks_s']:.2f} s, features "
          f"{shares['features_s']:.2f} s, model {shares['model_s']:.2f} s, assembly {shares['assembly_s']:.2f} s); rule reader "
          f"at {args.rules_at}: {pages / shares['rules_s']:.1f} pages/s in the same loop")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
