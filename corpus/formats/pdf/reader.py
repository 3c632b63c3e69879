"""The PDF reader end to end: open -> page blocks (OCR where a page is a scan, tables by option) -> reading order ->
features -> roles -> assembly -> `Paper`.

`PdfExtractor(...).extract(data)` gives a `PdfText` (the `Paper`, its page accounting and every block's decision) or
a named failure; `explain(data)` every block with its role, the model's probability and its place on the page, so
that a user can see why text went missing (`corpus extract --explain FILE.pdf`).

Rules that stay rules (a model cannot learn them from block labels), each a named function in its stage: line-end
hyphens and ligatures (page.py), the maths-font repair (`repair_math_font`, below), OCR routing (ocr.needs_ocr),
table structure (tables.py), the document's identifiers (`document_metadata`, below).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field

import pymupdf

from corpus.formats.pdf.assemble import Decision, decide, paper_of
from corpus.formats.pdf.ocr import MIN_CHARS, needs_ocr, ocr_blocks, tesseract
from corpus.formats.pdf.order import reading_order
from corpus.formats.pdf.page import PageBlock, clean, document_blocks, open_pdf
from corpus.formats.pdf.roles.features import block_features
from corpus.formats.pdf.roles.model import RoleModel, load
from corpus.formats.pdf.tables import with_tables
from corpus.papers.model import Paper, SectionPolicy
from corpus.records import Failure

_DOI = re.compile(r"10\.\d{4,9}/[^\s\"<>]+")
_WHOLE_WORD = re.compile(r"[^\W\d_]{3,}")
_NOT_A_TITLE = re.compile(r"^\s*(pii:?\s|doi:?\s*10\.|issn\b|https?://|www\.)|\.(docx?|tex|dvi|pdf|rtf|odt)\b|^untitled$|^microsoft word\b",
                          re.IGNORECASE)
# APS/AIP typesetting puts parentheses, "=" and "+" in a maths font whose glyphs map to ð Þ ¼ þ in the text layer
# ("T ¼ 4.3 K", "Oð10Þ", "hs þ hd"); Icelandic letters do not occur in such papers, so many of them mark the font
_LICENCE = re.compile(r"\bCC[ -]BY(?:[ -](?:NC|SA|ND))*(?:[ -]\d\.\d)?")
# a repository's cover sheet (eScholarship, Pure): "Title\n<the title>\nPermalink ..."; the fallback title of a scan
# whose own title page is not set in larger type
COVER_TITLE = re.compile(r"^Title\s*:?\s+(.+?)\s*\n(?:Permalink|Journal|Authors?|ISSN|Publication|DOI)\b", re.MULTILINE | re.DOTALL)
_MATH_FONT = str.maketrans({"ð": "(", "Þ": ")", "¼": "=", "þ": "+"})


def repair_math_font(pages: list[list[PageBlock]]) -> None:
    """Map a maths font's misread glyphs back (see _MATH_FONT) when the whole document shows the pattern: many ð and
    about as many Þ."""
    text = "".join(ln for blocks in pages for b in blocks for ln in b.lines)
    opened, closed = text.count("ð"), text.count("Þ")
    if opened >= 3 and closed >= 3 and abs(opened - closed) <= 0.2 * opened:
        for blocks in pages:
            for b in blocks:
                b.lines = [ln.translate(_MATH_FONT) for ln in b.lines]
                b.__dict__.pop("text", None)  # the joined text is cached


def is_real_title(title: str) -> bool:
    """A PDF's metadata title is often an identifier ("PII: 0378-4363(87)90248-8"), a file name ("Microsoft Word -
    paper.docx", "main.dvi") or "untitled": a title has words."""
    return not _NOT_A_TITLE.search(title.strip()) and len(_WHOLE_WORD.findall(title)) >= 2


def document_metadata(paper: Paper, info: dict, first_page: str) -> None:
    """The DOI from the document's information dictionary or its first page, the licence its first page states, and
    its title when the page gave none (a cover sheet's "Title" field, then the information dictionary's)."""
    doi = _DOI.search(" ".join(str(v) for v in info.values() if v)) or _DOI.search(first_page)
    if doi:
        paper.metadata["doi"] = doi.group(0).rstrip(".")
    if licence := _LICENCE.search(first_page):
        paper.metadata["licence"] = licence.group(0).replace("-", " ")
    if not paper.title and (title := COVER_TITLE.search(first_page)):
        paper.title = " ".join(title.group(1).split())
    if not paper.title and info.get("title") and is_real_title(info["title"]):
        paper.title = clean(info["title"])


@dataclass
class Layout:
    """What the page stages saw: the blocks in reading order and the document's accounting."""

    blocks: list[PageBlock]
    pages: int
    info: dict  # the document information dictionary (title, author, ...)
    first_page: str
    repaired: bool
    no_text_pages: list[int]
    ocr_pages: list[int]
    tables: int = 0
    unstructured: int = 0


@dataclass
class PdfText:
    paper: Paper
    pages: int
    no_text_pages: list[int] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)

    @property
    def text(self) -> str:
        return SectionPolicy().render(self.paper)[0]


