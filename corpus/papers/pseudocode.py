"""Algorithm floats (`algorithm` with algpseudocode's/algorithmic's `algorithmic`, or algorithm2e) as the pseudo-code a
reader sees: one line per statement, indented by nesting, keywords written out ("for ... do", "end for", "return"), the
maths kept as LaTeX `$...$`, headed "Algorithm N: caption". pandoc knows none of these packages: it kept the text of
each statement run together in one paragraph and dropped the conditions, the loop heads and the caption. The float
becomes a verbatim block before pandoc reads the source (so the walker keeps it as it keeps a code listing), and a
`\\ref` to its label becomes its number. Written here because no LaTeX-to-text tool reads these packages."""

from __future__ import annotations

import re

from corpus.papers.maths import braced

_FLOAT = re.compile(r"\\begin\{(algorithm2e|algorithm)\*?\}(\[[^\]]*\])?(.*?)\\end\{\1\*?\}", re.DOTALL)
_ALGORITHMIC = re.compile(r"\\begin\{algorithmic\}(\[[^\]]*\])?(.*?)\\end\{algorithmic\}", re.DOTALL)
# algpseudocode / algorithmic: the commands that start a line, how many braced arguments each takes, and what it says
_OPEN = {"if": ("if {0} then", 1), "for": ("for {0} do", 1), "forall": ("for all {0} do", 1), "while": ("while {0} do", 1),
         "procedure": ("procedure {0}({1})", 2), "function": ("function {0}({1})", 2), "repeat": ("repeat", 0), "loop": ("loop", 0)}
_CLOSE = {"endif": "end if", "endfor": "end for", "endwhile": "end while", "endprocedure": "end procedure",
          "endfunction": "end function", "endloop": "end loop"}
_MIDDLE = {"else": ("else", 0), "elsif": ("else if {0} then", 1), "elseif": ("else if {0} then", 1)}
_LINE = {"state": ("{rest}", 0), "statex": ("{rest}", 0), "require": ("Require: {rest}", 0), "ensure": ("Ensure: {rest}", 0),
         "input": ("Input: {rest}", 0), "output": ("Output: {rest}", 0), "until": ("until {0}", 1)}
_COMMAND = re.compile(r"\\([A-Za-z]+)\*?")
_STYLE = re.compile(r"\\(?:textbf|textit|texttt|textrm|textsc|emph|mathrm|text)\s*\{([^{}]*)\}")


def _args(text: str, at: int, n: int) -> tuple[list[str], int]:
    out = []
    for _ in range(n):
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text) or text[at] != "{":
            break
        end = braced(text, at)
        out.append(text[at + 1 : end - 1])
        at = end
    return out, at


def _clean(text: str) -> str:
    """A statement's text: inline maths as $...$, \\Return/\\Call/\\Comment written out, labels and spacing gone."""
    text = re.sub(r"\\\(|\\\)", "$", text)
    text = re.sub(r"\\label\{[^{}]*\}|~?\\(?:eq|auto|c|C)?ref\{[^{}]*\}", "", text)  # a reference pandoc would number: not known here
    text = re.sub(r"\\Return\b|\\RETURN\b", "return", text)
    text = re.sub(r"\\Comment\{([^{}]*)\}|\\COMMENT\{([^{}]*)\}", lambda m: "▷ " + (m.group(1) or m.group(2) or ""), text)
    text = re.sub(r"\\Call\{([^{}]*)\}\{([^{}]*)\}", r"\1(\2)", text)
    for _ in range(3):
        text = _STYLE.sub(r"\1", text)
    text = text.replace("\\;", "").replace("\\\\", " ").replace("~", " ")
    text = re.sub(r"\\(?=\s|$)", " ", text)  # a control space, or a backslash left at a line's end
    return " ".join(text.split())


def algorithmic_lines(body: str) -> list[str]:
    """algpseudocode's and algorithmic's statements as indented lines."""
    lines: list[str] = []
    depth, at, current = 0, 0, None

    def flush():
        nonlocal current
        if current is not None:
            pad, text = current
            cleaned = _clean(text)
            if cleaned:
                lines.append("  " * pad + cleaned)
        current = None

    while at < len(body):
        m = _COMMAND.search(body, at)
        if m is None:
            break
        name = m.group(1).lower()
        if name not in _OPEN and name not in _CLOSE and name not in _MIDDLE and name not in _LINE:
            if current is not None:
                current = (current[0], current[1] + body[at : m.end()])
            at = m.end()
            continue
        if current is not None:
            current = (current[0], current[1] + body[at : m.start()])
        flush()
        if name in _CLOSE:
            depth = max(0, depth - 1)
            lines.append("  " * depth + _CLOSE[name])
            at = m.end()
            continue
        form, n = (_OPEN.get(name) or _MIDDLE.get(name) or _LINE[name])
        args, at = _args(body, m.end(), n)
        args = [_clean(a) for a in args] + [""] * (n - len(args))
        if name in _MIDDLE or name == "until":  # these close the block above them
            depth = max(0, depth - 1)
        if name in _LINE:
            current = (depth, form.replace("{rest}", "").format(*args) + " ")
            continue
        lines.append("  " * depth + form.format(*args))
        depth += 1
    if current is not None:
        current = (current[0], current[1] + body[at:])
    flush()
    return lines


