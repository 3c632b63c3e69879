"""Elsevier full-text API XML (`full-text-retrieval-response`), the format of most of LLaMat's corpus.

coredata -> DOI (prism:doi), title (dc:title), abstract fallback (dc:description), journal
(prism:publicationName), year (prism:coverDate), publisher, open-access licence
(openaccessUserLicense); originalText/xocs:doc -> the article: ce:title, ce:abstract,
ce:keywords, ce:sections (nested ce:section with ce:section-title and ce:para), ce:figure and
ce:table captions, and the tail: ce:acknowledgment, ce:bibliography, ce:appendices. The
xocs:meta block (item-toc, references list of ids) is never read as text. Inline: ce:inf/ce:sup
join, ce:cross-ref to a bib-reference is a citation, to a figure a figure reference, and
mml:math is maths, as LaTeX (corpus/papers/maths.py): `$..$` inline, `$$..$$` for a ce:display formula.
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
    licence_name,
    local,
    parse_untrusted_xml,
    plain_text,
    table_text,
    year_of,
)
from corpus.readers.base import Failure


class ElsevierInline(InlineRenderer):
    def kind(self, elem: Element) -> str | None:
        name = local(elem.tag)
        if name in ("cross-ref", "cross-refs"):
            target = self.target(elem)
            return "bib" if target in self.bib else "fig" if target in self.figs else None
        if name in ("math", "formula"):
            return "math"
        if name == "display":  # a display formula inside a paragraph is maths; a displayed figure or table is a float
            return "math" if descendant(elem, "formula", "math") is not None else "skip"
        if name in ("float-anchor", "figure", "table", "label", "footnote", "inline-figure"):
            return "skip"
        if name == "br":
            return "break"
        return None

    def target(self, elem: Element) -> str:
        return (elem.get("refid") or "").split()[0] if elem.get("refid") else ""


class ElsevierReader(PaperReader):
    name = "📰 Elsevier"
    source_format = "elsevier"
    default_globs = ("*.xml",)

    def _paras(self, elem: Element, inline: ElsevierInline) -> list[str]:
        out = []
        for c in elem:
            name = local(c.tag)
            if name in ("para", "simple-para"):
                out.append(inline.text(c))
            elif name == "list":
                out += [inline.text(i) for i in descendants(c, "list-item")]
            elif name == "display":
                out += [inline.math(c).strip()] if descendant(c, "formula", "math") is not None else []
        return [p for p in out if p]

    def _sections(self, elem: Element, inline: ElsevierInline, level: int, kind: str | None = None) -> list[Section]:
        out = []
        for sec in children(elem, "section"):
            title = inline.text(child(sec, "section-title"))
            out.append(Section(title, self._paras(sec, inline), level, kind))
            out += self._sections(sec, inline, level + 1, kind)
        return out

    def _caption(self, fig: Element, inline: ElsevierInline) -> str:
        label = plain_text(child(fig, "label"))
        cap = child(fig, "caption")
        return " ".join(filter(None, [label, " ".join(self._paras(cap, inline)) if cap is not None else ""]))

    def read_paper(self, data: bytes, filepath: str) -> Paper | Failure:
        root = parse_untrusted_xml(data)
        if isinstance(root, Failure):
            return root
        core = descendant(root, "coredata")
        doc = descendant(root, "doc")  # xocs:doc
        if core is None and doc is None:
            return Failure("not_elsevier", f"no coredata or xocs:doc (root is <{local(root.tag)}>)")
        article = None
        if doc is not None:
            article = next((e for e in doc.iter() if local(e.tag) in ("article", "simple-article", "converted-article")), None)
        head = child(article, "head")
        body = child(article, "body")
        tail = child(article, "tail")

        bib = {}
        for ref in descendants(tail, "bib-reference"):
            title = first_of(descendant(ref, "maintitle"), descendant(ref, "textref"), descendant(ref, "source-text"))
            surname = first_of(descendant(ref, "surname"), descendant(ref, "collaboration"))
            if ref.get("id") and title is not None:
                bib[ref.get("id")] = bib_label(plain_text(title), plain_text(surname) or None)
        figs: dict[str, str] = {}
        inline = ElsevierInline(self.options.markers, bib, figs)
        captions = []
        for fig in descendants(article, "figure", "table"):
            cap = self._caption(fig, inline)
            if fig.get("id") and cap:
                figs[fig.get("id")] = cap
            if cap:
                captions.append(cap)
            if local(fig.tag) == "table" and self.options.keep_tables and (table := table_text(fig, "row", ("entry",))):
                captions.append(table)

        abstract = []
        for ab in descendants(head, "abstract"):
            if ab.get("class") in (None, "author"):
                abstract = [inline.text(p) for p in descendants(ab, "simple-para", "para")]
                break
        if not abstract and core is not None:
            desc = plain_text(child(core, "description"))
            abstract = [desc.removeprefix("Abstract").strip()] if desc else []

        body_sections = child(body, "sections")
        sections = self._sections(body_sections, inline, 1) if body_sections is not None else []
        for ack in descendants(article, "acknowledgment"):  # in real files often in the body, after ce:sections
            sections.append(Section(plain_text(child(ack, "section-title")) or "Acknowledgements", self._paras(ack, inline), 1, "acknowledgements"))
        for apps in descendants(tail, "appendices"):
            sections += self._sections(apps, inline, 1, "appendix")
        for extra in children(tail, "section") if tail is not None else ():
            title = plain_text(child(extra, "section-title"))
            kind = section_kind(title)
            sections.append(Section(title, self._paras(extra, inline), 1, "back_matter" if kind == "body" else kind))
        if descendant(tail, "bibliography") is not None:
            sections.append(Section("References", [], 1, "references"))

        title = inline.text(descendant(head, "title")) if head is not None else ""
        return Paper(
            title=title or plain_text(child(core, "title")) or None,
            abstract=[p for p in abstract if p],
            sections=sections,
            captions=captions,
            keywords=[plain_text(child(k, "text")) or plain_text(k) for k in descendants(head, "keyword")],
            metadata={
                "doi": plain_text(child(core, "doi")) or None,
                "journal": plain_text(child(core, "publicationName")) or None,
                "publisher": plain_text(child(core, "publisher")) or "Elsevier",
                "year": year_of(plain_text(child(core, "coverDate"))),
                "licence": licence_name(plain_text(child(core, "openaccessUserLicense"))),
                "open_access": plain_text(child(core, "openaccess")) in ("1", "true"),
            },
        )
