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

Named rules of the assembly, each for a class of text a block's label does not say: the paper's keywords ("Keywords:
a, b", run in, or under a "Keywords" heading) go to `Paper.keywords` (left out of the text by default, as the XML
readers do); an unheaded acknowledgement ("We thank ...", "This work was supported by ...", "Acknowledgements: ...")
opens an acknowledgement section, which the policy drops with what follows it up to the next heading or caption; a
paragraph cut by a column or page break (the text before ends without a full stop, and this one opens in lower case
or the break fell after a comma or a function word) is one paragraph again.

Tables (keep_tables): a table the finder structured is one block holding its Markdown body; it is kept whatever the
model says and follows its caption in the same paragraph, as the XML and LaTeX readers write it. With
`caption_placement: after_paragraph` a caption (and its table) that the page sets while a paragraph is still open
(the text before it ends without a full stop) is held back until a paragraph ends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from corpus.formats.pdf.page import PageBlock
from corpus.formats.pdf.roles.features import CAPTION, body_size
from corpus.formats.pdf.tables import TABLE_CAPTION
from corpus.papers.model import DROPPED_KINDS, Paper, Section, section_kind

TITLE_SIZE = 1.15  # the title's type against the body's
HEADING_SIZE = 1.08
HEADING_WORDS = 14
_ABSTRACT = re.compile(r"^\W{0,3}(abstract|summary)\W{0,3}$", re.IGNORECASE)
_ABSTRACT_RUN_IN = re.compile(r"^\W{0,3}abstract\s*[.:—–-]?\s+", re.IGNORECASE)
_SENTENCE = re.compile(r"[a-z]{2}[.!?](\s|$)")
_KEYWORDS = re.compile(r"^\s*(key ?words?|index terms)\s*(?:[:.—–-]\s*|\n|$)(.*)$", re.IGNORECASE | re.DOTALL)
_KEYWORDS_RUN_IN = re.compile(r"^\s*(key ?words?|index terms)\s+(.+)$", re.IGNORECASE | re.DOTALL)
_TWO_SENTENCES = re.compile(r"[a-z]{3}\. [A-Z][a-z]")
_ACKNOWLEDGEMENT = re.compile(
    r"^((we|the authors?|one of us|this (work|research|study|project) (was|is|has been)) (\w+ )?(thank|acknowledge|"
    r"are (grateful|indebted)|is (grateful|indebted)|(was |is )?(supported|funded|financially supported))"
    r"|this (work|research|study) (was|has been) (\w+ )?(performed|carried out) (at|within|under) (the )?[A-Z]"
    r"|acknowledge?ments?\s*[:.—–]\s+\S)", re.IGNORECASE)
# a supplement bound in after the paper opens with its title ("Supplemental Material for: <the paper's title>"), a
# sentence about one ("Supplementary Information is linked to the online version") does not
_SUPPLEMENT = re.compile(r"^\W{0,3}(supplementa(l|ry) (materials?|information|data)|supporting information|electronic supplementary)\b",
                         re.IGNORECASE)
_SENTENCE_VERB = re.compile(r"\b(is|are|was|can|may|accompanies|available|contains?|provides?|see|online)\b", re.IGNORECASE)
_OPEN_END = re.compile(r"(,|\b(and|or|of|the|to|for|by|with|in|on|at|from|a|an))$")
KEYWORD_PAGES = 2  # keywords stand on the first pages
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
    role: str  # title, heading, abstract_heading, abstract, body, table, dropped


def keyword_list(text: str) -> list[str] | None:
    """The keywords a block gives ("Keywords: a, b", "Keywords a; b", or the list alone under such a heading: pass
    its text with "Keywords" before it), or None when it is no keyword list: short, separated by commas or
    semicolons, no sentence in it."""
    m = _KEYWORDS.match(text)
    listed = m.group(2) if m else (m2.group(2) if (m2 := _KEYWORDS_RUN_IN.match(text)) else None)
    if listed is None:
        return None
    if not listed.strip():
        return []  # a heading: its list is the next block
    if len(listed) >= 400 or not ("," in listed or ";" in listed or "·" in listed or "•" in listed) or _TWO_SENTENCES.search(listed):
        return None
    return [k.strip(" .") for k in re.split(r"[,;·•]", " ".join(listed.split())) if k.strip(" .")]


def _continues(previous: str, text: str) -> bool:
    """Whether `text` carries on a paragraph cut by a column or page break."""
    end = previous.rstrip()
    if not end or end[-1:] in ".!?:|" or CAPTION.match(previous) or CAPTION.match(text):
        return False
    return text[:1].islower() or (text[:1].isupper() and _OPEN_END.search(end) is not None)


def _heading_shape(b: PageBlock) -> bool:
    text = b.text
    return 1 <= len(text.split()) <= HEADING_WORDS and len(b.lines) <= 2 and not _SENTENCE.search(text) and bool(_WORD.search(text))


def _is_heading(b: PageBlock, body: float) -> bool:
    """A kept block set as a heading: short, no sentence, larger or bold type."""
    return _heading_shape(b) and (b.max_size >= HEADING_SIZE * body or b.bold >= 0.8)


