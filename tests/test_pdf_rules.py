"""The PDF reader's named rules (the ones a block-role model cannot learn) on any input (hypothesis): none raises,
and the ones that take text out of the body never take prose. They run on text, blocks and span dicts, so they need
no PDF and no ../shared/data."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.formats.pdf.assemble import Decision, _continues, keyword_list, paper_of
from corpus.formats.pdf.page import PageBlock, drop_line_numbers, join_lines
from corpus.formats.pdf.reader import is_real_title
from corpus.papers.model import SectionPolicy

PROSE = [
    "The superconducting transition temperature is depressed by Zn substitution at a rate of 19 K per at.%.",
    "We applied a pressure of 3.0 GPa to samples with x = 0.20, 0.40 and 0.45; see Fig. 2(a) for the spectra.",
    "In summary: the films (grown on SrTiO3) show a sharp drop near 80 K — 'a clean transition' — and no upturn.",
]


def block(text: str, page: int = 0, y: float = 100.0, mono: float = 0.0, table: str = "") -> PageBlock:
    lines = text.split("\n")
    return PageBlock(page=page, bbox=(50.0, y, 550.0, y + 12 * len(lines)), lines=lines, size=10.0, max_size=10.0,
                     bold=0.0, italic=0.0, mono=mono, page_width=600.0, page_height=800.0, table=table)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400), st.text(max_size=200))
def test_the_text_rules_never_raise(text, other):
    is_real_title(text)
    keyword_list(text)
    _continues(text, other)
    join_lines(text.split("\n"))


@given(st.sampled_from(PROSE), st.integers(1, 4))
def test_prose_is_never_a_keyword_list(sentence, times):
    assert keyword_list(" ".join([sentence] * times)) is None


def test_keyword_lists_in_their_three_settings():
    assert keyword_list("Keywords: Julia, machine learning; optimisation") == ["Julia", "machine learning", "optimisation"]
    assert keyword_list("Keywords landscape ecology, computational ecology") == ["landscape ecology", "computational ecology"]
    assert keyword_list("Keywords") == []  # a heading: the list is the next block
    assert keyword_list("Keywords are often chosen badly. We chose none.") is None


def test_metadata_titles_that_are_identifiers_or_file_names_are_not_titles():
    for title in ("PII: 0378-4363(87)90248-8", "Microsoft Word - paper.docx", "main.dvi", "untitled", "doi:10.1103/x"):
        assert not is_real_title(title), title
    assert is_real_title("Nematic superconductivity in CuxBi2Se3")


def test_a_paragraph_cut_by_a_column_break_is_one_paragraph_and_a_caption_is_never_joined():
    decisions = [Decision(block("1. Introduction"), 0.99, "heading"),
                 Decision(block("The films were grown on SrTiO3 substrates at", y=200), 0.99, "body"),
                 Decision(block("running header of the journal", y=10), 0.01, "dropped"),
                 Decision(block("a temperature of 700 C. They were then annealed.", page=1), 0.99, "body"),
                 Decision(block("Fig. 1. The resistance of the films against temperature", page=1, y=300), 0.99, "body"),
                 Decision(block("and the transition is sharp.", page=1, y=400), 0.99, "body")]
    paper = paper_of(decisions)
    assert paper.sections[0].paragraphs == [
        "The films were grown on SrTiO3 substrates at a temperature of 700 C. They were then annealed.",
        "Fig. 1. The resistance of the films against temperature", "and the transition is sharp."]


def test_an_unheaded_acknowledgement_and_what_follows_it_leave_the_text_until_a_caption():
    decisions = [Decision(block("We observe a sharp transition at 92 K in every sample."), 0.99, "body"),
                 Decision(block("We thank the staff of the beamline for their help.", y=200), 0.99, "body"),
                 Decision(block("This work was supported by a national grant.", y=250), 0.99, "body"),
                 Decision(block("Figure 3. Specific heat of the crystals.", page=1), 0.99, "body")]
    text = SectionPolicy().render(paper_of(decisions))[0]
    assert "We observe" in text and "Figure 3." in text and "thank" not in text and "grant" not in text


def test_after_paragraph_holds_a_caption_until_the_paragraph_ends_and_a_table_follows_its_caption():
    decisions = [Decision(block("The lattice parameters in"), 0.99, "body"),
                 Decision(block("Table 1. Lattice parameters of the samples.", y=200), 0.99, "body"),
                 Decision(block("", y=220, table="| x | a |\n|---|---|\n| 0.1 | 3.8 |"), 0.5, "table"),
                 Decision(block("the films grow with x.", y=300), 0.99, "body")]
    inline = paper_of(decisions).sections[0].paragraphs
    assert inline[1] == "Table 1. Lattice parameters of the samples.\n| x | a |\n|---|---|\n| 0.1 | 3.8 |"
    held = paper_of(decisions, "after_paragraph").sections[0].paragraphs
    assert held[0] == "The lattice parameters in the films grow with x." and held[1].startswith("Table 1. Lattice")


def test_a_listing_keeps_its_lines_and_loses_its_frame():
    assert block("\ufffd \ufffd\nx = 1\ny = f(x)\n\ufffd", mono=1.0).text == "x = 1\ny = f(x)"
    assert block("the super-\nconductor", mono=0.0).text == "the superconductor"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.tuples(st.sampled_from(["12", "7", "word", "The text", " ", "3.5"]), st.floats(0, 500)),
                         max_size=6), max_size=30))
def test_line_number_removal_never_raises_and_removes_only_bare_numbers(lines):
    raw = [{"type": 0, "lines": [{"spans": [{"text": t, "bbox": (x, 0, x + 10, 10), "size": 10.0} for t, x in spans]}
                                 for spans in lines]}]
    before = [s["text"] for ln in raw[0]["lines"] for s in ln["spans"]]
    drop_line_numbers(raw)
    after = [s["text"] for ln in raw[0]["lines"] for s in ln["spans"]]
    removed = list(before)
    for t in after:
        removed.remove(t)
    assert all(t.strip().isdigit() for t in removed)


def test_manuscript_line_numbers_counting_up_are_removed_and_a_lone_number_stays():
    def line(n, words):
        return {"spans": [{"text": str(n), "bbox": (20, 0, 30, 10), "size": 10.0},
                          {"text": words, "bbox": (60, 0, 400, 10), "size": 10.0}]}
    raw = [{"type": 0, "lines": [line(n, f"sentence {n} of the text") for n in range(1, 13)]}]
    drop_line_numbers(raw)
    assert all(len(ln["spans"]) == 1 for ln in raw[0]["lines"])
    raw = [{"type": 0, "lines": [line(42, "a table row with one number")]}]
    drop_line_numbers(raw)
    assert len(raw[0]["lines"][0]["spans"]) == 2
