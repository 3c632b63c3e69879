"""Untrusted XML, parsed safely, and the inline rendering shared by the XML paper readers.

Parsing goes through defusedxml with every entity declaration forbidden (no billion laughs, no
external entities, no network). Two harmless things publishers do would otherwise be refused,
so they are handled before parsing, and only in their exact harmless form:
- an API envelope whose DOCTYPE only declares external DTDs as parameter entities (Springer's
  `<!ENTITY % article SYSTEM "...JATS-archivearticle1.dtd">`), which a non-validating parser
  never loads: that DOCTYPE is removed;
- HTML named entities (`&nbsp;`, `&alpha;`) that a DTD would define: they become numeric references.
"""

from __future__ import annotations

import html.entities
import re
from typing import Iterator
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as SafeET

from corpus.papers.maths import mathml_to_latex, publisher_tex
from corpus.papers.model import inline_text, markdown_table
from corpus.records import Failure

_SAFE_DOCTYPE = re.compile(
    rb"<!DOCTYPE\s+[\w:.-]+\s*\[\s*(?:<!ENTITY\s+%\s+[\w.-]+\s+(?:SYSTEM\s+\"[^\"<>]*\"|PUBLIC\s+\"[^\"<>]*\"\s+\"[^\"<>]*\")\s*>\s*)*\]\s*>"
)
_NAMED_ENTITY = re.compile(rb"&([A-Za-z][A-Za-z0-9]{1,31});")
_XML_ENTITIES = {b"amp", b"lt", b"gt", b"quot", b"apos"}
_SPACE = re.compile(r"\s+")


def _numeric_entity(m: re.Match) -> bytes:
    name = m.group(1)
    if name in _XML_ENTITIES:
        return m.group(0)
    cp = html.entities.name2codepoint.get(name.decode())
    return f"&#{cp};".encode() if cp else m.group(0)


def parse_untrusted_xml(data: bytes) -> Element | Failure:
    """The root element, or a Failure naming why the XML was refused."""
    head, rest = data[:65536], data[65536:]
    head = _SAFE_DOCTYPE.sub(b"", head, count=1)
    data = _NAMED_ENTITY.sub(_numeric_entity, head + rest)
    try:
        return SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except defusedxml.EntitiesForbidden as e:
        return Failure("xml_entities_forbidden", f"entity declarations are refused (entity expansion / XXE): {e}")
    except (defusedxml.ExternalReferenceForbidden, defusedxml.DTDForbidden) as e:
        return Failure("xml_external_reference", f"external references are refused: {e}")
    except ParseError as e:
        return Failure("invalid_xml", str(e))


