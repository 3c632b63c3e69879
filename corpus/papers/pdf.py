"""Scientific PDF -> clean paper text, with PyMuPDF and no GPU.

PyMuPDF gives positioned text (blocks, lines, spans with font size and flags); what a corpus
needs on top is layout knowledge of papers, which no maintained CPU library provides at this
speed (GROBID needs a JVM server, marker/nougat a GPU), hence this module:
- running headers, footers and page numbers: lines in the top/bottom margins that repeat across
  pages (digits ignored) or are bare numbers; text rotated into the margin (arXiv stamps);
- reading order: per page, full-width blocks split the page into bands; inside a band the left
  column is read before the right one;
- front matter: on the first page, everything between the title (largest type) and the abstract
  is authors, affiliations, e-mails and dates, and is dropped;
- figure text: blocks in type much smaller than the body (axis labels, legends) are dropped, captions
  ("Fig. 3", "TABLE I") are kept and collected after the body; table bodies by option;
- back matter: the reference list (by heading, or by a run of numbered entries) and everything
  after it is cut, acknowledgements and similar sections are dropped by the shared section policy;
- text: hyphenation at line ends repaired, ligatures expanded, Unicode NFC, sub/superscripts
  joined to their neighbours (spans are concatenated as positioned, so LiFePO4 stays one word);
- pages without a text layer are counted (`no_text_pages`), never emitted as garbage.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import statistics
import subprocess
from collections import Counter
from dataclasses import dataclass, field

import pymupdf

from corpus.formats.pdf.page import clean, document_blocks, join_lines, open_pdf
from corpus.papers.model import DROPPED_KINDS, Paper, Section, markdown_table, section_kind
from corpus.papers.ocr import garbage_layer, group_lines, ocr_page_words, tesseract
from corpus.papers.pdf_tables import TABLE_CAPTION, page_tables, ruled
from corpus.records import Failure

_CAPTION = re.compile(r"^(fig\.?|figure|table|tab\.|scheme|chart)\s*([0-9]+|[ivxlc]+|s[0-9]+)\s*(?:[.:|—–]|\(colou?r)", re.IGNORECASE)
_DOTTED_HEADING = re.compile(r"^(?:[0-9]+\.(?:[0-9]+\.?)*|[IVXLC]+\.|[A-H]\.)\s+[A-Z]")
_HEADING_NUMBER = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)*\.?|[IVXLC]+\.|[A-H]\.)\s+\S")
_REF_ENTRY = re.compile(r"^\s*(?:\[\d{1,3}\]\s*\S|(?:\d{1,3}[.)]|\(\d{1,3}\))\s+[A-Z\u00c0-\u024f]|\d{1,3}\s+(?:[A-Z]\.\s*-?)+\s*[A-Z])")
_FIRST_REF = re.compile(r"^\s*(?:\[1\]|\(1\)|1[.)]?)\s*(?:[A-Z]\.|[A-Z][a-z]+,)")
_AUTHOR_INITIALS = re.compile(r"\b[A-Z]\.\s?(?:-?[A-Z]\.\s?)*(?:[a-z]{1,3}\s)?[A-Z][a-zA-Z'\u00c0-\u024f-]+|\b[A-Z][a-zA-Z'\u00c0-\u024f-]+,\s[A-Z]\.")
_BRACKET_CITATION = re.compile(r"\s?\[\d{1,3}(?:\s*[,–-]\s*\d{1,3})*\]")
_SUPERSCRIPT_CITATION = re.compile(r"^\d{1,3}(?:\s*[,–-]\s*\d{1,3})*,?$")
# affiliations in English and the Romance/German forms (Universidad, Departamento, Facultad, Laboratoire, ...)
_AFFILIATION = re.compile(r"\b(universit|universidad|institut|department|departament|dept\.|laborator|college|school of|academy|faculty|facult[ae]d|faculdade|centre|center for|research cent|national lab|corresponding author|e-?mail|received|accepted|published|pacs|keywords?:|doi:|©|copyright)", re.IGNORECASE)
# an unheaded acknowledgement's opening, or its heading run in with a colon ("Acknowledgements: The authors are ...")
_ACKNOWLEDGEMENT = re.compile(r"^((we|the authors?|one of us|this (work|research|study|project) (was|is|has been)) (\w+ )?(thank|acknowledge|are (grateful|indebted)|is (grateful|indebted)|(was |is )?(supported|funded|financially supported))"
                              r"|this (work|research|study) (was|has been) (\w+ )?(performed|carried out) (at|within|under) (the )?[A-Z]"
                              r"|acknowledge?ments?\s*[:.—–]\s+\S)", re.IGNORECASE)
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
_EMAIL = re.compile(r"\S+@\S+\.\w+")
_DIGITS = re.compile(r"\d+")
_BOILERPLATE = re.compile(r"(creative\s*commons|all rights reserved|further distribution of this work|this (article|work) is (licensed|distributed)|published by .{0,60}under the terms|licensee|open access (article|funded)|©|\(c\) \d{4})", re.IGNORECASE)
# sheets that repositories put in front of a paper (eScholarship, Pure, ResearchGate, JSTOR, ...)
_COVER_MARKERS = re.compile(
    r"(permalink|escholarship|previously published works|powered by the california digital library|"
    r"take ?down policy|general rights|document version|citation for published version|"
    r"this content downloaded from|researchgate|terms and conditions of (use|access)|downloaded from https?://)",
    re.IGNORECASE,
)
# identifiers, and a subject classification's codes under the abstract ("PACS numbers: 74.70.Dd, 74.25.Op")
_IDENTIFIER = re.compile(r"^\s*(pii:?\s|doi:?\s*10\.|issn\b|https?://|www\.|pacs( numbers?| nos?\.?)?\s*:|(msc|ams)( \d{4})?( subject classifications?)?\s*:)", re.IGNORECASE)
_LINK_LABEL = re.compile(r"^\s*[•▪◦‣∙·]\s*\S+(\s+\S+)?\s*$")  # a bulleted label of one or two words
# a paper's credit lines after its acknowledgements (AAS journals: "Software: astropy (Astropy Collaboration et al.
# 2013), ...", "Facilities: HST (STIS)"): back matter with the acknowledgements, as the LaTeX reader drops \software{}
_CREDITS = re.compile(r"^(software|facilit(y|ies))\s*:\s+\S", re.IGNORECASE)
_ADDRESS_NOTE = re.compile(r"^\W{0,3}(permanent|present|current) address|^\W{0,3}(also at|on leave from)\b|^\W{0,3}(corresponding author|e-?mail|for correspondence)\b", re.IGNORECASE)
# the article's dates, and a preprint class's page-1 foot ("Preprint submitted to Elsevier October 28, 2024")
_HISTORY = re.compile(r"^\W{0,3}((submitted|received|accepted|published|revised)( online| in revised form)?\s*[:\d]"
                      r"|preprint submitted to \S.{0,80}\b(19|20)\d\d\W*$)", re.IGNORECASE)
_DOI = re.compile(r"10\.\d{4,9}/[^\s\"<>]+")
_SUPPLEMENT = re.compile(r"^\W{0,3}(supplementa(l|ry) (materials?|information|data)|supporting information|electronic supplementary)\b", re.IGNORECASE)
# "Supplementary Information is linked to the online version of the paper": a sentence about a supplement, not its title
_SENTENCE_VERB = re.compile(r"\b(is|are|was|can|may|accompanies|available|contains?|provides?|see|online)\b", re.IGNORECASE)
_ABSTRACT = re.compile(r"^\s*(abstract|summary)\b", re.IGNORECASE)
OCR_MAX_PIXELS = 40_000_000  # a page image for Tesseract (an A4 page at 300 dpi is 8.7 M)
MARGIN = 0.075  # top and bottom fraction of the page where running headers and footers live


@dataclass
class Line:
    text: str
    size: float  # dominant font size
    bold: bool
    bbox: tuple
    mono: bool = False  # set in a monospaced font (code)
    marked: bool = False  # opens with a raised or smaller mark (1, *, †, a): a footnote's first line, an affiliation


@dataclass
class Block:
    page: int
    bbox: tuple
    lines: list[Line]
    table: str = ""  # a table body the table finder structured, as Markdown (keep_tables); such a block has no lines
    equation: bool = False  # a display equation assembled from the pieces it is set in (see _display_equations)

    @property
    def text(self) -> str:
        return join_lines([ln.text for ln in self.lines])

    @property
    def size(self) -> float:
        return max((ln.size for ln in self.lines), default=0.0)

    @property
    def width(self) -> float:
        return self.bbox[2] - self.bbox[0]

    @property
    def code(self) -> bool:
        """A code listing: most of its lines set in a monospaced font."""
        return bool(self.lines) and sum(ln.mono for ln in self.lines) >= 0.7 * len(self.lines)


@dataclass
class PdfText:
    paper: Paper
    pages: int
    no_text_pages: list[int] = field(default_factory=list)

    @property
    def text(self) -> str:
        from corpus.papers.model import SectionPolicy

        return SectionPolicy().render(self.paper)[0]


# APS/AIP typesetting puts parentheses, "=" and "+" in a maths font whose glyphs map to ð Þ ¼ þ in the text layer
# ("T ¼ 4.3 K", "Oð10Þ", "hs þ hd"); Icelandic letters do not occur in such papers, so many of them mark the font
_MATH_FONT = str.maketrans({"ð": "(", "Þ": ")", "¼": "=", "þ": "+"})


def _repair_math_font(pages: list[list["Block"]]) -> None:
    text = "".join(ln.text for blocks in pages for b in blocks for ln in b.lines)
    if text.count("ð") >= 3 and text.count("Þ") >= 3 and abs(text.count("ð") - text.count("Þ")) <= 0.2 * text.count("ð"):
        for blocks in pages:
            for b in blocks:
                for ln in b.lines:
                    ln.text = ln.text.translate(_MATH_FONT)


_LINE_NUMBER = re.compile(r"^\s*\d{1,5}\s*$")


def _drop_line_numbers(raw_blocks: list[dict]) -> None:
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


_BARE_NUMBER = re.compile(r"^\s*(?:\d+(?:\.\d+)*\.?|[IVXLC]+\.|[A-Z]\.)\s*$")


def _join_split_numbers(lines: list["Line"]) -> list["Line"]:
    """A heading's number set apart from its title ("2."  "Statement of need", a tab stop between them) comes out
    as two lines on one baseline: join them, so the heading reads as one line."""
    out: list[Line] = []
    for ln in lines:
        prev = out[-1] if out else None
        if (prev is not None and _BARE_NUMBER.match(prev.text) and ln.bbox[0] > prev.bbox[2] - 1
                and abs((ln.bbox[1] + ln.bbox[3]) / 2 - (prev.bbox[1] + prev.bbox[3]) / 2) < 0.5 * max(ln.size, 1)):
            out[-1] = Line(f"{prev.text.strip()} {ln.text.strip()}", ln.size, prev.bold and ln.bold, (prev.bbox[0], min(prev.bbox[1], ln.bbox[1]), ln.bbox[2], max(prev.bbox[3], ln.bbox[3])), prev.mono and ln.mono)
            continue
        out.append(ln)
    return out


# the cover's labelled "Title" field: on a line of its own above the title, or run in with it (its block's lines
# joined), up to the next field
_COVER_TITLE = re.compile(r"^Title\s*:?\s+(.+?)\s*\n(?:Permalink|Journal|Authors?|ISSN|Publication|DOI)\b", re.MULTILINE | re.DOTALL)


def _is_cover_page(blocks: list["Block"]) -> bool:
    """A repository's cover sheet: its markers, and little text."""
    text = "\n".join(b.text for b in blocks)
    return len(set(m.group(0).lower() for m in _COVER_MARKERS.finditer(text))) >= 2 and len(text) < 3000


