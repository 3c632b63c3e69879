"""The interleave detector (corpus/filters/interleave.py): columns read across are dropped, clean text never is."""

import gzip
import math
import random
import shutil
import subprocess
import sys
import textwrap

import pytest
from datatrove.data import Document
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT, SAMPLES, base_manifest, write_manifest
from garbage import KINDS
from corpus.filters.interleave import InterleaveFilter, InterleaveSettings, JunctionModel, interleave_score, main
from corpus.manifest import ManifestError, load_manifest

PAPERS = [p.read_text() for p in sorted((SAMPLES / "papers" / "sofc_exp").glob("*.txt"))]
MODEL = JunctionModel.load()
BUNDLED_PDFS = sorted((SAMPLES / "papers" / "pdf").glob("*.pdf"))


def test_scores_both_forms_above_and_clean_wrapped_text_below_the_threshold():
    threshold = InterleaveSettings().threshold
    for i, text in enumerate(PAPERS[:12]):
        for kind in ("interleaved_columns", "interleaved_lines"):
            assert interleave_score(MODEL, KINDS[kind](text, random.Random(i))) > threshold, (i, kind)
        clean = interleave_score(MODEL, "\n".join(textwrap.wrap(" ".join(text.split()), 70)))
        assert clean is not None and clean < 0, i  # judged (wrapped prose) and clearly clean


def test_text_that_is_not_wrapped_prose_is_not_judged():
    assert interleave_score(MODEL, PAPERS[0]) is None  # one sentence a line: no running junctions
    assert interleave_score(MODEL, " ".join(PAPERS[0].split())) is None  # one paragraph
    doc = Document(text=PAPERS[0], id="p")
    assert InterleaveFilter().filter(doc) is True and "interleave_score" not in doc.metadata


def test_the_filter_records_its_score_and_names_the_reason():
    doc = Document(text=KINDS["interleaved_lines"](PAPERS[3], random.Random(3)), id="x")
    assert InterleaveFilter().filter(doc) == (False, "interleaved_columns")
    assert doc.metadata["interleave_score"] > InterleaveSettings().threshold


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler's pdftotext is not installed (make poppler)")
def test_a_real_layout_keeping_extractor_on_a_real_two_column_paper():
    # pdftotext -layout sets both columns of each page side by side, the right one at a fixed indent: real interleaving
    # of a real APS two-column paper; plain pdftotext follows the columns and is kept
    pdf = SAMPLES / "papers" / "pdf" / "PhysRevX.8.041024-CC.pdf"
    layout = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert InterleaveFilter().filter(Document(text=layout, id="l")) == (False, "interleaved_columns")
    for pdf in BUNDLED_PDFS:
        plain = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert InterleaveFilter().filter(Document(text=plain, id="p")) is True, pdf.name


def test_a_layout_blind_reading_of_a_real_pdf_is_caught():
    # words sorted by baseline across the whole page, as a tool that ignores columns reads it
    import pymupdf

    rows: dict[int, list] = {}
    lines = []
    with pymupdf.open(SAMPLES / "papers" / "pdf" / "PhysRevX.8.041024-CC.pdf") as doc:
        for page in doc:
            rows = {}
            for x0, _, _, y1, word, *_ in page.get_text("words"):
                rows.setdefault(round(y1 / 3), []).append((x0, word))
            lines += [" ".join(w for _, w in sorted(rows[y])) for y in sorted(rows)]
    assert InterleaveFilter().filter(Document(text="\n".join(lines), id="r")) == (False, "interleaved_columns")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=120), max_size=60),
       st.sampled_from(["\n", "\n\n", "\f", "   ", "\t"]))
def test_any_text_gets_a_finite_score_or_none_and_never_raises(lines, joiner):
    text = joiner.join(lines)
    score = interleave_score(MODEL, text)
    assert score is None or math.isfinite(score)
    result = InterleaveFilter().filter(Document(text=text, id="h"))
    assert result is True or result == (False, "interleaved_columns")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["the", "sample", "was", "annealed", "at", "800", "K", "and", "-", "of", "LiFePO4", ",", "."]),
                min_size=20, max_size=400), st.integers(20, 90))
def test_wrapped_word_streams_never_raise(words, width):
    text = "\n".join(textwrap.wrap(" ".join(words), width))
    score = interleave_score(MODEL, text)
    assert score is None or math.isfinite(score)


def test_the_shipped_model_is_what_its_documented_command_builds(tmp_path):
    out = tmp_path / "model.json.gz"
    main([str(SAMPLES / "general" / "general_english_slice.jsonl.gz"), *(str(SAMPLES / "papers" / f) for f in ("xml", "latex", "pdf")),
          "-o", str(out)])
    shipped = ROOT / "corpus" / "filters" / "models" / "junction_bigrams.json.gz"
    assert out.read_bytes() == shipped.read_bytes()  # byte-identical: rebuilt from the same texts, nothing stale
    own = JunctionModel.load(out)
    assert own.pmi("crystal", "structure") == MODEL.pmi("crystal", "structure") > MODEL.pmi("structure", "crystal")


def test_a_file_that_is_not_a_model_fails_clearly(tmp_path):
    bad = tmp_path / "bad.json.gz"
    with gzip.open(bad, "wt") as f:
        f.write('{"format": 99}')
    with pytest.raises(ValueError, match="junction model"):
        JunctionModel.load(bad)


def test_manifest_settings(tmp_path):
    data = base_manifest()
    data["stages"]["filters"]["interleave"] = {"threshold": "high"}
    with pytest.raises(ManifestError) as err:
        load_manifest(write_manifest(tmp_path / "a", data))
    assert "filters.interleave.threshold" in str(err.value)
    data["stages"]["filters"]["interleave"] = {"enabled": False}
    assert load_manifest(write_manifest(tmp_path / "b", data)).steps.filters.interleave.enabled is False


def test_the_documented_builder_command_runs_as_a_module(tmp_path):
    """`python -m corpus.filters.interleave` runs the module as __main__ besides the package's import of it: its step
    is registered once, not refused as a second step of the same name."""
    text = tmp_path / "clean.txt"
    text.write_text("The sample was annealed at 800 K and then cooled slowly to room temperature.\n" * 40, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "corpus.filters.interleave", str(text), "-o", str(tmp_path / "m.json.gz")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert JunctionModel.load(tmp_path / "m.json.gz").total >= 14 * 40  # every word of the text counted
