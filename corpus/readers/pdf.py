"""PDF papers through PyMuPDF (no GPU, no server): see corpus/papers/pdf.py for the layout rules.

Bad input ends as a failure with its own reason: `not_a_pdf` (a file named .pdf that is not
one, or truncated beyond repair), `encrypted_pdf`, `no_pages`, `damaged_pdf`, `no_text_layer`
(scanned pages without OCR). Pages without text inside an otherwise good PDF are counted in
the document's `no_text_pages` metadata rather than emitted as garbage.
"""

from __future__ import annotations

from corpus.papers.pdf import PdfExtractor
from corpus.papers.reader import PaperReader
from corpus.readers.base import Failure


class PdfReader(PaperReader):
    name = "📕 PDF"
    source_format = "pdf"
    default_globs = ("*.pdf",)

    def read_paper(self, data: bytes, filepath: str):
        result = PdfExtractor(keep_tables=self.options.keep_tables).extract(data)
        if isinstance(result, Failure):
            return result
        if result.no_text_pages:
            self.stat_update("pages_without_text", value=len(result.no_text_pages))
        return result.paper
