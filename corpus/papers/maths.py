"""Maths as every paper reader emits it: LaTeX, `$...$` inline and `$$...$$` display (`[TEX]...[/TEX]` with llamat
markers). `clean_math` makes a display formula valid on its own (no equation/align wrapper, no labels),
`publisher_tex` unwraps a publisher's <tex-math>, and `mathml_to_latex` converts presentation MathML (as JATS and
Elsevier XML carry formulas).

Written here: the maintained converters go the other way (latex2mathml), and pandoc's texmath would mean a
process per document in readers that run at hundreds of documents a second. Presentation MathML is small:
tokens (mi, mn, mo, mtext, ms), layout (mrow, msub, msup, msubsup, munder, mover, munderover, mfrac, msqrt,
mroot, mfenced, menclose, mtable) and wrappers; an annotation in TeX (`<annotation encoding="application/x-tex">`)
is taken as it is. An element this does not know renders its children, so no formula is silently lost.
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element

SYMBOLS = {
    # Greek
    "α": r"\alpha", "β": r"\beta", "γ": r"\gamma", "δ": r"\delta", "ε": r"\epsilon", "ϵ": r"\epsilon", "ζ": r"\zeta",
    "η": r"\eta", "θ": r"\theta", "ϑ": r"\vartheta", "ι": r"\iota", "κ": r"\kappa", "λ": r"\lambda", "μ": r"\mu",
    "ν": r"\nu", "ξ": r"\xi", "π": r"\pi", "ρ": r"\rho", "σ": r"\sigma", "ς": r"\varsigma", "τ": r"\tau",
    "υ": r"\upsilon", "φ": r"\phi", "ϕ": r"\phi", "χ": r"\chi", "ψ": r"\psi", "ω": r"\omega", "Γ": r"\Gamma",
    "Δ": r"\Delta", "Θ": r"\Theta", "Λ": r"\Lambda", "Ξ": r"\Xi", "Π": r"\Pi", "Σ": r"\Sigma", "Υ": r"\Upsilon",
    "Φ": r"\Phi", "Ψ": r"\Psi", "Ω": r"\Omega",
    # operators and relations
    "∑": r"\sum", "∏": r"\prod", "∫": r"\int", "∬": r"\iint", "∮": r"\oint", "±": r"\pm", "∓": r"\mp", "×": r"\times",
    "·": r"\cdot", "⋅": r"\cdot", "∙": r"\cdot", "÷": r"\div", "−": "-", "–": "-", "∗": "*", "≤": r"\leq", "⩽": r"\leq",
    "≥": r"\geq", "⩾": r"\geq", "≠": r"\neq", "≈": r"\approx", "≃": r"\simeq", "≅": r"\cong", "≡": r"\equiv",
    "∼": r"\sim", "~": r"\sim", "∝": r"\propto", "∞": r"\infty", "∂": r"\partial", "∇": r"\nabla", "∈": r"\in",
    "∉": r"\notin", "⊂": r"\subset", "⊆": r"\subseteq", "∪": r"\cup", "∩": r"\cap", "∀": r"\forall", "∃": r"\exists",
    "→": r"\rightarrow", "←": r"\leftarrow", "↔": r"\leftrightarrow", "⇒": r"\Rightarrow", "⇔": r"\Leftrightarrow",
    "⇌": r"\rightleftharpoons", "↑": r"\uparrow", "↓": r"\downarrow", "⟨": r"\langle", "〈": r"\langle",
    "⟩": r"\rangle", "〉": r"\rangle", "‖": r"\|", "…": r"\ldots", "⋯": r"\cdots", "′": "'", "″": "''", "°": r"^{\circ}",
    "ℏ": r"\hbar", "ℓ": r"\ell", "Å": r"\text{Å}", "√": r"\surd", "⊗": r"\otimes", "⊕": r"\oplus", "†": r"\dagger",
    "≪": r"\ll", "≫": r"\gg", "∘": r"\circ", "\u2061": "", "\u2062": "", "\u2063": "", "\u00a0": " ",
}
FUNCTIONS = {"sin", "cos", "tan", "cot", "sec", "csc", "sinh", "cosh", "tanh", "coth", "arcsin", "arccos", "arctan",
             "exp", "log", "ln", "lg", "lim", "max", "min", "sup", "inf", "det", "dim", "ker", "deg", "arg", "gcd", "Pr"}
ACCENTS = {"^": r"\hat", "ˆ": r"\hat", "~": r"\tilde", "˜": r"\tilde", "¯": r"\bar", "‾": r"\overline", "→": r"\vec",
           "˙": r"\dot", "¨": r"\ddot", "⏞": r"\overbrace", "⏟": r"\underbrace"}
_SPECIAL = re.compile(r"([#$%&_{}])")


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _symbols(text: str) -> str:
    """Characters as LaTeX: symbols by name (a space after a command word), TeX's special characters escaped."""
    out = []
    for c in text:
        if c in "#$%&_{}":
            out.append("\\" + c)
            continue
        tex = SYMBOLS.get(c, c)
        out.append(tex + (" " if tex.startswith("\\") and tex[-1].isalpha() else ""))
    return "".join(out)


