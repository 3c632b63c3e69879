"""Training batches straight from the corpus shards: memory-mapped, blended by stage, resumable, per rank.

The shard format is tiny (see corpus/shards/format.py): `.ds` tokens (uint16 or uint32), `.ds.index`
uint64 cumulative document ends, `.ds.metadata` (`tokenizer|token_size` first), and optionally
`.ds.loss` (one uint8 per token, 1 where the loss counts: SFT answers). Reading it is a numpy
memory map (through the format module's helpers), so training needs neither datatrove nor nanotron.

- `ComponentShards`: one component folder as one token stream; window i is tokens
  [i*L, i*L + L + 1) (L = seq_len), with per-document position ids (they restart after every EOS
  boundary recorded in the index) and the loss mask.
- `BlendedSampler`: which component each sample of the global batch comes from, by the stage
  weights of `train_data.yaml` (written by `corpus build`), from a seeded generator; inside a
  component, windows go in a seeded permutation, a fresh one each epoch. Its state (the counters)
  goes into checkpoints, so a resumed run draws exactly the samples an uninterrupted one would.
- Rank r of W takes samples r, r+W, ... of each step's global batch.
- With `val_fraction`, the last windows of every component are held out for validation loss
  (per component: the domain and general curves the adaptation-rigidity analysis compares).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

import numpy as np
import torch

from corpus.shards.format import TrainData, read_loss_mask, read_metadata, read_train_data, token_dtype  # the format's own helpers


class ComponentShards:
    """`windows` training windows, then `val_windows` held-out windows at the end of the stream (never sampled)."""

    def __init__(self, folder: str, seq_len: int, val_fraction: float = 0.0):
        self.folder, self.seq_len = folder, seq_len
        self.files = sorted(glob.glob(os.path.join(folder, "*.ds")))
        if not self.files:
            raise FileNotFoundError(f"no .ds shards in {folder}")
        self.tokens, self.ends, self.masks, offsets = [], [], [], [0]
        for path in self.files:
            tokens = np.memmap(path, dtype=token_dtype(read_metadata(path)[1]), mode="r")
            self.tokens.append(tokens)
            self.ends.append(np.fromfile(path + ".index", dtype="<u8").astype(np.int64) + offsets[-1])
            self.masks.append(read_loss_mask(path))
            offsets.append(offsets[-1] + len(tokens))
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.doc_ends = np.concatenate(self.ends)
        self.total = int(self.offsets[-1])
        all_windows = (self.total - 1) // seq_len
        if all_windows < 1:
            raise ValueError(f"{folder}: {self.total} tokens is less than one window of {seq_len + 1}")
        self.val_windows = min(all_windows - 1, int(all_windows * val_fraction)) if val_fraction else 0
        self.windows = all_windows - self.val_windows
        self.has_masks = any(m is not None for m in self.masks)

    def _slice(self, arrays, start: int, stop: int, fill) -> np.ndarray:
        parts = []
        for k in range(np.searchsorted(self.offsets, start, side="right") - 1, len(arrays)):
            lo, hi = self.offsets[k], self.offsets[k + 1]
            if lo >= stop:
                break
            a, b = max(start, lo) - lo, min(stop, hi) - lo
            part = arrays[k]
            parts.append(np.asarray(part[a:b]) if part is not None else np.full(b - a, fill, dtype=np.uint8))
        return np.concatenate(parts)

    def window(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tokens[L+1] int64, positions[L] int64, loss_mask[L] bool for the L targets)."""
        start = i * self.seq_len
        stop = start + self.seq_len + 1
        tokens = self._slice(self.tokens, start, stop, 0).astype(np.int64)
        where = np.arange(start, stop - 1)
        doc = np.searchsorted(self.doc_ends, where, side="right")  # index of the document each token is in
        doc_start = np.where(doc > 0, self.doc_ends[np.maximum(doc - 1, 0)], 0)
        positions = where - doc_start
        mask = self._slice(self.masks, start + 1, stop, 1).astype(bool) if self.has_masks else np.ones(self.seq_len, dtype=bool)
        return tokens, positions, mask


@dataclass
class Stage:
    name: str
    start_step: int
    weights: dict[str, float]


class BlendedSampler:
    """Deterministic, resumable choice of (component, window) for every global sample."""

    def __init__(self, components: dict[str, ComponentShards], stages: list[Stage], seed: int):
        self.components, self.stages, self.seed = components, stages, seed
        self.drawn = {name: 0 for name in components}  # windows taken from each component so far
        self._perm: dict[tuple[str, int], np.ndarray] = {}

    def state_dict(self) -> dict:
        return {"drawn": dict(self.drawn)}

    def load_state_dict(self, state: dict) -> None:
        self.drawn = dict(state["drawn"])

    def stage_at(self, step: int) -> Stage:
        return [s for s in self.stages if s.start_step <= step][-1]

    def _window(self, name: str) -> int:
        n = self.components[name].windows
        epoch, k = divmod(self.drawn[name], n)
        key = (name, epoch)
        if key not in self._perm:
            self._perm = {kk: v for kk, v in self._perm.items() if kk[0] != name}  # keep one epoch per component
            rng = np.random.default_rng([self.seed, epoch, sum(map(ord, name))])
            self._perm[key] = rng.permutation(n)
        self.drawn[name] += 1
        return int(self._perm[key][k])

    def step(self, step: int, global_batch: int) -> list[tuple[str, int]]:
        """The global batch of optimizer step `step` (1-based): one (component, window) per sequence."""
        stage = self.stage_at(step)
        names = [n for n, w in stage.weights.items() if w > 0]
        p = np.asarray([stage.weights[n] for n in names], dtype=float)
        rng = np.random.default_rng([self.seed, step])
        choice = rng.choice(len(names), size=global_batch, p=p / p.sum())
        return [(names[c], self._window(names[c])) for c in choice]


def load_stages(train_data: str | TrainData, seq_len: int | None = None, val_fraction: float = 0.0) -> tuple[dict[str, ComponentShards], list[Stage], TrainData]:
    """The components and stages of a `train_data.yaml` (its path, read and validated by the shard format's
    `TrainData`, or that already validated file)."""
    data = train_data if isinstance(train_data, TrainData) else read_train_data(train_data)
    seq_len = seq_len or data.seq_len
    stages = [Stage(s.name, s.start_step, dict(s.weights)) for s in data.stages]
    components = {n: ComponentShards(os.path.join(data.shards, n), seq_len, val_fraction) for n in data.components()}
    return components, stages, data


def batch(components: dict[str, ComponentShards], picks: list[tuple[str, int]]) -> dict[str, torch.Tensor]:
    """input_ids, position_ids, labels (-100 where the loss mask is 0) for a list of (component, window)."""
    rows = [components[name].window(i) for name, i in picks]
    tokens = torch.from_numpy(np.stack([r[0] for r in rows]))
    positions = torch.from_numpy(np.stack([r[1] for r in rows]))
    mask = torch.from_numpy(np.stack([r[2] for r in rows]))
    labels = tokens[:, 1:].clone()
    labels[~mask] = -100
    return {"input_ids": tokens[:, :-1].contiguous(), "position_ids": positions, "labels": labels}
