"""The block-role model: gradient-boosted trees over roles/features.py, learned from aligned ground truth.

Why scikit-learn's HistGradientBoostingClassifier: it is already a dependency, it is deterministic with a fixed
seed and no early stopping (the same data gives the same trees), and it handles the features' mixed scales without
preprocessing. The first role it learns is the one the corpus needs: whether a block is text of the paper (title,
abstract, body, headings, captions) or not (running headers, page numbers, front-matter addresses, reference
lists, figure tick labels, licences).

A second pass reads each block's neighbours' first-pass probabilities (the two before and after it in reading order),
the context a linear-chain model (GROBID's CRF) uses: a block between two body blocks is likely body. Its training
probabilities come from cross-fitting over the training papers, so the second pass learns from the first pass's
out-of-sample errors.
"""

from __future__ import annotations

import functools
import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.formats.pdf.roles.features import FEATURES
from corpus.formats.pdf.roles.trees import Forest

# the shipped model: trained on every development paper by `benchmarks/pdf_learned.py --save-model` after the
# held-out figures were reported (BENCHMARKS.md, "PDF reader"); its trees as arrays (roles/trees.py), not a pickle
MODEL_FILE = Path(__file__).with_name("role_model.json.gz")
FORMAT = "corpus.pdf.role_model/1"

SEED = 0
FOLDS = 4  # cross-fitting folds for the second pass's training probabilities
PARAMS = {"max_iter": 300, "learning_rate": 0.08, "max_leaf_nodes": 31, "min_samples_leaf": 20, "l2_regularization": 1.0}


def _trees():
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(early_stopping=False, random_state=SEED, **PARAMS)


def context(probabilities: np.ndarray, documents: np.ndarray) -> np.ndarray:
    """Each block's neighbours' probabilities (two before, two after, inside its document; 0.5 past its ends)."""
    n = len(probabilities)
    out = np.full((n, 4), 0.5)
    for k, shift in enumerate((-2, -1, 1, 2)):
        index = np.arange(n) + shift
        inside = (index >= 0) & (index < n)
        same = np.zeros(n, dtype=bool)
        same[inside] = documents[index[inside]] == documents[inside]
        out[same, k] = probabilities[index[same]]
    return out


@dataclass
class RoleModel:
    first: Forest
    second: Forest

    @classmethod
    def train(cls, features: np.ndarray, labels: np.ndarray, documents: np.ndarray, weights: np.ndarray | None = None) -> "RoleModel":
        """`documents`: each row's document number (blocks in reading order within it), for the context pass."""
        first = _trees().fit(features, labels, sample_weight=weights)
        # out-of-fold first-pass probabilities, by document, for the second pass to learn from
        unique = np.unique(documents)
        fold_of = {d: i % FOLDS for i, d in enumerate(unique)}
        folds = np.array([fold_of[d] for d in documents])
        crossed = np.zeros(len(labels))
        for f in range(FOLDS):
            held = folds == f
            if held.all() or not held.any():
                crossed[held] = first.predict_proba(features[held])[:, 1]
                continue
            model = _trees().fit(features[~held], labels[~held], sample_weight=None if weights is None else weights[~held])
            crossed[held] = model.predict_proba(features[held])[:, 1]
        second = _trees().fit(np.hstack([features, crossed[:, None], context(crossed, documents)]), labels, sample_weight=weights)
        return cls(Forest.of(first), Forest.of(second))

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """The probability that each block (one document's, in reading order) is text of the paper."""
        if not len(features):
            return np.zeros(0)
        p = self.first.probabilities(features)
        documents = np.zeros(len(features), dtype=int)
        return self.second.probabilities(np.hstack([features, p[:, None], context(p, documents)]))


def save(model: RoleModel, path: Path) -> None:
    """The model with the feature names it was trained on (a model for other features is refused on loading), as
    gzip'd JSON without a timestamp: the same model gives the same bytes."""
    body = json.dumps({"format": FORMAT, "features": list(FEATURES), "first": model.first.to_json(),
                       "second": model.second.to_json()}, separators=(",", ":")).encode()
    path.write_bytes(gzip.compress(body, mtime=0))


@functools.lru_cache(maxsize=4)
def load(path: Path = MODEL_FILE) -> RoleModel:
    """A saved model (read once per process: every PDF reader shares it; it is never changed after training)."""
    try:
        saved = json.loads(gzip.decompress(path.read_bytes()))
    except FileNotFoundError:
        raise RuntimeError(f"no role model at {path}: train one with benchmarks/pdf_learned.py --save-model {path}") from None
    except (OSError, ValueError) as e:
        raise RuntimeError(f"{path} is not a role model ({e})") from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise RuntimeError(f"{path} is not a role model of format {FORMAT}")
    if saved.get("features") != list(FEATURES):
        raise RuntimeError(f"the role model at {path} was trained on other features: retrain it "
                           f"(benchmarks/pdf_learned.py --save-model {path})")
    try:
        return RoleModel(Forest.from_json(saved["first"]), Forest.from_json(saved["second"]))
    except (KeyError, TypeError, ValueError) as e:
        raise RuntimeError(f"{path} is a damaged role model ({e})") from None