def _group(tex: str) -> str:
    tex = tex.strip()
    return tex if len(tex) == 1 or (tex.startswith("\\") and re.fullmatch(r"\\[A-Za-z]+", tex)) else "{" + tex + "}"


def braced(text: str, start: int) -> int:
    """The index just past the group that opens at text[start] == "{" (or len(text) when it never closes)."""
    depth = 0
    for i in range(start, len(text)):
        c = text[i]
        if c == "\\":
            continue
        if c == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif c == "}" and (i == 0 or text[i - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return i + 1
    return len(text)


_DISPLAY_WRAPPERS = re.compile(r"\\(begin|end)\{(equation|displaymath|math)\*?\}")
_ALIGNED = re.compile(r"\\(begin|end)\{(align|eqnarray|flalign|alignat|split)\*?\}(\{\d+\})?")
_GATHERED = re.compile(r"\\(begin|end)\{(gather|multline)\*?\}")


def clean_math(tex: str, display: bool) -> str:
    tex = re.sub(r"\\label\s*\{[^{}]*\}|\\nonumber\b|\\notag\b", "", tex)
    tex = re.sub(r"\\ensuremath\s*\{", "{", tex)
    if display:
        tex = _DISPLAY_WRAPPERS.sub("", tex)
        tex = _ALIGNED.sub(lambda m: f"\\{m.group(1)}{{aligned}}", tex)
        tex = _GATHERED.sub(lambda m: f"\\{m.group(1)}{{gathered}}", tex)
    tex = re.sub(r"\s+", " ", tex).strip()
    if tex.startswith("{") and braced(tex, 0) == len(tex):  # {D^*}: the group \ensuremath left
        tex = tex[1:-1].strip()
    return tex


def publisher_tex(tex: str, display: bool) -> str:
    """A publisher's <tex-math> as bare maths: Springer ships a whole LaTeX document (\\documentclass{minimal},
    packages, `$$...$$` inside \\begin{document}); others wrap it in `$`, `\\[..\\]` or an equation environment."""
    if "\\begin{document}" in tex:
        tex = tex.split("\\begin{document}", 1)[1].split("\\end{document}", 1)[0]
    tex = tex.strip()
    for opening, closing in (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")):
        if tex.startswith(opening) and tex.endswith(closing) and len(tex) >= len(opening) + len(closing):
            tex = tex[len(opening) : len(tex) - len(closing)]
            break
    return clean_math(tex, display)


class MathmlToLatex:
    def convert(self, math: Element) -> str:
        tex = re.sub(r"\s+", " ", self.node(math)).strip()
        return re.sub(r"(\\[A-Za-z]+) (?=[^A-Za-z ])", r"\1", tex)  # "\delta =0.1" -> "\delta=0.1"

    def children(self, e: Element) -> list[Element]:
        return [c for c in e if local(c.tag) not in ("annotation", "annotation-xml")]

    def row(self, e: Element) -> str:
        return "".join(self.node(c) for c in self.children(e))

    def arg(self, e: Element | None) -> str:
        return _group(self.node(e)) if e is not None else "{}"

    def node(self, e: Element) -> str:
        name = local(e.tag)
        kids = self.children(e)
        text = (e.text or "").strip()
        if name == "semantics":
            for a in e:
                if local(a.tag) == "annotation" and "tex" in (a.get("encoding") or "").lower() and (a.text or "").strip():
                    return a.text.strip()
            return self.node(kids[0]) if kids else ""
        if name == "mi":
            variant = e.get("mathvariant")
            if text in FUNCTIONS:
                return f"\\{text} "
            body = _symbols(text)
            if len(text) > 1 and not any(c in SYMBOLS for c in text):
                return f"\\mathrm{{{body}}}"
            if variant == "bold":
                return f"\\mathbf{{{body}}}"
            if variant == "normal" and text.isalpha():
                return f"\\mathrm{{{body}}}"
            return body
        if name == "mn":
            return _symbols(text)
        if name == "mo":
            if text in ("(", ")", "[", "]", "|", "/", "+", "=", ",", ";", ":", "!", "<", ">", "'"):
                return text
            return " " + _symbols(text) + " " if text else ""
        if name in ("mtext", "ms"):
            escaped = _SPECIAL.sub(r"\\\1", text)
            return f"\\text{{{escaped}}}" if text else ""
        if name == "mspace":
            return " "
        if name in ("msub", "msup") and len(kids) >= 2:
            return self.arg(kids[0]) + ("_" if name == "msub" else "^") + self.arg(kids[1])
        if name == "msubsup" and len(kids) >= 3:
            return self.arg(kids[0]) + "_" + self.arg(kids[1]) + "^" + self.arg(kids[2])
        if name in ("mover", "munder", "munderover") and kids:
            base = self.node(kids[0])
            if name == "mover" and len(kids) >= 2 and (accent := ACCENTS.get((kids[1].text or "").strip())):
                return f"{accent}{{{base}}}"
            if name == "munder" and len(kids) >= 2 and (kids[1].text or "").strip() in ("_", "¯", "‾"):
                return f"\\underline{{{base}}}"
            out = _group(base)
            if name in ("munder", "munderover") and len(kids) >= 2:
                out += "_" + self.arg(kids[1])
            if name == "mover" and len(kids) >= 2:
                out += "^" + self.arg(kids[1])
            if name == "munderover" and len(kids) >= 3:
                out += "^" + self.arg(kids[2])
            return out
        if name == "mfrac" and len(kids) >= 2:
            if e.get("linethickness") in ("0", "0pt", "0em"):
                return f"\\binom{{{self.node(kids[0])}}}{{{self.node(kids[1])}}}"
            return f"\\frac{{{self.node(kids[0])}}}{{{self.node(kids[1])}}}"
        if name == "msqrt":
            return f"\\sqrt{{{self.row(e)}}}"
        if name == "mroot" and len(kids) >= 2:
            return f"\\sqrt[{self.node(kids[1])}]{{{self.node(kids[0])}}}"
        if name == "mfenced":
            seps = (e.get("separators") if e.get("separators") is not None else ",").strip() or ""
            parts = [self.node(c) for c in kids]
            joined = "".join(p + (seps[min(i, len(seps) - 1)] if seps and i < len(parts) - 1 else "") for i, p in enumerate(parts))
            return f"\\left{_fence(e.get('open', '('))}{joined}\\right{_fence(e.get('close', ')'))}"
        if name == "menclose":
            return f"\\boxed{{{self.row(e)}}}" if e.get("notation") == "box" else self.row(e)
        if name == "mtable":
            rows = []
            for tr in kids:
                cells = [self.row(td) if local(td.tag) == "mtd" else self.node(td) for td in self.children(tr)
                         if local(tr.tag) in ("mtr", "mlabeledtr")]
                if local(tr.tag) == "mlabeledtr":
                    cells = cells[1:]  # the equation number
                rows.append(" & ".join(cells))
            return "\\begin{matrix}" + r" \\ ".join(rows) + "\\end{matrix}"
        if name in ("mphantom", "none", "mprescripts", "maligngroup", "malignmark"):
            return ""
        return (_symbols(text) if text else "") + self.row(e)  # math, mrow, mstyle, mpadded, merror, unknown


def _fence(c: str) -> str:
    return {"{": r"\{", "}": r"\}", "": ".", "⟨": r"\langle", "⟩": r"\rangle", "〈": r"\langle", "〉": r"\rangle",
            "‖": r"\|"}.get(c, c)


def mathml_to_latex(math: Element) -> str:
    """LaTeX of a <math> element (any namespace)."""
    return MathmlToLatex().convert(math)
