"""The LaTeX reader: a real arXiv source (bundled), the 10 real sources in ../shared/data, multi-file folders, and
hostile sources that must end as failures with reasons, never as reads outside the source or runaway work."""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SAMPLES, SHARED
from corpus.extract import extract
from corpus.papers.latex_source import Limits, SourceProblem, SourceTree, flatten, strip_comments, tree_from_archive
from corpus.papers.maths import clean_math
from corpus.papers.pandoc import mhchem_text, prepare

ARXIV = SAMPLES / "papers" / "latex" / "msd-diffusion-revtex42.tar.gz"
LATEX_SHARED = SHARED / "papers" / "latex"


def read(path, **options):
    out = list(extract([str(path)], "latex", options or None))
    docs = [d for _, d in out if hasattr(d, "text")]
    failures = [f for _, f in out if not hasattr(f, "text")]
    return docs, failures


def outside_maths(text: str) -> str:
    return re.sub(r"\$\$.+?\$\$|\$[^$]+\$|\[TEX\].+?\[/TEX\]", " ", text, flags=re.DOTALL)


@pytest.fixture(scope="module")
def arxiv_doc():
    docs, failures = read(ARXIV)
    assert not failures and len(docs) == 1
    return docs[0]


def test_an_arxiv_tarball_reads_with_its_maths_kept_as_latex(arxiv_doc):
    text, md = arxiv_doc.text, arxiv_doc.metadata
    assert text.startswith("Accurate Estimation of Diffusion Coefficients and their Uncertainties from Computer Simulation\n\n")
    assert md["source_format"] == "latex" and md["latex_main"] == "ms.tex" and "arxiv_id" not in md
    assert "Self-diffusion coefficients, $D^*$, are routinely estimated" in text  # the paper's \newcommand expanded in maths
    with tarfile.open(ARXIV) as tar:  # the display equations of the body (before \appendix), counted in the source
        body = re.split(r"\\appendix(?![A-Za-z])", tar.extractfile("./ms.tex").read().decode())[0]
    displays_in_source = len(re.findall(r"^[^%\n]*\\begin\{(?:equation|align)\*?\}", body, flags=re.MULTILINE))
    assert md["math_spans"] > 200 and text.count("$$") == 2 * displays_in_source > 0  # each one a $$...$$
    displays = re.findall(r"\$\$(.+?)\$\$", text)
    assert not any("\\begin{equation" in d or "\\label" in d for d in displays)  # each display is valid LaTeX alone
    assert not re.search(r"\\[A-Za-z]{2,}", outside_maths(text).replace("\\sim", ""))  # no command leaks into the prose


def test_sections_follow_the_policy_and_cross_references_resolve(arxiv_doc):
    text, md = arxiv_doc.text, arxiv_doc.metadata
    names = [s["name"] for s in md["sections"]]
    assert names[:3] == ["title", "abstract", "Introduction"] and names[-1] == "captions"
    assert {"Acknowledgements", "Competing interests", "Author Contribution Statement"} <= set(md["dropped_sections"])
    assert "Comparison With Block Averaging Approach" in md["dropped_sections"]  # after \appendix: appendix, off by default
    assert "in Eqn. 1." in text and "[equ:" not in text  # \ref to an equation: LaTeX's number, not the label
    assert "Figure 1. " in text  # captions kept, numbered


def test_an_arxiv_download_name_gives_the_arxiv_id(tmp_path):
    (tmp_path / "2305.18244v2.tar.gz").write_bytes(ARXIV.read_bytes())
    docs, _ = read(tmp_path / "2305.18244v2.tar.gz")
    assert docs[0].metadata["arxiv_id"] == "2305.18244"


def test_mhchem_and_units_become_text():
    assert mhchem_text("H2O -> H2 + O2") == "H2O → H2 + O2"
    assert mhchem_text("Fe^{3+} <=> Fe^{2+}") == "Fe3+ ⇌ Fe2+"
    assert prepare(r"the \ce{Li7La3Zr2O12} garnet") == r"the \text{Li7La3Zr2O12} garnet"
    assert clean_math(r"\begin{align} a &= b \label{x} \\ c &= d \nonumber \end{align}", True) == r"\begin{aligned} a &= b \\ c &= d \end{aligned}"