def _renumber(block: "Block", shift: int) -> "Block":
    """The same block on another page number (page 0 is the paper's first page once a cover is dropped)."""
    return dataclasses.replace(block, page=block.page + shift)


def _is_reference_entry(text: str) -> bool:
    """A numbered entry with an author near its start: "[3] J. S. Kim et al., ...", "12. Smith, A., ..."."""
    return bool(_REF_ENTRY.match(text)) and bool(_AUTHOR_INITIALS.search(text[:60]))


# what a bibliography entry carries besides initials and a year: a DOI, volume(issue):pages, "pp."/"vol."
_CITATION_DETAIL = re.compile(r"\bdoi:\s*10\.|\b10\.\d{4,9}/\S|\b\d+\s*\(\d+\)\s*[:,]\s*\d+|\bpp?\.\s*\d+|\bvol\.\s*\d+", re.IGNORECASE)


def _reference_density(text: str) -> float:
    """Author initials, years and citation details (DOIs, volume(issue):pages) per 100 characters: about 3 in a
    reference list, under 0.5 in prose. (Entries with full first names have few initials; their DOIs and page
    ranges still mark them.)"""
    marks = len(_AUTHOR_INITIALS.findall(text)) + len(_YEAR.findall(text)) + 2 * len(_CITATION_DETAIL.findall(text))
    return 100 * marks / max(len(text), 1)


def _side_by_side_rows(b: "Block") -> int:
    """How many of a block's lines have another line beside them on their baseline, far apart (a cell, a gap, the
    next cell): 0 for lines set one under another."""
    if len(b.lines) < 2 or b.code or b.equation or _CAPTION.match(b.text):
        return 0
    rows = set()
    for i, a in enumerate(b.lines):
        for c in b.lines[i + 1:]:
            height = min(a.bbox[3] - a.bbox[1], c.bbox[3] - c.bbox[1])
            if abs((a.bbox[1] + a.bbox[3]) - (c.bbox[1] + c.bbox[3])) / 2 < 0.5 * height and \
                    max(c.bbox[0] - a.bbox[2], a.bbox[0] - c.bbox[2]) > 1.5 * height:
                rows.add(round((a.bbox[1] + a.bbox[3]) / 2))
    return len(rows)


def _cell_columns(b: "Block") -> list[float] | None:
    """The left edges of a block's columns when some of its lines stand side by side on one baseline, far apart (a
    table row: a cell, a gap, the next cell); None for a block of lines set one under another."""
    if _side_by_side_rows(b) == 0:
        return None
    return _left_edges(ln.bbox[0] for ln in b.lines)


def _left_edges(xs) -> list[float]:
    """Lines' left x positions, those within 3 pt of the one before taken as one edge."""
    edges: list[float] = []
    for x in sorted(xs):
        if not edges or x - edges[-1] > 3:
            edges.append(x)
    return edges


def _word_table_runs(blocks: list["Block"], least: int = 3) -> list[list[int]]:
    """Runs of `least` or more blocks in a row, on one page, each a table row whose columns start where the first
    row's do: a table without rules or caption (a Markdown table in a JOSS/JOSE paper), whose cells are words the
    numbers rule (`_is_table_body`) does not see and which would otherwise read as prose. Next to a table's caption
    (just above or below it) a shorter run is one too when its blocks hold three rows of cells side by side (a table
    MuPDF gives as a header block and one block of all its rows)."""
    runs, run, first = [], [], None

    def captioned(run: list[int]) -> bool:
        near = [blocks[k] for k in (run[0] - 1, run[-1] + 1) if 0 <= k < len(blocks)]
        return (any(c.page == blocks[run[0]].page and TABLE_CAPTION.match(c.text) and _CAPTION.match(c.text) for c in near)
                and sum(_side_by_side_rows(blocks[k]) for k in run) >= 3)

    for i, b in enumerate(blocks + [None]):
        cols = _cell_columns(b) if b is not None else None
        same = (cols is not None and run and b.page == blocks[run[-1]].page
                and sum(any(abs(x - y) <= 3 for y in first) for x in cols) >= 2)
        if same:
            run.append(i)
            continue
        if len(run) >= least or (run and captioned(run)):
            runs.append(run)
        run, first = ([i], cols) if cols is not None else ([], None)
    return runs


def _word_table(rows: list["Block"]) -> str:
    """The rows of a `_word_table_runs` run as a Markdown table: each line to the column whose left edge is nearest."""
    edges = _left_edges(ln.bbox[0] for b in rows for ln in b.lines)
    # columns: the left edges at least two rows share (a cell's wrapped line may start a little to the right)
    cols = [x for x in edges if sum(any(abs(ln.bbox[0] - x) <= 3 for ln in b.lines) for b in rows) >= 2] or edges[:1]
    table = []
    for b in rows:
        cells = [[] for _ in cols]
        for ln in b.lines:
            k = min(range(len(cols)), key=lambda j: (ln.bbox[0] < cols[j] - 3, abs(ln.bbox[0] - cols[j])))
            cells[k].append(ln.text)
        table.append([join_lines(c) for c in cells])
    return markdown_table(table)


