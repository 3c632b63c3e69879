"""Table bodies on a PDF page -> rows of cells, for `keep_tables: true` (issue 17 item 3).

PyMuPDF's table finder (`Page.find_tables`, a port of pdfplumber's ruling-line and text-alignment algorithm) does
the geometry. What is added here is what a paper needs on top of it:
- it runs only on pages that carry a table caption ("Table 2.", "TABLE II") or draw horizontal rules (a table
  without a caption, as Markdown-born papers have): the finder costs ~0.5 s a page;
- a cell's text is the page's own words whose centre lies in the cell, joined by spaces (the finder's own text
  drops the spaces between words set with kerning: "Mainlanguage");
- a found grid is kept only when it is a table: at least 2 rows and 2 columns, most rows filled in more than one
  cell, no control glyphs (code listings and algorithm boxes have ruling lines too), cells short next to prose.
A caption whose table the finder cannot structure is counted (`tables_unstructured`), and the role model decides on
that body's blocks as on any other, never as a garbled Markdown table. `with_tables` puts each structured table in
place of the page blocks inside it, as one block holding the Markdown table that the assembly keeps after its caption.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

import pymupdf

from corpus.formats.pdf.page import PageBlock
from corpus.papers.model import markdown_table

TABLE_CAPTION = re.compile(r"^\s*(table|tab\.)\s*([0-9]+|[ivxlc]+|s[0-9]+)\b", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass
class FoundTable:
    bbox: tuple[float, float, float, float]  # page coordinates (points)
    rows: list[list[str]]


def ruled(page: pymupdf.Page, least: int = 3) -> bool:
    """Whether the page draws at least `least` horizontal rules (lines or hairline rectangles over 30 pt): the
    finder's line strategy needs them, and a table without a caption still has them (~15 ms a page)."""
    rules = 0
    for drawing in page.get_drawings():
        for item in drawing["items"]:
            if item[0] == "l" and abs(item[1].y - item[2].y) < 1 and abs(item[1].x - item[2].x) > 30:
                rules += 1
            elif item[0] == "re" and item[1].height < 2 and item[1].width > 30:
                rules += 1
            if rules >= least:
                return True
    return False


def _cell_text(words: list[tuple], box: tuple | None) -> str:
    if box is None:
        return ""
    x0, y0, x1, y1 = box
    inside = [w for w in words if x0 <= (w[0] + w[2]) / 2 <= x1 and y0 <= (w[1] + w[3]) / 2 <= y1]
    return " ".join(w[4] for w in sorted(inside, key=lambda w: (w[5], w[6], w[7])))  # block, line, word order


def _merge_wrapped_rows(rows: list[list[str]]) -> list[list[str]]:
    """A cell wrapped over several lines of a table without rules between rows comes out of the finder as one row a
    line: a row with an empty first cell whose other cells all go on in lower case ("motion.", "curve plots of") is
    the previous row's continuation. (A row of a group, with its first cell left empty on purpose, starts its cells
    with a capital or a number and stays.)"""
    out: list[list[str]] = []
    for row in rows:
        filled = [c for c in row if c]
        if (out and row and not row[0] and filled and len(row) == len(out[-1])
                and all(c[0].islower() for c in filled)):
            out[-1] = [f"{a} {b}".strip() for a, b in zip(out[-1], row)]
        else:
            out.append(row)
    return out


def _is_table(rows: list[list[str]]) -> bool:
    if len(rows) < 2 or max(len(r) for r in rows) < 2:
        return False
    cells = [c for r in rows for c in r if c]
    if not cells or any(_CONTROL.search(c) for c in cells):
        return False
    several = sum(1 for r in rows if sum(1 for c in r if c) >= 2)
    if several < 0.5 * len(rows):
        return False  # one filled cell a row: a framed paragraph or a box round a listing, not a grid
    return statistics.median(len(c.split()) for c in cells) <= 12  # prose in a frame has long cells


def page_tables(page: pymupdf.Page) -> list[FoundTable]:
    """The tables the finder structures on this page, top to bottom."""
    words = page.get_text("words", flags=pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP)
    found = []
    for table in page.find_tables().tables:
        rows = _merge_wrapped_rows([[_cell_text(words, box) for box in row.cells] for row in table.rows])
        if _is_table(rows):
            found.append(FoundTable(tuple(table.bbox), rows))
    return sorted(found, key=lambda t: (t.bbox[1], t.bbox[0]))


def _inside(b: PageBlock, box: tuple[float, float, float, float], slack: float = 2.0) -> bool:
    cx, cy = (b.bbox[0] + b.bbox[2]) / 2, (b.bbox[1] + b.bbox[3]) / 2
    return box[0] - slack <= cx <= box[2] + slack and box[1] - slack <= cy <= box[3] + slack


def with_tables(page: pymupdf.Page, blocks: list[PageBlock]) -> tuple[list[PageBlock], int, int]:
    """(the page's blocks with each structured table in place of the blocks inside it, tables structured, table
    captions on the page). The finder runs only where a caption names a table or the page draws rules (it is slow)."""
    captions = sum(1 for b in blocks if TABLE_CAPTION.match(b.text))
    try:
        if not captions and not ruled(page):
            return blocks, 0, 0
        found = page_tables(page)
    except Exception:  # noqa: BLE001 - the finder failing on a hostile page leaves the page as text
        return blocks, 0, captions
    for table in found:
        inside = [b for b in blocks if not b.table and _inside(b, table.bbox)]
        body = markdown_table(table.rows)
        if not body:
            continue
        sizes = sorted(b.size for b in inside) or [0.0]
        blocks = [b for b in blocks if b not in inside] + [PageBlock(
            page=page.number, bbox=table.bbox, lines=[], size=sizes[len(sizes) // 2], max_size=sizes[-1], bold=0.0,
            italic=0.0, mono=0.0, page_width=page.rect.width or 1.0, page_height=page.rect.height or 1.0, table=body)]
    return blocks, len(found), captions
