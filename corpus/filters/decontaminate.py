"""Benchmark decontamination: drop (or cut) text that contains an evaluation item.

An index of word n-grams (13 by default) is built from evaluation sets: JSON or JSONL files of
items (MaScQA, MatSci-NLP, the SIE sets, or any file a user names); every string in an item counts
unless `fields` names which ones. Items shorter than n words cannot be matched this way and are
counted as `too_short_items` in summary.json's `text_contamination` (per benchmark, with the items
indexed and the documents that hit one). A document that shares an n-gram with an item is dropped as
`benchmark_contamination` (mode `drop`), or has the overlapping words removed (mode
`remove_span`); either way `metadata["contamination"]` lists the benchmark items hit, which the
report aggregates. Words are hashed with the same vectorised hashing as the MinHash signatures,
and lookups are binary searches in one sorted array, so the filter costs little per document.
"""

from __future__ import annotations

import glob
import json
import os
from collections import Counter
from functools import cached_property

import numpy as np
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from corpus.dedup.minhash import ngram_hashes, word_hashes, words
from corpus.registry import StepContext, StepSpec, register


def _strings(item, fields: list[str] | None) -> list[str]:
    if fields is not None and isinstance(item, dict):
        return [str(item[f]) for f in fields if f in item and item[f]]
    if isinstance(item, str):
        return [item]
    if isinstance(item, dict):
        return [s for v in item.values() for s in _strings(v, None)]
    if isinstance(item, list):
        return [s for v in item for s in _strings(v, None)]
    return []