def _runs_on(above: "Block | None", b: "Block") -> bool:
    """`b` is set in the same column right under `above`, closer than a paragraph's gap: the same list goes on."""
    if above is None or above.page != b.page or abs(above.bbox[0] - b.bbox[0]) > 0.02:
        return False
    line = (above.bbox[3] - above.bbox[1]) / max(len(above.lines), 1)  # a line's height, in page fractions
    return -0.002 <= b.bbox[1] - above.bbox[3] < 0.5 * line


_BRACKETED_ENTRY = re.compile(r"\s*\[\d{1,3}\]")  # "[7] Jeff Bezanson, ...": a reference entry, whatever follows


def _is_prose(text: str) -> bool:
    # a numbered point of the text ("2) Reconciliation of the data ...") is prose; a numbered entry with its authors is not
    return (len(text) >= 150 and _reference_density(text) < 0.8 and not _is_reference_entry(text)
            and not _BRACKETED_ENTRY.match(text))


_CONTENTS_PAGE = re.compile(r"(?:\s*(?:\.\s*){2,}|\s+)(\d{1,4})$")  # a page number after a space or dot leaders


_CONTENTS_TITLE = re.compile(r"^(?:table of )?contents$", re.IGNORECASE)


def _is_contents(lines: list[str], listing: bool = False) -> bool:
    """A table of contents (supplements, theses, reviews, reports): entries whose page numbers stand at the end of
    their line or on the line after, the numbers never going down. Its "References 6" is not the reference list.
    `listing`: just after a "Contents" title, where one entry may stand alone in its block."""
    pages, entries = [], 0
    for i, line in enumerate(lines):
        line = line.strip()
        if line.isdigit() and len(line) <= 4:
            if i == 0 or lines[i - 1].strip().isdigit():
                return False  # a page number follows an entry
            pages.append(int(line))
        elif line[-1:].isdigit() and (m := _CONTENTS_PAGE.search(line)) and re.search(r"[A-Za-z]", line[: m.start()]):
            if len(line[: m.start()].split()) > 14:
                return False  # a sentence that ends with a number, not an entry
            entries += 1
            pages.append(int(m.group(1)))
        else:
            entries += 1
    least = 1 if listing else 2
    return len(pages) >= least and len(pages) >= 0.4 * len(lines) and entries >= least and pages == sorted(pages)


def _horizontal_rules(page: pymupdf.Page) -> list[tuple[float, float, float]]:
    """(y, x0, x1) of the page's horizontal rules at least a fifth of the page wide, in page fractions: lines, and
    rectangles under 2 pt high (some writers draw rules as filled boxes)."""
    width, height = page.rect.width, page.rect.height
    rules = []
    for drawing in page.get_drawings():
        for item in drawing["items"]:
            if item[0] == "l":
                a, b = item[1], item[2]
                if abs(a.y - b.y) < 1 and abs(a.x - b.x) >= 0.2 * width:
                    rules.append((a.y / height, min(a.x, b.x) / width, max(a.x, b.x) / width))
            elif item[0] == "re":
                r = item[1]
                if r.height < 2 and r.width >= 0.2 * width:
                    rules.append(((r.y0 + r.y1) / 2 / height, r.x0 / width, r.x1 / width))
    return sorted(set(rules))


def _ruled_region(caption: "Block", rules: list[tuple[float, float, float]], captions: list["Block"], near: float = 0.06,
                  span: float = 0.5) -> tuple | None:
    """The box (x0, y0, x1, y1) between the first and last of a run of rules that starts just below the caption (or
    ends just above it) and stops before another caption, or None: a table needs at least its top and bottom rules."""
    top, bottom = caption.bbox[1], caption.bbox[3]
    below = [r for r in rules if bottom - 0.005 <= r[0] <= bottom + near]
    above = [r for r in rules if top - near <= r[0] <= top + 0.005]
    for start, step in ((below[0], 1) if below else (None, 1), (above[-1], -1) if above else (None, -1)):
        if start is None:
            continue
        same = [r for r in rules if abs(r[1] - start[1]) < 0.03 and abs(r[2] - start[2]) < 0.03]  # the table's own width
        run, last = [start], start
        for r in (sorted(same) if step == 1 else sorted(same, reverse=True)):
            if (r[0] - last[0]) * step <= 0:
                continue
            lo, hi = sorted((last[0], r[0]))
            if abs(r[0] - last[0]) > span or any(c is not caption and lo < (c.bbox[1] + c.bbox[3]) / 2 < hi for c in captions):
                break  # too far, or past another float's caption: that rule is not this table's
            run.append(r)
            last = r
        if len(run) >= 2:
            ys = [r[0] for r in run]
            return (start[1], min(ys), start[2], max(ys))
    return None


def _continued_region(running: tuple, rules: list[tuple[float, float, float]], blocks: list["Block"], span: float = 0.5) -> tuple | None:
    """The box of a ruled table going on from the page before: a run of rules exactly as wide as its rules were (a
    page's running rules are a little wider or narrower), the first of them above the page's first line of text."""
    x0, x1 = running
    same = sorted(r for r in rules if abs(r[1] - x0) < 0.005 and abs(r[2] - x1) < 0.005)
    text_top = min((b.bbox[1] for b in blocks if b.lines and 0.06 < b.bbox[1] < 0.92), default=1.0)
    if len(same) < 2 or same[0][0] > text_top + 0.005:
        return None
    run = [same[0]]
    for r in same[1:]:
        if r[0] - run[-1][0] > span:
            break
        run.append(r)
    return (x0, run[0][0], x1, run[-1][0]) if len(run) >= 2 else None


_MARKS = "*∗⋆†‡§¶#‖"
# monospaced fonts a PDF may not flag as such (TeX's TT fonts, Courier and its URW/TeX Gyre clones NimbusMonL and
# Cursor, Hack, Consolas, Menlo, Monaco, Cousine, ...)
_MONO_FONT = re.compile(r"mono|courier|nimbusmon|cursor|hack|consol|menlo|monaco|cousine|inconsolata|lettergothic"
                        r"|(?:^|[^a-z])(?:sf|cm|lm|ec|tx)?tt\d|code", re.IGNORECASE)


@functools.lru_cache(maxsize=1024)
def _monospaced(font: str) -> bool:
    return bool(_MONO_FONT.search(font))


