"""Domain classification: train a fastText model on labelled text, and filter documents with it.

`train_classifier` reads positive and negative examples (JSONL/JSON Lines with a text field,
optionally gzipped, or plain-text files, one document each), holds out a seeded share for
testing, trains fastText's supervised classifier (word bigrams, on the first words of each
document, lowercased), reports precision, recall and F1 of the positive label on the held-out
part, and writes the model and that report. `DomainFilter` runs any fastText model and drops
documents whose score for the manifest's label is under the threshold, as `off_domain`, after
recording `domain_score`. CIF text is exempt: crystals are in domain by construction.
"""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import random
import tempfile
from functools import cached_property
from pathlib import Path

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from corpus.filters.quality import is_structure_text
from corpus.registry import StepContext, StepSpec, register

WORDS = 400  # what the classifier sees: the title, abstract and opening of a paper


def prepare(text: str) -> str:
    return " ".join(text.lower().split()[:WORDS])


def read_examples(path: str, text_keys: tuple[str, ...] = ("text", "abstract")) -> list[str]:
    """Texts of a JSONL file (first field of text_keys present), or the whole file for anything else."""
    opener = gzip.open if path.endswith(".gz") else open
    if ".jsonl" in path or path.endswith(".json"):
        out = []
        with opener(path, "rt", encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    record = json.loads(line)
                    text = next((record[k] for k in text_keys if isinstance(record.get(k), str)), None)
                    if text:
                        out.append(text)
        return out
    return [Path(path).read_text(encoding="utf-8", errors="replace")]


def _train(train_file: str, model_file: str, params: dict) -> None:
    """fastText training (run in a spawned process); on divergence, halve the learning rate and train longer."""
    import fasttext

    for attempt in range(3):
        try:
            # 100k bigram buckets instead of fastText's 2M: 2M x 32 dims x 4 bytes would be 256 MB of bigram weights alone
            model = fasttext.train_supervised(input=train_file, **(params | {"lr": params["lr"] / 2**attempt, "epoch": params["epoch"] * 2**attempt}))
            model.save_model(model_file)
            return
        except RuntimeError as e:
            if "NaN" not in str(e) or attempt == 2:
                raise


def train_classifier(positive: list[str], negative: list[str], output: str, label: str = "materials",
                     test_fraction: float = 0.2, seed: int = 0, epoch: int = 25, dim: int = 32, buckets: int = 100_000) -> dict:
    import fasttext

    if not hasattr(fasttext, "train_supervised"):
        raise RuntimeError("this fasttext build cannot train: install fasttext-numpy2-wheel (make does)")
    examples = [(f"__label__{label}", prepare(t)) for t in positive] + [("__label__other", prepare(t)) for t in negative]
    examples = [e for e in examples if e[1]]
    if len({lab for lab, _ in examples}) < 2 or len(examples) < 10:
        raise ValueError(f"need non-empty positive and negative texts (at least 10 in all), got {len(positive)} positive, {len(negative)} negative")
    rng = random.Random(seed)
    rng.shuffle(examples)
    n_test = max(1, int(test_fraction * len(examples)))
    test, train = examples[:n_test], examples[n_test:]
    # balance the classes by repeating the smaller one (the held-out part stays as it is): small, lopsided sets
    # otherwise train to "everything is negative" or diverge
    by_label = {lab: [e for e in train if e[0] == lab] for lab in {e[0] for e in train}}
    largest = max(len(v) for v in by_label.values())
    train = [e for v in by_label.values() for e in (v * (largest // len(v) + 1))[:largest]]
    rng.shuffle(train)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.writelines(f"{lab} {text}\n" for lab, text in train)
        train_file = f.name
    try:
        model_file = train_file + ".bin"
        # fastText is trained in a fresh interpreter: inside a long-lived process that has loaded other native
        # libraries it was seen to diverge (NaN) where the same data trains cleanly on its own
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(1) as pool:
            pool.apply(_train, (train_file, model_file, {"epoch": epoch, "lr": 0.25, "wordNgrams": 2, "dim": dim, "bucket": buckets,
                                                        "minCount": 2, "seed": seed, "thread": 1, "verbose": 0}))
        model = fasttext.load_model(model_file)
        os.remove(model_file)
    finally:
        os.remove(train_file)
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support  # only here: slow to import for every build

    positive = f"__label__{label}"
    truth = [lab == positive for lab, _ in test]
    predicted = [model.predict(text, k=1)[0][0] == positive for _, text in test]
    precision, recall, f1, _ = precision_recall_fscore_support(truth, predicted, average="binary", pos_label=True, zero_division=0)
    (tn, fp), (fn, tp) = confusion_matrix(truth, predicted, labels=[False, True]).tolist()
    report = {
        "label": label, "train": len(train), "test": len(test), "seed": seed,
        "precision": float(precision), "recall": float(recall), "f1": float(f1),
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
    }
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    model.save_model(output)
    with open(output + ".report.json", "w") as f:
        json.dump(report, f, indent=2)
    return report


class DomainFilter(BaseFilter):
    name = "🧲 Domain"

    def __init__(self, model_path: str, label: str = "materials", threshold: float = 0.5, components: list[str] | None = None,
                 exclusion_writer: DiskWriter | None = None):
        super().__init__(exclusion_writer)
        self.model_path, self.label, self.threshold = model_path, f"__label__{label.removeprefix('__label__')}", threshold
        self.components = set(components) if components else None  # e.g. papers only: the general replay is off-domain on purpose

    @cached_property
    def model(self):
        import fasttext

        return fasttext.load_model(self.model_path)

    def score(self, text: str) -> float:
        labels, scores = self.model.predict(prepare(text), k=-1)
        return float(dict(zip(labels, scores)).get(self.label, 0.0))

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if self.components is not None and doc.metadata.get("component") not in self.components:
            return True
        if is_structure_text(doc):
            doc.metadata["domain_score"] = 1.0
            return True
        score = self.score(doc.text)
        doc.metadata["domain_score"] = round(score, 4)
        return True if score >= self.threshold else (False, "off_domain")


def _step(ctx: StepContext):
    d = ctx.manifest.steps.filters.domain
    if not d.model:
        return None
    return DomainFilter(d.model, d.label, d.threshold, d.components, exclusion_writer=ctx.rejected("domain"))


register(StepSpec(
    "domain", "a fastText classifier from `corpus train-classifier` (steps.filters.domain): drops documents scoring under "
    "the threshold for the label", process=_step, reasons=("off_domain",),
))