@pytest.mark.skipif(not LATEX_SHARED.is_dir(), reason="../shared/data is not beside the repository")
def test_every_real_source_in_the_shared_set_reads():
    """The 10 real sources (revtex4-1/4-2, achemso, IEEEtran, amsart, quantumarticle, livecoms, PeerJ, article) plus the
    two archives: one document each, no failure, maths kept, their multi-file \\inputs spliced in."""
    docs, failures = read(LATEX_SHARED)
    assert failures == [] and len(docs) == 12
    by_main = {d.metadata["file_path"].split("/latex/")[1]: d for d in docs}
    for name, doc in by_main.items():
        assert len(doc.text.split()) > 1000 and doc.metadata["math_spans"] > 5, name
    sympy = by_main["sympy-peerj/paper.tex"].metadata
    assert len(sympy["latex_inputs"]) >= 10 and sympy["latex_missing_inputs"] == []
    clever = by_main["clever-materials-article/src/tex/ms.tex"].metadata  # a figure's .tex that showyourwork moved
    assert "clever-materials-article/src/static/overview.tex" in clever["latex_inputs"]


def _folder(tmp_path, files: dict[str, str]):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


MAIN = "\\documentclass{article}\n\\begin{document}\n\\title{T}\\maketitle\n\\section{Intro}\nWords here.\n%s\n\\end{document}\n"


def test_a_folder_paper_splices_its_inputs_and_accounts_for_every_part(tmp_path):
    root = _folder(tmp_path / "src", {
        "paper/main.tex": MAIN % "\\input{sections/results}\n\\include{sections/end}",
        "paper/sections/results.tex": "\\section{Results}\nThe band gap is 1.1 eV % a comment that must go\n",
        "paper/sections/end.tex": "\\section{Conclusion}\nDone.",
        "paper/notes.tex": "Left over, included by nobody.",
    })
    docs, failures = read(root)
    assert len(docs) == 1 and "The band gap is 1.1 eV" in docs[0].text and "a comment" not in docs[0].text
    assert docs[0].metadata["latex_inputs"] == ["paper/sections/results.tex", "paper/sections/end.tex"]
    assert [f.kind for f in failures] == ["latex_fragment"]  # the orphan part is accounted, not silently skipped


def test_llamat_markers_and_markdown_tables(tmp_path):
    root = _folder(tmp_path / "src", {"main.tex": MAIN % (
        "Inline $a^2$ and\n\\begin{equation}E=mc^2\\end{equation}\n"
        "\\begin{table}\\caption{Lattice constants}\\begin{tabular}{lc}Material & a (\\AA)\\\\ Si & 5.43\\\\ Ge & 5.66\\end{tabular}\\end{table}")})
    docs, _ = read(root, markers="llamat", keep_tables=True)
    text = docs[0].text
    assert "[TEX]a^2[/TEX]" in text and "[TEX]E=mc^2[/TEX]" in text and "$" not in text
    assert "Table 1. Lattice constants\n| Material | a (Å) |\n|---|---|\n| Si | 5.43 |\n| Ge | 5.66 |" in text
    docs, _ = read(root)
    assert "Table 1. Lattice constants" in docs[0].text and "5.43" not in docs[0].text  # bodies only with keep_tables



def test_an_abstract_given_as_a_command_is_the_abstract(tmp_path):
    """IOP's and JuliaCon's classes take the abstract as `\\abstract{...}`, which pandoc dropped with its text."""
    source = MAIN.replace("\\maketitle", "\\maketitle\n\\abstract{Grains of {\\em NbSe$_2$} grow as plates.}") % ""
    text = read(_folder(tmp_path / "src", {"main.tex": "\\newcommand{\\abstractname}{A}\n" + source}))[0][0].text
    assert text.split("\n\n")[:3] == ["T", "Grains of NbSe$_2$ grow as plates.", "Intro\nWords here."]


