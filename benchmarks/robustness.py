"""Reliability figures of issue 15 that are measurements rather than pass/fail tests.

    .venv/bin/python benchmarks/robustness.py bomb     # peak memory of reading a 1 GiB-line .jsonl.gz (1 MB on disk)
    .venv/bin/python benchmarks/robustness.py pdfs     # MuPDF repairs on every real PDF in ../shared/data, whole and cut

`bomb` runs `corpus extract` on the file in a child process and reports the child's peak resident memory; run it in
a checkout of an older commit to compare (the figure in BENCHMARKS.md for 661e7dd came from a worktree of it).
`pdfs` opens every PDF under ../shared/data/papers and samples/ whole (how many MuPDF must repair: a false
`damaged_pdf` would be one of them) and cut at 35/60/85/98% of its bytes (what the PDF reader makes of each cut).
"""

import json
import resource
import subprocess
import sys
import tempfile
import zlib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def bomb() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bomb.jsonl.gz"
        comp = zlib.compressobj(9, zlib.DEFLATED, 31)
        block = b"a" * (64 << 20)
        with open(path, "wb") as f:
            for _ in range(16):  # one 1 GiB line, never held here
                f.write(comp.compress(block))
            f.write(comp.compress(b'\n{"text": "the line after the bomb"}\n') + comp.flush())
        run = subprocess.run([sys.executable, "-m", "corpus", "extract", str(path), "--reader", "jsonl", "-o", str(Path(tmp) / "x.jsonl")],
                             capture_output=True, text=True, cwd=ROOT)
        return {"file_bytes": path.stat().st_size, "line_bytes": 1 << 30, "rc": run.returncode,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, "stderr": run.stderr.strip()[-300:]}


def pdfs() -> dict:
    import pymupdf

    from corpus.formats.pdf.reader import PdfExtractor

    files = sorted({*(ROOT.parent / "shared" / "data" / "papers").rglob("*.pdf"), *(ROOT / "samples").rglob("*.pdf")})
    repaired_whole = [str(f) for f in files if pymupdf.open(f).is_repaired]
    cuts: Counter = Counter()
    for f in files:
        data = f.read_bytes()
        for fraction in (0.35, 0.6, 0.85, 0.98):
            result = PdfExtractor().extract(data[: int(len(data) * fraction)])
            cuts[getattr(result, "kind", "document")] += 1
    return {"pdfs": len(files), "repaired_whole": repaired_whole, "cut_outcomes": dict(cuts)}


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "bomb"
    result = {"bomb": bomb, "pdfs": pdfs}[what]()
    out = ROOT / "benchmarks" / "results" / f"robustness_{what}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
