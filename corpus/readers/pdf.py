"""PDF papers: PyMuPDF and a learned block-role model by default (no GPU, no server), or a GROBID server when
`grobid_url` is set.

Default path: corpus/formats/pdf (page blocks -> reading order -> block roles from a model trained on aligned ground
truth -> assembly; README "PDF reader"). GROBID path: each PDF is posted to
`{grobid_url}/api/processFulltextDocument` through grobid-client-python and the TEI it returns
goes through the TEI reader, so both paths give the same Paper shape and section policy. The
server is checked before any work (`/api/isalive`); a PDF that GROBID cannot process fails as
`grobid_error` with the HTTP status, and the run goes on.

Bad input ends as a failure with its own reason: `not_a_pdf` (a file named .pdf that is not
one), `encrypted_pdf`, `no_pages` (truncated or damaged), `damaged_pdf` (MuPDF had to repair it: a truncated or
corrupt file; `keep_damaged: true` keeps what it recovered, marked `repaired`), `no_text_layer`
(no page has text, and OCR is off, unavailable or read nothing). Scanned pages (no text layer, or a layer of
unmapped glyphs) are read by Tesseract (`ocr: auto`, the default; corpus/formats/pdf/ocr.py) and listed in
`ocr_pages`; pages that still have no text are counted in `no_text_pages` rather than emitted as garbage.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import Field

from corpus.formats.pdf.reader import PdfExtractor
from corpus.papers.reader import PaperOptions, PaperReader
from corpus.readers.base import Failure
from corpus.readers.tei import TeiParser


class PdfOptions(PaperOptions):
    caption_placement: Literal["inline", "after_paragraph"] = Field(
        "inline", description="inline: where the figure sits in the reading order; after_paragraph: never inside a paragraph"
    )
    keep_damaged: bool = Field(
        False, description="keep what MuPDF recovers from a damaged (e.g. truncated) PDF, with metadata.repaired: true; default: fail it as damaged_pdf"
    )
    ocr: Literal["auto", "off"] = Field(
        "auto", description="auto: pages without a usable text layer (none, or unmapped glyphs) are read by Tesseract "
        "(Debian's tesseract-ocr; marked metadata.ocr_pages); off: they are counted in no_text_pages"
    )
    ocr_dpi: int = Field(300, ge=72, le=600, description="resolution pages are rendered at for OCR (less for huge pages)")
    ocr_max_pages: int = Field(200, ge=0, description="pages of one PDF OCR'd at most; the rest are counted in no_text_pages")
    grobid_url: str | None = Field(None, description="a GROBID server, e.g. http://localhost:8070; default: PyMuPDF")
    grobid_timeout: int = Field(180, gt=0, description="seconds per PDF")
    grobid_consolidate_header: bool = Field(False, description="let GROBID look the header up online (the server needs network)")

    def extractor(self) -> PdfExtractor:
        """The PyMuPDF path's reader with these options."""
        return PdfExtractor(keep_tables=self.keep_tables, caption_placement=self.caption_placement,
                            keep_damaged=self.keep_damaged, ocr=self.ocr, ocr_dpi=self.ocr_dpi, ocr_max_pages=self.ocr_max_pages)


def _grobid_client(url: str, timeout: int):
    from grobid_client.grobid_client import GrobidClient

    return GrobidClient(grobid_server=url.rstrip("/"), timeout=timeout, check_server=False)


class PdfReader(PaperReader):
    name = "📕 PDF"
    source_format = "pdf"
    default_globs = ("*.pdf",)
    Options = PdfOptions

    @classmethod
    def preflight(cls, options: PdfOptions) -> list[str]:
        if not options.grobid_url:
            return []
        from grobid_client.grobid_client import ServerUnavailableException

        try:
            alive, status = _grobid_client(options.grobid_url, options.grobid_timeout).ping()
        except ServerUnavailableException as e:
            alive, status = False, str(e).rsplit(": ", 1)[-1][:120]
        return [] if alive else [f"grobid_url: no GROBID server answers at {options.grobid_url} ({status}); start one or remove grobid_url"]

    @cached_property
    def _extractor(self) -> PdfExtractor:
        return self.options.extractor()

    @cached_property
    def _grobid(self):
        return _grobid_client(self.options.grobid_url, self.options.grobid_timeout)

    def read_paper(self, data: bytes, filepath: str):
        if self.options.grobid_url:
            return self._read_with_grobid(data, filepath)
        result = self._extractor.extract(data)
        if isinstance(result, Failure):
            return result
        if result.no_text_pages:
            self.stat_update("pages_without_text", value=len(result.no_text_pages))
        return result.paper

    def _read_with_grobid(self, data: bytes, filepath: str):
        if b"%PDF-" not in data[:1024]:
            return Failure("not_a_pdf", f"no %PDF- signature at the start (starts with {data[:16]!r})")
        _, status, tei = self._grobid.process_pdf(
            "processFulltextDocument", data, consolidate_header=self.options.grobid_consolidate_header
        )
        if status != 200 or not tei:
            return Failure("grobid_error", f"GROBID answered HTTP {status}: {(tei or '')[:300]}")
        paper = TeiParser(self.options).parse(tei.encode("utf-8"))
        if not isinstance(paper, Failure):
            paper.metadata["extracted_by"] = "grobid"
        return paper
