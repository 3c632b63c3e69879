"""Stage 1 of the learned PDF reader: PyMuPDF's text layer -> page blocks with the layout facts the later stages read.

A `PageBlock` is one of PyMuPDF's text blocks (lines it groups by proximity), its text with line-end hyphens and
ligatures repaired, and what its spans say: font sizes, bold/italic/monospace shares, box on the page. What a page's
text needs before any role is decided is done here, each a named rule: a manuscript's line numbers go
(`drop_line_numbers`), a listing in a monospaced font keeps its lines. Which blocks are text is decided later: the
role model (roles/) and the reading order (order.py).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import pymupdf

from corpus.records import Failure

LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st", "\u00ad": ""})
# PyMuPDF span flags (TEXT_FONT_*): bit 1 italic, bit 3 monospaced, bit 4 bold
_ITALIC, _MONO, _BOLD = 2, 8, 16
_MONO_FONT = re.compile(r"mono|courier|consol|menlo|inconsolata", re.IGNORECASE)
_LINE_NUMBER = re.compile(r"^\s*\d{1,5}\s*$")
CODE_SHARE = 0.7  # a block with this share of its characters in a monospaced font is a listing: its lines stay lines


def clean(text: str) -> str:
    """Ligatures spelled out and soft hyphens dropped, in NFC."""
    return unicodedata.normalize("NFC", text.translate(LIGATURES))


def join_lines(lines: list[str]) -> str:
    """Join wrapped lines, repairing words hyphenated at a line end ("super-" + "conductor")."""
    out = ""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if out.endswith("-") and len(out) > 1 and out[-2].isalpha() and line[:1].islower():
            out = out[:-1] + line
        elif out:
            out += " " + line
        else:
            out = line
    return out


@dataclass
class PageBlock:
    page: int  # 0-based
    bbox: tuple[float, float, float, float]
    lines: list[str]
    size: float  # the character-weighted median font size
    max_size: float
    bold: float  # shares of the block's characters
    italic: float
    mono: float
    page_width: float
    page_height: float
    line_boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    table: str = ""  # a table body the table finder structured, as Markdown (keep_tables); such a block has no lines

    @cached_property
    def text(self) -> str:  # read by every stage: joined once
        if self.table:
            return self.table
        if self.mono >= CODE_SHARE and len(self.lines) > 1:  # a code listing: a line is a statement
            # (a listing's frame is drawn in glyphs without a Unicode mapping: lines of U+FFFD only)
            return "\n".join(line.rstrip() for line in self.lines if line.replace("\ufffd", "").strip())
        return join_lines(self.lines)


def _weighted_median(pairs: list[tuple[float, int]]) -> float:
    pairs = sorted(pairs)
    total = sum(n for _, n in pairs)
    seen = 0
    for value, n in pairs:
        seen += n
        if 2 * seen >= total:
            return value
    return 0.0


@lru_cache(maxsize=4096)
def _style(flags: int, font: str) -> tuple[bool, bool, bool]:
    """Bold, italic, monospaced: by the span's flags or its font's name (a page has a few fonts and thousands of spans)."""
    name = font.lower()
    return (bool(flags & _BOLD or "bold" in name), bool(flags & _ITALIC or "italic" in name),
            bool(flags & _MONO or _MONO_FONT.search(font)))


def drop_line_numbers(raw_blocks: list[dict]) -> None:
    """Remove a manuscript's line numbers (lineno, review copies): bare integers at the start or end of text lines,
    set off from the words by a gap, or lines of their own inside a text block, that together count up on the page
    (most values of their range are there, at least 8).
    A lone number in a table row or a citation joined to its word is not set off, or not part of such a run."""
    found: list[tuple[dict, dict, int]] = []  # (line, span, value)
    for raw in raw_blocks:
        for rl in raw.get("lines", ()):
            spans = [sp for sp in rl["spans"] if sp["text"].strip()]
            if len(spans) == 1 and _LINE_NUMBER.match(spans[0]["text"]):
                # a number set as a line of its own, inside a text block or as a block of its own beside one
                found.append((rl, spans[0], int(spans[0]["text"])))
                continue
            if len(spans) < 2:
                continue
            for sp, neighbour, gap in ((spans[0], spans[1], spans[1]["bbox"][0] - spans[0]["bbox"][2]),
                                       (spans[-1], spans[-2], spans[-1]["bbox"][0] - spans[-2]["bbox"][2])):
                if _LINE_NUMBER.match(sp["text"]) and gap > 0.8 * max(sp["size"], 1):
                    found.append((rl, sp, int(sp["text"])))
    # the densest run of values (consecutive ones at most 3 apart): figure ticks or a page number beside it do not count
    values = sorted({v for _, _, v in found})
    best: list[int] = []
    run: list[int] = []
    for v in values:
        run = run + [v] if run and v - run[-1] <= 3 else [v]
        if len(run) > len(best):
            best = run
    if len(best) < 8 or best[-1] - best[0] + 1 > 1.6 * len(best):
        return
    numbers = set(best)
    for rl, sp, v in found:
        if v in numbers and sp in rl["spans"]:
            rl["spans"].remove(sp)



def page_blocks(page: pymupdf.Page, number: int) -> list[PageBlock]:
    """The text blocks of one page, in PyMuPDF's order (reading order is a later stage)."""
    out = []
    width, height = page.rect.width or 1.0, page.rect.height or 1.0
    raw_blocks = page.get_text("dict", flags=pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP)["blocks"]
    drop_line_numbers(raw_blocks)
    for raw in raw_blocks:
        if raw.get("type") != 0:
            continue
        lines, boxes, sizes = [], [], []
        bold = italic = mono = chars = 0
        top = 0.0
        for line in raw.get("lines", []):
            spans = [s for s in line.get("spans", []) if s.get("text")]
            text = clean("".join(s["text"] for s in spans))
            if not text.strip():
                continue
            for s in spans:
                n = len(s["text"].strip())
                if not n:
                    continue
                chars += n
                sizes.append((round(s.get("size", 0.0), 1), n))
                is_bold, is_italic, is_mono = _style(int(s.get("flags", 0)), s.get("font", ""))
                bold += n * is_bold
                italic += n * is_italic
                mono += n * is_mono
            box = tuple(float(v) for v in line["bbox"])
            # spans PyMuPDF put in separate lines on one baseline (a superscript, a run-in heading) are one line
            if lines and abs(box[1] - top) < 2.0 and box[0] >= boxes[-1][2] - 1:
                lines[-1] = lines[-1].rstrip() + " " + text.strip()
                b = boxes[-1]
                boxes[-1] = (b[0], min(b[1], box[1]), max(b[2], box[2]), max(b[3], box[3]))
                continue
            top = box[1]
            lines.append(text)
            boxes.append(box)
        if not lines or not chars:
            continue
        out.append(PageBlock(page=number, bbox=tuple(float(v) for v in raw["bbox"]), lines=lines,
                             size=_weighted_median(sizes), max_size=max(s for s, _ in sizes),
                             bold=bold / chars, italic=italic / chars, mono=mono / chars,
                             page_width=width, page_height=height, line_boxes=boxes))
    return out


