"""Filters on real science text (kept) and on realistic garbage made from it (dropped, with the right reason)."""

import glob
import json
import random
import textwrap

import pytest
from datatrove.data import Document
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SAMPLES, SHARED, base_manifest
from garbage import KINDS  # test tooling: tests/garbage.py
from corpus.extract import extract
from corpus.filters.interleave import InterleaveFilter
from corpus.filters.language import LanguageFilter
from corpus.filters.quality import ProseFilter, ScienceQualityFilter
from corpus.text.annotate import signals

PAPERS = [p.read_text() for p in sorted((SAMPLES / "papers" / "sofc_exp").glob("*.txt"))]


TEXT_RULES = ("quality", "language", "prose", "interleave")


def build_text_rules():
    """The build's text rules as the registry orders them by default, made by their own registrations."""
    from corpus.layout import OutputLayout
    from corpus.manifest import Manifest
    from corpus.registry import NoSettings, StepContext, default_order, steps

    manifest = Manifest.model_validate(base_manifest())
    ctx = StepContext(manifest, OutputLayout("/nonexistent"), False, NoSettings())
    return [steps()[name].process(ctx) for name in default_order() if name in TEXT_RULES]


RULES = build_text_rules()


def test_text_rules_run_in_the_registry_order():
    # structure first, so garbled text is dropped for what it is rather than as "wrong language"; prose judges English
    assert [type(f) for f in RULES] == [ScienceQualityFilter, LanguageFilter, ProseFilter, InterleaveFilter]


def chain(text: str):
    """The build's text rules in the build's order (read from the registry)."""
    doc = Document(text=text, id="t")
    for f in RULES:
        result = f.filter(doc)
        if result is not True:
            return result[1]
    return "kept"


def test_real_papers_from_every_reader_are_kept():
    texts = PAPERS + [item.text for _, item in extract([str(SAMPLES / "papers" / "pdf"), str(SAMPLES / "papers" / "xml")])
                      if isinstance(item, Document)]  # the licence files beside them are not papers
    assert len(texts) == 45 + 5
    assert {chain(t) for t in texts} == {"kept"}


@pytest.mark.parametrize("kind,reason", [
    ("font_garble", "font_garble"),
    ("encoding_garble", "encoding_garble"),
    ("letter_spaced_ocr", "letter_spaced_ocr"),
    ("number_dump", "number_dump"),
    ("repeated_lines", "repeated_lines"),
    ("boilerplate", "boilerplate"),
    ("non_english", "wrong_language"),
])
def test_each_kind_of_garbage_is_dropped_for_what_it_is(kind, reason):
    reasons = [chain(KINDS[kind](t, random.Random(i))) for i, t in enumerate(PAPERS)]
    assert reasons.count(reason) >= 0.95 * len(reasons), reasons


@pytest.mark.parametrize("kind", ["interleaved_columns", "interleaved_lines"])
def test_interleaved_columns_are_caught(kind):
    # both forms a layout-blind extractor makes: column lines side by side on one line, or taking turns
    reasons = [chain(KINDS[kind](t, random.Random(i))) for i, t in enumerate(PAPERS)]
    assert reasons.count("interleaved_columns") >= 0.95 * len(reasons), reasons


def test_hard_wrapped_papers_are_not_taken_for_interleaved():
    # clean text with a line break inside most sentences is exactly what the detector judges: it must keep it
    for width in (45, 60, 90):
        texts = ["\n".join(textwrap.wrap(" ".join(t.split()), width)) for t in PAPERS]
        assert {chain(t) for t in texts} == {"kept"}, width


