"""LaTeX -> `Paper` through pandoc's LaTeX reader, with the maths kept as LaTeX.

pandoc (the binary inside the `pypandoc-binary` wheel: nothing to install, nothing downloaded) parses the
flattened source into its JSON AST: it expands the paper's own `\\newcommand`/`\\def` macros (inside maths
too), knows siunitx (`\\SI{300}{\\kelvin}` -> "300 K"), REVTeX/achemso environments, figures, tables and
cross-references (`\\ref` -> the number). It runs with `--sandbox` (it reads no file; `latex_source` has
already spliced the inputs in), a heap limit and a timeout, so a hostile source (an endless macro, a
recursion) ends as a failure. Measured against pylatexenc and a regex detex on the 10 real sources in
BENCHMARKS.md ("LaTeX reader").

The AST is walked here into the shared `Paper` model, so the section policy drops references,
acknowledgements and back matter as for every other format:
- title and abstract from pandoc's metadata; `\\section`s and below become sections with their level;
  sections after `\\appendix` are typed `appendix`; `acknowledgments`/`acknowledgement` environments
  (REVTeX, achemso) are an acknowledgements section; a `thebibliography` is the references section;
- maths: `$...$` inline and `$$...$$` display in plain mode, `[TEX]...[/TEX]` with `markers: llamat`;
  equation/align wrappers, `\\label` and `\\nonumber` are removed from display maths (align becomes
  `aligned`), so each `$$...$$` is valid LaTeX on its own;
- chemistry: `\\ce{...}` and `\\pu{...}` (mhchem, which pandoc does not know) become text first
  (`\\ce{H2O -> H2 + O2}` -> "H2O → H2 + O2");
- citations are dropped (the numbers a PDF would show do not exist in the source), and the space
  left before punctuation with them; footnotes are dropped as in the XML readers;
- figure and table captions go to the captions block ("Figure 2. ...", "Table 1. ..."), and a table's
  body follows its caption as a Markdown table with `keep_tables`; a code listing set in a figure stays in the
  text (it is content, as a table body is), and so does an algorithm float, as its pseudo-code (pseudocode.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass, field

from corpus.papers.maths import braced, clean_math
from corpus.papers.model import Paper, Section, inline_text, markdown_table
from corpus.papers.pseudocode import algorithms_as_verbatim
from corpus.records import Failure

APPENDIX_MARK = "MATCORPUSAPPENDIXMARK"  # \appendix becomes a heading with this text, for the walker to see
# \verb|x| with any delimiter, a space included (`\verb mpiexec `), which pandoc's parser rejects: as \texttt
_VERB = re.compile(r"\\verb\*?([^A-Za-z*\n])(.*?)\1")
HEAP = "1g"  # pandoc's heap limit (GHC runtime): a macro that grows without end stops here


def pandoc_binary() -> str:
    import pypandoc  # the binary ships inside the pypandoc-binary wheel

    return pypandoc.get_pandoc_path()


# ---- before pandoc: what it does not know --------------------------------------------------------------------


_ARROWS = [("<=>>", "⇌"), ("<<=>", "⇌"), ("<=>", "⇌"), ("<->", "↔"), ("->", "→"), ("<-", "←")]


def mhchem_text(formula: str) -> str:
    """mhchem's `\\ce{}` argument as plain text: arrows as arrows, braces, ^ and _ gone (Fe^{3+} -> Fe3+, as a PDF's
    text layer reads it)."""
    for a, b in _ARROWS:
        formula = formula.replace(a, b)
    formula = re.sub(r"[{}^_]", "", formula)
    return re.sub(r"\s+", " ", formula).strip()


def prepare(source: str) -> str:
    """The flattened source with mhchem turned into `\\text{}` (valid in text and in maths) and `\\appendix` into a
    heading the walker recognises."""
    out, cursor = [], 0
    for m in re.finditer(r"\\(ce|pu)\s*\{", source):
        if m.start() < cursor:
            continue
        end = braced(source, m.end() - 1)
        out.append(source[cursor : m.start()])
        text = mhchem_text(source[m.end() : end - 1])
        out.append("\\text{" + text.replace("\\", "") + "}" if m.group(1) == "ce" else text.replace("\\", ""))
        cursor = end
    out.append(source[cursor:])
    text = algorithms_as_verbatim(_abstract_command_as_environment("".join(out)))
    text = _VERB.sub(_verb_as_texttt, text)
    text = _unwrap_tables(_STARRED_FLOAT.sub(r"\\\1{\2}", text))
    return re.sub(r"\\appendix(?![A-Za-z@])", r"\\section*{" + APPENDIX_MARK + "}", text)


def _abstract_command_as_environment(text: str) -> str:
    """`\\abstract{...}`, the command form of some classes (IOP's iopart, JuliaCon's), which pandoc drops with its
    argument, as the abstract environment pandoc puts in the metadata."""
    body = text.find("\\begin{document}")  # in the preamble, \\abstract is being defined, not used
    m = re.compile(r"\\abstract\s*\{").search(text, max(body, 0))
    if m is None:
        return text
    end = braced(text, m.end() - 1)
    if text[end - 1] != "}":
        return text  # never closed: pandoc says what it makes of it
    return text[: m.start()] + "\\begin{abstract}" + text[m.end() : end - 1] + "\\end{abstract}" + text[end:]


# pandoc reads a two-column-wide float (table*, figure*) as an unknown environment and loses its caption: the width
# means nothing to a text reader, so they become table/figure
_STARRED_FLOAT = re.compile(r"\\(begin|end)\{(table|figure|sidewaystable|sidewaysfigure)\*\}")
# boxes that scale a tabular to the column (graphicx's \resizebox/\scalebox, adjustbox): pandoc drops the tabular
# inside them, so only their content is kept
_SCALE_BOX = re.compile(r"\\(resizebox\*?\s*\{[^{}]*\}\s*\{[^{}]*\}|scalebox\s*\{[^{}]*\}(?:\[[^\]]*\])?)\s*(?=\{)")
_ADJUSTBOX = re.compile(r"\\(begin\{adjustbox\}\s*\{[^{}]*\}|end\{adjustbox\})")
_TABULAR = re.compile(r"\\begin\{(tabular[x*]?|tabulary)\}\s*(?:\[[a-z]\]\s*)?(?=\{)")


def _tabular_spec(spec: str) -> str:
    """A column spec pandoc can parse: siunitx's S columns (`S[table-format=5.0]`) as c, tabularx's X as l (only
    outside braces: `>{\\raggedright}` keeps its letters)."""
    out, depth, i = [], 0, 0
    while i < len(spec):
        c = spec[i]
        depth += (c == "{") - (c == "}")
        if depth == 0 and c in "SX" and (i == 0 or spec[i - 1] != "\\"):
            out.append("c" if c == "S" else "l")
            if c == "S" and spec[i + 1 : i + 2] == "[":  # S[table-format=...]
                i = spec.find("]", i) if "]" in spec[i:] else len(spec) - 1
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _unwrap_tables(text: str) -> str:
    """Scaling boxes round a tabular opened, and column specs made parseable (see above)."""
    out, cursor = [], 0
    for m in _SCALE_BOX.finditer(text):
        if m.start() < cursor:
            continue
        end = braced(text, m.end())
        out += [text[cursor : m.start()], text[m.end() + 1 : end - 1]]
        cursor = end
    text = _ADJUSTBOX.sub("", "".join(out) + text[cursor:])
    out, cursor = [], 0
    for m in _TABULAR.finditer(text):
        if m.start() < cursor:
            continue
        i = m.end()
        if m.group(1) != "tabular":  # tabularx, tabulary and tabular* take a width first
            i = braced(text, i)
            while i < len(text) and text[i].isspace():
                i += 1
            if text[i : i + 1] != "{":
                continue
        end = braced(text, i)
        out += [text[cursor:i], "{" + _tabular_spec(text[i + 1 : end - 1]) + "}"]
        cursor = end
    return "".join(out) + text[cursor:]


MAX_REPAIRS = 20  # lines blanked out, one per pandoc parse error, before a paper is given up


def _verb_as_texttt(m: re.Match) -> str:
    return "\\texttt{" + re.sub(r"([#$%&_{}~^\\])", lambda c: {"\\": "\\textbackslash{}", "~": "\\textasciitilde{}",
                                                                    "^": "\\textasciicircum{}"}.get(c.group(1), "\\" + c.group(1)),
                                  m.group(2)) + "}"


def run_pandoc(source: str, timeout_s: float) -> tuple[dict, list[int]] | Failure:
    """pandoc's AST of the source, and the source lines blanked out to get it: a construct pandoc's LaTeX parser
    rejects (a package's syntax it does not know, e.g. physics' `\\qty(...)`, or `\\newcolumntype`) fails the
    whole parse, so the line it names is blanked and the parse run again, up to MAX_REPAIRS times; the lines are
    recorded (`latex_lines_dropped`) rather than the paper being lost. `timeout_s` bounds all the runs together."""
    deadline = time.monotonic() + timeout_s  # the paper's whole budget, across every repair: not per pandoc run
    lines = prepare(source).split("\n")
    dropped: list[int] = []
    while True:
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise subprocess.TimeoutExpired("pandoc", timeout_s)
            done = subprocess.run([pandoc_binary(), "+RTS", f"-M{HEAP}", "-RTS", "--sandbox", "-f", "latex", "-t", "json"],
                                  input="\n".join(lines).encode("utf-8"), capture_output=True, timeout=left)
        except subprocess.TimeoutExpired:
            return Failure("latex_timeout", f"pandoc took longer than timeout_s={timeout_s} over {len(dropped) + 1} run(s) "
                                            f"({len(dropped)} repair(s))")
        if done.returncode == 0:
            return json.loads(done.stdout), dropped
        err = done.stderr.decode("utf-8", "replace").strip()
        if "Loop encountered in expanding macro" in err:
            return Failure("latex_macro_loop", err[-500:])
        if "Heap exhausted" in err or "heap overflow" in err.lower():
            return Failure("latex_too_complex", f"pandoc ran out of its {HEAP} heap: {err[-300:]}")
        at = re.search(r"Error at (?:\"[^\"]*\" )?\(line (\d+), column \d+\)", err)
        line = int(at.group(1)) if at else 0
        while 1 < line <= len(lines) and not lines[line - 1].strip():  # an error reported where a blank line ends it
            line -= 1
        if not at or not 1 <= line <= len(lines) or len(dropped) >= MAX_REPAIRS or not lines[line - 1].strip():
            return Failure("latex_parse_error", f"pandoc exit {done.returncode}: {err[-500:]}")
        dropped.append(line)
        lines[line - 1] = ""


# ---- the AST walk ------------------------------------------------------------------------------------------------

_NUMBERED = re.compile(r"\\begin\{(equation|align|eqnarray|gather|multline|flalign|alignat)\}")
_ROW_END = re.compile(r"\\\\(?:\[[^\]]*\])?")


def equation_numbers(ast) -> dict[str, str]:
    """label -> the number LaTeX prints for it, for labels in display maths: pandoc leaves `\\ref`s to them as
    `[label]`. Numbered environments count as LaTeX counts them (equation: one; align, eqnarray, gather: one a
    row unless the row says \\nonumber or \\notag; starred ones and `\\[...\\]`: none)."""
    numbers: dict[str, str] = {}
    count = 0

    def visit(node) -> None:
        nonlocal count
        if isinstance(node, dict):
            if node.get("t") == "Math" and node["c"][0]["t"] == "DisplayMath":
                tex = node["c"][1]
                m = _NUMBERED.search(tex)
                if m:
                    rows = [tex] if m.group(1) in ("equation", "multline") else _ROW_END.split(tex)
                    for row in rows:
                        if re.search(r"\\(nonumber|notag)\b", row) or not row.strip() or row.strip().startswith("\\end"):
                            continue
                        count += 1
                        for label in re.findall(r"\\label\s*\{([^{}]*)\}", row):
                            numbers[label] = str(count)
                return
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(ast.get("blocks", []))
    return numbers


@dataclass
class Walker:
    markers: str = "plain"
    keep_tables: bool = False
    equations: dict[str, str] = field(default_factory=dict)
    inline_captions: bool = False  # a caption as a paragraph where its float stands in the source, not in the captions block
    figures: int = 0
    tables: int = 0
    captions: list[str] = field(default_factory=list)
    math_spans: int = 0

    # -- inlines
    def inlines(self, items: list) -> str:
        out: list[str] = []
        for item in items:
            t, c = item["t"], item.get("c")
            if t == "Str":
                out.append(c)
            elif t in ("Space", "SoftBreak", "LineBreak"):
                out.append(" ")
            elif t in ("Emph", "Strong", "Underline", "Strikeout", "SmallCaps", "Superscript", "Subscript"):
                out.append(self.inlines(c))
            elif t == "Quoted":
                out.append("“" + self.inlines(c[1]) + "”" if c[0]["t"] == "DoubleQuote" else "‘" + self.inlines(c[1]) + "’")
            elif t == "Math":
                display = c[0]["t"] == "DisplayMath"
                tex = clean_math(c[1], display)
                if tex:
                    self.math_spans += 1
                    out.append(f" [TEX]{tex}[/TEX] " if self.markers == "llamat" else f" $${tex}$$ " if display else f"${tex}$")
            elif t in ("Code",):
                out.append(c[1])
            elif t == "Link" and (ref := dict(c[0][2]).get("reference")) is not None:
                text = self.inlines(c[1])
                if text == f"[{ref}]":  # pandoc could not resolve it: an equation's number, or nothing (another document's)
                    text = self.equations.get(ref, "")
                out.append(text)
            elif t in ("Link", "Span"):
                out.append(self.inlines(c[1]))
            elif t == "Cite" or t == "Note" or t == "Image" or t == "RawInline":
                continue  # no printed citation numbers in a source; footnotes and graphics are not prose
        return "".join(out)

    # -- blocks
    def blocks(self, items: list) -> list[str]:
        """Paragraph texts of a list of blocks (captions are collected on the side)."""
        paras: list[str] = []
        for b in items:
            paras.extend(self.block(b))
        return [p for p in paras if p]

    def block(self, b: dict) -> list[str]:
        t, c = b["t"], b.get("c")
        if t in ("Para", "Plain"):
            return [inline_text(self.inlines(c))]
        if t == "LineBlock":
            return [inline_text(" ".join(self.inlines(line) for line in c))]
        if t in ("BulletList", "OrderedList"):
            items = c if t == "BulletList" else c[1]
            return [inline_text(" ".join(self.blocks(item))) for item in items]
        if t == "DefinitionList":
            return [inline_text(self.inlines(term) + ": " + " ".join(p for d in defs for p in self.blocks(d))) for term, defs in c]
        if t in ("BlockQuote",):
            return self.blocks(c)
        if t == "Div":
            return self.blocks(c[1])
        if t == "CodeBlock":
            return [c[1]]
        if t == "Figure":
            self.figures += 1
            caption = inline_text(" ".join(self.blocks(c[1][1])))
            self.blocks(c[2])  # subfigures' own captions, tables inside
            # a code listing set as a figure is content, as a table in a table float is: kept, before its caption
            listings = [item["c"][1] for item in c[2] if item.get("t") == "CodeBlock"]
            if caption:
                return listings + self._caption(f"Figure {self.figures}. {caption}")
            return listings
        if t == "Table":
            text = self.table(c)
            return self._caption(text) if text else []
        return []  # RawBlock, HorizontalRule, Header (handled by the caller)

    def _caption(self, text: str) -> list[str]:
        if self.inline_captions:
            return [text]
        self.captions.append(text)
        return []

    def table(self, c: list) -> str | None:
        self.tables += 1
        caption = inline_text(" ".join(self.blocks(c[1][1])))
        text = f"Table {self.tables}. {caption}" if caption else f"Table {self.tables}."
        if self.keep_tables:
            rows = [self._row(r) for r in c[3][1]]
            for body in c[4]:
                rows += [self._row(r) for r in body[2]] + [self._row(r) for r in body[3]]
            rows += [self._row(r) for r in c[5][1]]
            if md := markdown_table(rows):
                text += "\n" + md
        return text if caption or self.keep_tables else None

    def _row(self, row: list) -> list[str]:
        cells = []
        for cell in row[1]:
            text = inline_text(" ".join(self.blocks(cell[4])))
            cells.extend([text] + [""] * (cell[3] - 1))  # a cell spanning columns keeps the grid
        return cells


_ACK = re.compile(r"acknowledge?ments?", re.IGNORECASE)


def paper_from_ast(ast: dict, markers: str = "plain", keep_tables: bool = False, inline_captions: bool = False) -> tuple[Paper, dict]:
    """(the Paper, counts: math spans, figures, tables) from pandoc's JSON."""
    w = Walker(markers, keep_tables, equation_numbers(ast), inline_captions=inline_captions)
    meta = ast.get("meta", {})

    def meta_text(value) -> str:
        if not value:
            return ""
        if value["t"] == "MetaInlines":
            return inline_text(w.inlines(value["c"]))
        if value["t"] == "MetaBlocks":
            return "\n".join(w.blocks(value["c"]))
        if value["t"] == "MetaString":
            return value["c"]
        if value["t"] == "MetaList":
            return "; ".join(meta_text(v) for v in value["c"])
        return ""

    title = meta.get("title")
    if title and title["t"] == "MetaList":  # a second \title (a supplement's) after the paper's own
        title = title["c"][0] if title["c"] else None
    paper = Paper(title=meta_text(title) or None)
    abstract = meta_text(meta.get("abstract"))
    paper.abstract = [p for p in abstract.split("\n") if p.strip()]
    current: Section | None = None
    in_appendix = False
    for b in ast.get("blocks", []):
        t, c = b["t"], b.get("c")
        if t == "Header":
            title = inline_text(w.inlines(c[2]))
            if title == APPENDIX_MARK:
                in_appendix = True
                continue
            current = Section(title=title, paragraphs=[], level=c[0], kind="appendix" if in_appendix else None)
            paper.sections.append(current)
            continue
        if t == "Div" and (classes := c[0][1]):
            if any(_ACK.fullmatch(k) for k in classes):
                paper.sections.append(Section("Acknowledgements", w.blocks(c[1]), kind="acknowledgements"))
                current = None
                continue
            if "thebibliography" in classes or c[0][0] == "refs":
                paper.sections.append(Section("References", w.blocks(c[1]), kind="references"))
                current = None
                continue
        paras = w.block(b)
        if not paras:
            continue
        if current is None or current.kind in ("acknowledgements", "references"):
            current = Section(title="", paragraphs=[], kind="appendix" if in_appendix else None)
            paper.sections.append(current)
        current.paragraphs.extend(paras)
    paper.captions = w.captions
    return paper, {"math_spans": w.math_spans, "figures": w.figures, "tables": w.tables}
