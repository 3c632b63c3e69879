"""The learned PDF reader's stages (corpus/formats/pdf): page blocks, reading order, block features, the alignment
that labels blocks from a paper's ground truth, and the role model (determinism, and that it learns a role from
layout alone). The generalisation figures are benchmarks/pdf_learned.py's (BENCHMARKS.md)."""

from __future__ import annotations

import gzip

import numpy as np
import pymupdf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SAMPLES
from corpus.formats.pdf.order import is_band, page_order, reading_order
from corpus.formats.pdf.page import PageBlock, document_blocks, join_lines
from corpus.formats.pdf.roles.features import FEATURES, block_features
from corpus.formats.pdf.roles.model import RoleModel, load, save
from corpus.formats.pdf.training.align import Truth, alignment_coverage, labels

PDF = SAMPLES / "papers" / "pdf" / "PhysRevX.8.041024-CC.pdf"


def block(x0, y0, x1, y1, text="text of a block", page=0, size=10.0) -> PageBlock:
    return PageBlock(page=page, bbox=(x0, y0, x1, y1), lines=[text], size=size, max_size=size, bold=0.0, italic=0.0,
                     mono=0.0, page_width=600.0, page_height=800.0, line_boxes=[(x0, y0, x1, y1)])


def test_two_columns_are_read_left_then_right_between_full_width_bands():
    title = block(50, 50, 550, 80, "title")
    left1, left2 = block(50, 100, 290, 300, "l1"), block(50, 310, 290, 500, "l2")
    right1, right2 = block(310, 100, 550, 300, "r1"), block(310, 310, 550, 500, "r2")
    figure = block(50, 520, 550, 600, "full-width figure caption")
    left3, right3 = block(50, 620, 290, 750, "l3"), block(310, 620, 550, 750, "r3")
    shuffled = [right3, figure, left2, title, right1, left3, right2, left1]
    assert [b.text for b in page_order(shuffled)] == ["title", "l1", "l2", "r1", "r2", "full-width figure caption", "l3", "r3"]
    assert is_band(title) and not is_band(left1)


def test_a_short_last_line_of_a_one_column_paragraph_stays_in_place():
    lines = [block(50, 100 + 20 * i, 550, 115 + 20 * i, f"line {i}") for i in range(3)]
    short = block(50, 160, 200, 175, "short end")
    after = block(50, 180, 550, 195, "next paragraph")
    assert [b.text for b in page_order([after, short, *lines])] == ["line 0", "line 1", "line 2", "short end", "next paragraph"]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 500), st.floats(0, 700), st.floats(5, 300), st.floats(5, 100)), max_size=30))
def test_order_keeps_every_block_once(boxes):
    blocks = [block(x, y, min(600, x + w), min(800, y + h), f"b{i}") for i, (x, y, w, h) in enumerate(boxes)]
    assert sorted(b.text for b in page_order(blocks)) == sorted(b.text for b in blocks)


def test_hyphenated_line_ends_are_joined():
    assert join_lines(["the super-", "conductor is", "(Fig. 2)"]) == "the superconductor is (Fig. 2)"
    assert join_lines(["Cu-", "O planes"]) == "Cu- O planes"  # a capital after the hyphen: a compound, kept


def test_alignment_labels_text_blocks_and_not_running_lines():
    truth = Truth("Superconductivity in layered nickelates. We report the discovery of superconductivity at 15 K "
                  "in thin films of the infinite layer nickelate. Figure 1. Resistivity against temperature.")
    texts = ["We report the discovery of superconductivity at 15 K in thin films", "Phys. Rev. X 8, 041024 (2018)", "3",
             "Figure 1. Resistivity against temperature.", "nickelates"]
    keep = labels(texts, truth)
    assert keep == [1, 0, 0, 1, 1]
    assert 0.5 < alignment_coverage(texts, keep, truth) <= 1.0


@pytest.fixture(scope="module")
def sample_blocks():
    with pymupdf.open(PDF) as doc:
        return reading_order(document_blocks(doc))


