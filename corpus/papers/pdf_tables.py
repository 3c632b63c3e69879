"""Table bodies on a PDF page -> rows of cells, for `keep_tables: true` (issue 17 item 3).

PyMuPDF's table finder (`Page.find_tables`, a port of pdfplumber's ruling-line and text-alignment algorithm) does
the geometry. What is added here is what a paper needs on top of it:
- it runs only on pages that carry a table caption ("Table 2.", "TABLE II") or draw horizontal rules (a table
  without a caption, as Markdown-born papers have): the finder costs ~0.5 s a page;
- a cell's text is the page's own words whose centre lies in the cell, joined by spaces (the finder's own text
  drops the spaces between words set with kerning: "Mainlanguage");
- a found grid is kept only when it is a table: at least 2 rows and 2 columns, most rows filled in more than one
  cell, no control glyphs (code listings and algorithm boxes have ruling lines too), cells short next to prose.
A caption whose table the finder cannot structure is counted (`tables_unstructured`), and the reader keeps that
body as plain lines, never as a garbled Markdown table.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

import pymupdf

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
