"""A probe, not a filter: can a word-bigram model tell two columns read across (tests/garbage.py
`interleaved_columns`) from clean text? Three signals, measured on the same documents (issue 17 item 6).

Model: bigram counts with interpolated absolute discounting (d = 0.75) over the bundled samples that are not the
test papers (general-English slice, the JATS/TEI/LaTeX/PDF papers), lowercase word/number/punctuation tokens.
Scored: the 45 bundled SOFC papers (one sentence a line), their interleaved versions, the same papers hard-wrapped
at 90 columns (clean text with line breaks inside sentences), and ../shared/data's general-English sample.
- `mean PMI`: mean over the document's bigrams of log P(w | prev) - log P(w);
- `junction`: mean PMI within lines minus mean PMI across line breaks (interleaving puts every break in the
  other column), on every document with >= 8 line breaks;
- `junction, gated`: the same, only on text whose lines are wrapped prose (>= 60% of lines end mid-sentence,
  line-length coefficient of variation < 0.35): verse, lists and one-sentence-a-line files are not scored.

    .venv/bin/python benchmarks/interleave_probe.py
"""

from __future__ import annotations

import gzip
import json
import math
import random
import re
import statistics
import sys
import textwrap
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from garbage import KINDS  # noqa: E402

from corpus.extract import extract  # noqa: E402

TOKEN = re.compile(r"[a-z]+|[0-9]+|[^\sa-z0-9]")
SAMPLES = ROOT / "samples"
GENERAL = ROOT.parent / "shared" / "data" / "general" / "general_english_sample.jsonl.gz"


class Bigrams:
    def __init__(self, texts: list[str]):
        self.uni, self.bi = Counter(), Counter()
        for t in texts:
            w = ["<s>"] + TOKEN.findall(t.lower())
            self.uni.update(w)
            self.bi.update(zip(w, w[1:]))
        self.n, self.v = sum(self.uni.values()), len(self.uni)
        self.followers = Counter(a for a, _ in self.bi)

    def unigram(self, w: str) -> float:
        return math.log((self.uni[w] + 0.1) / (self.n + 0.1 * self.v))

    def pmi(self, a: str, b: str) -> float:
        ca, types = self.uni[a], self.followers.get(a, 0)
        if not ca or not types:
            return 0.0
        p = max(self.bi[(a, b)] - 0.75, 0) / ca + 0.75 * types / ca * math.exp(self.unigram(b))
        return math.log(p) - self.unigram(b)


def mean_pmi(m: Bigrams, text: str) -> float | None:
    w = TOKEN.findall(text.lower())
    return statistics.mean(m.pmi(a, b) for a, b in zip(w, w[1:])) if len(w) >= 50 else None


def junction(m: Bigrams, text: str) -> float | None:
    within, across, prev = [], [], None
    for line in text.split("\n"):
        w = TOKEN.findall(line.lower())
        if not w:
            continue
        within += [m.pmi(a, b) for a, b in zip(w, w[1:])]
        if prev:
            across.append(m.pmi(prev[-1], w[0]))
        prev = w
    return statistics.mean(within) - statistics.mean(across) if len(across) >= 8 and within else None


def wrapped(text: str) -> bool:
    lines = [ln for ln in text.split("\n") if ln.strip()]
    if len(lines) < 10:
        return False
    open_end = sum(not ln.rstrip().endswith((".", "!", "?", ":", ";", '"', "'", ")")) for ln in lines) / len(lines)
    lengths = [len(ln) for ln in lines]
    return open_end >= 0.6 and statistics.pstdev(lengths) / statistics.mean(lengths) < 0.35


def rates(label: str, positives: list[float], negatives: dict[str, list[float]], thresholds) -> None:
    for th in thresholds:
        parts = [f"recall {sum(x > th for x in positives) / len(positives):.3f}"]
        parts += [f"{name} false drops {sum(x > th for x in xs) / max(1, len(xs)):.3f} of {len(xs)}" for name, xs in negatives.items()]
        print(f"  {label} > {th}: " + ", ".join(parts))


def main() -> None:
    train = [json.loads(line)["text"] for line in gzip.open(SAMPLES / "general" / "general_english_slice.jsonl.gz", "rt")]
    train += [d.text for _, d in extract([str(SAMPLES / "papers" / f) for f in ("xml", "latex", "pdf")], "auto") if hasattr(d, "text")]
    model = Bigrams(train)
    print(f"model: {model.n:,} training tokens, {len(model.bi):,} bigrams")
    papers = [p.read_text() for p in sorted((SAMPLES / "papers" / "sofc_exp").glob("*.txt"))]
    interleaved = [KINDS["interleaved_columns"](p, random.Random(i)) for i, p in enumerate(papers)]
    rewrapped = ["\n".join(textwrap.wrap(" ".join(p.split()), 90)) for p in papers]
    general = [json.loads(line)["text"] for line in gzip.open(GENERAL, "rt")] if GENERAL.exists() else []

    def scores(fn, texts, gate=False):
        return [x for x in (fn(model, t) for t in texts if not gate or wrapped(t)) if x is not None]

    mp_clean, mp_inter = scores(mean_pmi, papers), scores(mean_pmi, interleaved)
    print(f"mean PMI: clean papers median {statistics.median(mp_clean):.3f} (min {min(mp_clean):.3f}); "
          f"interleaved median {statistics.median(mp_inter):.3f} (max {max(mp_inter):.3f})")
    inter = scores(junction, interleaved)
    print("junction:")
    rates("junction", inter, {"wrapped papers": scores(junction, rewrapped), "general English": scores(junction, general)}, (0.8, 1.1, 1.25))
    gated = scores(junction, interleaved, gate=True)
    print(f"junction, gated ({len(gated)} of {len(interleaved)} interleaved papers pass the gate):")
    neg = {"wrapped papers": scores(junction, rewrapped, gate=True), "general English": scores(junction, general, gate=True)}
    rates("junction", gated, neg, (0.6, 0.8, 1.0))
    print(f"  margin: interleaved min {min(gated):.3f}; clean max {max(max(v) for v in neg.values() if v):.3f}")


if __name__ == "__main__":
    main()
