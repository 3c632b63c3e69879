"""TEI: GROBID's output (namespaced `TEI`), GROBID's training format and SuperMat's (bare `tei`).

teiHeader -> title (titleStmt), DOI (idno type=DOI), licence (availability/licence), abstract
(profileDesc/abstract), keywords; text/body/div -> sections (head + p/formula/list), figure ->
captions (head, label, figDesc; table bodies by option); back -> acknowledgement, annex and
references typed for the section policy. Paragraphs directly under <text> or <body> (training
and SuperMat files) form an untitled section. <lb/> is a line break; a word split by a hyphen
at a line break ("sul-<lb/>fur") is joined.
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element

from corpus.papers.model import Paper, Section, section_kind
from corpus.papers.reader import PaperOptions, PaperReader
from corpus.papers.xml import (
    InlineRenderer,
    bib_label,
    child,
    children,
    descendant,
    descendants,
    first_of,
    licence_name,
    local,
    parse_untrusted_xml,
    plain_text,
    squash,
    table_text,
    year_of,
)
from corpus.readers.base import Failure

_HYPHEN_BREAK = re.compile(r"(\w)-\n(?=[a-z])")


class TeiInline(InlineRenderer):
    def kind(self, elem: Element) -> str | None:
        name = local(elem.tag)
        if name == "ref":
            t = elem.get("type")
            return "bib" if t in ("bibr", "biblio") else "fig" if t in ("figure", "table") else None
        if name == "formula":
            return "math"
        if name in ("figure", "note", "label", "pb", "fw"):
            return "skip"
        if name == "lb":
            return "break"
        return None

    def target(self, elem: Element) -> str:
        return (elem.get("target") or "").lstrip("#").split()[0] if elem.get("target") else ""

    def text(self, elem: Element | None, keep_lines: bool = False) -> str:
        if elem is None:
            return ""
        out: list[str] = []
        self._render(elem, out)
        raw = _HYPHEN_BREAK.sub(r"\1", "".join(out))  # "sul-\nfur" -> "sulfur"
        return squash(raw)


class TeiParser:
    """TEI bytes -> Paper, with the paper reader options (markers, tables); shared with the GROBID path."""

    def __init__(self, options: PaperOptions):
        self.options = options

    def _blocks(self, div: Element, inline: TeiInline, heads: bool = False) -> list[str]:
        out = []
        for c in div:
            name = local(c.tag)
            if name in ("p", "formula", "ab", "quote") or (heads and name == "head"):
                out.append(inline.text(c))
            elif name == "list":
                out += [inline.text(i) for i in children(c, "item")]
        return [p for p in out if p]

    def _caption(self, fig: Element, inline: TeiInline) -> str:
        parts = [inline.text(child(fig, "head")), inline.text(child(fig, "label")), inline.text(child(fig, "figDesc"))]
        seen, out = set(), []
        for p in parts:
            if p and p not in seen:
                seen.add(p)
                out.append(p)
        return " ".join(out)

    def parse(self, data: bytes) -> Paper | Failure:
        root = parse_untrusted_xml(data)
        if isinstance(root, Failure):
            return root
        if local(root.tag).lower() != "tei":
            return Failure("not_tei", f"root is <{local(root.tag)}>, not <TEI>")
        header = child(root, "teiHeader")
        text = child(root, "text")
        body = child(text, "body")
        back = child(text, "back")

        bib = {}
        for b in descendants(back, "biblStruct"):
            xml_id = next((v for k, v in b.attrib.items() if local(k) == "id"), None)
            title = first_of(descendant(child(b, "analytic"), "title"), descendant(b, "title"))
            surname = descendant(b, "surname")
            if xml_id and title is not None and plain_text(title):
                bib[xml_id] = bib_label(plain_text(title), plain_text(surname) or None)
        figs: dict[str, str] = {}
        inline = TeiInline(self.options.markers, bib, figs)
        captions = []
        for fig in descendants(text, "figure"):
            cap = self._caption(fig, inline)
            fig_id = next((v for k, v in fig.attrib.items() if local(k) == "id"), None)
            if fig_id and cap:
                figs[fig_id] = cap
            if cap:
                captions.append(cap)
            if fig.get("type") == "table" and self.options.keep_tables and (table := table_text(fig, "row")):
                captions.append(table)

        sections: list[Section] = []
        container = body if body is not None else text
        if container is not None:
            loose = self._blocks(container, inline, heads=True)  # training files put <head> between paragraphs
            if loose:
                sections.append(Section("", loose, 1, "body"))
            # a bare <head> in training files starts a titled run of paragraphs
            for div in children(container, "div"):
                sections.append(Section(inline.text(child(div, "head")), self._blocks(div, inline), 1, None))
        for div in children(back, "div") if back is not None else ():
            dtype = (div.get("type") or "").lower()
            title = inline.text(child(div, "head"))
            kind = {"acknowledgement": "acknowledgements", "acknowledgements": "acknowledgements", "references": "references",
                    "funding": "funding", "availability": "data_availability", "contribution": "author_contributions"}.get(dtype)
            if kind is None:
                kind = section_kind(title) if title else ("appendix" if dtype == "annex" else "back_matter")
                if kind == "body":
                    kind = "appendix" if dtype == "annex" else "back_matter"
            paragraphs = self._blocks(div, inline) + [p for sub in children(div, "div") for p in self._blocks(sub, inline)]
            sections.append(Section(title or dtype, paragraphs, 1, kind))

        file_desc = child(header, "fileDesc")
        title_stmt = child(file_desc, "titleStmt")
        titles = list(children(title_stmt, "title")) if title_stmt is not None else []
        main = next((t for t in titles if t.get("type") == "main"), titles[0] if titles else None)
        doi = next((plain_text(i) for i in descendants(file_desc, "idno") if (i.get("type") or "").upper() == "DOI"), None)
        licence = descendant(file_desc, "licence")
        licence_value = (licence.get("target") or plain_text(licence)) if licence is not None else None
        abstract_el = descendant(child(header, "profileDesc"), "abstract")
        date = descendant(child(file_desc, "publicationStmt"), "date")
        return Paper(
            title=inline.text(main) or None,
            abstract=[inline.text(p) for p in descendants(abstract_el, "p")] if abstract_el is not None else [],
            sections=sections,
            captions=captions,
            keywords=[plain_text(t) for t in descendants(child(header, "profileDesc"), "term")],
            metadata={
                "doi": doi,
                "journal": plain_text(child(descendant(file_desc, "monogr"), "title")) or None,
                "publisher": plain_text(descendant(child(file_desc, "publicationStmt"), "publisher")) or None,
                "year": year_of((date.get("when") or plain_text(date)) if date is not None else None),
                "licence": licence_name(licence_value),
            },
        )


class TeiReader(PaperReader):
    name = "📜 TEI"
    source_format = "tei"
    default_globs = ("*.tei.xml", "*.tei")

    def read_paper(self, data: bytes, filepath: str) -> Paper | Failure:
        return TeiParser(self.options).parse(data)
