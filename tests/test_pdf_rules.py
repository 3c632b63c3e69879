"""The PDF reader's layout rules on any input (hypothesis): none raises, and the ones that drop text never drop prose.
They run on text and span dicts, so they need no PDF and no ../shared/data."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.papers.pdf import (Block, Line, _display_equations, _fixed_pitch, _is_glyph_noise, _is_real_title, _keyword_list,
                               _keywords_run_in)

PROSE = [
    "The superconducting transition temperature is depressed by Zn substitution at a rate of 19 K per at.%.",
    "We applied a pressure of 3.0 GPa to samples with x = 0.20, 0.40 and 0.45; see Fig. 2(a) for the spectra.",
    "In summary: the films (grown on SrTiO3) show a sharp drop near 80 K — 'a clean transition' — and no upturn.",
]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_the_text_rules_never_raise(text):
    _is_glyph_noise(text)
    _is_real_title(text)
    _keyword_list(text)
    _keywords_run_in(text)


@given(st.sampled_from(PROSE), st.integers(1, 4))
def test_prose_is_never_glyph_noise(sentence, times):
    assert not _is_glyph_noise(" ".join([sentence] * times))


def test_a_scans_plot_text_is_glyph_noise():
    assert _is_glyph_noise("~ ])i 9 o12 K~kb., ,! ....... ;Z:o i ; ~ u a2 CUo.~ nool )a x")
    assert not _is_glyph_noise("ρ[... + ρ[ inf xT ∈XT (xT −1,ωT )fT (xT , ωT )]...]]")  # an equation's text layer stays


def test_keywords_run_in_only_as_a_list():
    assert _keyword_list(_keywords_run_in("Keywords landscape ecology, computational ecology").group(2)) == [
        "landscape ecology", "computational ecology"]
    assert _keywords_run_in("Keywords are chosen by the authors. They help indexing, too.") is None


_span = st.fixed_dictionaries({
    "font": st.sampled_from(["F75", "F18", "T1", "NimbusRomNo9L-Regu"]),
    "size": st.floats(0.0, 30.0),
    "chars": st.lists(st.fixed_dictionaries({"c": st.characters(codec="utf-8"),
                                             "origin": st.tuples(st.floats(-1e4, 1e4), st.floats(-1e4, 1e4))}), max_size=30),
})


@settings(max_examples=200, deadline=None)
@given(st.lists(_span, max_size=20))
def test_the_pitch_test_never_raises_and_answers_only_fonts_asked(spans):
    pitch = _fixed_pitch(spans, {"F75", "T1"})
    assert set(pitch) <= {"F75", "T1"} and all(isinstance(v, bool) for v in pitch.values())


def test_equal_steps_are_fixed_pitch_and_text_steps_are_not():
    mono = {"font": "F75", "size": 7.0, "chars": [{"c": c, "origin": (4.6 * i, 0.0)} for i, c in enumerate("function MSTBcast(x, root)")]}
    widths = {"i": 2.2, "l": 2.2, "m": 7.0, "w": 6.5, "a": 4.0, "e": 4.0, "n": 4.5, "t": 2.5, "r": 3.0, "o": 4.5, "s": 3.5, "h": 4.5}
    xs, chars = 0.0, []
    for c in "the iron films were annealed in a stream of oxygen then slowly warmed":
        chars.append({"c": c, "origin": (xs, 0.0)})
        xs += widths.get(c, 4.0) if c != " " else 2.5
    prop = {"font": "T1", "size": 9.0, "chars": chars}
    assert _fixed_pitch([mono, prop], {"F75", "T1"}) == {"F75": True, "T1": False}


_line = st.builds(lambda t, y, x, h: Line(t, 10.0, False, (x, y, x + 5 * max(len(t), 1), y + h)),
                  st.text(max_size=30), st.floats(0, 800), st.floats(0, 600), st.floats(0.0, 20.0))
_block = st.builds(lambda page, y, lines, bold: Block(page, (0.1, y, 0.5, min(1.0, y + 0.02)),
                                                     [Line(ln.text, ln.size, bold, ln.bbox) for ln in lines]),
                   st.integers(0, 2), st.floats(0, 0.98), st.lists(_line, min_size=1, max_size=3), st.booleans())


@settings(max_examples=200, deadline=None)
@given(st.lists(_block, max_size=12))
def test_equation_assembly_never_raises_and_loses_no_block_it_does_not_assemble(blocks):
    out = _display_equations(blocks, 10.0)
    assembled = [b for b in out if b.equation]
    kept = [b for b in out if not b.equation]
    # what it does not assemble passes through untouched (the same objects: two blocks may be equal), in order
    assert all(any(b is x for x in blocks) for b in kept)
    assert [b for b in blocks if any(b is k for k in kept)] == kept
    assert all(len(b.lines) == 1 for b in assembled)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.integers(200, 330), st.booleans()), min_size=1, max_size=12))
def test_paragraphs_set_line_under_line_are_never_a_table_of_words(shapes):
    """Blocks whose lines stand one under another (any number, any width, indented first line or not) are no table
    row, so no run of them is taken for a table's body."""
    from corpus.papers.pdf import _word_table_runs

    blocks, y = [], 50.0
    for n, width, indent in shapes:
        lines = []
        for k in range(n):
            x0 = 72 + (12 if indent and k == 0 else 0)
            lines.append(Line("words of a sentence that goes on", 10.0, False, (x0, y, x0 + width, y + 11)))
            y += 12
        blocks.append(Block(0, (0.1, y / 800, 0.5, (y + 12) / 800), lines))
        y += 6
    assert _word_table_runs(blocks) == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(1, 4)), min_size=3, max_size=10), st.integers(150, 260))