def _fixed_pitch(spans: list[dict], fonts: set[str]) -> dict[str, bool]:
    """Whether each of `fonts` that `spans` show enough of is one whose glyphs all advance the same distance, from the character positions of `spans` (MuPDF's
    rawdict): a Type 3 font (TeX's bitmap fonts, "F75") has neither a telling name nor a fixed-pitch flag nor a font
    file to ask, yet a code listing set in one is as monospaced as Courier. MuPDF inserts spaces where glyphs leave a
    gap, so only the steps between two adjacent non-space characters count."""
    steps: dict[str, list[float]] = {}
    for s in spans:
        if s["font"] not in fonts:
            continue
        chars = s["chars"]
        for a, b in zip(chars, chars[1:]):
            if not a["c"].isspace() and not b["c"].isspace():
                step = (b["origin"][0] - a["origin"][0]) / max(s["size"], 1.0)
                if step > 0:
                    steps.setdefault(s["font"], []).append(step)
    pitch = {}
    for font, found in steps.items():
        if len(found) >= 20:  # a font of a few symbols (maths) says nothing either way
            mid = sorted(found)[len(found) // 2]
            # proportional text type puts well under half its steps within 6% of the median ("il" vs "mw")
            pitch[font] = sum(abs(x - mid) <= 0.06 * mid for x in found) >= 0.85 * len(found)
    return pitch


def _looks_like_authors(text: str) -> bool:
    """A list of names: many commas, capitalised words, no sentence ends."""
    # affiliation marks ("1,", "2,13", "*", "∗", "†") are not words, nor is a comma set apart from its name ("Lim ,"):
    # a long list of marked authors is still a list of names
    words = []
    for w in text.split():
        core = w.strip(",;").lstrip(_MARKS)
        if core and not re.fullmatch(rf"[\d,{_MARKS}a-f]{{1,8}}", core):
            words.append(core)
    if len(words) < 4 or text.count(",") < 2 or re.search(r"[a-z]{3,}\. [A-Z]", text):
        return False
    capitalised = sum(1 for w in words if w[:1].isupper() or w in ("and", "&"))
    return capitalised > 0.7 * len(words)


_STEP_NUMBER = re.compile(r"^\s*(\d{1,3}):\s+(\S.*)$")  # "7: find the next event time": an algorithm's numbered step
_STEP_START = re.compile(r"\s*\d{1,3}:")  # a line that opens like one (its number may stand apart from its step)


def _first_step(rows: list[str]) -> int | None:
    """The number of the first step in a block's first rows ("N: ..."; a row or two before it may end the step before),
    or None."""
    for row in rows[:3]:
        if m := _STEP_NUMBER.match(row):
            return int(m.group(1))
    return None


def _step_rows(b: "Block | None") -> list[str] | None:
    """A block's rows (`_baseline_rows`) when one of its lines opens with "N:", else None: most blocks have none, and
    the cheap test spares them the rows."""
    if b is None or not any(_STEP_START.match(ln.text) for ln in b.lines):
        return None
    return _baseline_rows(b.lines)


def _algorithm_steps(b: "Block", after: "Block | None" = None) -> str | None:
    """An algorithm set with numbered steps ("1: procedure INVERSEMETHOD(...)", "2: initialize ...", counting up), as
    its steps a line each without their numbers, as the latex reader writes an algorithm float; None for other text.
    A block of one step is one when the block `after` it opens with the next step."""
    rows = _step_rows(b)
    if rows is None or _first_step(rows) is None:
        return None
    steps = [m for row in rows if (m := _STEP_NUMBER.match(row))]
    numbers = [int(m.group(1)) for m in steps]
    alone = len(steps) == 1 == len(rows) and (next_rows := _step_rows(after)) is not None and _first_step(next_rows) == numbers[0] + 1
    if (len(steps) < 2 and not alone) or len(steps) < 0.6 * len(rows) or any(y != x + 1 for x, y in zip(numbers, numbers[1:])):
        return None
    out: list[str] = []
    for row in rows:
        m = _STEP_NUMBER.match(row)
        if m:
            out.append(m.group(2).strip())
        elif out:
            out[-1] = join_lines([out[-1], row])  # a step wrapped onto the next line
        else:
            out.append(row.strip())
    return "\n".join(out)


def _baseline_rows(lines: list[Line]) -> list[str]:
    """The lines' text one row per baseline, left to right: syntax colouring, or a step number set apart from its
    step, splits one printed line into many lines of its own."""
    rows: list[list[Line]] = []
    for ln in sorted(lines, key=lambda ln: (round(ln.bbox[3]), ln.bbox[0])):
        if rows and abs(rows[-1][0].bbox[3] - ln.bbox[3]) < 2:
            rows[-1].append(ln)
        else:
            rows.append([ln])
    return [" ".join(ln.text.strip() for ln in sorted(row, key=lambda ln: ln.bbox[0])) for row in rows]


def _code_text(lines: list[Line]) -> str:
    """A listing's text, one line per baseline."""
    # a listing's frame corners are glyphs without a character (U+FFFD): not code
    return "\n".join(t for t in (row.strip("\ufffd ") for row in _baseline_rows(lines)) if t)


_HYPHEN_CUT = re.compile(r"[^\W\d_]-$")  # "... do not reach pho-": a word cut at a line's end
# a paragraph that stops on a comma or on a word no sentence ends with goes on, whatever the next word's case
# ("grateful to Pierre Chantelot, | Uddalok Sen, ...")
_OPEN_END = re.compile(r"(,|\b(and|or|of|the|to|for|by|with|in|on|at|from|a|an))$")


def _continues(previous: str, text: str) -> bool:
    """Whether `text` carries on a paragraph cut by a column or page break."""
    end = previous.rstrip()
    if not end or end[-1:] in ".!?:|":  # "|": a table's last row
        return False
    return text[:1].islower() or (text[:1].isupper() and _OPEN_END.search(end) is not None)


_WORD = re.compile(r"[^\W\d_]{3}")  # three letters in a row: a word, not a panel letter, a unit or a number
# a display equation's line (a relation, or a symbol and an operator) is kept where tick labels are not
_RELATION = re.compile(r"[=≃≈≡∝≤≥∼]|[^\W\d_]\s*[+−±×·]|[+−±×·]\s*[^\W\d_]")
_KEYWORDS = re.compile(r"^\s*(key ?words?|index terms)\s*(?:[:.—–-]\s*|\n|$)(.*)$", re.IGNORECASE | re.DOTALL)
_SENTENCE_END = re.compile(r"[a-z]{3}\. [A-Z][a-z]")
_WHOLE_WORD = re.compile(r"[^\W\d_]{3,}")
_ABSTRACT_TITLE = re.compile(r"\s*abstract[.:]?\s*", re.IGNORECASE)


def _is_keyword_list(text: str) -> bool:
    """Short, separated by commas or semicolons, no sentence in it."""
    return len(text) < 400 and ("," in text or ";" in text) and not _SENTENCE_END.search(text)


def _keywords_run_in(text: str) -> re.Match | None:
    """"Keywords landscape ecology, computational ecology": the heading set in bold before the list, no colon."""
    m = re.match(r"^\s*(key ?words?|index terms)\s+(.+)$", text, re.IGNORECASE | re.DOTALL)
    return m if m and _is_keyword_list(m.group(2)) else None


def _keyword_list(text: str) -> list[str]:
    return [k.strip(" .") for k in re.split(r"[,;·•]", " ".join(text.split())) if k.strip(" .")]


def _is_real_title(title: str) -> bool:
    """A PDF's metadata title is often an identifier ("PII: 0378-4363(87)90248-8"), a file name ("Microsoft Word -
    paper.docx", "main.dvi") or "untitled": a title has words."""
    title = title.strip()
    if _IDENTIFIER.match(title) or re.search(r"\.(docx?|tex|dvi|pdf|rtf|odt)\b|^untitled$|^microsoft word\b", title, re.IGNORECASE):
        return False
    return len(_WHOLE_WORD.findall(title)) >= 2


_NOISE_MARK = re.compile(r"[~;:!'\"`´]|(?<=\s)\.(?=\s)|\.{4,}")  # not "..." nor "|": equations use them


def _is_glyph_noise(text: str) -> bool:
    """Marks that prose, equations and tables hardly use (~ ; : ! quotes, lone dots and runs of them) make up a
    seventh of it, fewer than two in five of its tokens are words and under 55% of it letters: what OCR behind a
    scanned figure reads. (Code is full of such marks; listings are taken before this is asked.)"""
    chars = len(text) - text.count(" ") - text.count("\n")
    if chars < 4:
        return False
    # an upper bound first by str.count (prose stops here, cheaply), then the marks themselves
    if sum(text.count(c) for c in "~;:!'\"`´.") < 0.15 * chars:
        return False
    if sum(len(m) for m in _NOISE_MARK.findall(text)) < 0.15 * chars:
        return False
    tokens = text.split()
    words = sum(1 for t in tokens if _WHOLE_WORD.fullmatch(t.strip(".,;:()")))
    return words <= 0.4 * len(tokens) and sum(c.isalpha() for c in text) < 0.55 * chars


_NOTE_MARK = re.compile(r"[0-9]{1,2}|[a-z]|[*∗⋆†‡§¶#‖]{1,3}")


def _line(raw: dict, fixed_pitch: frozenset[str] | set[str] = frozenset()) -> Line | None:
    spans = [s for s in raw["spans"] if s["text"]]
    if not spans:
        return None
    kept = []
    for s in spans:
        # a raised run of numbers right after a word or punctuation is a citation ("metals.12", "doping3,4"),
        # not a unit power (after a short unit: "mm3") or an isotope (before a word: "75As")
        if s["flags"] & 1 and kept and _SUPERSCRIPT_CITATION.match(s["text"].strip()):
            before = kept[-1]["text"].rstrip()
            word = re.search(r"([A-Za-z]+)\W?$", before)
            if before[-1:] in ".,;:)" or (word and len(word.group(1)) >= 3):
                continue
        kept.append(s)
    spans = kept
    text = "".join(s["text"] for s in spans)
    if not text.strip():
        return None
    sizes = Counter()
    bold = mono = 0
    for s in spans:
        n = len(s["text"].strip())
        sizes[round(s["size"], 1)] += n
        if s["flags"] & 16 or "bold" in s["font"].lower():
            bold += n
        if s["flags"] & 8 or _monospaced(s["font"]) or s["font"] in fixed_pitch:
            mono += n
    total = max(1, sum(sizes.values()))
    first = spans[0]
    mark = first["text"].strip()
    # a lone letter in smaller type is as often a subscript that begins a line ("T_c is ..."): only a raised one counts
    marked = (len(spans) > 1 and _NOTE_MARK.fullmatch(mark) is not None
              and (first["flags"] & 1 or (first["size"] < 0.85 * spans[1]["size"] and not mark.isalpha())))
    return Line(clean(text), sizes.most_common(1)[0][0], bold > 0.6 * total, tuple(raw["bbox"]), mono > 0.6 * total, bool(marked))


_MATH_SIGN = re.compile(r"[α-ωΑ-Ω∫∑∏√∂∞⟨⟩∇≡∈∝±×·]|[=≃≈≤≥∼]")
_EQUATION_NUMBER = re.compile(r"\s*[�]*\s*\(\d{1,3}[a-z]?\)\s*$")


def _display_equations(blocks: list[Block], body_size: float) -> list[Block]:
    """A display equation is set in pieces (a fraction's numerator and denominator, a sum's limits, the number at the
    margin), each a block of a few signs that was dropped as a figure's labels. A run of such short blocks in body type
    on one page with a relation or a maths sign among them is one equation: its lines are read row by row, left to
    right, into one line (a PDF's text layer, not LaTeX: "Mc ≡ (m1m2)3/5 (m1 + m2)1/5 ,"), the number dropped."""
    texts = [b.text for b in blocks]  # each block's text once (Block.text joins its lines anew at every call)

    def piece(k: int) -> bool:
        b, text = blocks[k], texts[k]
        return (not b.table and not b.code and b.lines and len(text.split()) < 6 and b.size >= 0.8 * body_size
                and not b.lines[0].bold and b.size <= body_size + 0.9 and not _CAPTION.match(text)
                and not _DOTTED_HEADING.match(text))

    out: list[Block] = []
    i = 0
    while i < len(blocks):
        j = i
        while j < len(blocks) and piece(j) and blocks[j].page == blocks[i].page and (
                j == i or blocks[j].bbox[1] - blocks[j - 1].bbox[3] < 0.04):
            j += 1
        run = blocks[i:j]
        if run and any(_MATH_SIGN.search(t) for t in texts[i:j]):
            lines = sorted((ln for b in run for ln in b.lines), key=lambda ln: (ln.bbox[1] + ln.bbox[3]) / 2)
            rows: list[list[Line]] = []
            for ln in lines:
                mid, height = (ln.bbox[1] + ln.bbox[3]) / 2, ln.bbox[3] - ln.bbox[1]
                if rows and abs(mid - (rows[-1][0].bbox[1] + rows[-1][0].bbox[3]) / 2) < 0.5 * max(height, 1.0):
                    rows[-1].append(ln)
                else:
                    rows.append([ln])
            text = " ".join(" ".join(ln.text.strip() for ln in sorted(row, key=lambda ln: ln.bbox[0])) for row in rows)
            text = _EQUATION_NUMBER.sub("", text).strip()
            if text:
                x0, y0 = min(b.bbox[0] for b in run), min(b.bbox[1] for b in run)
                x1, y1 = max(b.bbox[2] for b in run), max(b.bbox[3] for b in run)
                out.append(Block(run[0].page, (x0, y0, x1, y1), [Line(text, body_size, False, (0, 0, 0, 0))], equation=True))
            i = j
            continue
        out.extend(run or blocks[i : i + 1])
        i = max(j, i + 1)
    return out


class _Type3Pitch:
    """A document's Type 3 fonts and which of them are monospaced (see _fixed_pitch), learnt on the pages they are
    first met on. A font seen on three pages without enough text to tell is let be (proportional)."""

    def __init__(self) -> None:
        self.fixed: set[str] = set()
        self.decided: set[str] = set()
        self.tries: Counter = Counter()
        self.seen: set[str] = set()  # font names met in the text so far
        self.type3: set[str] = set()

    def unknown_on(self, page: pymupdf.Page, raw_blocks: list[dict]) -> set[str]:
        names = {s["font"] for b in raw_blocks for ln in b.get("lines", ()) for s in ln["spans"]}
        if names - self.seen:  # the page's font list only where a font is new: most pages have none
            self.seen |= names
            self.type3 |= {f[3].split("+", 1)[-1] for f in page.get_fonts() if f[2] == "Type3"}
        return {n for n in names & self.type3 if n not in self.decided and self.tries[n] < 3}

    def learn(self, fonts: set[str], spans: list[dict]) -> None:
        pitch = _fixed_pitch(spans, fonts)
        self.decided |= set(pitch)
        self.fixed |= {f for f, fixed in pitch.items() if fixed}
        for n in fonts - set(pitch):
            self.tries[n] += 1


class PdfExtractor:
    """PDF bytes -> `PdfText` (a Paper with the body, captions and metadata), or a Failure."""

    def __init__(self, keep_tables: bool = False, caption_placement: str = "inline", min_chars_per_page: int = 20,
                 ocr: str = "auto", ocr_dpi: int = 300, ocr_max_pages: int = 200,
                 keep_damaged: bool = False):
        """caption_placement: "inline" puts a caption where the figure sits in the reading order (as GROBID
        does), which may fall inside a paragraph that runs round the figure; "after_paragraph" holds it
        back until that paragraph ends."""
        if caption_placement not in ("inline", "after_paragraph"):
            raise ValueError(f"caption_placement must be inline or after_paragraph, not {caption_placement!r}")
        self.keep_tables = keep_tables
        self.caption_placement = caption_placement
        self.min_chars_per_page = min_chars_per_page
        self.keep_damaged = keep_damaged
        if ocr not in ("auto", "off"):
            raise ValueError(f"ocr must be auto or off, not {ocr!r}")
        self.ocr, self.ocr_dpi, self.ocr_max_pages = ocr, ocr_dpi, ocr_max_pages

    def extract(self, data: bytes) -> PdfText | Failure:
        opened = open_pdf(data, self.keep_damaged)
        if isinstance(opened, Failure):
            return opened
        doc, repaired = opened
        with doc:
            fonts = _Type3Pitch()
            pages = document_blocks(doc, lambda page, i: self._page_blocks(page, i, fonts))
            if isinstance(pages, Failure):
                return pages
            meta = doc.metadata or {}
            page_count = doc.page_count
            unreadable = [i for i, blocks in enumerate(pages) if self._needs_ocr(blocks)]
            ocr_pages = []
            if unreadable and self.ocr == "auto" and tesseract():
                for i in unreadable[: self.ocr_max_pages]:  # the rest stay no_text_pages: a 10,000-page scan is not read for hours
                    try:
                        pages[i] = self._ocr_blocks(doc[i], i)
                    except (RuntimeError, OSError, subprocess.TimeoutExpired):
                        continue  # this page stays without text and is counted below
                    ocr_pages.append(i + 1)
            tables = unstructured = 0
            running_table = None  # (x0, x1) of a ruled table that ran to the foot of the page before
            for i in range(page_count):
                if i + 1 in ocr_pages:
                    continue
                if self.keep_tables:
                    pages[i], structured, captions = self._with_tables(doc[i], pages[i])
                    tables += structured
                    unstructured += max(0, captions - structured)
                else:
                    pages[i], running_table = self._without_ruled_tables(doc[i], pages[i], running_table)
        _repair_math_font(pages)
        no_text = [i + 1 for i, blocks in enumerate(pages) if sum(len(b.text) for b in blocks) < self.min_chars_per_page]
        if len(no_text) == page_count:
            why = "" if tesseract() or self.ocr == "off" else "; OCR needs Debian's tesseract-ocr, which is not installed"
            return Failure("no_text_layer", f"none of the {page_count} pages has a text layer (scanned without OCR?){why}")
        cover = ""
        if page_count > 1 and _is_cover_page(pages[0]):
            cover = "\n".join(b.text for b in pages[0])
            pages = [[] for _ in pages[:1]] + [[_renumber(b, -1) for b in blocks] for blocks in pages[1:]]
        paper = self._paper([b for blocks in self._drop_running_lines(pages) for b in self._reading_order(blocks)])
        doi = _DOI.search(" ".join(str(v) for v in meta.values() if v)) or _DOI.search(cover)
        if doi:
            paper.metadata["doi"] = doi.group(0).rstrip(".")
        if cover and not paper.title and (title := _COVER_TITLE.search(cover)):
            paper.title = " ".join(title.group(1).split())
        if cover and (licence := re.search(r"\bCC[ -]BY(?:[ -](?:NC|SA|ND))*(?:[ -]\d\.\d)?", cover)):
            paper.metadata["licence"] = licence.group(0).replace("-", " ")
        if meta.get("title") and not paper.title and _is_real_title(meta["title"]):
            paper.title = clean(meta["title"])
        paper.metadata["pages"] = page_count
        if repaired:
            paper.metadata["repaired"] = True  # keep_damaged: the pages above are the ones MuPDF recovered
        paper.metadata["no_text_pages"] = no_text
        if ocr_pages:
            paper.metadata["ocr_pages"] = ocr_pages
        if self.keep_tables:
            paper.metadata["tables"] = tables
            paper.metadata["tables_unstructured"] = unstructured  # their bodies are kept as plain lines
        return PdfText(paper, page_count, no_text)

    # ---- OCR (pages without a usable text layer) -------------------------------------------
    def _needs_ocr(self, blocks: list[Block]) -> bool:
        text = "\n".join(b.text for b in blocks)
        return len(text) < self.min_chars_per_page or garbage_layer(text)

    def _ocr_blocks(self, page: pymupdf.Page, number: int) -> list[Block]:
        """The page as Tesseract reads it, in the blocks and lines the layout logic takes."""
        # a hostile page size (200 x 200 inches) must not become a 3 GB image: fewer dots per inch past OCR_MAX_PIXELS
        inches = max(page.rect.width * page.rect.height / 72**2, 1e-6)
        dpi = max(1, min(self.ocr_dpi, int((OCR_MAX_PIXELS / inches) ** 0.5)))
        pix = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY)
        width, height = pix.width, pix.height
        blocks = []
        for lines in group_lines(ocr_page_words(pix.tobytes("png"))).values():
            made = [Line(clean(text), round(h * 72 / dpi / 0.7, 1), False, tuple(v * 72 / dpi for v in box))
                    for text, box, h in lines]
            x0, y0 = min(b[1][0] for b in lines), min(b[1][1] for b in lines)
            x1, y1 = max(b[1][2] for b in lines), max(b[1][3] for b in lines)
            blocks.append(Block(number, (x0 / width, y0 / height, x1 / width, y1 / height), made))
        return blocks

    # ---- tables (keep_tables) ---------------------------------------------------------------
    def _with_tables(self, page: pymupdf.Page, blocks: list[Block]) -> tuple[list[Block], int, int]:
        """(the page's blocks with each structured table in place of the text blocks inside it, tables structured,
        table captions on the page)."""
        captions = sum(1 for b in blocks if TABLE_CAPTION.match(b.text) and _CAPTION.match(b.text))
        try:
            if not captions and not ruled(page):
                return blocks, 0, 0  # the finder is slow: only pages that may hold a table
            found = page_tables(page)
        except Exception:  # noqa: BLE001 - the finder failing on a hostile page leaves the page as text
            return blocks, 0, captions
        width, height = page.rect.width, page.rect.height
        for table in found:
            x0, y0, x1, y1 = table.bbox
            box = (x0 / width, y0 / height, x1 / width, y1 / height)

            def inside(b: Block) -> bool:
                cx, cy = (b.bbox[0] + b.bbox[2]) / 2, (b.bbox[1] + b.bbox[3]) / 2
                return box[0] - 0.005 <= cx <= box[2] + 0.005 and box[1] - 0.005 <= cy <= box[3] + 0.005

            blocks = [b for b in blocks if b.table or not inside(b)] + [Block(blocks[0].page if blocks else page.number, box, [], markdown_table(table.rows))]
        return blocks, len(found), captions

    def _without_ruled_tables(self, page: pymupdf.Page, blocks: list[Block], running: tuple | None = None) -> tuple[list[Block], tuple | None]:
        """Without keep_tables, a table's body goes, as the other readers drop it: the cells of a table whose caption
        stands just above its top rule (or just below its bottom rule) and that is closed by horizontal rules (booktabs,
        and most journals' tables). Cells of words (a table of learning objectives, of methods) are not caught by the
        numbers rule (`_is_table_body`) and would read as prose. The page's vector drawings are far cheaper than the
        table finder keep_tables uses (benchmarks/pdf_collections.py times the whole reader).
        `running`: the (x0, x1) of such a table that ran to the foot of the page before; here it goes on under rules
        just as wide from the top of the page, without a caption (a long table set over pages). Returns the blocks
        and the (x0, x1) of a table that runs on to the next page, or None."""
        captions = [b for b in blocks if b.lines and TABLE_CAPTION.match(b.text) and _CAPTION.match(b.text)]
        if not captions and running is None:
            return blocks, None
        try:
            rules = _horizontal_rules(page)
        except Exception:  # noqa: BLE001 - drawings MuPDF cannot list leave the page as it is
            return blocks, None
        others = [b for b in blocks if b.lines and _CAPTION.match(b.text)]  # figures' captions bound a table too
        regions = [r for c in captions if (r := _ruled_region(c, rules, others)) is not None]
        if running is not None and (go_on := _continued_region(running, rules, blocks)) is not None:
            regions.append(go_on)
        if not regions:
            return blocks, None

        def inside(b: Block) -> bool:
            cx, cy = (b.bbox[0] + b.bbox[2]) / 2, (b.bbox[1] + b.bbox[3]) / 2
            return any(x0 - 0.01 <= cx <= x1 + 0.01 and y0 < cy < y1 for x0, y0, x1, y1 in regions)

        kept = [b for b in blocks if b.table or b in captions or not inside(b)]
        # a table runs on when nothing but the page's foot (its number, a running line) is set below it
        foot = max(regions, key=lambda r: r[3])
        below = [b for b in kept if b.bbox[1] > foot[3] and b.bbox[1] < 0.92]
        return kept, ((foot[0], foot[2]) if not below else None)

    # ---- page level ---------------------------------------------------------------------
    def _page_blocks(self, page: pymupdf.Page, number: int, fonts: "_Type3Pitch | None" = None) -> list[Block]:
        flags = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP  # ligatures expanded
        width, height = page.rect.width, page.rect.height
        blocks = []
        fonts = fonts if fonts is not None else _Type3Pitch()
        raw_blocks = page.get_text("dict", flags=flags)["blocks"]
        if unknown := fonts.unknown_on(page, raw_blocks):
            # the characters' positions tell a Type 3 font's pitch: this page is read once more with them
            chars = page.get_text("rawdict", flags=flags)["blocks"]
            fonts.learn(unknown, [s for b in chars for ln in b.get("lines", ()) for s in ln["spans"]])
        _drop_line_numbers(raw_blocks)
        for raw in raw_blocks:
            if raw.get("type") != 0:
                continue
            lines = []
            for rl in raw["lines"]:
                if abs(rl["dir"][1]) > 0.1:  # rotated text: arXiv stamps, vertical axis labels
                    continue
                if (ln := _line(rl, fonts.fixed)) is not None:
                    lines.append(ln)
            lines = _join_split_numbers(lines)
            if lines:
                x0, y0, x1, y1 = raw["bbox"]
                blocks.append(Block(number, (x0 / width, y0 / height, x1 / width, y1 / height), lines))
        return blocks

    def _drop_running_lines(self, pages: list[list[Block]]) -> list[list[Block]]:
        """Remove headers, footers and page numbers: margin lines that repeat or are bare numbers."""

        def key(line: Line) -> str:
            return _DIGITS.sub("#", line.text.strip().lower())

        def in_margin(block: Block) -> bool:
            return block.bbox[3] < MARGIN + 0.02 or block.bbox[1] > 1 - MARGIN - 0.02

        seen = Counter()
        for blocks in pages:
            seen.update({key(ln) for b in blocks if in_margin(b) for ln in b.lines})
        repeated = {k for k, n in seen.items() if n >= 2 and len(pages) > 1}
        out = []
        for blocks in pages:
            kept = []
            for b in blocks:
                if in_margin(b):
                    b.lines = [ln for ln in b.lines if key(ln) not in repeated and not re.fullmatch(r"[#\s\-–—/|.]*(?:page|p\.)?[#\s\-–—/|.]*", key(ln))]
                if b.lines or b.table:
                    kept.append(b)
            out.append(kept)
        return out

    def _reading_order(self, blocks: list[Block]) -> list[Block]:
        """Full-width blocks split the page into bands; in a band, the left column comes first."""
        def full(b: Block) -> bool:
            return b.width > 0.55 or (b.bbox[0] < 0.45 and b.bbox[2] > 0.55)

        blocks = sorted(blocks, key=lambda b: (b.bbox[1], b.bbox[0]))
        two_columns = sum(1 for b in blocks if not full(b)) >= 2
        if not two_columns:
            return blocks
        out: list[Block] = []
        band: list[Block] = []
        for b in blocks:
            if full(b):
                out += sorted(band, key=lambda x: (x.bbox[0] >= 0.45, x.bbox[1]))
                band = []
                out.append(b)
            else:
                band.append(b)
        out += sorted(band, key=lambda x: (x.bbox[0] >= 0.45, x.bbox[1]))
        return out

    # ---- document level ---------------------------------------------------------------------
    def _paper(self, blocks: list[Block]) -> Paper:
        sizes = Counter()
        for b in blocks:
            for ln in b.lines:
                sizes[ln.size] += len(ln.text)
        body_size = sizes.most_common(1)[0][0] if sizes else 10.0

        title, start = self._title(blocks, body_size)
        blocks = blocks[start:]
        body_start = self._front_matter_end(blocks, body_size)
        front, blocks = blocks[:body_start], blocks[body_start:]
        blocks = _display_equations(blocks, body_size)

        abstract: list[str] = []
        for b in front:  # an abstract set apart above the body
            text = b.text
            if b.size < body_size - 0.5 and b.bbox[1] > 0.6 and not _ABSTRACT.match(text):
                continue  # a title page's footnote in smaller type at its foot (a note on the author list, a present address)
            if _ABSTRACT.match(text) or (len(text) > 400 and not (_AFFILIATION.search(text[:300]) or _EMAIL.search(text) or _looks_like_authors(text))):
                abstract.append(_ABSTRACT.sub("", text, count=1).lstrip(" .:—-"))
        sections: list[Section] = []
        current = Section("", [], 1, None)
        pending: list[str] = []  # captions met inside a paragraph that continues after them
        refs_started = False
        last_ref: Block | None = None  # the last block dropped as the reference list
        refs_headed = False  # the reference list began under its heading (not a numbered list that looked like one)
        in_contents = False  # just after a "Contents" title or a block of its entries
        keywords: list[str] = []
        keywords_next = False  # just after a "Keywords" heading: the list is the next block

        last_code = False  # the last paragraph is a code listing: the next text never carries it on
        floats_after = [0, current]  # captions and tables set inline since this section's last paragraph of text

        def note_float() -> None:
            if floats_after[1] is not current:
                floats_after[:] = [0, current]
            floats_after[0] += 1

        def add_paragraph(text: str) -> None:
            nonlocal current, last_code
            after_code, last_code = last_code, False
            text = _BRACKET_CITATION.sub("", text)  # numeric citation markers carry nothing for a language model
            # an acknowledgement cut mid-sentence by a break goes on, even on a name ("... thank Patrick | Krenzer, and")
            open_ack = bool(current.paragraphs) and current.paragraphs[-1].rstrip()[-1:] not in ".!?:"
            if current.kind == "acknowledgements" and not open_ack and not _ACKNOWLEDGEMENT.match(text):
                sections.append(current)  # an unheaded acknowledgement ends where its paragraphs of thanks end
                current = Section("", [], 1, None)
            paras = current.paragraphs
            # the paragraph this text may carry on is the last one; a caption (or table) set inline after it is never
            # carried on ("... (f = 4). <link icon>" | "rated to properly model ..."): the text starts a paragraph after it
            floats = floats_after[0] if floats_after[1] is current else 0
            at = len(paras) - 1 - floats
            if at >= 0 and not after_code and floats and _HYPHEN_CUT.search(paras[at]) and text[:1].islower():
                # a word cut at a column end, and a float set between its halves: the word is made whole where it began,
                # the sentence goes on after the float, where the page has it
                word, _, text = text.partition(" ")
                paras[at] = join_lines([paras[at], word])
                if not text:
                    return
            elif at >= 0 and not after_code and not floats and (_continues(paras[at], text) or (current.kind == "acknowledgements" and open_ack)):
                paras[at] = join_lines([paras[at], text])  # a paragraph broken by a column or page end
                return
            paras.extend(pending)
            pending.clear()
            paras.append(text)
            floats_after[:] = [0, current]

        for i in range(len(blocks) - 1):  # a caption set below its table is read before it, as it is everywhere else
            if blocks[i].table and TABLE_CAPTION.match(blocks[i + 1].text) and not (i and TABLE_CAPTION.match(blocks[i - 1].text)):
                blocks[i], blocks[i + 1] = blocks[i + 1], blocks[i]
        refs_at = self._references_start(blocks)
        word_tables = {run[0]: run for run in _word_table_runs(blocks)}  # first row -> the run's rows
        in_word_table: set[int] = {i for run in word_tables.values() for i in run}
        for i, b in enumerate(blocks):
            text = b.text
            if i == refs_at:
                refs_started = True
            if (m := _BOILERPLATE.search(text)) and len(text) < 800 and (m.start() < 120 or b.size < body_size - 0.5):
                # a licence statement opens with it or is set small; a paragraph of the text may mention a licence
                # ("videos ... on a YouTube channel under a Creative Commons license")
                continue  # licence and copyright footnotes
            if len(text) < 300 and (_IDENTIFIER.match(text) or _ADDRESS_NOTE.match(text) or _HISTORY.match(text)):
                continue  # PII/DOI/ISSN lines, address footnotes, the article's dates (a page-1 sidebar or footnote)
            if _CAPTION.match(text) and len(text) > 12:
                if (current.kind or section_kind(current.title)) in DROPPED_KINDS:
                    # a float set after the acknowledgements (a manuscript's figures at its end) is no part of them
                    sections.append(current)
                    current = Section("", [], 1, None)
                if self.caption_placement == "inline":
                    current.paragraphs.append(text)
                    note_float()
                else:
                    pending.append(text)
                continue
            if _SUPPLEMENT.match(text) and len(text) < 300 and (b.size > body_size + 0.5 or b.lines[0].bold) and not _SENTENCE_VERB.search(text):
                # a supplement bound in after the paper (its own title, often after the references): dropped whole
                current.paragraphs.extend(pending)
                pending.clear()
                if current.title or current.paragraphs:
                    sections.append(current)
                current = Section(text, [], 1, "supplementary")
                refs_started = False
                continue
            if current.kind == "supplementary":
                current.paragraphs.append(text)
                continue
            if b.page <= 3 and (_CONTENTS_TITLE.match(text.strip()) or _is_contents([ln.text for ln in b.lines], in_contents)):
                in_contents = True
                continue  # a table of contents: its entries repeat the headings, its "References 6" is no reference list
            in_contents = False
            if self._is_reference_list(b):
                refs_started, last_ref = True, b
                continue
            if refs_started and (not _is_prose(text) or (last_ref is not None and (
                    (refs_headed and _runs_on(last_ref, b) and _reference_density(last_ref.text) >= 1.2)
                    or (last_ref is blocks[i - 1] and b.size < body_size - 0.5 and abs(b.size - last_ref.size) < 0.3)))):
                # inside the reference list only clear prose (a column that goes on) survives, and not a piece of an
                # entry that reads like prose: set right under the entry before it ("Schilling. TaylorModels.jl: ..."),
                # or next after it in the list's own smaller type (the top of the next column)
                last_ref = b
                continue
            if b.lines and b.lines[0].marked and b.size < body_size - 0.5 and b.bbox[1] > 0.5:
                # a footnote (a raised mark, smaller type, low on the page): dropped, as the XML and LaTeX readers drop
                # them; before the code rule, since a footnote that is a link is set in typewriter type
                continue
            if b.code and not refs_started:
                # a code listing, line by line as it is set (citation brackets and fragments rules do not apply)
                current.paragraphs.extend(pending)
                pending.clear()
                current.paragraphs.append(_code_text(b.lines))
                last_code = True
                continue
            if not refs_started and (steps := _algorithm_steps(b, blocks[i + 1] if i + 1 < len(blocks) else None)) is not None:
                current.paragraphs.extend(pending)
                pending.clear()
                current.paragraphs.append(steps)
                last_code = True  # a listing: the next text never carries it on
                continue
            if i in in_word_table and not refs_started:
                if self.keep_tables and i in word_tables:
                    current.paragraphs.append(_word_table([blocks[j] for j in word_tables[i]]))
                    note_float()
                continue  # a table of words without rules: its body, as the other readers drop it without keep_tables
            if b.table:
                target = current.paragraphs if self.caption_placement == "inline" else pending
                if target and TABLE_CAPTION.match(target[-1]) and "\n|" not in target[-1]:
                    target[-1] += "\n" + b.table  # the body follows its caption, as the XML and LaTeX readers write it
                else:
                    target.append(b.table)
                    if target is current.paragraphs:
                        note_float()
                continue
            if b.size < 0.8 * body_size:
                continue  # figure labels, legends, footnotes in small type
            if b.page == 0 and len(b.lines) >= 2 and all(_LINK_LABEL.match(ln.text) for ln in b.lines):
                continue  # a title page's sidebar of links ("• Review • Repository • Archive"): labels, not text
            if _is_glyph_noise(text):
                continue  # a scan's text layer read off a plot: tick marks, dots and quotes with hardly a word
            if len(text) < 40 and len(b.lines) <= 2 and not _WORD.search(text) and not _RELATION.search(text):
                continue  # no word in it ("(b)", "1 -> 1", "0.5 1.0"): a figure's panel letter or tick labels, whatever its type
            if b.page <= 1 and (m := _KEYWORDS.match(text) or _keywords_run_in(text)):
                # the paper's keywords go where the XML readers put them (the policy leaves them out by default)
                keywords += _keyword_list(m.group(2))
                keywords_next = not m.group(2).strip()
                continue
            if keywords_next:
                keywords_next = False
                if _is_keyword_list(text):
                    keywords += _keyword_list(text)
                    continue
            if not abstract and not sections and not current.title and not current.paragraphs and _ABSTRACT_TITLE.fullmatch(text):
                current = Section("Abstract", [], 1, None)  # the paragraphs under it are the abstract (see below)
                continue
            if _CREDITS.match(text):
                if current.kind != "acknowledgements":  # the credit lines join the acknowledgements they follow
                    current.paragraphs.extend(pending)
                    pending.clear()
                    sections.append(current)
                    current = Section(text.split(":")[0], [], 1, "acknowledgements")
                current.paragraphs.append(text)
                continue
            heading, rest = self._split_heading(b, body_size)
            if not heading:
                if (self._is_fragment(b, body_size) and not b.equation) or (_EMAIL.search(text) and len(text) < 200):
                    continue  # axis labels and panel letters of vector figures, e-mail footnotes
                if self._is_table_body(b):
                    if self.keep_tables:
                        pending.append("\n".join(ln.text for ln in b.lines))
                    continue
            if heading:
                if section_kind(heading) == "references":
                    refs_started = refs_headed = True
                    continue
                current.paragraphs.extend(pending)
                pending.clear()
                if current.title or current.paragraphs:
                    sections.append(current)
                current = Section(heading, [], 1, None)
                if not rest:
                    continue
                text = rest
            if _ACKNOWLEDGEMENT.match(text) and (current.kind or section_kind(current.title)) not in DROPPED_KINDS:
                # (under a heading of the back matter, "Other Contributions", it is that section's own paragraph)
                current.paragraphs.extend(pending)
                pending.clear()
                sections.append(current)  # an unheaded acknowledgement paragraph closes the body section
                current = Section("Acknowledgements", [text], 1, "acknowledgements")
                continue
            add_paragraph(text)
        current.paragraphs.extend(pending)
        if current.title or current.paragraphs:
            sections.append(current)
        if not abstract and sections and _ABSTRACT_TITLE.fullmatch(sections[0].title):
            abstract = sections.pop(0).paragraphs  # an "ABSTRACT" heading over the body's first paragraphs
        return Paper(title=title, abstract=abstract, sections=sections, keywords=keywords, metadata={})

    def _title(self, blocks: list[Block], body_size: float) -> tuple[str | None, int]:
        first_page = [i for i, b in enumerate(blocks) if b.page == 0 and not _IDENTIFIER.match(b.text)][:12]
        if not first_page:
            return None, 0
        i = max(first_page, key=lambda j: (blocks[j].size, -j))
        if blocks[i].size < 1.15 * body_size or len(blocks[i].text) > 300:
            return None, 0
        end = i + 1  # a title set in several blocks of the same type
        while end < len(blocks) and blocks[end].page == 0 and abs(blocks[end].size - blocks[i].size) < 0.5 and len(blocks[end].text) < 200:
            end += 1
        return join_lines([b.text for b in blocks[i:end]]), end

    def _front_matter_end(self, blocks: list[Block], body_size: float) -> int:
        """Index of the first block after authors/affiliations: the abstract or the first body paragraph."""
        others = 0  # blocks that are not authors or affiliations: a title page's first 25 of them are looked at
        names = 0  # blocks that are
        for i, b in enumerate(blocks):
            text = b.text
            people = bool(_AFFILIATION.search(text[:300]) or _EMAIL.search(text) or _looks_like_authors(text))
            if b.page > 0 and not ((people or len(text) < 80) and names >= 3 * others and b.page <= 5 and not _ABSTRACT.match(text)):
                # a page turn ends the front matter, unless a page of mostly authors and affiliations runs on into the
                # next (a collaboration's list: hundreds of names and their institutes)
                return i
            if _ABSTRACT.match(text):
                return i
            if people:
                names += 1
                continue  # a collaboration's author list may run to dozens of blocks
            others += 1
            if others > 25:
                break
            if len(text) > 250 and abs(b.size - body_size) < 1.5 or len(text) > 600:
                # the body's first heading ("1. Summary", "Introduction") stands just above its first paragraph
                if i > 0 and not _ABSTRACT.match(blocks[i - 1].text) and self._split_heading(blocks[i - 1], body_size) == (blocks[i - 1].lines[0].text.strip(), ""):
                    return i - 1
                return i
        return 0

    def _split_heading(self, b: Block, body_size: float) -> tuple[str | None, str]:
        first = b.lines[0]
        t = first.text.strip()
        if len(t) > 90 or len(t) < 3 or t.endswith((",", ";")):
            return None, ""
        looks_numbered = bool(_HEADING_NUMBER.match(t)) and not t[-1].isdigit()
        letters = [c for c in t if c.isalpha()]
        visible = [c for c in t if not c.isspace()]
        if len(letters) < 4 or len(letters) < 0.6 * len(visible):
            return None, ""  # axis ticks, panel labels, units: not a heading
        upper = len(letters) > 3 and sum(c.isupper() for c in letters) / len(letters) > 0.8
        emphasised = first.bold or first.size > body_size + 0.9
        known = section_kind(t) != "body"
        several_words = len(t.split()) >= 2
        # a numbered heading in the body's own type (italic, or set apart only by its number): a line of its own, the
        # number dotted ("3.", "3.1", "A."), a capitalised title that is no sentence
        plain_numbered = (looks_numbered and len(b.lines) == 1 and _DOTTED_HEADING.match(t) is not None and len(t) < 70
                          and not t.endswith(".") and not re.search(r"\b[A-Z]\.\s*[A-Z][a-z]*\.", t))
        if not (known or (looks_numbered and (upper or emphasised)) or plain_numbered or (upper and emphasised and several_words)
                or (first.bold and len(b.lines) == 1 and len(t) < 60 and several_words)):
            return None, ""
        rest = join_lines([ln.text for ln in b.lines[1:]])
        return t, rest

    def _is_fragment(self, b: Block, body_size: float) -> bool:
        """Too little running text to be prose: panel labels, axis ticks, legend entries."""
        words = b.text.split()
        if len(words) >= 6:
            return False
        return not (b.lines[0].bold or b.size > body_size + 0.9)  # short bold/large lines may be headings

    def _references_start(self, blocks: list[Block]) -> int | None:
        """Where a reference list of one block per entry begins: most of the next blocks are entries."""
        starts = [_is_reference_entry(b.text) for b in blocks]
        for i in range(len(blocks) // 3, len(blocks)):
            if _FIRST_REF.match(blocks[i].text) and starts[i] and any(_YEAR.search(b.text) for b in blocks[i : i + 3]):
                return i  # the first entry of a numbered reference list
            window = [b for b, entry in zip(blocks[i : i + 8], starts[i : i + 8]) if not _CAPTION.match(b.text)]
            marked = sum(starts[i : i + 8])
            if starts[i] and len(window) >= 3 and marked >= 0.4 * len(window) and sum(bool(_YEAR.search(b.text)) for b in window) >= 2:
                return i
        return None

    def _is_reference_list(self, b: Block) -> bool:
        entries = sum(1 for ln in b.lines if _is_reference_entry(ln.text))
        if entries < 2 or entries < 0.25 * len(b.lines) or not _YEAR.search(b.text):
            return False
        chars = [c for c in b.text if not c.isspace()]
        return sum(c.isalpha() for c in chars) > 0.4 * len(chars)  # not a table of numbers

    def _is_table_body(self, b: Block) -> bool:
        text = b.text
        if len(b.lines) < 2 or _CAPTION.match(text):
            return False
        avg = statistics.mean(len(ln.text) for ln in b.lines)
        chars = [c for c in text if not c.isspace()]
        digits = sum(c.isdigit() for c in chars) / max(1, len(chars))
        return avg < 30 and digits > 0.3