def test_a_code_listing_set_as_a_figure_stays_in_the_text(tmp_path):
    root = _folder(tmp_path / "src", {"main.tex": MAIN.replace("\\begin{document}", "\\usepackage{listings}\n\\begin{document}") % (
        "\\begin{figure}[t]\n\\begin{lstlisting}[language=Julia]\nusing ImplicitGlobalGrid\nnx = 64  # cells\n"
        "\\end{lstlisting}\n\\includegraphics{plot}\n\\caption{The whole solver.}\n\\end{figure}")})
    text = read(root)[0][0].text
    assert "using ImplicitGlobalGrid\nnx = 64  # cells" in text  # the code, as it is set, before its caption
    assert text.index("using ImplicitGlobalGrid") < text.index("The whole solver.")


def test_wide_and_scaled_tables_with_siunitx_columns_keep_caption_and_body(tmp_path):
    """arXiv papers set their data tables as `table*` (two-column width), wrapped in \\resizebox, with siunitx `S`
    or tabularx `X` columns: pandoc dropped such a table whole, caption and body."""
    root = _folder(tmp_path / "src", {"main.tex": MAIN % (
        "\\begin{table*}\\caption{Band gaps}\\resizebox{\\textwidth}{!}{\\begin{tabular}{l S[table-format=1.2] c}"
        "Compound & {$E_g$ (eV)} & Ref.\\\\ \\hline GaN & 3.40 & 1\\\\ ZnO & 3.37 & 2\\end{tabular}}\\end{table*}\n"
        "\\begin{table}\\caption{Phases}\\begin{tabularx}{\\linewidth}{lX}Phase & Note\\\\ A & cubic\\end{tabularx}\\end{table}")})
    text = read(root, keep_tables=True)[0][0].text
    assert "Table 1. Band gaps\n| Compound | $E_g$ (eV) | Ref. |\n|---|---|---|\n| GaN | 3.40 | 1 |\n| ZnO | 3.37 | 2 |" in text
    assert "Table 2. Phases\n| Phase | Note |\n|---|---|\n| A | cubic |" in text


# ---- hostile sources ---------------------------------------------------------------------------------------------


