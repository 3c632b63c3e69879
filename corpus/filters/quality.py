"""Science-aware quality rules: drop what goes wrong in paper corpora, keep what web filters throw away.

Web heuristics (Gopher, C4, FineWeb) drop prose with inline LaTeX, tables, reference-style lines,
curly braces and CIF. These rules look instead for the failures of paper pipelines: garbled
font encodings and `(cid:NN)` runs, broken text encodings, OCR letter-spacing, number or table
dumps, repeated-line loops, boilerplate-only documents (covers, errata, retractions, tables of
contents) and text too short to be a paper or an abstract. Every rule reads the shared signals
(`corpus.text.annotate`), so nothing is tokenised twice, and every drop says which rule fired.
CIF text is recognised and exempt from the rules about numbers.
"""

from __future__ import annotations

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter
from pydantic import BaseModel, ConfigDict, Field

from corpus.records import is_crystal
from corpus.registry import StepContext, StepSpec, register
from corpus.text.annotate import signals_of


class QualitySettings(BaseModel):
    """Thresholds, all in the manifest under `stages.filters.quality`; the defaults are documented in the README."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    min_words: int = Field(40, ge=0, description="too_short under this many words (abstracts are ~100-300)")
    max_cid_per_1000_words: float = Field(5.0, ge=0, description="font_garble above this many (cid:NN) runs")
    max_bad_chars_per_1000_words: float = Field(10.0, ge=0, description="encoding_garble: U+FFFD and mojibake pairs")
    max_single_letter_word_ratio: float = Field(0.25, ge=0, le=1, description="letter_spaced_ocr: 'T h e  s a m p l e'")
    max_numeric_line_ratio: float = Field(0.6, ge=0, le=1, description="number_dump: lines that hold only numbers")
    min_letter_ratio: float = Field(0.4, ge=0, le=1, description="number_dump: below this share of letters")
    max_duplicate_line_ratio: float = Field(0.3, ge=0, le=1, description="repeated_lines: characters in repeated lines")
    boilerplate_max_words: int = Field(600, ge=0, description="boilerplate: a boilerplate phrase in a document this short")
    min_stopword_ratio: float = Field(0.08, ge=0, le=1, description="not_prose: function words per word (English prose ~0.3-0.5)")


def is_cif(text: str) -> bool:
    head = text[:20000]
    return "_cell_length_a" in head and ("_atom_site" in head or "_symmetry" in head or "_space_group" in head)


def is_structure_text(doc: Document) -> bool:
    """A crystal record (from a crystal reader) or raw CIF text from any reader: no natural language to judge."""
    return is_crystal(doc) or is_cif(doc.text)


class ScienceQualityFilter(BaseFilter):
    name = "🧪 Science quality"

    def __init__(self, settings: QualitySettings | None = None, exclusion_writer: DiskWriter | None = None):
        super().__init__(exclusion_writer)
        self.settings = settings or QualitySettings()

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        q, s = self.settings, signals_of(doc)
        per_1000 = 1000 / max(s["words"], 1)
        if s["cid_runs"] * per_1000 > q.max_cid_per_1000_words:
            return False, "font_garble"
        if (s["replacement_chars"] + s["mojibake"]) * per_1000 > q.max_bad_chars_per_1000_words:
            return False, "encoding_garble"
        if s["single_letter_word_ratio"] > q.max_single_letter_word_ratio or s["letter_spaced_runs"] * per_1000 > 10:
            return False, "letter_spaced_ocr"
        if s["duplicate_line_char_ratio"] > q.max_duplicate_line_ratio and s["lines"] >= 5:
            return False, "repeated_lines"
        if is_structure_text(doc):
            return True  # crystallographic records: numbers are the content
        if s["numeric_line_ratio"] > q.max_numeric_line_ratio or s["letter_ratio"] < q.min_letter_ratio:
            return False, "number_dump"
        if s["boilerplate_phrases"] and s["words"] < q.boilerplate_max_words:
            return False, "boilerplate"
        if s["words"] < q.min_words and s["chars"] < 6 * q.min_words:  # characters too: CJK text has no spaces
            return False, "too_short"
        return True


class ProseFilter(BaseFilter):
    """`not_prose`: too few function words for English running text (keyword lists, author or reference
    lists, word salad). English-specific, so it runs after the language filter; CIF is exempt."""

    name = "📝 Prose"

    def __init__(self, min_stopword_ratio: float = 0.08, exclusion_writer: DiskWriter | None = None):
        super().__init__(exclusion_writer)
        self.min_stopword_ratio = min_stopword_ratio

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if signals_of(doc)["stopword_ratio"] < self.min_stopword_ratio and not is_structure_text(doc):
            return False, "not_prose"
        return True


# ---- registration (corpus/registry.py)


def _quality_step(ctx: StepContext):
    f = ctx.manifest.steps.filters
    return ScienceQualityFilter(f.quality, exclusion_writer=ctx.rejected("quality")) if f.quality_enabled else None


def _prose_step(ctx: StepContext):
    # the stopword rule is English: it runs only when the language filter keeps English alone
    f = ctx.manifest.steps.filters
    if not (f.quality_enabled and f.language.enabled and f.language.keep == ["en"]):
        return None
    return ProseFilter(f.quality.min_stopword_ratio, exclusion_writer=ctx.rejected("prose"))


register(StepSpec(
    "quality", "science-aware structural rules (steps.filters.quality): garbled fonts and encodings, OCR letter spacing, "
    "repeated lines, number dumps, boilerplate, too few words", process=_quality_step,
    reasons=("font_garble", "encoding_garble", "letter_spaced_ocr", "repeated_lines", "number_dump", "boilerplate", "too_short"),
))
register(StepSpec(
    "prose", "drops English text with too few function words (not_prose): word salad, index pages, tables read as text",
    process=_prose_step, reasons=("not_prose",), after=("language",),
    why="the stopword rule is for English, so it judges what the language filter kept",
))
