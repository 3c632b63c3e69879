"""Ground truth at block level: which of a paper's blocks hold text its ground truth has.

The development sets give a paper's text, not its blocks. A block is labelled `keep` when at least half of its word
trigrams occur in the truth (a block of one or two words: when its words occur there in that order); a block without a word of
three letters (page and equation numbers, tick labels, panel letters "(a)") is never text. Tokens are the benchmark's
(`[a-z]+|[0-9]+`, lowercase), so the labels mean what the metric means.

`alignment_coverage` says how much of the truth the kept blocks hold (the recall a perfect role model would reach
with these blocks): a low figure names a paper whose blocks do not cut where its truth does.
"""

from __future__ import annotations

import re
from collections import Counter

TOKEN = re.compile(r"[a-z]+|[0-9]+")
KEEP_SHARE = 0.5


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


class Truth:
    """A paper's ground truth, indexed for block lookups."""

    def __init__(self, text: str):
        self.tokens = tokens(text)
        self.trigrams = {tuple(self.tokens[i:i + 3]) for i in range(len(self.tokens) - 2)}
        self.joined = " " + " ".join(self.tokens) + " "

    def share(self, block_tokens: list[str]) -> float:
        """The share of the block's text found in the truth."""
        if not any(len(t) >= 3 and t.isalpha() for t in block_tokens):
            return 0.0  # no word: numbers, panel letters, units (page numbers, tick and panel labels)
        if len(block_tokens) < 3:
            return float(" " + " ".join(block_tokens) + " " in self.joined)
        grams = [tuple(block_tokens[i:i + 3]) for i in range(len(block_tokens) - 2)]
        return sum(g in self.trigrams for g in grams) / len(grams)


def labels(block_texts: list[str], truth: Truth) -> list[int]:
    return [int(truth.share(tokens(t)) >= KEEP_SHARE) for t in block_texts]


def alignment_coverage(block_texts: list[str], keep: list[int], truth: Truth) -> float:
    """The share of the truth's tokens that the kept blocks hold (multiset)."""
    kept = Counter(t for text, k in zip(block_texts, keep) if k for t in tokens(text))
    whole = Counter(truth.tokens)
    return sum((kept & whole).values()) / max(1, sum(whole.values()))
