"""Drop empty and too-short documents, each with its own reason."""

from __future__ import annotations

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from corpus.records import is_crystal
from corpus.registry import StepContext, StepSpec, register


class MinCharsFilter(BaseFilter):
    """`empty` when there is no visible text, `too_short` under `min_chars` characters."""

    name = "📏 Min chars"

    def __init__(self, min_chars: int, exclusion_writer: DiskWriter | None = None):
        super().__init__(exclusion_writer)
        self.min_chars = min_chars

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if not doc.text.strip():
            return False, "empty"
        if len(doc.text) < self.min_chars and not is_crystal(doc):  # a one-atom crystal string is short and complete
            return False, "too_short"
        return True


def _step(ctx: StepContext):
    return MinCharsFilter(ctx.manifest.steps.filters.min_chars, exclusion_writer=ctx.rejected("min_chars"))


register(StepSpec(
    "min_chars", "drops documents with no visible text (empty) or under steps.filters.min_chars characters (too_short)",
    process=_step, reasons=("empty", "too_short"), after=("crystal_validation", "crystal_decontamination"),
    why="a crystal record that failed validation has no text for the text rules, so the crystal steps come first",
))
