"""The learned PDF reader end to end: open -> page blocks -> reading order -> features -> roles -> assembly.

`LearnedPdf(...).read(data)` gives a `Paper` (or a named failure) and `explain(data)` every block with its role, the
model's probability and its place on the page, so that a user can see why text went missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from corpus.formats.pdf.assemble import Decision, decide, paper_of
from corpus.formats.pdf.order import reading_order
from corpus.formats.pdf.page import document_blocks, open_pdf
from corpus.formats.pdf.roles.features import block_features
from corpus.formats.pdf.roles.model import RoleModel, load
from corpus.papers.model import Paper
from corpus.records import Failure

MIN_CHARS_PER_PAGE = 20  # a page with less text than this has no text layer to speak of


@dataclass
class Reading:
    paper: Paper
    decisions: list[Decision]
    pages: int
    no_text_pages: list[int]


class LearnedPdf:
    def __init__(self, model: RoleModel | None = None, threshold: float = 0.5, keep_damaged: bool = False):
        self.model = model
        self.threshold = threshold
        self.keep_damaged = keep_damaged

    def _model(self) -> RoleModel:
        if self.model is None:
            self.model = load()
        return self.model

    def read(self, data: bytes) -> Reading | Failure:
        opened = open_pdf(data, self.keep_damaged)
        if isinstance(opened, Failure):
            return opened
        doc, repaired = opened
        with doc:
            pages = document_blocks(doc)
            page_count = doc.page_count
        if isinstance(pages, Failure):
            return pages
        no_text = [i + 1 for i, blocks in enumerate(pages) if sum(len(b.text) for b in blocks) < MIN_CHARS_PER_PAGE]
        if len(no_text) == page_count:
            return Failure("no_text_layer", f"none of the {page_count} pages has a text layer (scanned?); the learned "
                                            "reader does not OCR yet: use the default engine")
        blocks = reading_order(pages)
        probabilities = self._model().probabilities(block_features(blocks))
        decisions = decide(blocks, probabilities, self.threshold)
        paper = paper_of(decisions)
        paper.metadata.update({"pages": page_count, "no_text_pages": no_text, "extracted_by": "learned"})
        if repaired:
            paper.metadata["repaired"] = True
        return Reading(paper, decisions, page_count, no_text)

    def explain(self, data: bytes) -> list[dict] | Failure:
        """Every block: page (1-based), box, role, probability, text."""
        reading = self.read(data)
        if isinstance(reading, Failure):
            return reading
        return [{"page": d.block.page + 1, "bbox": [round(v, 1) for v in d.block.bbox], "role": d.role,
                 "probability": round(d.probability, 3), "text": d.block.text} for d in reading.decisions]