def load_items(path: str) -> list:
    """Items of a JSON or JSONL file: a list, {split: [items]}, pandas' split layout, or one object per line."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:  # several objects: JSON Lines, whatever the extension says
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    if isinstance(data, dict) and "columns" in data and "data" in data:  # DataFrame.to_json(orient="split")
        return data["data"]
    if isinstance(data, dict):  # {split: [items]} or {id: item}
        return [v for value in data.values() for v in (value if isinstance(value, list) else [value])]
    return data if isinstance(data, list) else [data]


# a presence bitset of 2**27 bits (16 MB): with 1.4M indexed n-grams about 1% of bits are set, so 99% of a document's
# n-grams are ruled out by one gather and only the rest get a binary search in the sorted hashes (with a byte per slot
# and 2**24 slots, 8% passed and the searches were most of the filter's time)
_PREFILTER_BITS = 27
_PREFILTER_MASK = np.uint64((1 << _PREFILTER_BITS) - 1)


def _bit_positions(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    slot = hashes & _PREFILTER_MASK
    return (slot >> np.uint64(3)).astype(np.int64), (np.uint8(1) << (slot & np.uint64(7)).astype(np.uint8))


class NgramIndex:
    def __init__(self, n: int = 13):
        self.n = n
        self.hashes = np.zeros(0, dtype=np.uint64)
        self.items: list[str] = []  # "benchmark:item position"
        self.owner = np.zeros(0, dtype=np.int64)  # for each hash, which item
        self.benchmark_of: dict[str, str] = {}  # item -> its benchmark's name
        self.indexed: Counter = Counter()  # items indexed, per benchmark
        self.too_short: Counter = Counter()  # items with fewer than n words, per benchmark: no n-gram can find them
        self.present = np.zeros(1 << (_PREFILTER_BITS - 3), dtype=np.uint8)  # a bit per low-bits value of an indexed hash

    @classmethod
    def build(cls, benchmarks: list[dict], n: int = 13) -> "NgramIndex":
        """benchmarks: [{"name": ..., "paths": [...], "fields": [...] | None}]"""
        index = cls(n)
        hashes, owners = [], []
        for bench in benchmarks:
            for path in sorted(p for pattern in bench["paths"] for p in glob.glob(pattern)):
                for i, item in enumerate(load_items(path)):
                    grams = ngram_hashes(word_hashes(" ".join(_strings(item, bench.get("fields")))), n)
                    if len(grams) == 0:
                        index.too_short[bench["name"]] += 1
                        continue
                    index.indexed[bench["name"]] += 1
                    hashes.append(grams)
                    owners.append(np.full(len(grams), len(index.items)))
                    index.items.append(f"{bench['name']}:{path.rsplit('/', 1)[-1]}#{i}")
                    index.benchmark_of[index.items[-1]] = bench["name"]
        if hashes:
            all_hashes, all_owners = np.concatenate(hashes), np.concatenate(owners)
            order = np.argsort(all_hashes, kind="stable")
            index.hashes, index.owner = all_hashes[order], all_owners[order]
            byte, bit = _bit_positions(index.hashes)
            np.bitwise_or.at(index.present, byte, bit)
        return index

    def hits(self, text: str) -> tuple[np.ndarray, list[str]]:
        """(first word of every contaminated n-gram, items hit)."""
        return self.hits_in(word_hashes(text))

    def hits_in(self, word_hash: np.ndarray) -> tuple[np.ndarray, list[str]]:
        grams = ngram_hashes(word_hash, self.n)
        if len(grams) == 0 or len(self.hashes) == 0:
            return np.zeros(0, dtype=np.int64), []
        # one gather in a presence table rules out most n-grams; only candidates get a binary search
        byte, bit = _bit_positions(grams)
        candidates = np.flatnonzero(self.present[byte] & bit)
        if len(candidates) == 0:
            return np.zeros(0, dtype=np.int64), []
        positions = np.minimum(np.searchsorted(self.hashes, grams[candidates]), len(self.hashes) - 1)
        found = self.hashes[positions] == grams[candidates]
        if not found.any():
            return np.zeros(0, dtype=np.int64), []
        positions = positions[found]
        return candidates[found], sorted({self.items[i] for i in self.owner[positions]})


class DecontaminationFilter(BaseFilter):
    name = "🧫 Decontaminate"

    def __init__(self, benchmarks: list[dict], n: int = 13, mode: str = "drop", exclusion_writer: DiskWriter | None = None,
                 stats_folder: str | None = None):
        super().__init__(exclusion_writer)
        if mode not in ("drop", "remove_span"):
            raise ValueError(f"mode must be drop or remove_span, not {mode!r}")
        self.benchmarks, self.n, self.mode, self.stats_folder = benchmarks, n, mode, stats_folder
        self.hits: Counter = Counter()  # contaminated documents, per benchmark

    def run(self, data, rank: int = 0, world_size: int = 1):
        yield from super().run(data, rank, world_size)
        if self.stats_folder:  # per task, for the summary's `text_contamination`
            os.makedirs(self.stats_folder, exist_ok=True)
            with open(os.path.join(self.stats_folder, f"{rank:05d}.json"), "w") as f:
                json.dump({"items": dict(sorted(self.index.indexed.items())), "too_short_items": dict(sorted(self.index.too_short.items())),
                           "documents": dict(sorted(self.hits.items()))}, f)

    @cached_property
    def index(self) -> NgramIndex:
        return NgramIndex.build(self.benchmarks, self.n)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        hashes, starts, ends = words(doc.text)
        first_words, items = self.index.hits_in(hashes)
        if not items:
            return True
        doc.metadata["contamination"] = items
        self.stat_update("contaminated_documents")
        self.hits.update({self.index.benchmark_of[item] for item in items})
        raw = doc.text.encode("utf-8", "surrogatepass")
        if self.mode == "drop" or len(raw) != len(doc.text.lower().encode("utf-8", "surrogatepass")):
            return False, "benchmark_contamination"  # (a lowercasing that changes byte offsets cannot be cut exactly)
        covered = np.zeros(len(hashes), dtype=bool)
        for w in first_words:
            covered[w : w + self.n] = True
        keep, cursor = [], 0
        for w in np.flatnonzero(covered):  # cut each covered word's bytes; what lies between words stays
            keep.append(raw[cursor : starts[w]])
            cursor = ends[w]
        keep.append(raw[cursor:])
        doc.text = " ".join(b"".join(keep).decode("utf-8", "surrogatepass").split())
        return True


def _step(ctx: StepContext):
    decon = ctx.manifest.steps.decontamination
    if not decon.benchmarks:
        return None
    return DecontaminationFilter([b.model_dump() for b in decon.benchmarks], decon.n, decon.mode, exclusion_writer=ctx.rejected("decontamination"),
                                 stats_folder=ctx.layout.text_contamination)


def text_contamination(layout) -> dict:
    """summary.json's `text_contamination`: per benchmark, the items indexed, the items too short for an n-gram
    (under n words: they cannot be found, say so), and the documents that hit one of its items (summed over tasks)."""
    out: dict[str, dict[str, int]] = {}
    for path in layout.task_files(layout.text_contamination, ".json"):
        with open(path) as f:
            rec = json.load(f)
        for key in ("items", "too_short_items"):  # the same index in every task: take it once
            for bench, n in rec[key].items():
                out.setdefault(bench, {"items": 0, "too_short_items": 0, "documents": 0})[key] = n
        for bench, n in rec["documents"].items():
            out.setdefault(bench, {"items": 0, "too_short_items": 0, "documents": 0})["documents"] += n
    return {"text_contamination": dict(sorted(out.items()))} if out else {}


register(StepSpec(
    "decontamination", "drops (or cuts the span of) text sharing a word n-gram with an evaluation item (steps.decontamination)",
    process=_step, reasons=("benchmark_contamination",),
    cleanup=lambda layout: [layout.task_glob(layout.text_contamination, ".json")], summary=text_contamination,
))
