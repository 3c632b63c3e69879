"""A third-party step: a filter with its own settings, registered through the `matcorpus.steps` entry point."""

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from pydantic import BaseModel, ConfigDict, Field

from corpus.registry import StepSpec


class DigitShareSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_share: float = Field(0.5, gt=0, le=1, description="documents whose characters are digits above this share are dropped")


class MaxDigitShareFilter(BaseFilter):
    name = "🔢 Max digit share"

    def __init__(self, max_share: float, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.max_share = max_share

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        digits = sum(ch.isdigit() for ch in doc.text)
        return True if digits <= self.max_share * max(len(doc.text), 1) else (False, "too_many_digits")


MAX_DIGIT_SHARE = StepSpec(
    "max_digit_share", "drops documents that are mostly digits",
    process=lambda ctx: MaxDigitShareFilter(ctx.settings.max_share, exclusion_writer=ctx.rejected("max_digit_share")),
    settings=DigitShareSettings, reasons=("too_many_digits",),
)
