"""From every converted pair to the training set: exact and near-duplicate questions out, evaluation items out,
per-source target counts, a seeded train/validation split. Every removed pair keeps its reason.

Order matters and is fixed: pairs arrive in manifest source order, so a duplicate always loses to
the pair of the earlier source (then the earlier id); targets are applied after the removals, so a
source's count is of clean, distinct pairs.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Iterable

import numpy as np

from corpus.dedup.minhash import MinHasher, ngram_hashes, word_hashes
from corpus.dedup.steps import near_duplicate_roots
from corpus.tasks.pairs import QAPair, normalised


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def exact_duplicates(pairs: list[QAPair]) -> dict[int, tuple[str, int]]:
    """Row -> ('duplicate_exact', survivor row): the same system prompt and question, whatever the answer."""
    first, removed = {}, {}
    for i, p in enumerate(pairs):
        key = _digest(normalised(p.system) + "\0" + normalised(p.question))
        if key in first:
            removed[i] = ("duplicate_exact", first[key])
        else:
            first[key] = i
    return removed


def near_duplicates(pairs: list[QAPair], rows: list[int], threshold: float = 0.8, num_perm: int = 128,
                    seed: int = 1) -> dict[int, tuple[str, int]]:
    """Row -> ('duplicate_near', survivor row) by MinHash LSH over the question, within a task and system prompt.

    Pairs grounded in one context (a paragraph asked about several relations) share most of their
    words by construction, so a pair's own words (the question without its context) are hashed,
    and its context is part of every LSH band: such pairs are near-duplicates only when their own
    questions are. Contexts are themselves grouped first (near-identical abstracts or sentences
    count as one context), so the same question about a near-copy of a passage is still caught.
    """
    if not rows:
        return {}
    hasher = MinHasher(num_perm=num_perm, seed=seed, shingle_size=3)  # questions are short: 3-word shingles
    # 1. contexts: one representative per group of near-identical contexts of a task
    contexts: dict[tuple[str, str], int] = {}
    for i in rows:
        if pairs[i].context:
            contexts.setdefault((pairs[i].task, normalised(pairs[i].context)), len(contexts))
    keys = list(contexts)
    representative = {}
    if keys:
        sig = np.stack([hasher.signature(text) for _, text in keys])
        roots = near_duplicate_roots(sig, threshold, salt=np.asarray([_digest(task) for task, _ in keys], dtype=np.uint64))
        representative = {key: _digest(keys[int(r)][0] + "\0" + keys[int(r)][1]) for key, r in zip(keys, roots)}
    # 2. questions: own words, banded within (task, context group)
    sig = np.empty((len(rows), num_perm), dtype=np.uint64)
    salt = np.empty(len(rows), dtype=np.uint64)
    for k, i in enumerate(rows):
        p = pairs[i]
        own = p.question.replace(p.context, " ") if p.context else p.question
        sig[k] = hasher.signature(own)
        # the system prompt (a task's label list can be longer than the question) goes into the band key, not the shingles
        salt[k] = (representative[(p.task, normalised(p.context))] if p.context else _digest(p.task)) ^ _digest(p.system)
    roots = near_duplicate_roots(sig, threshold, salt=salt)
    return {rows[k]: ("duplicate_near", rows[int(r)]) for k, r in enumerate(roots) if r != k}


class EvaluationIndex:
    """Word n-grams of every evaluation test item; a training pair sharing one of them (or a whole item) is dropped.

    n-grams that occur in many distinct test texts are instructions or answer schemas repeated by
    every item of a set (LLaMat's doping schema is 30 words long), not test content, and are not
    indexed. Test texts are deduplicated first, so a paragraph asked about many times counts once.
    """

    def __init__(self, texts: Iterable[tuple[str, str]], n: int = 13, boilerplate_items: int = 5):
        self.n = n
        self.items: dict[str, str] = {}  # normalised text -> benchmark name
        for name, text in texts:
            if text and text.strip():
                self.items.setdefault(normalised(text), name)
        seen: dict[int, str] = {}
        count: Counter = Counter()
        for text, name in self.items.items():
            for h in set(self._ngrams(text).tolist()):
                count[h] += 1
                seen.setdefault(h, name)
        self.ngrams = {h: name for h, name in seen.items() if count[h] < boilerplate_items}
        self.per_benchmark = Counter(self.items.values())

    def _ngrams(self, text: str) -> np.ndarray:
        words = word_hashes(text)
        return ngram_hashes(words, self.n) if len(words) >= self.n else np.zeros(0, dtype=np.uint64)

    def hit(self, pair: QAPair) -> str | None:
        """The benchmark a pair overlaps, or None."""
        for text in (pair.question, pair.context):
            name = self.items.get(normalised(text)) if text else None
            if name:
                return name
        for h in self._ngrams(pair.question).tolist():
            if h in self.ngrams:
                return self.ngrams[h]
        return None


def apply_targets(pairs: list[QAPair], rows: list[int], targets: dict[str, int | None], rng: random.Random) -> tuple[list[int], list[int]]:
    """(kept rows, rows over their source's target): a seeded sample of each source down to its target, stratified by task."""
    by_source: dict[str, list[int]] = {}
    for i in rows:
        by_source.setdefault(pairs[i].source, []).append(i)
    kept, over = [], []
    for source, members in by_source.items():
        target = targets.get(source)
        if target is None or len(members) <= target:
            kept += members
            continue
        by_task: dict[str, list[int]] = {}
        for i in members:
            by_task.setdefault(pairs[i].task, []).append(i)
        # proportional share per task, rounded down, the remainder to the largest tasks: the task mix is kept
        share = {t: len(m) * target // len(members) for t, m in by_task.items()}
        for t in sorted(by_task, key=lambda t: -len(by_task[t]))[: target - sum(share.values())]:
            share[t] += 1
        for t, m in sorted(by_task.items()):
            chosen = set(rng.sample(m, share[t]))
            kept += [i for i in m if i in chosen]
            over += [i for i in m if i not in chosen]
    return sorted(kept), sorted(over)


def split_rows(rows: list[int], validation_fraction: float, rng: random.Random) -> tuple[list[int], list[int]]:
    """(train rows, validation rows), seeded."""
    rows = sorted(rows)
    held = set(rng.sample(rows, int(round(len(rows) * validation_fraction)))) if rows else set()
    return [i for i in rows if i not in held], [i for i in rows if i in held]