def document_blocks(doc: pymupdf.Document, read_page=page_blocks) -> list | Failure:
    """Every page's blocks (`read_page(page, number)`), or `damaged_pdf` when the page tree cannot be walked."""
    try:
        return [read_page(doc[i], i) for i in range(doc.page_count)]
    except Exception as e:  # noqa: BLE001 - a damaged page tree
        return Failure("damaged_pdf", f"{type(e).__name__}: {e}")


def open_pdf(data: bytes, keep_damaged: bool = False) -> tuple[pymupdf.Document, bool] | Failure:
    """The document and whether MuPDF had to repair it, or the failure that says why there is none: `not_a_pdf`,
    `damaged_pdf`, `encrypted_pdf`, `no_pages`. The caller closes the document."""
    if b"%PDF-" not in data[:1024]:  # MuPDF would "repair" an HTML page into an empty PDF
        return Failure("not_a_pdf", f"no %PDF- signature at the start (starts with {data[:16]!r})")
    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except Exception as e:  # noqa: BLE001 - it starts like a PDF, so MuPDF's refusal means a broken one
        return Failure("damaged_pdf", f"MuPDF cannot open it ({type(e).__name__}: {e}); truncated or corrupt")
    failure = None
    if doc.needs_pass or doc.is_encrypted:
        failure = Failure("encrypted_pdf", "the PDF is encrypted and needs a password")
    elif doc.page_count == 0:
        failure = Failure("no_pages", "the PDF has no readable pages (truncated or damaged?)")
    # MuPDF rebuilds a broken cross-reference table (a truncated download, a cut file) from the objects it can still
    # find and says so; what it rebuilds is whatever survived, so the text would be part of a paper with nothing to
    # tell. None of the 207 real PDFs in ../shared/data needs a repair. A file cut after an earlier revision's %%EOF
    # (incremental updates) opens without a repair but lacks the later revisions. Every whole PDF in ../shared/data
    # ends within 2 bytes of its last %%EOF; 64 allows for trailing junk some writers add (benchmarks/robustness.py pdfs)
    repaired = failure is None and (doc.is_repaired or len(data) - data.rfind(b"%%EOF") - 5 > 64)
    if repaired and not keep_damaged:
        failure = Failure("damaged_pdf", f"truncated or corrupt: MuPDF {'had to repair it' if doc.is_repaired else 'finds no %%EOF at its end'} "
                                         f"({doc.page_count} page(s) recovered); set keep_damaged: true to keep what it recovered")
    if failure is not None:
        doc.close()
        return failure
    return doc, repaired
