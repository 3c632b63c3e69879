"""OCR for PDF pages without a usable text layer (scans of older literature), on the CPU, with Tesseract.

Tesseract 5 (Debian's `tesseract-ocr`, its English LSTM model in the package: nothing downloaded at run time)
reads a page rendered at `dpi`; its TSV output gives every word with its block, paragraph and line and their
boxes, which become the same `PageBlock`s the text layer gives, so OCR'd pages go through the same stages (reading
order, block roles, assembly) and section policy. Chosen over
rapidocr (PP-OCR ONNX models in the wheel) because it is one Debian package with no Python dependencies and
gives paragraph and line structure, which the page blocks need; its accuracy and speed on the de-layered
1987/89 SuperMat scans are in BENCHMARKS.md ("OCR").

A page needs OCR (`needs_ocr`, the routing rule) when what its text layer has is garbage (a font without a Unicode map:
`(cid:12)` runs, U+FFFD; or mostly characters that are neither letters, digits, spaces nor punctuation), or when it
has almost no text (fewer than `min_chars` characters) *and* a picture covers most of the page: a scan. A page whose
only text is a figure's label ("Fig. 2") beside a plot is a figure page, not a scan: Tesseract would read nothing
there but tick labels, at two thirds of a manuscript's reading time (issue 33).
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from collections import defaultdict

import pymupdf

from corpus.formats.pdf.page import PageBlock, clean

_CID = re.compile(r"\(cid:\d+\)")
OCR_MAX_PIXELS = 40_000_000  # a page image for Tesseract (an A4 page at 300 dpi is 8.7 M)
SCAN_COVER = 0.6  # the share of the page a picture covers on a scanned page (a scan's image is the whole page)
MIN_CHARS = 20  # a page with less text than this has no text layer to speak of
TEXT_LINE = 15  # characters: a line of a text column (labels in a figure are a few characters)


def tesseract() -> str | None:
    return shutil.which("tesseract")


_VISIBLE = re.compile(r"\S")
_ORDINARY = re.compile(r"[^\W_]|[.,;:()\[\]\-'\"%/+=<>]")  # letters and digits of any script, common punctuation


def garbage_layer(text: str) -> bool:
    """A text layer that holds no readable text: unmapped glyphs or symbol soup. (Run on every page of every PDF,
    so it counts with regular expressions rather than a Python loop over the characters.)"""
    visible = len(_VISIBLE.findall(text))
    if not visible:
        return False
    if len(_CID.findall(text)) * 6 > 0.3 * visible or text.count("\ufffd") > 0.1 * visible:
        return True
    return len(_ORDINARY.findall(text)) < 0.6 * visible


def ocr_page_words(png: bytes, timeout_s: float = 120) -> list[dict]:
    """Tesseract's words of one page image: text, conf, block/par/line ids and the box in pixels."""
    done = subprocess.run([tesseract() or "tesseract", "stdin", "stdout", "--psm", "3", "-l", "eng", "tsv"],
                          input=png, capture_output=True, timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"tesseract exit {done.returncode}: {done.stderr.decode('utf-8', 'replace')[-300:]}")
    rows = csv.DictReader(io.StringIO(done.stdout.decode("utf-8", "replace")), delimiter="\t", quoting=csv.QUOTE_NONE)
    words = []
    for r in rows:
        if r.get("level") != "5" or not (r.get("text") or "").strip():
            continue
        try:
            words.append({"text": r["text"], "conf": float(r["conf"]), "block": int(r["block_num"]), "par": int(r["par_num"]),
                          "line": int(r["line_num"]), "box": (int(r["left"]), int(r["top"]), int(r["left"]) + int(r["width"]),
                                                              int(r["top"]) + int(r["height"]))})
        except (KeyError, ValueError):
            continue
    return words


def group_lines(words: list[dict]) -> dict[tuple[int, int], list[tuple[str, tuple, float]]]:
    """(block, paragraph) -> its lines in order: (text, box in pixels, height in pixels)."""
    lines: dict[tuple[int, int, int], list[dict]] = defaultdict(list)
    for w in words:
        lines[(w["block"], w["par"], w["line"])].append(w)
    out: dict[tuple[int, int], list[tuple[str, tuple, float]]] = defaultdict(list)
    for (block, par, _), ws in sorted(lines.items()):
        ws.sort(key=lambda w: w["box"][0])
        box = (min(w["box"][0] for w in ws), min(w["box"][1] for w in ws), max(w["box"][2] for w in ws), max(w["box"][3] for w in ws))
        heights = sorted(w["box"][3] - w["box"][1] for w in ws)
        out[(block, par)].append((" ".join(w["text"] for w in ws), box, heights[len(heights) // 2]))
    return out


def picture_cover(page: pymupdf.Page) -> float:
    """The share of the page the largest picture on it covers."""
    area = max(page.rect.width * page.rect.height, 1e-6)
    best = 0.0
    for info in page.get_image_info():
        box = pymupdf.Rect(info["bbox"]) & page.rect
        best = max(best, box.width * box.height / area)
    return best


def _set_in_lines(blocks: list[PageBlock]) -> bool:
    """Whether most of the layer's characters stand in lines as long as a column's (a page of text in a font without
    a Unicode map), rather than in the short labels of a figure (tick values, a panel letter, "Fig. 1")."""
    lengths = [len(line.strip()) for b in blocks for line in b.lines]
    return sum(n for n in lengths if n >= TEXT_LINE) >= 0.5 * max(1, sum(lengths))


def needs_ocr(page: pymupdf.Page, blocks: list[PageBlock], min_chars: int = MIN_CHARS) -> bool:
    """Whether the page's text must come from Tesseract: a garbage text layer set in lines of text, or (almost) no
    layer on a scanned page. A figure page (a plot whose labels are in a font without a Unicode map, or a label
    alone) is neither."""
    text = "\n".join(b.text for b in blocks)
    if garbage_layer(text):
        return _set_in_lines(blocks) or picture_cover(page) >= SCAN_COVER
    return len(text) < min_chars and picture_cover(page) >= SCAN_COVER


def ocr_blocks(page: pymupdf.Page, number: int, dpi: int = 300) -> list[PageBlock]:
    """The page as Tesseract reads it, as page blocks (one per Tesseract paragraph; a line's type size from its
    letters' height)."""
    # a hostile page size (200 x 200 inches) must not become a 3 GB image: fewer dots per inch past OCR_MAX_PIXELS
    inches = max(page.rect.width * page.rect.height / 72**2, 1e-6)
    dpi = max(1, min(dpi, int((OCR_MAX_PIXELS / inches) ** 0.5)))
    pix = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY)
    scale = 72 / dpi
    width, height = page.rect.width or 1.0, page.rect.height or 1.0
    blocks = []
    for lines in group_lines(ocr_page_words(pix.tobytes("png"))).values():
        boxes = [tuple(v * scale for v in box) for _, box, _ in lines]
        sizes = [round(h * scale / 0.7, 1) for _, _, h in lines]  # an x-height-ish letter is ~0.7 of the type size
        size = sorted(sizes)[len(sizes) // 2]
        bbox = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
        blocks.append(PageBlock(page=number, bbox=bbox, lines=[clean(text) for text, _, _ in lines], size=size,
                                max_size=max(sizes), bold=0.0, italic=0.0, mono=0.0, page_width=width,
                                page_height=height, line_boxes=boxes))
    return blocks
