"""Scanned pages: a page without a usable text layer is read by Tesseract and goes through the same layout logic."""

from __future__ import annotations

import shutil
from collections import Counter

import pymupdf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SAMPLES
from corpus.papers.ocr import garbage_layer
from corpus.papers.pdf import PdfExtractor

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
        huge.insert_text((72, 72), "")
        data = two.tobytes()
    result = PdfExtractor(ocr_max_pages=1).extract(data)
    assert result.paper.metadata["ocr_pages"] == [1] and result.no_text_pages == [2, 3]
    result = PdfExtractor().extract(data)
    assert result.paper.metadata["ocr_pages"] == [1, 2, 3] and result.no_text_pages == [3]  # the blank giant read, empty