def local(tag) -> str:
    """`{namespace}name` -> `name` (comments and processing instructions have no string tag)."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def children(elem: Element, *names: str) -> Iterator[Element]:
    return (c for c in elem if local(c.tag) in names)


def child(elem: Element | None, *names: str) -> Element | None:
    if elem is None:
        return None
    return next(children(elem, *names), None)


def descendant(elem: Element | None, *names: str) -> Element | None:
    if elem is None:
        return None
    return next((e for e in elem.iter() if local(e.tag) in names), None)


def first_of(*elems: Element | None) -> Element | None:
    """The first element that exists (an Element with no children is falsy, so `a or b` is wrong)."""
    return next((e for e in elems if e is not None), None)


def descendants(elem: Element | None, *names: str) -> Iterator[Element]:
    if elem is None:
        return iter(())
    return (e for e in elem.iter() if local(e.tag) in names)


def squash(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def plain_text(elem: Element | None) -> str:
    return squash("".join(elem.itertext())) if elem is not None else ""


class InlineRenderer:
    """Mixed content -> one line of text. Subclasses say which elements are citations, figure
    references, maths, line breaks, or to be skipped; sub/superscripts join their neighbours with
    no space, so `Li<sub>2</sub>O` is `Li2O`.

    Args:
        markers: "plain" keeps citations and figure references as printed; "llamat" renders
            [BIB_REF]title, by author[/BIB_REF], [FIG_REF]caption[/FIG_REF] and [TEX]..[/TEX]
        bib: id -> "title, by author" for citations
        figs: id -> caption for figure references
    """

    def __init__(self, markers: str = "plain", bib: dict[str, str] | None = None, figs: dict[str, str] | None = None):
        self.markers = markers
        self.bib = bib if bib is not None else {}
        self.figs = figs if figs is not None else {}  # filled by the reader as it meets the figures

    # --- what subclasses decide -------------------------------------------------------------
    def kind(self, elem: Element) -> str | None:
        """One of: "bib", "fig", "math", "skip", "break"; None renders the children as text."""
        return None

    def target(self, elem: Element) -> str:
        """The id a citation or figure reference points to."""
        return ""

    def tex(self, elem: Element) -> str | None:
        """The TeX of a maths element when the format carries it."""
        return None

    def display(self, elem: Element) -> bool:
        """Whether a maths element is a display formula (its own line) rather than inline."""
        return local(elem.tag) in ("disp-formula", "display") or any(
            local(m.tag) == "math" and m.get("display") == "block" for m in elem.iter())

    def math(self, elem: Element) -> str:
        """A formula as LaTeX: the TeX the format carries, else its MathML converted; `$..$` inline and ` $$..$$ `
        display (`[TEX]..[/TEX]` with llamat markers). A formula with neither (GROBID's text, an image) keeps its
        text with spaces round it, or a `[FORMULA]` placeholder: never silently gone, never glued to the words
        beside it."""
        tex = self.tex(elem)
        if not tex:
            mathml = next((m for m in elem.iter() if local(m.tag) == "math"), None)
            try:
                tex = mathml_to_latex(mathml) if mathml is not None else None
            except RecursionError:  # MathML nested thousands deep (hostile): the formula keeps its text, the paper stays
                tex = None
        display = self.display(elem)
        if tex:
            tex = publisher_tex(tex, display)
            if self.markers == "llamat":
                return f" [TEX]{tex}[/TEX] "
            return f" $${tex}$$ " if display else f"${tex}$"
        text = plain_text(elem)
        if self.markers == "llamat" and text:
            return f" [TEX]{text}[/TEX] "
        return f" {text} " if text else " [FORMULA] "

    # --- rendering --------------------------------------------------------------------------
    def _render(self, elem: Element, out: list[str]) -> None:
        if elem.text:
            out.append(elem.text)
        for c in elem:
            kind = self.kind(c)
            if kind == "skip":
                pass
            elif kind == "break":
                out.append("\n")
            elif kind == "bib" and self.markers == "llamat" and (ref := self.bib.get(self.target(c))):
                out.append(f"[BIB_REF]{ref}[/BIB_REF]")
            elif kind == "fig" and self.markers == "llamat" and (cap := self.figs.get(self.target(c))):
                out.append(f"[FIG_REF]{cap}[/FIG_REF]")
            elif kind == "math":
                out.append(self.math(c))
            else:
                self._render(c, out)
            if c.tail:
                out.append(c.tail)

    def text(self, elem: Element | None, keep_lines: bool = False) -> str:
        if elem is None:
            return ""
        out: list[str] = []
        self._render(elem, out)
        raw = "".join(out)
        if keep_lines:
            return "\n".join(inline_text(line) for line in raw.split("\n") if line.strip())
        return inline_text(raw)


_LICENCES = [
    (r"creativecommons\.org/licenses/by/(\d\.\d)", "CC BY {}"),
    (r"creativecommons\.org/licenses/by-sa/(\d\.\d)", "CC BY-SA {}"),
    (r"creativecommons\.org/licenses/by-nc/(\d\.\d)", "CC BY-NC {}"),
    (r"creativecommons\.org/licenses/by-nc-sa/(\d\.\d)", "CC BY-NC-SA {}"),
    (r"creativecommons\.org/licenses/by-nc-nd/(\d\.\d)", "CC BY-NC-ND {}"),
    (r"creativecommons\.org/licenses/by-nd/(\d\.\d)", "CC BY-ND {}"),
    (r"creativecommons\.org/publicdomain/zero/(\d\.\d)", "CC0 {}"),
]


def jats_licence(meta: Element | None) -> str | None:
    """The licence a JATS <article-meta> states: its <license>'s xlink:href, else its <ali:license_ref>, else its text."""
    licence = descendant(meta, "license") if meta is not None else None
    if licence is None:
        return None
    href = next((v for k, v in licence.attrib.items() if local(k) == "href"), None)
    return href or plain_text(descendant(licence, "license_ref")) or plain_text(licence) or None


def licence_name(value: str | None) -> str | None:
    """A licence URL or statement -> a short name (`CC BY 4.0`); the value itself when unknown."""
    if not value:
        return None
    for pattern, name in _LICENCES:
        if m := re.search(pattern, value, re.IGNORECASE):
            return name.format(m.group(1))
    m = re.search(r"\bCC[ -]BY(?:[ -](?:NC|SA|ND))*(?:[ -]\d\.\d)?", value, re.IGNORECASE)
    return m.group(0).upper().replace("-", " ") if m else squash(value)[:200]


def year_of(value: str | None) -> int | None:
    m = re.search(r"\b(1[89]\d\d|20\d\d)\b", value or "")
    return int(m.group(1)) if m else None


def table_text(table: Element, row: str, cells: tuple[str, ...] | None = None) -> str:
    """A table body as a Markdown table, one row per `row` element (kept only with keep_tables)."""
    return markdown_table([[plain_text(c) for c in r if cells is None or local(c.tag) in cells] for r in descendants(table, row)])


def bib_label(title: str, first_author: str | None) -> str:
    title = squash(title).rstrip(".")
    return f"{title}, by {first_author}" if first_author else title