def _says_heading(b: PageBlock) -> bool:
    """A dropped block that says it is a heading (numbered or a section name)."""
    return _heading_shape(b) and bool(_NUMBERED.match(b.text) or _NAMED.match(b.text))


def _opens_supplement(b: PageBlock) -> bool:
    """A supplement's title page heading, kept or dropped."""
    return (bool(_SUPPLEMENT.match(b.text)) and len(b.text.split()) <= 30 and len(b.lines) <= 3
            and not _SENTENCE_VERB.search(b.text) and not b.table)


def decide(blocks: list[PageBlock], probabilities, threshold: float = 0.5) -> list[Decision]:
    """Every block's role, in reading order."""
    body = body_size(blocks) or 10.0
    decisions = [Decision(b, float(p), "table" if b.table else "body" if p >= threshold else "dropped")
                 for b, p in zip(blocks, probabilities)]
    for i, d in enumerate(decisions):
        if d.block.page < KEYWORD_PAGES and not d.block.table and (words := keyword_list(d.block.text)) is not None:
            d.role = "keywords"
            if not words and i + 1 < len(decisions) and keyword_list("Keywords: " + decisions[i + 1].block.text):
                decisions[i + 1].role = "keywords"  # the list under a "Keywords" heading
    kept = [d for d in decisions if d.role not in ("dropped", "keywords")]
    first_page = [d for d in kept[:8] if d.block.page == 0 and d.role == "body"]
    if first_page:
        top = max(first_page, key=lambda d: d.block.max_size)
        if top.block.max_size >= TITLE_SIZE * body:
            top.role = "title"
    for d in kept:
        if d.role == "body" and _is_heading(d.block, body):
            d.role = "heading"
    for d in decisions:
        if (d.role == "dropped" and _says_heading(d.block)) or (d.role in ("dropped", "body") and _opens_supplement(d.block)):
            d.role = "heading"
    kept = [d for d in decisions if d.role not in ("dropped", "keywords")]
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


_SENTENCE_END = re.compile(r"[.!?:][\"')\]]?\s*$")


def _is_float(d: Decision) -> bool:
    return d.role == "table" or (d.role == "body" and bool(CAPTION.match(d.block.text)))


def _placed(decisions: list[Decision], caption_placement: str) -> list[Decision]:
    """The decisions with each float held back until the paragraph open where the page sets it has ended
    (`after_paragraph`), or as they are (`inline`)."""
    if caption_placement == "inline":
        return decisions
    out: list[Decision] = []
    held: list[Decision] = []
    open_paragraph = False
    for d in decisions:
        if d.role == "dropped":
            out.append(d)
            continue
        if _is_float(d) and (open_paragraph or held):
            held.append(d)
            continue
        out.append(d)
        if d.role in ("body", "abstract"):
            open_paragraph = not _SENTENCE_END.search(d.block.text)
        else:
            open_paragraph = False
        if not open_paragraph and held:
            out += held
            held = []
    return out + held


def paper_of(decisions: list[Decision], caption_placement: str = "inline") -> Paper:
    if caption_placement not in ("inline", "after_paragraph"):
        raise ValueError(f"caption_placement must be inline or after_paragraph, not {caption_placement!r}")
    paper = Paper()
    section: Section | None = None
    kind = "body"  # the open section's kind
    last_body = None  # the section whose last paragraph is text of the body (not a caption, table or heading)
    for d in _placed(decisions, caption_placement):
        text = d.block.text
        if d.role == "dropped":
            continue
        if d.role in ("body", "table") and section is not None and _ends_back_matter(kind, d):
            section, kind = None, "body"
        if d.role == "keywords":
            listed = keyword_list(text) if _KEYWORDS.match(text) or _KEYWORDS_RUN_IN.match(text) else None
            paper.keywords += listed if listed is not None else (keyword_list("Keywords: " + text) or [])
        elif d.role == "body" and kind not in DROPPED_KINDS and _ACKNOWLEDGEMENT.match(text):
            section, kind = Section(title="", paragraphs=[text], kind="acknowledgements"), "acknowledgements"
            paper.sections.append(section)
            last_body = section
        elif d.role == "title":
            paper.title = text if paper.title is None else paper.title + " " + text
        elif d.role == "abstract":
            paper.abstract.append(_ABSTRACT_RUN_IN.sub("", text))
        elif d.role == "heading":
            kind = section_kind(text)
            section = Section(title=text, paragraphs=[], kind=kind)
            paper.sections.append(section)
            last_body = None
        elif d.role in ("body", "table"):
            if section is None:
                section = Section(title="", paragraphs=[])
                paper.sections.append(section)
            if d.role == "table" and section.paragraphs and TABLE_CAPTION.match(section.paragraphs[-1]):
                section.paragraphs[-1] += "\n" + text  # the body follows its caption, as the XML and LaTeX readers write it
            elif d.role == "body" and last_body is section and section.paragraphs and _continues(section.paragraphs[-1], text):
                section.paragraphs[-1] += " " + text
            else:
                section.paragraphs.append(text)
            last_body = section if d.role == "body" and not CAPTION.match(text) else None
    return paper