def test_latex_tables_and_reference_style_prose_are_not_penalised():
    latex = ("We compute the band gap $E_g = \\hbar\\omega - \\Delta$ of \\ce{LiFePO4} using DFT+$U$ with "
             "$U_{\\mathrm{eff}} = 4.3$ eV, following Ref.~\\cite{anisimov1991}. ") * 8
    table_in_prose = ("Table 2 lists the lattice parameters. a = 3.84 Å, b = 3.84 Å, c = 11.68 Å, V = 172.2 Å3; "
                      "the refinement converged with Rwp = 4.1% and the oxygen occupancy was fixed at 0.97. ") * 6
    braces = "The space group {P4/mmm} and the Wyckoff positions {1a, 1b, 2h} follow from the symmetry analysis. " * 8
    for text in (latex, table_in_prose, braces):
        assert chain(text) == "kept", signals(text)


def test_cif_text_is_kept_and_marked_language_free():
    cif = (SAMPLES.parent / "tests" / "fixtures" / "cod" / "BaTiO3_cubic.cif").read_text()
    doc = Document(text=cif, id="c")
    assert ScienceQualityFilter().filter(doc) is True and LanguageFilter(["en"]).filter(doc) is True
    assert doc.metadata["language"] == "zxx" and ProseFilter().filter(doc) is True


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")
def test_shared_abstracts_and_cifs_are_kept():
    abstracts = [json.loads(line)["abstract"] if "abstract" in line else json.loads(line)["text"]
                 for line in open(SHARED / "abstracts" / "jarvis_supercon_abstracts.jsonl")]
    reasons = [chain(a) for a in abstracts]
    assert reasons.count("kept") >= 0.98 * len(reasons)
    assert set(reasons) <= {"kept", "too_short"}  # short abstracts may fall to the documented length rule
    cifs = [open(f).read() for f in sorted(glob.glob(str(SHARED / "crystals" / "cod_cifs" / "*.cif")))]
    assert {chain(c) for c in cifs} == {"kept"}


def test_signals_are_computed_once_and_shared():
    doc = Document(text=PAPERS[0], id="p")
    from corpus.text.annotate import Annotator

    next(Annotator().run(iter([doc])))
    doc.metadata["signals"].update(words=10, chars=50)  # a filter must read the stored values, not recompute them
    assert ScienceQualityFilter().filter(doc) == (False, "too_short")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_character_classes_count_what_str_methods_say(text):
    from corpus.text.annotate import character_classes

    assert character_classes(text) == (sum(c.isalpha() for c in text), sum(c.isdigit() for c in text),
                                       sum(c.isspace() for c in text))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_the_markup_prefilters_skip_only_texts_their_patterns_cannot_match(text):
    """The language step and the annotator skip their LaTeX scans where none of the characters a match starts with
    occurs: on such a text the scan would have found nothing."""
    from corpus.filters.language import _LATEX, _LATEX_STARTS
    from corpus.text import annotate

    if not any(c in text for c in _LATEX_STARTS):
        assert _LATEX.sub(" ", text) == text
    if "\\" not in text and "$" not in text:
        assert annotate._LATEX.findall(text) == []
    if "(cid:" not in text:
        assert annotate._CID.findall(text) == []
    if not any(c in text for c in "ÃÂâ"):
        assert annotate._MOJIBAKE.findall(text) == []


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["the", "superconducting", "film", "of", "YBa2Cu3O7", "was", "grown", "at", "1073 K", ".",
                                 "\n", "  ", "Tc", "ÉTÉ"]), max_size=9000))
def test_language_samples_are_pieces_of_the_cleaned_prose(words):
    """The language step cleans only raw windows of a long text: on text without markup each sample is a piece of the
    whole text's cleaned prose, and there are three of a third of SAMPLE_CHARS each (one sample for a short text)."""
    from corpus.filters.language import SAMPLE_CHARS, _prose, _windows

    text = " ".join(words)
    samples, prose = _windows(text), _prose(text)
    assert all(sample in prose for sample in samples)
    assert len(samples) in (1, 3) and all(len(sample) <= SAMPLE_CHARS for sample in samples)
    if len(prose) > SAMPLE_CHARS:
        assert len(samples) == 3 and all(len(sample) == SAMPLE_CHARS // 3 for sample in samples)
