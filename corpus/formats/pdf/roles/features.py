"""Layout and text-shape features of each block, in reading order, for the role model.

Every feature is relative (to the page, to the document's body font size, to the block's neighbours), so that a
model learned on some layouts can read others. The text-shape regexes are features the model weighs, not rules.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from corpus.formats.pdf.order import is_band
from corpus.formats.pdf.page import PageBlock

# a caption's label ("Fig. 3", "Table IV", "Figure S2"), or the heading of a manuscript's list of them
CAPTION = re.compile(r"^(?:(?:fig\.?|figure|table|tab\.|scheme|chart)\s*(?:[0-9]+|[ivxlc]+|s[0-9]+)\b|(?:figure|table) (?:captions|legends)\b)",
                     re.IGNORECASE)
_HEADING_NUMBER = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)*\.?|[IVXLC]+\.|[A-H]\.)\s+\S")
_REF_ENTRY = re.compile(r"^\s*(?:\[\d{1,3}\]|\(\d{1,3}\)|\d{1,3}[.)]?\s+[A-Z][a-z]*\.?,?\s)")
_REFERENCES = re.compile(r"^\W{0,3}(?:[0-9IVX]+\.?\s*)?(references|bibliography|references and notes|literature cited)\W{0,3}$", re.IGNORECASE)
_ABSTRACT = re.compile(r"^\W{0,3}(abstract|summary)\b", re.IGNORECASE)
_INTRODUCTION = re.compile(r"^\W{0,3}(?:[0-9IVX]+\.?\s*)?introduction\b", re.IGNORECASE)
_BACK = re.compile(r"^\W{0,3}(acknowledge?ments?|funding|author contributions|competing interests|conflicts? of interest|data availability)\b", re.IGNORECASE)
_AFFILIATION = re.compile(r"\b(universit|institut|department|laborator|college|school of|academy|faculty|e-?mail|corresponding)", re.IGNORECASE)
_BOILERPLATE = re.compile(r"(creative\s*commons|all rights reserved|licen[cs]e|©|\(c\) \d{4}|doi:|https?://|www\.|received|accepted|published)", re.IGNORECASE)
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
_CITATION_DETAIL = re.compile(r"\b\d+\s*\(\d{4}\)|\bpp?\.\s*\d+|\bvol\.\s*\d+|\b\d{1,4}\s*[,:]\s*\d{2,6}\s*\(\d{4}\)", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+")
_SENTENCE_END = re.compile(r"[a-z]{2}[.!?]\s+[A-Z]")
_MATH = re.compile(r"[=±×∑∫√≤≥≈∝∂∞αβγδεθλμνπρστφψω]")

FEATURES = (
    "page_share", "first_page", "last_page", "x0", "x1", "y0", "y1", "width", "height", "band", "right_column",
    "in_top_margin", "in_bottom_margin", "size_ratio", "max_size_ratio", "largest_on_page", "bold", "italic", "mono",
    "lines", "chars", "log_chars", "chars_per_line", "line_gap", "digits", "capitals", "punctuation", "letters",
    "words_per_line", "long_words", "sentence_ends", "ends_with_stop", "starts_lower", "starts_digit", "starts_bracket",
    "caption_start", "heading_number", "ref_entry", "references_heading", "abstract_heading", "introduction_heading",
    "back_heading", "affiliation", "boilerplate", "years", "citation_detail", "math", "repeated", "after_references",
    "after_abstract", "after_introduction", "after_back", "block_share", "gap_above", "gap_below", "prev_size_ratio",
    "next_size_ratio", "prev_band", "next_band", "prev_caption", "same_size_as_prev", "page_blocks",
)


def body_size(blocks: list[PageBlock]) -> float:
    """The document's body font size: the size most characters are set in."""
    weights = Counter()
    for b in blocks:
        weights[round(b.size * 2) / 2] += len(b.text)
    return weights.most_common(1)[0][0] if weights else 10.0


def _shape(text: str) -> str:
    """A block's text with digits and spacing folded: running headers repeat under it with their page numbers."""
    return re.sub(r"\s+", " ", re.sub(r"\d+", "#", text.lower())).strip()[:80]