def test_features_are_finite_and_deterministic(sample_blocks):
    a, b = block_features(sample_blocks), block_features(sample_blocks)
    assert a.shape == (len(sample_blocks), len(FEATURES)) and np.isfinite(a).all()
    assert np.array_equal(a, b)
    assert block_features([]).shape == (0, len(FEATURES))


def test_the_model_learns_a_role_from_layout_and_is_deterministic(sample_blocks, tmp_path):
    """Running lines in the page margins are a role the features show: a model trained on one half of the blocks
    finds them on the other half; trained twice on the same data it is the same bytes; saved and loaded, it gives
    the same probabilities."""
    x = block_features(sample_blocks)
    margin = (x[:, FEATURES.index("in_top_margin")] + x[:, FEATURES.index("in_bottom_margin")]) > 0
    y = (~margin).astype(int)
    assert 5 < margin.sum() < len(margin) - 5  # both roles are there to learn
    documents = np.arange(len(y)) // 40  # pseudo-documents, for the context pass's cross-fitting
    train = np.arange(len(y)) % 2 == 0
    first = RoleModel.train(x[train], y[train], documents[train])
    second = RoleModel.train(x[train], y[train], documents[train])
    save(first, tmp_path / "a.json.gz")
    save(second, tmp_path / "b.json.gz")
    assert (tmp_path / "a.json.gz").read_bytes() == (tmp_path / "b.json.gz").read_bytes()
    predicted = first.probabilities(x[~train]) >= 0.5
    assert (predicted == y[~train].astype(bool)).mean() > 0.95
    assert np.array_equal(load(tmp_path / "a.json.gz").probabilities(x), first.probabilities(x))


