"""Gradient-boosted trees as plain arrays: the shipped form of the role model, evaluated with numpy.

Why not scikit-learn's own predictor at reading time: it walks its trees one Python call per tree (600 for the two
passes), about 36 µs each, which on a paper's few hundred blocks was a quarter of the reader's time per page;
evaluating every tree at once, level by level, is the same arithmetic in a few numpy operations. And the model is
stored as numbers (gzip'd JSON, floats written exactly), not a pickle: loading it runs no code and needs neither
scikit-learn nor its version at reading time. Training stays scikit-learn's (`Forest.of` reads its fitted trees);
tests/test_pdf_learned.py checks the two predict the same probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_DEPTH = 64  # trees of 31 leaves are at most 30 deep; a deeper walk means a damaged file


@dataclass
class Forest:
    """A binary classifier's trees, every node of every tree in one set of arrays (children as global indices)."""

    baseline: float
    roots: np.ndarray  # int64 [trees]
    feature: np.ndarray  # int64 [nodes]
    threshold: np.ndarray  # float64 [nodes]: x <= threshold goes left
    missing_left: np.ndarray  # bool [nodes]: where a missing (NaN) value goes
    left: np.ndarray  # int64 [nodes]
    right: np.ndarray  # int64 [nodes]
    leaf: np.ndarray  # bool [nodes]
    value: np.ndarray  # float64 [nodes]: a leaf's contribution to the raw score

    @classmethod
    def of(cls, fitted) -> "Forest":
        """The trees of a fitted `HistGradientBoostingClassifier` (binary, numerical features)."""
        columns = {k: [] for k in ("feature", "threshold", "missing_left", "left", "right", "leaf", "value")}
        roots, offset = [], 0
        for (predictor,) in fitted._predictors:
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                raise ValueError("categorical splits are not supported in the shipped form")
            roots.append(offset)
            leaf = nodes["is_leaf"].astype(bool)
            columns["feature"].append(nodes["feature_idx"].astype(np.int64))
            columns["threshold"].append(nodes["num_threshold"].astype(np.float64))
            columns["missing_left"].append(nodes["missing_go_to_left"].astype(bool))
            columns["left"].append(np.where(leaf, 0, nodes["left"].astype(np.int64) + offset))
            columns["right"].append(np.where(leaf, 0, nodes["right"].astype(np.int64) + offset))
            columns["leaf"].append(leaf)
            columns["value"].append(nodes["value"].astype(np.float64))
            offset += len(nodes)
        return cls(baseline=float(np.ravel(fitted._baseline_prediction)[0]), roots=np.array(roots, dtype=np.int64),
                   **{k: np.concatenate(v) for k, v in columns.items()})

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """The probability of the positive class for each row of `x`."""
        n, width = x.shape if x.ndim == 2 else (len(x), 0)
        if not n:
            return np.zeros(0)
        trees = len(self.roots)
        flat = np.ascontiguousarray(x, dtype=np.float64).ravel()
        node = np.repeat(self.roots, n)  # (tree, row) pairs, tree-major: every tree's walk for every row
        row_start = np.tile(np.arange(n) * width, trees)
        walking = np.arange(trees * n)  # the pairs not yet at a leaf: most trees end long before the deepest
        for _ in range(MAX_DEPTH + 1):
            at = node[walking]
            inner = ~self.leaf[at]
            if not inner.any():
                break
            walking, at = walking[inner], at[inner]
            values = flat[row_start[walking] + self.feature[at]]
            go_left = (values <= self.threshold[at]) | (np.isnan(values) & self.missing_left[at])
            node[walking] = np.where(go_left, self.left[at], self.right[at])
        else:
            raise ValueError(f"a tree deeper than {MAX_DEPTH} levels (or a cycle): not a forest this code wrote")
        raw = self.baseline + self.value[node].reshape(trees, n).sum(axis=0)
        return 1.0 / (1.0 + np.exp(-raw))

    def to_json(self) -> dict:
        return {"baseline": self.baseline, **{k: getattr(self, k).tolist() for k in
                                              ("roots", "feature", "threshold", "missing_left", "left", "right", "leaf", "value")}}

    @classmethod
    def from_json(cls, d: dict) -> "Forest":
        ints = {k: np.array(d[k], dtype=np.int64) for k in ("roots", "feature", "left", "right")}
        bools = {k: np.array(d[k], dtype=bool) for k in ("missing_left", "leaf")}
        floats = {k: np.array(d[k], dtype=np.float64) for k in ("threshold", "value")}
        forest = cls(baseline=float(d["baseline"]), **ints, **bools, **floats)
        size = len(forest.feature)
        if not all(len(a) == size for a in (forest.threshold, forest.missing_left, forest.left, forest.right, forest.leaf, forest.value)):
            raise ValueError("the forest's node arrays differ in length")
        if size and (forest.roots.min(initial=0) < 0 or forest.roots.max(initial=0) >= size
                     or forest.left.min() < 0 or forest.left.max() >= size or forest.right.min() < 0 or forest.right.max() >= size):
            raise ValueError("a node points outside the forest")
        return forest
