"""The LaTeX reader on real arXiv-style sources: words recovered, maths kept, seconds per paper, against two other
ways of turning LaTeX into text, in the same run.

Sources: ../shared/data/papers/latex/ (10 papers; the two `.tar.gz` forms are read as archives, the other eight from
their folders). For every paper the same flattened source (corpus/papers/latex_source.py: inputs spliced in,
comments out) is cut to what the section policy keeps: the body from `\\begin{document}` up to `\\appendix`, with
the bibliography and acknowledgement environments removed. Then:
- reference words: pylatexenc's LatexNodes2Text of that body with the maths removed (an independent LaTeX parser,
  pure Python), lowercase tokens `[a-z]+`;
- maths in the source: inline (`$..$`, `\\(..\\)`) and display (`$$..$$`, `\\[..\\]`, equation/align/gather/
  multline/eqnarray environments, starred or not) spans, counted with regular expressions;
- extractors: our reader (pandoc's AST, maths kept as LaTeX), pandoc's own plain-text writer (`-t plain`, what a
  user of pandoc alone gets), pylatexenc with the maths kept verbatim.
Reported per paper and overall: word recall (multiset overlap with the reference / reference words), word precision
(overlap / the extractor's words), maths spans kept (spans in the output as `$`/`$$`/`[TEX]`, over the source's
count), the paper's own macros (`\\newcommand`, `\\def`) left unexpanded in the output (a model cannot know
what `\\D` meant) and seconds per paper (median of 3).

    .venv/bin/python benchmarks/latex_reader.py [--data ../shared/data/papers/latex] [--json benchmarks/results/latex_reader.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from pylatexenc.latex2text import LatexNodes2Text  # noqa: E402

from corpus.extract import extract  # noqa: E402
from corpus.papers.model import DROPPED_KINDS, section_kind  # noqa: E402
from corpus.papers.latex_source import Limits, SourceTree, flatten, main_file, scope_of, tree_from_archive  # noqa: E402
from corpus.papers.maths import braced  # noqa: E402
from corpus.papers.pandoc import pandoc_binary, prepare  # noqa: E402

WORD = re.compile(r"[a-z]+")
_MATH = re.compile(
    r"\$\$.+?\$\$|(?<!\\)\$(?:\\\$|[^$])+?(?<!\\)\$|\\\(.+?\\\)|\\\[.+?\\\]"
    r"|\\begin\{(equation|align|gather|multline|eqnarray|flalign|alignat|displaymath|math)\*?\}.+?\\end\{\1\*?\}",
    re.DOTALL,
)


def kept_body(flat: str) -> str:
    """What the section policy keeps of a source: the body before the appendices, without the bibliography, the
    acknowledgements, table bodies (kept only with keep_tables), footnotes and drawing code (TikZ)."""
    body = flat.split("\\begin{document}", 1)[-1].split("\\end{document}", 1)[0]
    body = re.split(r"\\appendix(?![A-Za-z])", body)[0]
    body = re.sub(r"\\begin\{(thebibliography|acknowledge?ments?|tabular[x*]?|longtable|tikzpicture)\}.*?\\end\{\1\}", " ", body, flags=re.DOTALL)
    body = re.sub(r"\\bibliography\{[^}]*\}", " ", body)
    out, cursor = [], 0
    for m in re.finditer(r"\\footnote\s*\{", body):  # footnotes are dropped by every paper reader
        if m.start() < cursor:
            continue
        out.append(body[cursor : m.start()])
        cursor = braced(body, m.end() - 1)
    body = "".join(out) + body[cursor:]
    # sections the policy drops by their title (Acknowledgements, Data availability, ...), up to the next \section
    parts = re.split(r"(\\section\*?\s*\{[^{}]*\})", body)
    kept = [parts[0]]
    for head, text in zip(parts[1::2], parts[2::2]):
        title = re.sub(r"^\\section\*?\s*\{|\}$", "", head)
        if section_kind(title) not in DROPPED_KINDS:
            kept += [head, text]
    return "".join(kept)


def plain_reference(body: str, math_mode: str) -> str:
    # pylatexenc's \href replacement indexes a missing argument on some real sources: give it the link text
    body = re.sub(r"\\href\s*\{[^{}]*\}", "", body)
    return re.sub(r"<cit\.>|<ref>", " ", LatexNodes2Text(math_mode=math_mode).latex_to_text(body))  # its citation placeholders


def words(text: str) -> Counter:
    return Counter(WORD.findall(text.lower()))


def math_in_output(text: str) -> int:
    return len(re.findall(r"\$\$.+?\$\$|\$[^$]+\$|\[TEX\].+?\[/TEX\]", text, flags=re.DOTALL))


def without_math(text: str) -> str:
    return re.sub(r"\$\$.+?\$\$|\$[^$]+\$|\[TEX\].+?\[/TEX\]", " ", text, flags=re.DOTALL)


def own_macros(flat: str) -> set[str]:
    """Names the paper defines itself (\\newcommand, \\renewcommand, \\def, \\DeclareMathOperator)."""
    names = re.findall(r"\\(?:re)?newcommand\*?\s*\{?\\([A-Za-z]+)|\\def\s*\\([A-Za-z]+)|\\DeclareMathOperator\*?\s*\{\\([A-Za-z]+)", flat)
    return {n for group in names for n in group if n}


def macros_left(text: str, names: set[str]) -> int:
    return sum(1 for m in re.finditer(r"\\([A-Za-z]+)", text) if m.group(1) in names)


def papers(data: Path) -> list[tuple[str, Path]]:
    out = []
    for entry in sorted(data.iterdir()):
        if entry.name.endswith(".tar.gz"):
            out.append((entry.name, entry))
        elif entry.is_dir() and not (data / f"{entry.name}.tar.gz").exists():
            out.append((entry.name, entry))
    return out


def flattened(path: Path) -> str:
    limits = Limits()
    if path.is_file():
        tree = tree_from_archive(path.read_bytes(), limits)
        return flatten(tree, main_file(tree)).text
    tree = SourceTree(folder=str(path.parent), scope=path.name, limits=limits)
    main = main_file(tree)
    return flatten(SourceTree(folder=str(path.parent), scope=scope_of(main), limits=limits), main).text


def timed(fn, repeats: int = 3) -> tuple[str, float]:
    times, out = [], ""
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, statistics.median(times)


def ours(path: Path) -> str:
    docs = [d for _, d in extract([str(path)], "latex") if not isinstance(d, tuple) and hasattr(d, "text")]
    return "\n\n".join(d.text for d in docs)


def pandoc_plain(flat: str) -> str:
    return subprocess.run([pandoc_binary(), "--sandbox", "-f", "latex", "-t", "plain", "--wrap=none"], input=prepare(flat).encode(),
                          capture_output=True, timeout=300).stdout.decode("utf-8", "replace")


def pylatexenc_verbatim(flat: str) -> str:
    return plain_reference(kept_body(flat), "verbatim")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "papers" / "latex"))
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    rows = []
    for name, path in papers(Path(args.data)):
        flat = flattened(path)
        body = kept_body(flat)
        reference = words(plain_reference(body, "remove"))
        source_math = len(_MATH.findall(body))
        defined = own_macros(flat)
        row = {"paper": name, "reference_words": sum(reference.values()), "source_math": source_math, "own_macros": len(defined)}
        for label, fn in (("ours", lambda: ours(path)), ("pandoc_plain", lambda: pandoc_plain(flat)),
                          ("pylatexenc", lambda: pylatexenc_verbatim(flat))):
            text, seconds = timed(fn)
            got = words(without_math(text)) if label != "pylatexenc" else reference
            overlap = sum((got & reference).values())
            row[label] = {"recall": round(overlap / max(1, sum(reference.values())), 4),
                          "precision": round(overlap / max(1, sum(got.values())), 4),
                          "math_kept": round(math_in_output(text) / max(1, source_math), 4), "seconds": round(seconds, 3),
                          "own_macros_left": macros_left(text, defined)}
        rows.append(row)
        print(f"{name:<40} ref {row['reference_words']:>6} words {source_math:>4} maths | " + " | ".join(
            f"{k} R {row[k]['recall']:.3f} P {row[k]['precision']:.3f} maths {row[k]['math_kept']:.2f} macros left {row[k]['own_macros_left']} {row[k]['seconds']:.2f}s"
            for k in ("ours", "pandoc_plain", "pylatexenc")))
    summary = {}
    for k in ("ours", "pandoc_plain", "pylatexenc"):
        summary[k] = {m: round(statistics.mean(r[k][m] for r in rows), 4) for m in ("recall", "precision", "math_kept", "seconds")}
        summary[k]["worst_recall"] = min(r[k]["recall"] for r in rows)
        summary[k]["own_macros_left"] = sum(r[k]["own_macros_left"] for r in rows)
        print(f"MEAN {k:<14} recall {summary[k]['recall']:.3f} (worst {summary[k]['worst_recall']:.3f})  precision "
              f"{summary[k]['precision']:.3f}  maths kept {summary[k]['math_kept']:.2f}  the paper's own macros left unexpanded "
              f"{summary[k]['own_macros_left']}  {summary[k]['seconds']:.2f} s/paper")
    if args.json:
        os.makedirs(os.path.dirname(args.json), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"papers": rows, "mean": summary}, f, indent=1)


if __name__ == "__main__":
    main()