def test_rows_of_cells_side_by_side_are_one_table(rows, second_column):
    """Rows whose cells stand side by side, each cell wrapped over any number of lines under its own left edge: one
    run, every row in it, and each cell's lines in their column of the Markdown table."""
    from corpus.papers.pdf import _word_table, _word_table_runs

    blocks, y = [], 50.0
    for r, (left, right) in enumerate(rows):
        lines = [Line(f"name{r}x{k}", 10.0, False, (72, y + 12 * k, 130, y + 12 * k + 11)) for k in range(left)]
        lines += [Line(f"about{r}x{k}", 10.0, False, (second_column, y + 12 * k, second_column + 150, y + 12 * k + 11))
                  for k in range(right)]
        blocks.append(Block(0, (0.1, y / 800, 0.6, (y + 12 * max(left, right)) / 800), lines))
        y += 12 * max(left, right) + 8
    assert _word_table_runs(blocks) == [list(range(len(rows)))]
    table = _word_table(blocks).split("\n")
    assert len(table) == len(rows) + 1
    for r, (left, right) in enumerate(rows):
        row = table[r + 1 if r else 0]
        assert row == "| " + " ".join(f"name{r}x{k}" for k in range(left)) + " | " + " ".join(f"about{r}x{k}" for k in range(right)) + " |"


def test_numbered_points_are_prose_and_numbered_entries_with_authors_are_not():
    from corpus.papers.pdf import _is_prose

    point = ("2) Reconciliation of the heat capacity data puts tight constraints on an acceptable model. At the lowest "
             "temperatures we can probe there remains a linear term in the specific heat with a finite intercept.")
    assert _is_prose(point)
    entry = ("12. J. L. Tallon, C. Bernhard, H. Shaked, R. L. Hitterman and J. D. Jorgensen, Generic superconducting "
             "phase behavior in high-Tc cuprates: Tc variation with hole concentration in YBa2Cu3O7, Phys. Rev. B 51 (1995).")
    bracketed = ("[7] Jeff Bezanson, Alan Edelman, Stefan Karpinski and Viral Shah. Julia: a fresh approach to numerical "
                 "computing. SIAM Review, volume fifty-nine, issue one, pages sixty-five to ninety-eight, in the year 2017.")
    assert not _is_prose(entry) and not _is_prose(bracketed)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.text(alphabet="abcdefgh ←∗()", min_size=1, max_size=20)), min_size=2, max_size=8))
def test_numbered_steps_are_an_algorithm_only_when_they_count_up(steps):
    """Rows "N: text": read as an algorithm's steps (numbers gone, a step a line) exactly when the numbers count up
    by one; any other block of rows is left to the other rules."""
    from corpus.papers.pdf import _algorithm_steps

    lines = [Line(f"{n}: x{t}", 10.0, False, (72, 100 + 12 * k, 300, 110 + 12 * k)) for k, (n, t) in enumerate(steps)]
    out = _algorithm_steps(Block(0, (0.1, 0.1, 0.5, 0.3), lines))
    numbers = [n for n, _ in steps]
    if all(b == a + 1 for a, b in zip(numbers, numbers[1:])):
        assert out is not None and out.split("\n") == [f"x{t}".strip() for _, t in steps]
    else:
        assert out is None