def _tar(members: list[tuple[str, bytes]], links: list[tuple[str, str]] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in links:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buf.getvalue()


@pytest.mark.parametrize("files, kind", [
    ({"main.tex": MAIN % "\\input{/etc/passwd}"}, "input_outside_source"),
    ({"main.tex": MAIN % "\\input{../../../../etc/passwd}"}, "input_outside_source"),
    ({"main.tex": MAIN % "\\input{main}"}, "input_recursion"),
    ({"main.tex": "\\documentclass{article}\\def\\a{\\a x}\\begin{document}\\section{A}\\a\\end{document}"}, "latex_macro_loop"),
])
def test_hostile_folder_sources_fail_with_a_reason(tmp_path, files, kind):
    docs, failures = read(_folder(tmp_path / "src", files))
    assert docs == [] and [f.kind for f in failures] == [kind]
    assert "root:" not in json.dumps([f.error for f in failures])  # nothing of /etc/passwd reached anything


def test_shell_escape_is_never_run(tmp_path):
    marker = tmp_path / "pwned"
    docs, _ = read(_folder(tmp_path / "src", {"main.tex": MAIN % f"\\immediate\\write18{{touch {marker}}}"}))
    assert len(docs) == 1 and not marker.exists()


def test_hostile_archives_fail_with_a_reason(tmp_path):
    main = (MAIN % "Text.").encode()
    cases = {
        "climb.tar.gz": (_tar([("main.tex", main), ("../../evil.tex", b"x")]), "unsafe_archive"),
        "absolute.tar.gz": (_tar([("main.tex", main), ("/tmp/evil.tex", b"x")]), "unsafe_archive"),
        "bomb.tar.gz": (_tar([("main.tex", main), ("zeros.dat", bytes(3 * 2**20))]), "too_large"),
        "gzip_bomb.gz": (gzip.compress(b"\\begin{document}" + bytes(3 * 2**20)), "too_large"),
        "damaged.tar.gz": (_tar([("main.tex", main)])[:-40], "damaged_archive"),
        "nothing.tar.gz": (_tar([("notes.txt", b"no paper")]), "no_main_file"),
    }
    for name, (data, _) in cases.items():
        (tmp_path / name).write_bytes(data)
    out = {p.rsplit("/", 1)[-1]: item for p, item in extract([str(tmp_path)], "latex", {"max_unpacked_bytes": 2**20})}
    assert {name: getattr(item, "kind", "document") for name, item in out.items()} == {name: kind for name, (_, kind) in cases.items()}


def test_links_inside_an_archive_are_never_followed(tmp_path):
    data = _tar([("main.tex", (MAIN % "\\input{secret}").encode())], links=[("secret.tex", "/etc/passwd")])
    tree = tree_from_archive(data, Limits())
    assert sorted(tree.files) == ["main.tex"]
    flat = flatten(tree, "main.tex")
    assert flat.missing == ["secret"] and "root:" not in flat.text


# ---- properties ---------------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list("ab %\\{}\n$^_") + ["\\input{", "\\ce{", "\\appendix", "../", "/etc"]), max_size=80).map("".join))
def test_the_source_steps_never_raise_on_any_text(text):
    strip_comments(text)
    prepare(text)
    tree = SourceTree(files={"main.tex": text.encode()})
    try:
        flatten(tree, "main.tex")
    except SourceProblem as e:
        assert e.kind in ("input_outside_source", "input_recursion", "too_large")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_are_an_archive_or_a_named_problem(data):
    try:
        tree_from_archive(data, Limits(max_unpacked_bytes=2**20))
    except SourceProblem as e:
        assert e.kind in ("damaged_archive", "not_latex", "too_large", "unsafe_archive")


def test_a_line_pandoc_rejects_is_dropped_and_recorded_not_the_paper(tmp_path):
    """A stray macro parameter (what a \\newcolumntype or a package's syntax pandoc does not know leaves) stops pandoc's
    parser; the paper is kept without that line, which the metadata names, and \\verb with a space delimiter (valid
    TeX) reads as code text."""
    body = "A line with a stray #1 parameter.\nwhich we run with \\verb mpiexec  on two nodes.\n"
    docs, failures = read(_folder(tmp_path / "src", {"main.tex": MAIN % body}))
    assert failures == [] and len(docs) == 1
    md, text = docs[0].metadata, docs[0].text
    assert md["latex_lines_dropped"] == [6] and "stray" not in text
    assert "Words here." in text and "which we run with mpiexec on two nodes." in text


def test_an_archive_with_two_documents_reads_the_paper_and_names_the_other(tmp_path):
    paper = (MAIN % "The paper.").encode()
    supplement = b"\\documentstyle{article}\n\\begin{document}\n\\section{S1}\nSupplementary text.\n\\end{document}\n"
    (tmp_path / "2401.00001.tar.gz").write_bytes(_tar([("ms.TEX", paper), ("supplement.tex", supplement)]))
    docs, failures = read(tmp_path / "2401.00001.tar.gz")
    assert failures == [] and len(docs) == 1
    md = docs[0].metadata
    assert md["latex_main"] == "ms.TEX" and md["latex_other_mains"] == ["supplement.tex"] and md["arxiv_id"] == "2401.00001"
    assert "The paper." in docs[0].text and "Supplementary text" not in docs[0].text


ALGPSEUDOCODE = """\\begin{algorithm}[t]
\\caption{The inverse method for \\( [0, T) \\).}\\label{algo:inverse}
\\begin{algorithmic}[1]
\\Require the rate \\( \\lambda \\)
\\Procedure{InverseMethod}{\\( [0, T) \\), \\( \\lambda \\)}
  \\State initialize the history \\( H \\leftarrow \\{ \\} \\) \\label{line:init}
  \\While{\\( t < T \\)}
    \\State draw \\( \\Delta t \\sim \\exp(1) \\) \\Comment{as in Equation~\\ref{eq:inv}}
    \\If{\\( t > T \\)} \\State \\textbf{break} \\ElsIf{\\( t = T \\)} \\State stop \\Else \\State go on \\EndIf
  \\EndWhile
  \\State \\Return \\( H \\)
\\EndProcedure
\\end{algorithmic}
\\end{algorithm}
Algorithm~\\ref{algo:inverse} draws the times."""

ALGORITHM2E = """\\begin{algorithm}[H]
\\SetAlgoLined\\SetKwFunction{Solve}{solve}
\\KwResult{Current maps $C$}
Read the grid\\;
\\For{all pairs of nodes}{
  Solve $GV = I$\\;
  \\eIf{$r > 0$}{write $V$\\;}{skip\\;}
}
\\caption{Pairwise mode}
\\end{algorithm}"""


def test_an_algorithm_float_is_its_pseudo_code_line_by_line(tmp_path):
    """pandoc knows neither algpseudocode nor algorithm2e: it ran the statements together in one paragraph and dropped
    the loop heads, the conditions and the caption. The float is read as the lines a reader sees, maths as LaTeX."""
    text = read(_folder(tmp_path / "a", {"main.tex": MAIN % ALGPSEUDOCODE}))[0][0].text
    assert ("Algorithm 1: The inverse method for $ [0, T) $.\nRequire: the rate $ \\lambda $\n"
            "procedure InverseMethod($ [0, T) $, $ \\lambda $)\n  initialize the history $ H \\leftarrow \\{ \\} $\n"
            "  while $ t < T $ do\n    draw $ \\Delta t \\sim \\exp(1) $ ▷ as in Equation\n    if $ t > T $ then\n      break\n"
            "    else if $ t = T $ then\n      stop\n    else\n      go on\n    end if\n  end while\n  return $ H $\n"
            "end procedure") in text
    assert "Algorithm 1 draws the times." in text
    text = read(_folder(tmp_path / "b", {"main.tex": MAIN % ALGORITHM2E}))[0][0].text
    assert ("Algorithm 1: Pairwise mode\nResult: Current maps $C$\nRead the grid\nfor all pairs of nodes do\n  Solve $GV = I$\n"
            "  if $r > 0$ then\n    write $V$\n  else\n    skip\n  end if\nend for") in text
    assert "solve" not in text.split("Pairwise mode")[1]  # a keyword's definition is not read


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list("ab{}\\;$ ") + ["\\State ", "\\If{", "\\EndIf", "\\For{", "\\eIf{", "\\begin{algorithm}",
                                                        "\\end{algorithm}", "\\begin{algorithmic}", "\\end{algorithmic}",
                                                        "\\caption{", "\\label{x}", "\\ref{x}", "\\KwIn{"]), max_size=60).map("".join))
