"""JATS XML (Springer Nature, PMC, Hindawi, MDPI, ...), bare or inside a publisher API envelope.

front -> title, abstract, keywords, journal, publisher, DOI, year, licence; body <sec> -> sections
in order (nested ones follow their parent); <fig>/<table-wrap> -> captions (table bodies by
option); back -> acknowledgements, references, appendices and declarations, typed so the policy
drops them. Inline: <sub>/<sup> join their neighbours, <xref ref-type="bibr"> and "fig" become
markers in llamat mode; formulas become LaTeX (<tex-math> as it is, MathML converted): `$..$` inline,
`$$..$$` for <disp-formula>, [TEX]..[/TEX] in llamat mode.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from corpus.papers.model import Paper, Section, section_kind
from corpus.papers.reader import PaperReader
from corpus.papers.xml import (
    InlineRenderer,
    bib_label,
    child,
    children,
    descendant,
    descendants,
    first_of,
    jats_licence,
    licence_name,
    local,
    parse_untrusted_xml,
    plain_text,
    table_text,
    year_of,
)
from corpus.readers.base import Failure

_BLOCKS = ("p", "list", "disp-formula", "disp-quote", "statement", "def-list", "boxed-text", "verse-group", "speech")
_FLOATS = ("fig", "fig-group", "table-wrap", "table-wrap-group", "supplementary-material", "graphic", "media")


class JatsInline(InlineRenderer):
    def kind(self, elem: Element) -> str | None:
        name = local(elem.tag)
        if name == "xref":
            ref_type = elem.get("ref-type")
            return "bib" if ref_type == "bibr" else "fig" if ref_type in ("fig", "table") else None
        if name in ("inline-formula", "disp-formula"):
            return "math"
        if name in _FLOATS or name in ("label", "alt-text", "fn"):
            return "skip"
        if name == "break":
            return "break"
        return None

    def target(self, elem: Element) -> str:
        return (elem.get("rid") or "").split()[0] if elem.get("rid") else ""

    def tex(self, elem: Element) -> str | None:
        t = descendant(elem, "tex-math")
        return plain_text(t) if t is not None else None


def _references(article: Element) -> dict[str, str]:
    out = {}
    for ref in descendants(child(article, "back"), "ref"):
        cit = descendant(ref, "mixed-citation", "element-citation", "citation")
        if cit is None or not ref.get("id"):
            continue
        title = first_of(descendant(cit, "article-title", "chapter-title"), descendant(cit, "source"))
        surname = first_of(descendant(cit, "surname"), descendant(cit, "collab"))
        if title is not None:
            out[ref.get("id")] = bib_label(plain_text(title), plain_text(surname) or None)
    return out


class JatsReader(PaperReader):
    name = "📰 JATS"
    source_format = "jats"
    default_globs = ("*.xml", "*.nxml")

    def _caption(self, fig: Element, inline: JatsInline) -> str:
        label = plain_text(child(fig, "label"))
        cap = child(fig, "caption")
        text = " ".join(filter(None, [inline.text(child(cap, "title"))] + [inline.text(p) for p in children(cap, "p")])) if cap is not None else ""
        return " ".join(filter(None, [label, text]))

    def _blocks(self, elem: Element, inline: JatsInline) -> list[str]:
        out = []
        for c in elem:
            name = local(c.tag)
            if name in _BLOCKS:
                if name == "list":
                    out += [inline.text(item) for item in descendants(c, "list-item")]
                elif name == "disp-formula":
                    out.append(inline.math(c).strip())
                else:
                    out.append(inline.text(c))
        return [p for p in out if p]

    def _sections(self, elem: Element, inline: JatsInline, level: int, kind: str | None = None) -> list[Section]:
        out = []
        for sec in children(elem, "sec", "app", "ack", "notes", "fn-group", "glossary"):
            name = local(sec.tag)
            title = inline.text(child(sec, "title"))
            sec_kind = kind or {"ack": "acknowledgements", "app": "appendix", "glossary": "abbreviations"}.get(name)
            if sec_kind is None and name in ("notes", "fn-group"):
                sec_kind = section_kind(title) if title else "back_matter"
            paragraphs = self._blocks(sec, inline)
            if name == "fn-group":
                paragraphs = [inline.text(p) for p in descendants(sec, "p")]
            out.append(Section(title, paragraphs, level, sec_kind))
            out += self._sections(sec, inline, level + 1, sec_kind)
        return out

    def read_paper(self, data: bytes, filepath: str) -> Paper | Failure:
        root = parse_untrusted_xml(data)
        if isinstance(root, Failure):
            return root
        article = root if local(root.tag) == "article" else descendant(root, "article")
        if article is None:
            return Failure("not_jats", f"no <article> element (root is <{local(root.tag)}>)")
        front, body, back = child(article, "front"), child(article, "body"), child(article, "back")
        meta = child(front, "article-meta")
        journal = child(front, "journal-meta")

        figs = {}
        inline = JatsInline(self.options.markers, _references(article), figs)
        captions = []
        for fig in descendants(body, "fig", "table-wrap"):
            cap = self._caption(fig, inline)
            if fig.get("id") and cap:
                figs[fig.get("id")] = cap
            if cap:
                captions.append(cap)
            if local(fig.tag) == "table-wrap" and self.options.keep_tables and (table := table_text(fig, "tr", ("td", "th"))):
                captions.append(table)

        abstracts = [a for a in descendants(meta, "abstract") if a.get("abstract-type") in (None, "summary", "author")]
        abstract = [inline.text(p) for a in abstracts[:1] for p in descendants(a, "p")]
        sections = []
        if body is not None:
            loose = self._blocks(body, inline)  # paragraphs directly in <body>, before any <sec>
            if loose:
                sections.append(Section("", loose, 1, "body"))
            sections += self._sections(body, inline, 1)
        if back is not None:
            back_sections = self._sections(back, inline, 1)
            for sec in back_sections:
                if sec.kind is None:
                    kind = section_kind(sec.title)
                    sec.kind = "back_matter" if kind == "body" else kind
            sections += back_sections
            for reflist in children(back, "ref-list"):
                sections.append(Section(plain_text(child(reflist, "title")) or "References", [], 1, "references"))

        doi = next((plain_text(i) for i in descendants(meta, "article-id") if i.get("pub-id-type") == "doi"), None)
        licence_value = jats_licence(meta)
        pub_date = next(iter(descendants(meta, "pub-date")), None)
        return Paper(
            title=inline.text(descendant(meta, "article-title")) or None,
            abstract=[p for p in abstract if p],
            sections=sections,
            captions=captions,
            keywords=[plain_text(k) for k in descendants(meta, "kwd")],
            metadata={
                "doi": doi,
                "journal": plain_text(descendant(journal, "journal-title")) or None,
                "publisher": plain_text(descendant(journal, "publisher-name")) or None,
                "year": year_of(plain_text(child(pub_date, "year"))) if pub_date is not None else None,
                "licence": licence_name(licence_value),
            },
        )
