"""Interleaved columns: two columns of a page read across, line by line, by a PDF tool that ignored the layout.

Such text reads as fluent English to every rule that looks at words, letters or function words: each line is two
half-lines of real prose. What betrays it is at the junctions. In clean line-wrapped prose, the last word of a line
runs on into the first word of the next; in interleaved text that word runs on somewhere else:

- *side by side* (one output line holds a left and a right column line): the left half of line i continues at the
  start of line i+1, and the right half of line i at the right half of line i+1;
- *alternating* (left and right column lines take turns): line i continues at line i+2, not at line i+1.

A word-bigram language model of clean domain and general text scores both readings, as CCNet scores documents by a
KenLM model's perplexity, but only at the junctions: the detector's score is how much more probable (in pointwise
mutual information per junction) the de-interleaved reading is than the reading as given, for the better of the two
forms. Clean text scores well under zero (breaking it apart replaces real word pairs with chance ones); interleaved
text scores above. Only text whose lines are wrapped prose is judged (most lines end mid-sentence, lines of similar
length): paragraphs a line, verse, lists, tables and headers never are, since they have no running junctions.

The model is a bigram count table with interpolated absolute discounting, shipped in the package
(`models/junction_bigrams.json.gz`, built by `python -m corpus.filters.interleave` from the bundled open texts; a
manifest can name another built the same way from its own corpus). We count bigrams ourselves rather than using KenLM:
the scorer needs only P(b | a) and P(b) for single word pairs, which a 100-line table gives without a compiled
dependency or a binary model format. Measured in BENCHMARKS.md ("Interleaved columns").
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import json
import math
import re
import statistics
from collections import Counter
from functools import cached_property
from importlib import resources
from pathlib import Path

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter
from pydantic import BaseModel, ConfigDict, Field

from corpus.config import InputPath
from corpus.filters.quality import is_structure_text
from corpus.registry import StepContext, StepSpec, register

TOKEN = re.compile(r"[a-z]+|[0-9]+|[^\sa-z0-9]")
GUTTER = re.compile(r" {3,}")
LAYOUT_GAP = re.compile(r"^ {8,}\S|\S {3,}\S")  # a right column alone on its line, or a gutter between two
DISCOUNT = 0.75  # absolute discounting (Kneser-Ney's usual d)
MAX_LINES = 600  # lines judged per document: interleaving is page-wide, and a long document costs no more than this
MIN_JUNCTIONS = 8  # fewer line junctions than this: too little evidence to judge
SPLIT_FRACTIONS = tuple(f / 20 for f in range(6, 15))  # left column widths tried: 30%-70% of a full row
MODEL_FORMAT = 1
# what a hyphenated break says, in PMI units: about a typical within-line word pair's PMI on clean text (1-2)
HYPHEN_EVIDENCE = 1.5
BODY_SHARE = 0.35  # body lines at least this share of all: a layout-blind reading has many half-width rows


class InterleaveSettings(BaseModel):
    """`steps.filters.interleave` in the manifest."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True
    threshold: float = Field(0.2, description="drop as interleaved_columns when the de-interleaved reading beats the given one by more than this (PMI per junction)")
    model_path: InputPath | None = Field(None, description="a bigram model built by `python -m corpus.filters.interleave` from your own clean text; default: the bundled one")


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


class JunctionModel:
    """Word-bigram PMI: log P(b | a) - log P(b), with interpolated absolute discounting."""

    def __init__(self, table: dict):
        if table.get("format") != MODEL_FORMAT:
            raise ValueError(f"not a junction model of format {MODEL_FORMAT}")
        self.unigrams: dict[str, int] = table["unigrams"]
        self.followers: dict[str, int] = table["followers"]  # distinct followers before pruning: the discounted mass
        self.bigrams: dict[str, int] = table["bigrams"]  # "a b" -> count
        self.total = int(table["tokens"])
        self._log_norm = math.log(self.total + 0.1 * len(self.unigrams))

    @classmethod
    def load(cls, path: str | Path | None = None) -> "JunctionModel":
        source = Path(path) if path else resources.files("corpus.filters") / "models" / "junction_bigrams.json.gz"
        with source.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as f:
            return cls(json.load(f))

    def log_unigram(self, w: str) -> float:
        return math.log(self.unigrams.get(w, 0) + 0.1) - self._log_norm

    def pmi(self, a: str, b: str) -> float:
        ca, types = self.unigrams.get(a, 0), self.followers.get(a, 0)
        if not ca or not types:
            return 0.0  # an unknown word says nothing either way
        lu = self.log_unigram(b)
        p = max(self.bigrams.get(f"{a} {b}", 0) - DISCOUNT, 0) / ca + DISCOUNT * types / ca * math.exp(lu)
        return math.log(p) - lu

    def junction(self, before: list[str], after: list[str]) -> float:
        """How well `after` continues `before` (token lists): the PMI of the word pair; for a word hyphenated at the
        break ("supercon-" / "ductors"), +-HYPHEN_EVIDENCE as the two halves make a known word or not."""
        if len(before) >= 2 and before[-1] == "-" and before[-2].isalpha() and after[0].isalpha():
            return HYPHEN_EVIDENCE if self.unigrams.get(before[-2] + after[0], 0) >= 2 else -HYPHEN_EVIDENCE
        return self.pmi(before[-1], after[0])


