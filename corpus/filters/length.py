"""Drop empty and too-short documents, each with its own reason."""

from __future__ import annotations

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter


class MinCharsFilter(BaseFilter):
    """`empty` when there is no visible text, `too_short` under `min_chars` characters."""

    name = "📏 Min chars"

    def __init__(self, min_chars: int, exclusion_writer: DiskWriter | None = None):
        super().__init__(exclusion_writer)
        self.min_chars = min_chars

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if not doc.text.strip():
            return False, "empty"
        if len(doc.text) < self.min_chars:
            return False, "too_short"
        return True
