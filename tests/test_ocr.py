"""Scanned pages: a page without a usable text layer is read by Tesseract and goes through the same layout logic."""

from __future__ import annotations

import shutil
from collections import Counter

import pymupdf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SAMPLES
from corpus.formats.pdf.ocr import garbage_layer, needs_ocr
from corpus.formats.pdf.page import PageBlock, page_blocks
from corpus.formats.pdf.reader import PdfExtractor

SCAN = SAMPLES / "papers" / "scan" / "PHC1580183-CC.page2.scan.pdf"
ORIGINAL = SAMPLES / "papers" / "pdf" / "PHC1580183-CC.pdf"  # the same page with its (publisher's OCR) text layer
needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None,
                                     reason="Debian's tesseract-ocr is not installed (`make test` installs it)")


def test_the_sample_scan_has_no_text_layer():
    with pymupdf.open(SCAN) as doc:
        assert doc.page_count == 1 and doc[0].get_text().strip() == ""


@needs_tesseract
def test_a_scanned_page_is_read_by_ocr_and_close_to_its_text_layer():
    result = PdfExtractor().extract(SCAN.read_bytes())
    assert result.paper.metadata["ocr_pages"] == [1] and result.no_text_pages == []
    with pymupdf.open(ORIGINAL) as doc:
        layer = doc[1].get_text()
    tokens = lambda t: Counter(w for w in "".join(c.lower() if c.isalnum() else " " for c in t).split() if len(w) > 2)
    got, truth = tokens(result.text), tokens(layer)
    recall = sum((got & truth).values()) / sum(truth.values())
    assert recall > 0.8, recall  # the layout logic kept the body: most words of the page's own text layer


def _blank(width: int, height: int) -> pymupdf.Pixmap:
    pix = pymupdf.Pixmap(pymupdf.csGRAY, pymupdf.IRect(0, 0, width, height), 0)
    pix.set_rect(pix.irect, (255,))
    return pix


def test_ocr_goes_to_scans_only_not_to_figure_pages_or_blank_pages():
    """A manuscript's figure page (a plot and its label "Fig. 2") is not a scan: Tesseract would read tick labels at
    two thirds of the reading time. A page a picture covers without text is; so is a layer of unmapped glyphs."""
    with pymupdf.open() as doc:
        figure = doc.new_page(width=612, height=792)
        figure.insert_image(pymupdf.Rect(72, 150, 540, 450), pixmap=_blank(64, 48))
        figure.insert_text((72, 480), "Fig. 2")
        scan = doc.new_page(width=612, height=792)
        scan.insert_image(scan.rect, pixmap=_blank(64, 80))
        doc.new_page(width=612, height=792)  # a blank page: no picture, no text
        pages = [(page, page_blocks(page, i)) for i, page in enumerate(doc)]
        assert [needs_ocr(page, blocks) for page, blocks in pages] == [False, True, False]
    with pymupdf.open(SCAN) as doc:
        assert needs_ocr(doc[0], page_blocks(doc[0], 0))


def test_a_layer_of_unmapped_glyphs_goes_to_ocr_when_set_in_lines_of_text_not_as_a_figures_labels():
    """A page of prose in a font without a Unicode map is read by OCR; a plot whose tick labels are in such a font
    (two SuperMat papers have one) is a figure page, not worth a second of Tesseract."""
    def layer(lines: list[str]) -> list[PageBlock]:
        return [PageBlock(page=0, bbox=(50, 50, 550, 700), lines=lines, size=10, max_size=10, bold=0, italic=0, mono=0,
                          page_width=612, page_height=792)]

    prose = layer(["(cid:12)(cid:45)(cid:7)(cid:88)(cid:3)(cid:9)(cid:21)" * 2] * 40)
    labels = layer(["\x01\x02", "\x03\x00\x04", "\x05\x06", "!\"#", "$%&'", "()*", "+,-"] * 6)
    with pymupdf.open() as doc:
        page = doc.new_page(width=612, height=792)
        assert needs_ocr(page, prose) and not needs_ocr(page, labels)


def test_with_ocr_off_a_scan_fails_as_no_text_layer():
    result = PdfExtractor(ocr="off").extract(SCAN.read_bytes())
    assert result.kind == "no_text_layer"


def test_a_layer_of_unmapped_glyphs_is_garbage_and_prose_is_not():
    assert garbage_layer("(cid:12)(cid:45)(cid:7) (cid:88)(cid:3)" * 20)
    assert garbage_layer("\ufffd\ufffd \ufffd\ufffd\ufffd" * 30)
    assert not garbage_layer("The superconducting transition of YBa2Cu3O7 (Tc = 92 K) was measured [12].")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_garbage_layer_never_raises(text):
    assert garbage_layer(text) in (True, False)


@pytest.mark.slow  # five pages of OCR
@needs_tesseract
def test_ocr_reads_at_most_ocr_max_pages_and_a_huge_page_is_rendered_small(tmp_path):
    """A hostile scan: the pages past `ocr_max_pages` stay no_text_pages (not hours of OCR), and a 200-inch page is
    rendered at fewer dots per inch instead of a multi-gigabyte image."""
    with pymupdf.open(SCAN) as one:
        two = pymupdf.open()
        two.insert_pdf(one)
        two.insert_pdf(one)
        huge = two.new_page(width=14400, height=14400)
        huge.insert_image(huge.rect, pixmap=_blank(16, 16))  # a scan: a picture over the whole (blank) page
        data = two.tobytes()
    result = PdfExtractor(ocr_max_pages=1).extract(data)
    assert result.paper.metadata["ocr_pages"] == [1] and result.no_text_pages == [2, 3]
    result = PdfExtractor().extract(data)
    assert result.paper.metadata["ocr_pages"] == [1, 2, 3] and result.no_text_pages == [3]  # the blank giant read, empty