class PdfExtractor:
    """PDF bytes -> `PdfText`, or a Failure (`not_a_pdf`, `damaged_pdf`, `encrypted_pdf`, `no_pages`, `no_text_layer`)."""

    def __init__(self, keep_tables: bool = False, caption_placement: str = "inline", keep_damaged: bool = False,
                 ocr: str = "auto", ocr_dpi: int = 300, ocr_max_pages: int = 200, model: RoleModel | None = None,
                 threshold: float = 0.5, min_chars_per_page: int = MIN_CHARS):
        if caption_placement not in ("inline", "after_paragraph"):
            raise ValueError(f"caption_placement must be inline or after_paragraph, not {caption_placement!r}")
        if ocr not in ("auto", "off"):
            raise ValueError(f"ocr must be auto or off, not {ocr!r}")
        self.keep_tables, self.caption_placement, self.keep_damaged = keep_tables, caption_placement, keep_damaged
        self.ocr, self.ocr_dpi, self.ocr_max_pages = ocr, ocr_dpi, ocr_max_pages
        self.model, self.threshold, self.min_chars_per_page = model, threshold, min_chars_per_page

    def _model(self) -> RoleModel:
        if self.model is None:
            self.model = load()
        return self.model

    def _ocr(self, doc: pymupdf.Document, pages: list[list[PageBlock]]) -> list[int]:
        """OCR the scanned pages in place; their numbers (1-based)."""
        if self.ocr == "off":
            return []
        scans = [i for i, blocks in enumerate(pages) if needs_ocr(doc[i], blocks, self.min_chars_per_page)]
        if not scans or not tesseract():
            return []
        done = []
        for i in scans[: self.ocr_max_pages]:  # the rest stay no_text_pages: a 10,000-page scan is not read for hours
            try:
                pages[i] = ocr_blocks(doc[i], i, self.ocr_dpi)
            except (RuntimeError, OSError, subprocess.TimeoutExpired):
                continue  # this page stays without text and is counted
            done.append(i + 1)
        return done

    def layout(self, data: bytes) -> Layout | Failure:
        """Stages 1-2: the document's blocks in reading order (scanned pages OCR'd, tables structured by option)."""
        opened = open_pdf(data, self.keep_damaged)
        if isinstance(opened, Failure):
            return opened
        doc, repaired = opened
        with doc:
            pages = document_blocks(doc)
            if isinstance(pages, Failure):
                return pages
            page_count, info = doc.page_count, doc.metadata or {}
            ocr_pages = self._ocr(doc, pages)
            tables = unstructured = 0
            if self.keep_tables:
                for i in range(page_count):
                    if i + 1 not in ocr_pages:
                        pages[i], structured, captions = with_tables(doc[i], pages[i])
                        tables += structured
                        unstructured += max(0, captions - structured)
        no_text = [i + 1 for i, blocks in enumerate(pages) if sum(len(b.text) for b in blocks) < self.min_chars_per_page]
        if len(no_text) == page_count:
            why = "" if tesseract() or self.ocr == "off" else "; OCR needs Debian's tesseract-ocr, which is not installed"
            return Failure("no_text_layer", f"none of the {page_count} pages has a text layer (scanned without OCR?){why}")
        repair_math_font(pages)
        return Layout(reading_order(pages), page_count, info, "\n".join(b.text for b in pages[0]) if pages else "",
                      repaired, no_text, ocr_pages, tables, unstructured)

    def assemble(self, layout: Layout, probabilities) -> PdfText:
        """Stages 3-4: every block's role from its probability of being text, and the `Paper` they make."""
        decisions = decide(layout.blocks, probabilities, self.threshold)
        paper = paper_of(decisions, self.caption_placement)
        document_metadata(paper, layout.info, layout.first_page)
        paper.metadata.update({"pages": layout.pages, "no_text_pages": layout.no_text_pages,
                               # what the report's extraction quality reads: text the page had and the paper did not take
                               "layout_dropped_chars": sum(len(d.block.text) for d in decisions if d.role == "dropped")})
        if layout.repaired:
            paper.metadata["repaired"] = True  # keep_damaged: the pages above are the ones MuPDF recovered
        if layout.ocr_pages:
            paper.metadata["ocr_pages"] = layout.ocr_pages
        if self.keep_tables:
            paper.metadata["tables"] = layout.tables
            paper.metadata["tables_unstructured"] = layout.unstructured  # their bodies are left to the role model
        return PdfText(paper, layout.pages, layout.no_text_pages, decisions)

    def extract(self, data: bytes) -> PdfText | Failure:
        layout = self.layout(data)
        if isinstance(layout, Failure):
            return layout
        return self.assemble(layout, self._model().probabilities(block_features(layout.blocks)))

    def explain(self, data: bytes) -> list[dict] | Failure:
        """Every block: page (1-based), box, role, probability, text."""
        result = self.extract(data)
        if isinstance(result, Failure):
            return result
        return [{"page": d.block.page + 1, "bbox": [round(v, 1) for v in d.block.bbox], "role": d.role,
                 "probability": round(d.probability, 3), "text": d.block.text} for d in result.decisions]