def block_features(blocks: list[PageBlock]) -> np.ndarray:
    """One row of FEATURES per block; `blocks` are the whole document's, in reading order."""
    n = len(blocks)
    rows = np.zeros((n, len(FEATURES)), dtype=np.float64)
    if not n:
        return rows
    body = body_size(blocks) or 10.0
    pages = max(b.page for b in blocks) + 1
    shapes = [_shape(b.text) for b in blocks]
    pages_of: dict[str, set[int]] = {}
    for b, s in zip(blocks, shapes):
        pages_of.setdefault(s, set()).add(b.page)
    largest = {}
    per_page = Counter(b.page for b in blocks)
    for b in blocks:
        largest[b.page] = max(largest.get(b.page, 0.0), b.max_size)
    seen = {"references": 0.0, "abstract": 0.0, "introduction": 0.0, "back": 0.0}
    for i, b in enumerate(blocks):
        text = b.text
        chars = len(text) or 1
        digits, alnum = sum(map(str.isdigit, text)), sum(map(str.isalnum, text))
        words = _WORD.findall(text)
        w, h = b.page_width, b.page_height
        first = text.lstrip()[:1]
        prev = blocks[i - 1] if i else None
        nxt = blocks[i + 1] if i + 1 < n else None
        gaps = [b.line_boxes[k + 1][1] - b.line_boxes[k][3] for k in range(len(b.line_boxes) - 1)]
        headings = {"references": bool(_REFERENCES.match(text)) and len(text) < 60, "abstract": bool(_ABSTRACT.match(text)),
                    "introduction": bool(_INTRODUCTION.match(text)) and len(text) < 80, "back": bool(_BACK.match(text))}
        values = {
            "page_share": b.page / max(1, pages - 1), "first_page": b.page == 0, "last_page": b.page == pages - 1,
            "x0": b.bbox[0] / w, "x1": b.bbox[2] / w, "y0": b.bbox[1] / h, "y1": b.bbox[3] / h,
            "width": (b.bbox[2] - b.bbox[0]) / w, "height": (b.bbox[3] - b.bbox[1]) / h, "band": is_band(b),
            "right_column": not is_band(b) and (b.bbox[0] + b.bbox[2]) / 2 >= w / 2,
            "in_top_margin": b.bbox[3] / h < 0.08, "in_bottom_margin": b.bbox[1] / h > 0.92,
            "size_ratio": b.size / body, "max_size_ratio": b.max_size / body, "largest_on_page": b.max_size >= largest[b.page],
            "bold": b.bold, "italic": b.italic, "mono": b.mono, "lines": len(b.lines), "chars": len(text),
            "log_chars": np.log1p(len(text)), "chars_per_line": len(text) / max(1, len(b.lines)),
            "line_gap": (float(np.median(gaps)) / body) if gaps else 0.0,
            "digits": digits / chars, "capitals": sum(map(str.isupper, text)) / chars,
            "punctuation": (chars - alnum - sum(map(str.isspace, text))) / chars if text else 0.0,
            "letters": sum(map(str.isalpha, text)) / chars, "words_per_line": len(words) / max(1, len(b.lines)),
            "long_words": sum(len(x) >= 4 for x in words) / max(1, len(words)),
            "sentence_ends": len(_SENTENCE_END.findall(text)) / max(1, len(b.lines)),
            "ends_with_stop": text.rstrip()[-1:] in ".!?", "starts_lower": first.islower(), "starts_digit": first.isdigit(),
            "starts_bracket": first in "([", "caption_start": bool(CAPTION.match(text)),
            "heading_number": bool(_HEADING_NUMBER.match(text)) and len(text) < 100, "ref_entry": bool(_REF_ENTRY.match(text)),
            "references_heading": headings["references"], "abstract_heading": headings["abstract"],
            "introduction_heading": headings["introduction"], "back_heading": headings["back"],
            "affiliation": len(_AFFILIATION.findall(text)) / max(1, len(b.lines)),
            "boilerplate": len(_BOILERPLATE.findall(text)) / max(1, len(b.lines)),
            "years": len(_YEAR.findall(text)) / max(1, len(b.lines)),
            "citation_detail": len(_CITATION_DETAIL.findall(text)) / max(1, len(b.lines)),
            "math": len(_MATH.findall(text)) / chars, "repeated": len(pages_of[shapes[i]]) / pages if len(pages_of[shapes[i]]) > 1 else 0.0,
            "after_references": seen["references"], "after_abstract": seen["abstract"],
            "after_introduction": seen["introduction"], "after_back": seen["back"], "block_share": i / max(1, n - 1),
            "gap_above": ((b.bbox[1] - prev.bbox[3]) / body) if prev is not None and prev.page == b.page else -1.0,
            "gap_below": ((nxt.bbox[1] - b.bbox[3]) / body) if nxt is not None and nxt.page == b.page else -1.0,
            "prev_size_ratio": prev.size / body if prev is not None else 0.0,
            "next_size_ratio": nxt.size / body if nxt is not None else 0.0,
            "prev_band": prev is not None and is_band(prev), "next_band": nxt is not None and is_band(nxt),
            "prev_caption": prev is not None and bool(CAPTION.match(prev.text)),
            "same_size_as_prev": prev is not None and abs(prev.size - b.size) < 0.25, "page_blocks": per_page[b.page],
        }
        rows[i] = [float(values[name]) for name in FEATURES]
        for key, hit in headings.items():  # the heading's own block is not "after" it
            if hit:
                seen[key] = 1.0
    return rows
