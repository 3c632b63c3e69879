"""Stage 4: labelled blocks -> `Paper`, through the shared section policy.

The role model says which blocks are text of the paper; this stage gives the kept ones their place: the title
(the largest type on the first page among the first kept blocks), headings (a short kept block set larger or bold
than the body, without a sentence in it) that open sections, the abstract (what an "Abstract" heading opens, or what
stands between the title and the first heading), and captions, which stay where the page has them (the reader's
`caption_placement: inline`). Sections get their kind from their heading (`section_kind`), so a reference list or an
acknowledgement the model kept is still dropped by the policy, as in every other reader.

Back matter ends at a caption: manuscripts and preprints put their figure captions and tables after the reference
list and the acknowledgements, so a caption the model keeps there opens an untitled body section rather than being
dropped with the section it follows. (Ending a reference list at any block the model keeps as well was measured on
held-out predictions and not taken: a little worse on SuperMat and JOSE, and a kept reference entry would leak.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from corpus.formats.pdf.page import PageBlock
from corpus.formats.pdf.roles.features import CAPTION, body_size
from corpus.papers.model import DROPPED_KINDS, Paper, Section, section_kind

TITLE_SIZE = 1.15  # the title's type against the body's
HEADING_SIZE = 1.08
HEADING_WORDS = 14
_ABSTRACT = re.compile(r"^\W{0,3}(abstract|summary)\W{0,3}$", re.IGNORECASE)
_ABSTRACT_RUN_IN = re.compile(r"^\W{0,3}abstract\s*[.:—–-]?\s+", re.IGNORECASE)
_SENTENCE = re.compile(r"[a-z]{2}[.!?](\s|$)")
_WORD = re.compile(r"[^\W\d_]{3,}")
# a heading that says it is one: numbered ("2. Experimental details", "III. RESULTS", "A. Samples") or a section name
# every paper uses. Some ground truths leave headings out (SuperMat's), so the model may drop a heading that the
# paper's structure still needs: such a heading opens its section (and a reference list's is then dropped by its kind)
_NUMBERED = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)*\.?|[IVX]+\.|[A-H]\.)\s+[A-Z]")
_NAMED = re.compile(r"^\W{0,3}(abstract|introduction|methods?|experimental( details| section| methods)?|results( and discussion)?|"
                    r"discussion|conclusions?|summary|references|bibliography|acknowledge?ments?|appendix)\W{0,3}$", re.IGNORECASE)


@dataclass
class Decision:
    """What became of one block: its role and why."""

    block: PageBlock
    probability: float
    role: str  # title, heading, abstract, body, dropped


def _heading_shape(b: PageBlock) -> bool:
    text = b.text
    return 1 <= len(text.split()) <= HEADING_WORDS and len(b.lines) <= 2 and not _SENTENCE.search(text) and bool(_WORD.search(text))


def _is_heading(b: PageBlock, body: float) -> bool:
    """A kept block set as a heading: short, no sentence, larger or bold type."""
    return _heading_shape(b) and (b.max_size >= HEADING_SIZE * body or b.bold >= 0.8)


def _says_heading(b: PageBlock) -> bool:
    """A dropped block that says it is a heading (numbered or a section name)."""
    return _heading_shape(b) and bool(_NUMBERED.match(b.text) or _NAMED.match(b.text))


def decide(blocks: list[PageBlock], probabilities, threshold: float = 0.5) -> list[Decision]:
    """Every block's role, in reading order."""
    body = body_size(blocks) or 10.0
    decisions = [Decision(b, float(p), "body" if p >= threshold else "dropped") for b, p in zip(blocks, probabilities)]
    kept = [d for d in decisions if d.role != "dropped"]
    first_page = [d for d in kept[:8] if d.block.page == 0]
    if first_page:
        top = max(first_page, key=lambda d: d.block.max_size)
        if top.block.max_size >= TITLE_SIZE * body:
            top.role = "title"
    for d in kept:
        if d.role == "body" and _is_heading(d.block, body):
            d.role = "heading"
    for d in decisions:
        if d.role == "dropped" and _says_heading(d.block):
            d.role = "heading"
    kept = [d for d in decisions if d.role != "dropped"]
    # the abstract: under an "Abstract" heading, or before the first heading when the page gives no such heading
    opened = next((i for i, d in enumerate(kept) if d.role == "heading" and _ABSTRACT.match(d.block.text)), None)
    if opened is not None:
        kept[opened].role = "abstract_heading"
        for d in kept[opened + 1:]:
            if d.role != "body":
                break
            d.role = "abstract"
    else:
        for d in kept:
            if d.role == "heading":
                break
            if d.role == "body":
                d.role = "abstract"
    return decisions


def _ends_back_matter(kind: str, d: Decision) -> bool:
    """Whether a kept block cannot belong to the back-matter section (of `kind`) that stands before it: a caption."""
    return kind in DROPPED_KINDS and bool(CAPTION.match(d.block.text))


def paper_of(decisions: list[Decision]) -> Paper:
    paper = Paper()
    section: Section | None = None
    kind = "body"  # the open section's kind
    for d in decisions:
        text = d.block.text
        if d.role == "body" and section is not None and _ends_back_matter(kind, d):
            section, kind = None, "body"
        if d.role == "title":
            paper.title = text if paper.title is None else paper.title + " " + text
        elif d.role == "abstract":
            paper.abstract.append(_ABSTRACT_RUN_IN.sub("", text))
        elif d.role == "heading":
            section, kind = Section(title=text, paragraphs=[]), section_kind(text)
            paper.sections.append(section)
        elif d.role == "body":
            if section is None:
                section = Section(title="", paragraphs=[])
                paper.sections.append(section)
            section.paragraphs.append(text)
    return paper