# algorithm2e: blocks take their body as a braced argument; statements end with \;
_BLOCKS2E = {"For": ("for {0} do", "end for"), "ForEach": ("foreach {0} do", "end foreach"), "ForAll": ("for all {0} do", "end for"),
             "While": ("while {0} do", "end while"), "If": ("if {0} then", "end if"), "uIf": ("if {0} then", None),
             "ElseIf": ("else if {0} then", "end if"), "uElseIf": ("else if {0} then", None), "Else": ("else", "end if"),
             "Begin": ("begin", "end"), "Repeat": ("repeat", None)}
_KW2E = {"KwIn": "Input:", "KwOut": "Output:", "KwData": "Data:", "KwResult": "Result:", "KwRet": "return", "Return": "return"}


def algorithm2e_lines(body: str, depth: int = 0) -> list[str]:
    """algorithm2e's statements (ended by \\;) and blocks (their body a braced argument) as indented lines."""
    lines: list[str] = []
    pending = ""

    def add(text: str) -> None:
        nonlocal pending
        pending += text
        *done, pending = pending.split("\\;")
        for statement in done:
            if cleaned := _clean(statement):
                lines.append("  " * depth + cleaned)

    def flush() -> None:
        nonlocal pending
        if cleaned := _clean(pending):
            lines.append("  " * depth + cleaned)
        pending = ""

    at = 0
    while at < len(body):
        m = _COMMAND.search(body, at)
        if m is None:
            add(body[at:])
            break
        add(body[at : m.start()])
        name, at = m.group(1), m.end()
        if name == "eIf":
            flush()
            args, at = _args(body, at, 3)
            if len(args) == 3:
                lines.append("  " * depth + f"if {_clean(args[0])} then")
                lines += algorithm2e_lines(args[1], depth + 1)
                lines.append("  " * depth + "else")
                lines += algorithm2e_lines(args[2], depth + 1)
                lines.append("  " * depth + "end if")
        elif name in _BLOCKS2E:
            flush()
            head, tail = _BLOCKS2E[name]
            n = 1 if "{0}" in head else 0
            args, at = _args(body, at, n + 1)
            if len(args) == n + 1:
                lines.append("  " * depth + head.format(*[_clean(a) for a in args[:n]]))
                lines += algorithm2e_lines(args[-1], depth + 1)
                if tail:
                    lines.append("  " * depth + tail)
        elif name in _KW2E:
            flush()
            args, at = _args(body, at, 1)
            add(f"{_KW2E[name]} {args[0] if args else ''}")
            flush()
        elif name in ("tcc", "tcp"):
            flush()
            args, at = _args(body, at, 1)
            add("▷ " + (args[0] if args else ""))
            flush()
        elif name.startswith("SetKw"):
            _, at = _args(body, at, 2)  # a keyword's definition: nothing to read
        elif name.startswith(("Set", "Dont", "Lines", "Indm", "Indp", "centering", "removelatexerror")):
            pass  # layout commands: nothing to read
        else:
            add(m.group(0))  # \( \) maths, \textbf and the like: _clean reads them
    flush()
    return lines


def algorithms_as_verbatim(source: str) -> str:
    """Every algorithm float as a verbatim block ("Algorithm N: caption" then its lines), and \\ref to its label as N."""
    labels: dict[str, int] = {}
    count = 0

    def one(m: re.Match) -> str:
        nonlocal count
        count += 1
        inner = m.group(3)
        caption, rest = "", inner
        if (c := re.search(r"\\caption\s*\{", inner)) is not None:
            end = braced(inner, c.end() - 1)
            caption, rest = _clean(inner[c.end() : end - 1]), inner[: c.start()] + inner[end:]
        for label in re.findall(r"\\label\{([^{}]*)\}", inner):
            labels[label] = count
        if (a := _ALGORITHMIC.search(inner)) is not None:
            lines = algorithmic_lines(a.group(2))
        else:
            lines = algorithm2e_lines(re.sub(r"\\label\{[^{}]*\}", "", rest))
        head = f"Algorithm {count}: {caption}".rstrip(": ")
        return "\n\\begin{verbatim}\n" + "\n".join([head, *lines]).replace("\\end{verbatim}", "") + "\n\\end{verbatim}\n"

    out = _FLOAT.sub(one, source)
    if labels:
        out = re.sub(r"\\(?:ref|autoref|cref|Cref)\{([^{}]*)\}", lambda m: str(labels[m.group(1)]) if m.group(1) in labels else m.group(0), out)
    return out
