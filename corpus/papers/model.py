"""A paper as every paper reader sees it, before it becomes a training document.

Readers of different formats (JATS, Elsevier XML, TEI, PDF) all produce a `Paper`: title,
abstract, sections in reading order (back matter included, so the policy can decide), captions,
keywords and metadata. `SectionPolicy` then decides what is kept and renders the text, so
"drop the references, keep the captions" means the same thing whatever the format was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


def inline_text(text: str) -> str:
    """Running text as every reader renders it: whitespace squashed to single spaces, and no space before closing
    punctuation, which a removed or re-spaced inline element (a citation, a formula) leaves ("Table 1 .")."""
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"(?<=\S) +(?=[.,;:!?)\]](?:\s|$))", "", text)


def markdown_table(rows: list[list[str]]) -> str:
    """Rows of cell texts -> a Markdown table (the first row as its header), as every reader writes a table body:
    short rows padded to the widest, "|" in a cell escaped, empty rows left out."""
    rows = [[inline_text(c).replace("|", "\\|") for c in r] for r in rows]
    rows = [r for r in rows if any(r)]
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * width] + ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def markdown_tables(text: str) -> list[list[list[str]]]:
    """The Markdown tables in a text (as `markdown_table` writes them) back as rows of cells, header row first."""
    tables, rows = [], []
    for line in text.split("\n") + [""]:
        if line.startswith("| ") and line.endswith("|"):
            if not re.fullmatch(r"\|(?:---\|)+", line):
                rows.append([c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line[1:-1])])
        elif line.startswith("|---"):
            continue
        elif rows:
            tables.append(rows)
            rows = []
    return tables


@dataclass
class Section:
    title: str
    paragraphs: list[str]
    level: int = 1
    kind: str | None = None  # set by the reader when the format says it (e.g. JATS <ack>, <ref-list>); else from the title


@dataclass
class Paper:
    title: str | None = None
    abstract: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)  # doi, title, journal, publisher, year, licence, source_format


# What a section is, from its title. Numbering ("3.", "IV.", "A.") is stripped first.
_KINDS = [
    ("references", r"references?( and notes)?|bibliography|literature( cited)?|works cited|cited literature"),
    # "Other Contributions": the people who helped and are not authors (LiveCoMS's template), an acknowledgement
    ("acknowledgements", r"acknowledge?ments?|acknowledge?ment of funding|(other|additional|further) contributions?"),
    ("funding", r"funding( information| sources| statement)?|financial support|grant information"),
    ("author_contributions", r"(credit )?(authors?'? ?|authorship )contributions?( statement)?|contributions"),
    ("competing_interests", r"(declaration of )?(competing|conflicts? of) interests?( statement)?|conflicts? of interest|competing financial interests?|(potentially )?conflicting interests?|disclosures?"),
    ("licence", r"(open access|copyright|licen[cs]e|rights and permissions|publisher'?s note|additional information)"),
    ("data_availability", r"(data|code|materials?)( and (code|data|materials?))? availability( statement)?|availability of data( and materials?)?"),
    ("ethics", r"ethics( approval| declarations?| statement)?( and consent (for|to) (publication|participate))?|consent (for|to) (publication|participate)|ethical (approval|statement|standards)"),
    ("supplementary", r"(supplementa(l|ry) (materials?|information|data)|supporting information|electronic supplementary material)( (for|to|of) .*)?"),
    ("appendix", r"appendi(x|ces)\b.*"),
    ("abbreviations", r"abbreviations|nomenclature|list of (symbols|abbreviations)"),
    ("author_information", r"author(s)? information|about the authors?|biograph(y|ies)"),
]
_KIND_PATTERNS = [(kind, re.compile(rf"^(?:{pattern})$")) for kind, pattern in _KINDS]
_NUMBERING = re.compile(r"^\s*(?:[0-9]+(?:\.[0-9]+)*\.?|[ivxlc]+\.|[a-z]\.|[a-z]\))\s+", re.IGNORECASE)

# back_matter: a section the format places after the body that no pattern recognises
DROPPED_KINDS = frozenset(k for k, _ in _KINDS) - {"appendix"} | {"back_matter"}


def section_kind(title: str) -> str:
    norm = _NUMBERING.sub("", title.strip()).lower().replace("\u2019", "'").rstrip(":. ")
    norm = re.sub(r"\s+", " ", norm)
    for kind, pattern in _KIND_PATTERNS:
        if pattern.match(norm):
            return kind
    return "body"


class SectionPolicy:
    """Keeps title, abstract, body sections and captions; drops back matter; appendices by option.

    `render` returns the text and the section spans (name, kind, start, end in characters) that
    go into the document's metadata, plus the names of the dropped sections.
    """

    def __init__(self, keep_appendices: bool = False, keep_keywords: bool = False):
        self.keep_appendices = keep_appendices
        self.keep_keywords = keep_keywords

    def keeps(self, kind: str) -> bool:
        if kind == "appendix":
            return self.keep_appendices
        return kind not in DROPPED_KINDS

    def render(self, paper: Paper) -> tuple[str, list[dict], list[str]]:
        parts: list[str] = []
        spans: list[dict] = []
        dropped: list[str] = []
        offset = 0

        def add(name: str, kind: str, text: str) -> None:
            nonlocal offset
            text = text.strip()
            if not text:
                return
            if parts:
                offset += 2  # the blank line between blocks
            spans.append({"name": name, "kind": kind, "start": offset, "end": offset + len(text)})
            parts.append(text)
            offset += len(text)

        if paper.title:
            add("title", "title", paper.title)
        if paper.abstract:
            add("abstract", "abstract", "\n".join(paper.abstract))
        if self.keep_keywords and paper.keywords:
            add("keywords", "keywords", "Keywords: " + ", ".join(paper.keywords))
        for sec in paper.sections:
            kind = sec.kind or section_kind(sec.title)
            if not self.keeps(kind):
                dropped.append(sec.title or kind)
                continue
            body = "\n".join(p for p in sec.paragraphs if p.strip())
            add(sec.title or "body", kind, "\n".join(filter(None, [sec.title, body])))
        if paper.captions:
            add("captions", "captions", "\n".join(paper.captions))
        return "\n\n".join(parts), spans, dropped
