"""The common QA record every source converts into, and the deterministic split of sources that ship without one."""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass


@dataclass
class QAPair:
    """One instruction pair. `context` is the passage, table or CIF the question is grounded in (already part of
    `question`); pairs that share a context are near-duplicates only when their remaining words are."""

    id: str
    source: str
    task: str
    system: str
    question: str
    answer: str
    context: str = ""

    def record(self) -> dict:
        """The pairs.jsonl row: {id, source, task, system, question, answer}."""
        row = asdict(self)
        row.pop("context")
        return row


_SPACE = re.compile(r"\s+")


def normalised(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def split_of(key: str, test_fraction: float = 0.2, salt: str = "llamat-matnlp") -> str:
    """'test' or 'train' for an item of a dataset that ships without splits (MatSci-NLP's source files).

    A hash of the item's normalised key, not its position, so the split survives reordering and
    other versions of the file; qa_synth (training) and eval (testing) call this same function.
    The key is the item's document text, so tasks built from one document (SOFC-Exp's sentence
    and token files) put it on the same side.
    """
    digest = hashlib.sha256(f"{salt}\0{normalised(key)[:400]}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < test_fraction else "train"
