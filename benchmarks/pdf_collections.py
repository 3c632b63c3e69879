"""PDF fidelity on every development set with ground truth, per paper and per collection, against plain PyMuPDF in
the same run.

Collections (../shared/data/papers):
- `supermat`: pdf_supermat/ (18 condensed-matter papers, expert ground truth text: title, abstract, body, captions);
- `jose`, `juliacon_proc`, `livecoms`, `papers_in_repo`: pdf_groundtruth/<collection>/ (67 papers). Their truth is
  the paper's source as the project's own readers see it, through the same section policy as the PDF reader:
  JATS through the jats reader (title, abstract, body, captions), LaTeX through the latex reader (captions where
  their figure stands in the source, `caption_placement: inline`, as the PDF reader places them). Maths in a LaTeX
  truth is written out as text (pylatexenc: `\\alpha` -> α) since a PDF's text layer holds glyphs, not LaTeX.
Metric (as benchmarks/paper_readers.py): precision, recall and F1 of the multiset of lowercase tokens
`[a-z]+|[0-9]+`, and order = normalised Levenshtein similarity of the token sequences (rapidfuzz). Speed: our
reader's pages per second on one core over all papers.

    .venv/bin/python benchmarks/pdf_collections.py [--json benchmarks/results/pdf_collections.json] [--only jose] [--before REF]
        [--caption-placement after_paragraph]

`--before REF` also scores the rule reader as it was at git commit REF (its corpus/papers/pdf.py, deleted since
9535902, with today's shared modules), on the same truths in the same run: the "before" column of BENCHMARKS.md (REF 973b691).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import types  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pymupdf  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from paper_readers import score  # noqa: E402
from pylatexenc.latex2text import LatexNodes2Text  # noqa: E402

from corpus.extract import extract  # noqa: E402
from corpus.formats.pdf.reader import PdfExtractor  # noqa: E402

PAPERS = ROOT.parent / "shared" / "data" / "papers"
_MATH = re.compile(r"\$\$(.+?)\$\$|\$([^$]+)\$", re.DOTALL)
_L2T = LatexNodes2Text(math_mode="text")


def maths_as_text(text: str) -> str:
    def one(m: re.Match) -> str:
        tex = m.group(1) or m.group(2)
        try:
            return " " + _L2T.latex_to_text(tex) + " "
        except Exception:  # noqa: BLE001 - pylatexenc on a fragment it cannot parse: keep the source
            return " " + tex + " "

    return _MATH.sub(one, text)


_CAPTION_LINE = re.compile(r"^(fig\.?|figure|table|tab\.|scheme|chart|listing)\s*([0-9]+|[ivxlc]+|s[0-9]+)\s*(?:[.:|—–]|\(colou?r)", re.IGNORECASE)


def without_captions(text: str) -> str:
    """The text without its caption lines and the Markdown table rows under them: what is left when floats are set
    aside (the PDF places a float where the page has it; a LaTeX source where the author wrote it; JATS at the end)."""
    return "\n".join(ln for ln in text.split("\n") if not _CAPTION_LINE.match(ln.strip()) and not ln.startswith("|"))


def truth_of(path: Path) -> str:
    reader = "jats" if path.suffix == ".xml" else "latex"
    # a LaTeX figure stands in the source about where it floats on the page: its caption goes there, as the PDF
    # reader places captions by default (JATS <fig>s stand in their <sec> too, but the jats reader has no such option)
    options = {"caption_placement": "inline"} if reader == "latex" else None
    docs = [d for _, d in extract([str(path)], reader, options) if hasattr(d, "text")]
    if not docs:
        raise RuntimeError(f"no ground truth from {path}")
    return maths_as_text(docs[0].text)


def collections(only: list[str] | None) -> dict[str, list[tuple[Path, str]]]:
    out: dict[str, list[tuple[Path, str]]] = {}
    sm = PAPERS / "pdf_supermat"
    if sm.is_dir():
        out["supermat"] = [(pdf, (sm / "groundtruth_txt" / f"{pdf.stem}.txt").read_text(encoding="utf-8"))
                           for pdf in sorted((sm / "pdf").glob("*.pdf"))]
    for folder in sorted((PAPERS / "pdf_groundtruth").iterdir()) if (PAPERS / "pdf_groundtruth").is_dir() else []:
        if not folder.is_dir() or (only and folder.name not in only):
            continue
        pairs = []
        for pdf in sorted((folder / "pdf").glob("*.pdf")):
            truth = next((folder / "groundtruth").glob(f"{pdf.stem}.*"), None)
            if truth is not None:
                pairs.append((pdf, truth_of(truth)))
        out[folder.name] = pairs
    if only:
        out = {k: v for k, v in out.items() if k in only}
    return out


def plain_pymupdf(pdf: Path) -> str:
    with pymupdf.open(pdf) as doc:
        return "\n".join(page.get_text() for page in doc)


CAPTION_PLACEMENT = "inline"  # the reader's default; --caption-placement after_paragraph tries the other


def ours(pdf: Path) -> str:
    return PdfExtractor(caption_placement=CAPTION_PLACEMENT).extract(pdf.read_bytes()).text


def extractor_at(ref: str):
    """The PdfExtractor class of the rule reader, corpus/papers/pdf.py, at commit `ref` (the module is gone after
    9535902; its OCR and table helpers moved to corpus/formats/pdf/, where its imports are pointed)."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:corpus/papers/pdf.py"], capture_output=True, text=True, check=True).stdout
    source = source.replace("corpus.papers.ocr", "corpus.formats.pdf.ocr").replace("corpus.papers.pdf_tables", "corpus.formats.pdf.tables")
    module = types.ModuleType(f"pdf_at_{ref}")
    sys.modules[module.__name__] = module  # dataclasses look their module up there
    exec(compile(source, f"{ref}:corpus/papers/pdf.py", "exec"), module.__dict__)  # noqa: S102 - our own file at a commit
    return module.PdfExtractor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--only", nargs="*", help="only these collections")
    ap.add_argument("--before", help="also score the reader at this git commit")
    ap.add_argument("--caption-placement", choices=("inline", "after_paragraph"), default="inline",
                    help="the PDF reader's caption_placement (default inline: where the page has the figure)")
    args = ap.parse_args()
    global CAPTION_PLACEMENT
    CAPTION_PLACEMENT = args.caption_placement
    before = extractor_at(args.before) if args.before else None
    sets = collections(args.only)
    rows, pages, seconds, before_seconds = [], 0, 0.0, 0.0
    for name, pairs in sets.items():
        for pdf, truth in pairs:
            t = time.perf_counter()
            text = ours(pdf)
            seconds += time.perf_counter() - t
            with pymupdf.open(pdf) as doc:
                pages += doc.page_count
            rows.append({"collection": name, "paper": pdf.stem, "ours": score(truth, text), "pymupdf": score(truth, plain_pymupdf(pdf))})
            if name != "supermat":  # SuperMat's truth gives its captions without their "Fig. N" label: not to be found
                rows[-1]["ours_without_captions"] = score(without_captions(truth), without_captions(text))
            if before is not None:
                t = time.perf_counter()
                old = before().extract(pdf.read_bytes()).text
                before_seconds += time.perf_counter() - t  # timed in the same run, paper after paper with ours
                rows[-1]["before"] = score(truth, old)
    print("| collection | papers | ours F1 mean / worst | ours order mean / worst | PyMuPDF F1 / order | papers under F1 0.85 |")
    print("|---|---:|---|---|---|---:|")
    summary = {}
    for name in list(sets) + ["all"]:
        rs = [r for r in rows if name in ("all", r["collection"])]
        if not rs:
            continue
        s = {k: {m: statistics.mean(r[k][m] for r in rs) for m in ("precision", "recall", "f1", "order")} for k in ("ours", "pymupdf")}
        s["worst_f1"] = min(r["ours"]["f1"] for r in rs)
        s["worst_order"] = min(r["ours"]["order"] for r in rs)
        s["under_085"] = sorted(r["paper"] for r in rs if r["ours"]["f1"] < 0.85)
        if all("ours_without_captions" in r for r in rs):
            s["order_without_captions"] = statistics.mean(r["ours_without_captions"]["order"] for r in rs)
        if before is not None:
            s["before"] = {m: statistics.mean(r["before"][m] for r in rs) for m in ("f1", "order")}
            s["before"]["under_085"] = sum(r["before"]["f1"] < 0.85 for r in rs)
        summary[name] = s
        print(f"| {name} | {len(rs)} | {s['ours']['f1']:.3f} / {s['worst_f1']:.3f} | {s['ours']['order']:.3f} / {s['worst_order']:.3f} | "
              f"{s['pymupdf']['f1']:.3f} / {s['pymupdf']['order']:.3f} | {len(s['under_085'])} |"
              + (f" before {args.before}: F1 {s['before']['f1']:.3f} / order {s['before']['order']:.3f} / under 0.85: {s['before']['under_085']}"
                 if before is not None else ""))
    print("\norder with every caption (and a table body under it) left out of both texts, so that where a float stands does"
          " not count (not SuperMat, whose truth drops the captions' labels):")
    for name, s in summary.items():
        if "order_without_captions" in s:
            print(f"  {name}: {s['ours']['order']:.3f} -> {s['order_without_captions']:.3f}")
    print(f"\nours: {pages} pages in {seconds:.1f} s = {pages / seconds:.0f} pages/s on one core")
    if before is not None:
        print(f"before {args.before}: {pages / before_seconds:.0f} pages/s in the same run (ratio {before_seconds / seconds:.2f})")
    print("\nworst papers (ours F1 / order / precision / recall; PyMuPDF F1):")
    for r in sorted(rows, key=lambda r: r["ours"]["f1"])[:15]:
        o = r["ours"]
        print(f"  {r['collection']:<15} {r['paper']:<32} {o['f1']:.3f} / {o['order']:.3f} / P {o['precision']:.3f} / R {o['recall']:.3f}; "
              f"PyMuPDF {r['pymupdf']['f1']:.3f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"papers": rows, "summary": summary, "pages": pages, "pages_per_s": pages / seconds,
                                               **({"before_pages_per_s": pages / before_seconds} if before is not None else {})}, indent=1))


if __name__ == "__main__":
    main()