def build_model(texts, min_bigram_count: int = 2) -> dict:
    """Count a model's table from clean texts. Bigrams seen fewer than `min_bigram_count` times are pruned (their
    mass stays in the discounted back-off through `followers`), which keeps the shipped file small."""
    uni, bi = Counter(), Counter()
    for text in texts:
        words = ["<s>"] + tokens(text)
        uni.update(words)
        bi.update(zip(words, words[1:]))
    followers = Counter(a for a, _ in bi)
    return {
        "format": MODEL_FORMAT,
        "tokens": sum(uni.values()),
        "unigrams": dict(sorted(uni.items())),
        "followers": dict(sorted(followers.items())),
        "bigrams": {f"{a} {b}": c for (a, b), c in sorted(bi.items()) if c >= min_bigram_count},
    }


def wrapped_prose(lines: list[str]) -> bool:
    """Lines that are pieces of running text: most end mid-sentence, and the body lines (those at least half as long
    as the longest tenth; headers, equations and figure labels are shorter) are a good share of the lines and alike in length.
    Paragraph-a-line text, one sentence a line, verse, lists and tables are not, and are never judged."""
    if len(lines) < MIN_JUNCTIONS + 2:
        return False
    open_ends = sum(not ln.endswith((".", "!", "?", ":", ";", '"', "'", ")")) for ln in lines) / len(lines)
    longest_tenth = statistics.quantiles([len(ln) for ln in lines], n=10)[-1]
    body = [len(ln) for ln in lines if len(ln) >= 0.5 * longest_tenth]
    return open_ends >= 0.6 and len(body) >= BODY_SHARE * len(lines) and statistics.pstdev(body) / statistics.fmean(body) < 0.35


def _alternating_gain(model: JunctionModel, lines: list[list[str]]) -> float | None:
    gains = [model.junction(a, c) - model.junction(a, b) for a, b, c in zip(lines, lines[1:], lines[2:])]
    return statistics.fmean(gains) if len(gains) >= MIN_JUNCTIONS else None


class _Row:
    """A line tokenised once, with where each token starts, so that cutting it at any column costs a bisection."""

    __slots__ = ("tokens", "starts", "spaces", "gutter")

    def __init__(self, line: str):
        found = list(TOKEN.finditer(line.lower()))
        self.tokens = [m.group() for m in found]
        self.starts = [m.start() for m in found]
        self.spaces = [i for i, ch in enumerate(line) if ch == " "]
        gutter = GUTTER.search(line)  # a layout-keeping extractor marks the gutter with a run of spaces
        self.gutter = gutter.start() if gutter else None

    def split(self, column: float) -> tuple[list[str], list[str]] | None:
        """The ends of the two halves (the left's last two tokens, the right's first) where a left column `column`
        characters wide would end: at its last space within that width, or at the gutter if the line has one."""
        if self.gutter is not None:
            cut = self.gutter
        else:
            k = bisect.bisect_right(self.spaces, column) - 1
            if k < 0:
                return None
            cut = self.spaces[k]
        n = bisect.bisect_left(self.starts, cut)
        return (self.tokens[max(n - 2, 0) : n], self.tokens[n : n + 1]) if 0 < n < len(self.tokens) else None


def _side_by_side_gain(model: JunctionModel, lines: list[str]) -> float | None:
    # the width of a full row (both columns): a high percentile, since rows where one column is empty are short
    full = statistics.quantiles([len(ln) for ln in lines], n=10)[-1]
    rows = [_Row(ln) for ln in lines]
    best = None
    for fraction in SPLIT_FRACTIONS:
        halves = [row.split(fraction * full) for row in rows]
        gains = []
        for this, nxt, row, next_row in zip(halves, halves[1:], rows, rows[1:]):
            if this is None or nxt is None:
                continue
            (left_end, right_start), (_, next_right_start) = this, nxt
            line_end, next_start = row.tokens[-2:], next_row.tokens[:1]  # a right half ends the line; a left one starts it
            deinterleaved = model.junction(left_end, next_start) + model.junction(line_end, next_right_start)
            as_given = model.junction(left_end, right_start) + model.junction(line_end, next_start)
            gains.append(deinterleaved - as_given)
        if len(gains) >= MIN_JUNCTIONS:
            score = statistics.fmean(gains)
            best = score if best is None else max(best, score)
    return best


