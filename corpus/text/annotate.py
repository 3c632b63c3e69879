"""One pass over a document's text, shared by every filter after it.

Web-tuned filters each re-tokenise the document (datatrove's Gopher, C4 and FineWeb filters split
words and lines again, one after another). Here the statistics are computed once, with C-speed
string operations (split, count, regex findall) rather than Python loops over characters, and
stored on the document as `metadata["signals"]`, a flat dict of numbers that the filters read,
the documents table records and the report plots.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from corpus.registry import StepSpec, register

_CID = re.compile(r"\(cid:\d+\)")
_MOJIBAKE = re.compile(r"[ÃÂâ][\x80-\xbf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013-\u203a\u20ac\u2122]")
_LATEX = re.compile(r"\\[A-Za-z]+|\$[^$\n]{1,200}\$")
_NUMBERISH = re.compile(r"^[\s\d.,;:%±+\-−–()\[\]/|×eE]*$")
_SINGLE_LETTERS = re.compile(r"(?:\b[^\W\d_]\b[ \t]){6,}")  # "T h e  s a m p l e" OCR letter spacing
_BOILERPLATE = re.compile(
    r"\b(table of contents|erratum|corrigendum|retraction notice|this article has been retracted|"
    r"expression of concern|cover (image|page)|issue information|editorial board|front matter|back matter|"
    r"author index|subject index|instructions (for|to) authors)\b",
    re.IGNORECASE,
)
STOPWORDS = frozenset(
    "the of and to in a is that for it as was with be by on not he this are or his from at which but have an they "
    "you were her their one all we can has there been if more when will would who so no these its than into only also "
    "then other such may some between both each most after two under where while using used however".split()
)


_ASCII = [chr(i) for i in range(128)]
_ASCII_CLASSES = np.array([[c.isalpha(), c.isdigit(), c.isspace()] for c in _ASCII], dtype=np.int64)  # [128, 3]


def character_classes(text: str) -> tuple[int, int, int]:
    """(letters, digits, whitespace) by str.isalpha/isdigit/isspace, counted without a Python loop over characters:
    ASCII code points by one bincount and a table, the few others by their distinct values (a Counter over a
    paper's characters was the annotator's largest cost)."""
    if not text:
        return 0, 0, 0
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    ascii_ = codes < 128
    letters, digits, spaces = (np.bincount(codes[ascii_], minlength=128) @ _ASCII_CLASSES).tolist()
    if not ascii_.all():
        values, counts = np.unique(codes[~ascii_], return_counts=True)
        for value, count in zip(values.tolist(), counts.tolist()):
            ch = chr(value)
            letters += count * ch.isalpha()
            digits += count * ch.isdigit()
            spaces += count * ch.isspace()
    return letters, digits, spaces


def signals(text: str) -> dict[str, float]:
    """The statistics every filter reads; about a dozen C-level passes, no Python loop over characters."""
    n = len(text) or 1
    lines = text.split("\n")
    nonempty = [ln.strip() for ln in lines if ln.strip()]
    words = text.split()
    n_words = len(words) or 1
    letters, digits, spaces = character_classes(text)
    vocabulary = Counter(text.lower().split())  # function words rarely carry punctuation
    stop = sum(vocabulary[w] for w in STOPWORDS)
    single = sum(c for w, c in vocabulary.items() if len(w) == 1 and w.isalpha())
    counts = Counter(nonempty)
    repeated_chars = sum(len(line) * (c - 1) for line, c in counts.items() if c > 1)
    nonempty_chars = sum(len(line) for line in nonempty) or 1
    return {
        "chars": len(text),
        "words": len(words),
        "lines": len(nonempty),
        "letter_ratio": letters / n,
        "digit_ratio": digits / n,
        "whitespace_ratio": (n - (len(text) - spaces)) / n,  # what str.split() removes (1.0 for an empty text)
        "mean_word_length": (len(text) - spaces) / n_words,
        "stopword_ratio": stop / n_words,
        "single_letter_word_ratio": single / n_words,
        # the run search only where single letters are common enough to matter
        "letter_spaced_runs": len(_SINGLE_LETTERS.findall(text)) if single > 0.05 * n_words else 0,
        # the scans only where their first character occurs at all (str's own search is far faster than a regex's)
        "cid_runs": len(_CID.findall(text)) if "(cid:" in text else 0,
        "replacement_chars": text.count("\ufffd"),
        "mojibake": len(_MOJIBAKE.findall(text)) if ("Ã" in text or "Â" in text or "â" in text) else 0,
        "latex_commands": len(_LATEX.findall(text)) if ("\\" in text or "$" in text) else 0,
        "numeric_line_ratio": sum(1 for ln in nonempty if _NUMBERISH.match(ln)) / (len(nonempty) or 1),
        "short_line_ratio": sum(1 for ln in nonempty if len(ln) < 25) / (len(nonempty) or 1),
        "duplicate_line_char_ratio": repeated_chars / nonempty_chars,
        "boilerplate_phrases": len(_BOILERPLATE.findall(text[:5000])),
    }


class Annotator(PipelineStep):
    """Computes `signals(text)` once per document into `metadata["signals"]`."""

    name = "🔬 Annotate"
    type = "🏷 - ANNOTATOR"

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            with self.track_time():
                doc.metadata["signals"] = {k: round(v, 4) if isinstance(v, float) else v for k, v in signals(doc.text).items()}
            yield doc


def signals_of(doc: Document) -> dict[str, float]:
    """The document's signals, computed now if no Annotator ran before."""
    s = doc.metadata.get("signals")
    if s is None:
        s = doc.metadata["signals"] = signals(doc.text)
    return s


register(StepSpec(
    "annotate", "computes each document's text statistics once (metadata.signals) for the filters after it and the report",
    process=lambda ctx: Annotator(), after=("crystal_validation", "crystal_decontamination"),
    why="a crystal record that failed validation has no text to annotate",
))