def test_the_algorithm_reading_never_raises(text):
    from corpus.papers.pseudocode import algorithm2e_lines, algorithmic_lines, algorithms_as_verbatim

    algorithms_as_verbatim(text)
    algorithmic_lines(text)
    algorithm2e_lines(text)


def test_timeout_s_is_the_papers_whole_budget_across_repairs(monkeypatch):
    """pandoc is run again after each line it rejects (up to MAX_REPAIRS times): timeout_s bounds all the runs
    together, not each one (21 runs of the timeout each were possible)."""
    import subprocess
    import time as _time

    from corpus.papers import pandoc

    runs = []

    def slow_rejecting_pandoc(args, input, capture_output, timeout):  # noqa: A002 - subprocess.run's own names
        runs.append(timeout)
        if timeout < 0.3:
            _time.sleep(timeout)
            raise subprocess.TimeoutExpired(args, timeout)
        _time.sleep(0.3)
        lines = input.decode().split("\n")
        bad = next(i for i, line in enumerate(lines, 1) if line.strip())
        return subprocess.CompletedProcess(args, 64, b"", f'Error at "source" (line {bad}, column 1):\nunexpected'.encode())

    monkeypatch.setattr(pandoc.subprocess, "run", slow_rejecting_pandoc)
    source = "\n".join(f"\\badmacro{{{i}}}" for i in range(40))
    started = _time.monotonic()
    result = pandoc.run_pandoc(source, timeout_s=1.0)
    assert _time.monotonic() - started < 2.0, runs
    assert getattr(result, "kind", None) == "latex_timeout" and len(runs) <= 5