def _gutter(lines: list[str]) -> int | None:
    """The character column of a layout-keeping extractor's gutter (`pdftotext -layout`: both columns of a page on
    one line, the right one at a fixed indent): the position, between 25% and 75% of the widest line, that is blank
    on most lines while at least a third of the lines hold text on both sides of it; None if there is none."""
    rows = [ln for ln in lines if ln.strip()]
    if len(rows) < MIN_JUNCTIONS + 2 or sum(bool(LAYOUT_GAP.search(ln)) for ln in rows) < len(rows) / 3:
        return None  # not laid out: too few lines with a gap or an indent
    width = max(map(len, rows))
    if width < 40 or width > 400:
        return None
    best, best_rows = None, 0
    for c in range(width // 4, 3 * width // 4):
        blank = both = 0
        for ln in rows:
            if c >= len(ln) or ln[c] == " ":
                blank += 1
                both += bool(ln[:c].strip()) and bool(ln[c:].strip())
        if blank >= 0.9 * len(rows) and both >= len(rows) / 3 and both > best_rows:
            best, best_rows = c, both
    return best


def _gutter_gain(model: JunctionModel, text: str) -> float | None:
    """Layout-kept text: the reading by columns (page by page: the left pieces, then the right ones) against the
    reading as given (left and right piece of each line in turn), in mean junction PMI."""
    if "   " not in text and "\t" not in text:
        return None  # no gap or indent anywhere: not laid out (one scan, before any per-line work)
    gains = []
    for page in text.split("\f"):
        lines = page.expandtabs().split("\n")[:MAX_LINES]
        c = _gutter(lines)
        if c is None:
            continue
        pieces = [(tokens(ln[:c]), tokens(ln[c:])) for ln in lines if ln.strip()]
        given = [t for pair in pieces for t in pair if t]
        columns = [left for left, _ in pieces if left] + [right for _, right in pieces if right]
        for reading, sign in ((columns, 1), (given, -1)):
            gains += [sign * model.junction(a, b) for a, b in zip(reading, reading[1:])]
    return 2 * statistics.fmean(gains) if len(gains) >= 2 * MIN_JUNCTIONS else None


def interleave_score(model: JunctionModel, text: str) -> float | None:
    """How much better (PMI per junction) the de-interleaved reading is than the text as given, for the best of
    the interleaving forms; None where the text is neither wrapped prose nor laid out in columns (nothing to judge)."""
    scores = [_gutter_gain(model, text)]
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()][:MAX_LINES]
    if wrapped_prose(lines):
        scores += [_alternating_gain(model, [t for t in map(tokens, lines) if t]), _side_by_side_gain(model, lines)]
    scores = [s for s in scores if s is not None]
    return max(scores) if scores else None


class InterleaveFilter(BaseFilter):
    """`interleaved_columns`: two columns read across (see the module's docstring). Records `interleave_score`
    on every document it judges."""

    name = "🔀 Interleaved columns"

    def __init__(self, settings: InterleaveSettings | None = None, exclusion_writer: DiskWriter | None = None):
        super().__init__(exclusion_writer)
        self.settings = settings or InterleaveSettings()

    @cached_property
    def model(self) -> JunctionModel:
        return JunctionModel.load(self.settings.model_path)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if is_structure_text(doc):
            return True
        score = interleave_score(self.model, doc.text)
        if score is None:
            return True
        doc.metadata["interleave_score"] = round(score, 4)
        return (False, "interleaved_columns") if score > self.settings.threshold else True


def _step(ctx: StepContext):
    # the model is English: it judges what the language filter kept as English only
    f = ctx.manifest.steps.filters
    if not (f.interleave.enabled and f.language.enabled and f.language.keep == ["en"]):
        return None
    return InterleaveFilter(f.interleave, exclusion_writer=ctx.rejected("interleave"))


register(StepSpec(
    "interleave", "drops line-wrapped text whose two columns were read across (interleaved_columns), judged by a word-bigram "
    "model at the line junctions (steps.filters.interleave)", process=_step, reasons=("interleaved_columns",),
    after=("language",), why="the junction model is English, so it judges what the language filter kept",
))


def _texts(paths: list[str]):
    """Clean training text: JSON Lines (`text` field, .gz too), plain .txt files, or paper sources through the readers."""
    from corpus.extract import extract

    for p in paths:
        path = Path(p)
        if path.name.endswith((".jsonl", ".jsonl.gz")):
            with (gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")) as f:
                yield from (json.loads(line)["text"] for line in f if line.strip())
        elif path.suffix == ".txt":
            yield path.read_text(encoding="utf-8", errors="replace")
        else:
            yield from (d.text for _, d in extract([str(path)], "auto") if isinstance(d, Document))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m corpus.filters.interleave",
                                     description="Build the junction model from clean text (the bundled one: samples/general/"
                                                 "general_english_slice.jsonl.gz samples/papers/xml samples/papers/latex samples/papers/pdf).")
    parser.add_argument("inputs", nargs="+", help="JSON Lines with a text field (.gz too), .txt files, or paper files/folders")
    parser.add_argument("-o", "--output", required=True, help="the model file to write (.json.gz)")
    parser.add_argument("--min-bigram-count", type=int, default=2)
    args = parser.parse_args(argv)
    table = build_model(_texts(args.inputs), args.min_bigram_count)
    data = json.dumps(table, ensure_ascii=False, separators=(",", ":")).encode()
    with open(args.output, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:  # byte-identical rebuilds
        f.write(data)
    print(f"{args.output}: {table['tokens']:,} tokens, {len(table['unigrams']):,} words, {len(table['bigrams']):,} bigrams")


if __name__ == "__main__":
    main()
