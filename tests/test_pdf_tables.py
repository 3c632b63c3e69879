"""Tables from PDFs (`keep_tables: true`): Markdown bodies placed with their caption, on real bundled pages, and the
Markdown table writer every reader shares. The ../shared papers skip on their own when it is absent."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SAMPLES, SHARED
from corpus.papers.model import inline_text, markdown_table, markdown_tables
from corpus.formats.pdf.reader import PdfExtractor
from corpus.formats.pdf.tables import _is_table, _merge_wrapped_rows

SCAN_1989 = SAMPLES / "papers" / "pdf" / "PHC1580183-CC.pdf"  # a 1989 scan with a text layer and one table
JOSE = SHARED / "papers" / "pdf_groundtruth" / "jose" / "pdf"


def read(path, **options):
    return PdfExtractor(**options).extract(path.read_bytes())


def test_a_table_on_a_page_after_a_cover_sheet_is_kept_as_markdown():
    """The repository's cover sheet is dropped and the pages renumbered: the table block went with it once."""
    paper = read(SCAN_1989, keep_tables=True)
    assert paper.paper.metadata["tables"] == 1
    (table,) = markdown_tables(paper.text)
    assert len(table) >= 8 and len(table[0]) == 4
    assert any("2.415(1) x 2" in cell for row in table for cell in row)
    prose = "\n".join(line for line in paper.text.split("\n") if not line.startswith("|"))
    assert "2.415(1)" not in prose  # the body is in the table only, not also garbled into the text


def test_without_keep_tables_no_table_is_written_and_no_counts_appear():
    paper = read(SCAN_1989)
    assert not markdown_tables(paper.text) and "tables" not in paper.paper.metadata
    assert "2.415(1)" not in paper.text


def test_a_page_without_tables_reads_the_same_with_keep_tables():
    path = SAMPLES / "papers" / "pdf" / "piva2015combined-CC.pdf"
    with_tables, without = read(path, keep_tables=True), read(path)
    assert with_tables.paper.metadata["tables"] == 0 and with_tables.text == without.text


@pytest.mark.skipif(not JOSE.is_dir(), reason="../shared/data is not beside the repository")
def test_born_digital_tables_follow_their_captions():
    text = read(JOSE / "jose.00260.pdf", keep_tables=True).text
    tables = markdown_tables(text)
    assert [t[0] for t in tables] == [["Day #", "Learning Objectives", "Topics"], ["Method", "Description"]]
    assert "Table 1: Overview of the 4 modules and learning objectives.\n| Day # | Learning Objectives | Topics |" in text
    # a cell wrapped over lines of a table without row rules is one cell, not a row a line
    assert ["Discussions", "Instructors present a topic and ask questions to the students to motivate a conversation."] in tables[1]


def test_grids_that_are_not_tables_are_refused():
    listing = [["for i in range(3):", ""], ["\x07print(i)", "x"]]
    framed_prose = [["This paragraph was set in a box for emphasis and is long enough to be read as prose here."],
                    ["It goes on in a second line of the same box and says more about the method used."]]
    sparse = [["a", ""], ["", ""], ["", "b"], ["c", ""]]
    long_cells = [[" ".join(["word"] * 20), " ".join(["more"] * 15)]] * 3
    assert not any(_is_table(t) for t in (listing, framed_prose, sparse, long_cells))
    assert _is_table([["Compound", "a (Å)"], ["Si", "5.43"], ["Ge", "5.66"]])


def test_wrapped_cells_join_but_group_rows_stay():
    rows = [["Live coding or", "Instructors write code"], ["", "and explain it."], ["", "Another group row"]]
    assert _merge_wrapped_rows(rows) == [["Live coding or", "Instructors write code and explain it."], ["", "Another group row"]]


CELL = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(CELL, min_size=1, max_size=5), min_size=1, max_size=6))
def test_markdown_tables_read_back_what_markdown_table_wrote(rows):
    written = markdown_table(rows)
    kept = [[inline_text(c) for c in r] for r in rows if any(inline_text(c) for c in r)]
    if not kept:
        assert written == ""
        return
    width = max(len(r) for r in kept)
    assert markdown_tables("Some prose.\n" + written + "\nMore prose.") == [[r + [""] * (width - len(r)) for r in kept]]