def test_the_shipped_trees_predict_what_scikit_learn_predicts(sample_blocks):
    """The array form of the trees (roles/trees.py) against scikit-learn's own predictor, on real features, on
    random ones and on missing values."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from corpus.formats.pdf.roles.trees import Forest

    x = block_features(sample_blocks)
    y = (x[:, FEATURES.index("size_ratio")] > 1.0).astype(int) ^ (x[:, FEATURES.index("y0")] > 0.5).astype(int)
    rng = np.random.default_rng(0)
    noisy = x.copy()
    noisy[rng.random(x.shape) < 0.05] = np.nan
    fitted = HistGradientBoostingClassifier(max_iter=50, random_state=0, early_stopping=False).fit(noisy, y)
    forest = Forest.of(fitted)
    for rows in (x, noisy, rng.normal(size=(200, x.shape[1])) * 3):
        assert np.allclose(forest.probabilities(rows), fitted.predict_proba(rows)[:, 1], rtol=0, atol=1e-12)


def test_a_damaged_model_file_is_named_not_run(tmp_path):
    bad = tmp_path / "model.json.gz"
    for body in (b"not gzip", gzip.compress(b"[1, 2]"), gzip.compress(b'{"format": "corpus.pdf.role_model/1", "features": []}')):
        bad.write_bytes(body)
        load.cache_clear()
        with pytest.raises(RuntimeError, match="role model"):
            load(bad)


def test_the_shipped_model_reads_a_paper_into_title_abstract_and_sections():
    from corpus.formats.pdf.reader import PdfExtractor
    from corpus.formats.pdf.roles.model import MODEL_FILE

    assert MODEL_FILE.stat().st_size < 5_000_000  # shipped inside the package
    reading = PdfExtractor().extract(PDF.read_bytes())
    paper = reading.paper
    assert paper.title  # a title was found
    assert paper.abstract and paper.sections
    roles = {d.role for d in reading.decisions}
    assert {"title", "abstract", "body", "dropped"} <= roles
    assert reading.pages == paper.metadata["pages"] > 1


def test_the_reader_names_every_failure():
    from corpus.formats.pdf.reader import PdfExtractor
    from corpus.records import Failure

    reader = PdfExtractor()
    assert reader.extract(b"<html>not a pdf</html>").kind == "not_a_pdf"
    cut = PDF.read_bytes()[: len(PDF.read_bytes()) // 2]
    assert isinstance(reader.extract(cut), Failure) and reader.extract(cut).kind in ("damaged_pdf", "no_pages")
    blank = pymupdf.open()
    blank.new_page()
    assert reader.extract(blank.tobytes()).kind == "no_text_layer"


def test_corpus_extract_explain_shows_every_block_and_agrees_with_the_text(capsys, tmp_path):
    from corpus.cli import main

    assert main(["extract", str(PDF), "--explain", "--option", "ocr=off"]) == 0
    out = capsys.readouterr().out
    assert "role" in out and "title" in out and "dropped" in out
    out_file = tmp_path / "doc.jsonl"
    assert main(["extract", str(PDF), "--reader", "pdf", "-o", str(out_file)]) == 0
    import json

    doc = json.loads(out_file.read_text().splitlines()[0])
    assert len(doc["text"]) > 5000
    kept = [line.split(None, 5)[5][:40] for line in out.splitlines()[2:] if line.split()[3:4] == ["body"]]
    assert kept and all(" ".join(k.rstrip("…").split()) in " ".join(doc["text"].split()) for k in kept[:20])
    assert main(["extract", str(tmp_path / "missing.pdf"), "--explain"]) != 0
    assert main(["extract", str(PDF), "--explain", "--option", "ocr=sometimes"]) != 0  # a bad option is named


def test_assembly_opens_sections_at_headings_even_where_the_model_dropped_them():
    """SuperMat's truths leave headings out, so the model learns to drop them; a numbered or named heading still opens
    its section, which ends the abstract and lets the section policy drop a reference list by its kind."""
    from corpus.formats.pdf.assemble import decide, paper_of
    from corpus.papers.model import SectionPolicy

    blocks = [block(50, 50, 550, 80, "Superconductivity in a layered nickelate", size=16),
              block(50, 100, 550, 200, "We report superconductivity at 15 K in thin films of a nickelate."),
              block(50, 210, 200, 225, "1. Introduction"),
              block(50, 230, 550, 400, "Nickelates have long been studied as analogues of the cuprates."),
              block(50, 410, 200, 425, "References"),
              block(50, 430, 550, 500, "[1] A. Author, Phys. Rev. B 1, 2 (2000)."),
              block(50, 510, 90, 525, "(a)")]
    decisions = decide(blocks, [0.9, 0.95, 0.1, 0.97, 0.2, 0.6, 0.1])
    assert [d.role for d in decisions] == ["title", "abstract", "heading", "body", "heading", "body", "dropped"]
    paper = paper_of(decisions)
    assert paper.title.startswith("Superconductivity") and paper.abstract == [blocks[1].text]
    text, _, dropped = SectionPolicy().render(paper)
    assert "analogues of the cuprates" in text and "Phys. Rev. B" not in text and dropped == ["References"]


def test_a_caption_after_the_reference_list_is_not_dropped_with_it():
    """Manuscripts put their figure captions after the references: a caption the model keeps there opens a body
    section of its own, while a reference entry the model kept is still dropped with its list."""
    from corpus.formats.pdf.assemble import decide, paper_of
    from corpus.papers.model import SectionPolicy

    blocks = [block(50, 50, 550, 80, "Pressure effects in a layered nickelate", size=16),
              block(50, 100, 550, 300, "We report superconductivity at 15 K under pressure."),
              block(50, 410, 200, 425, "References"),
              block(50, 430, 550, 500, "[1] A. Author, Phys. Rev. B 1, 2 (2000)."),
              block(50, 100, 550, 200, "FIG. 1. Resistance against temperature at 2, 4 and 6 GPa.", page=1),
              block(50, 210, 550, 260, "The onset of the transition moves up with pressure.", page=1)]
    decisions = decide(blocks, [0.9, 0.95, 0.1, 0.6, 0.9, 0.9])
    text, spans, dropped = SectionPolicy().render(paper_of(decisions))
    assert "Resistance against temperature" in text and "onset of the transition" in text
    assert "Phys. Rev. B" not in text and dropped == ["References"]
