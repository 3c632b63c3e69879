"""The PDF reader on layout classes outside its 18 development papers, each on a real paper of
../shared/data/papers/pdf_groundtruth (the whole module skips without it)."""

from __future__ import annotations

import re

import pytest

from conftest import SHARED
from corpus.formats.pdf.reader import PdfExtractor

GT = SHARED / "papers" / "pdf_groundtruth"
pytestmark = pytest.mark.skipif(not GT.is_dir(), reason="../shared/data is not beside the repository")


def extract(collection: str, stem: str):
    return PdfExtractor().extract((GT / collection / "pdf" / f"{stem}.pdf").read_bytes())


def test_a_heading_number_set_apart_from_its_title_still_makes_a_heading():
    """JuliaCon proceedings set "2." and "Statement of need" as two lines on one baseline; the first one stands
    right above the body's first paragraph, where the front matter used to swallow it."""
    paper = extract("juliacon_proc", "jcon.00165").paper
    titles = [s.title for s in paper.sections]
    assert titles[:3] == ["1. Summary", "2. Statement of need", "3. Perspectives"]


def test_a_reference_list_of_full_names_and_dois_is_cut():
    text = extract("juliacon_proc", "jcon.00165").text
    assert "Bezanson" not in text and "doi:10.1137" not in text
    assert "Peridynamics is a nonlocal continuum mechanics formulation" in text


def test_manuscript_line_numbers_are_removed():
    text = extract("papers_in_repo", "msd_errors").text
    # the page read "population 69 of simulation", "observed 83 mean squared": line numbers inside the sentences
    assert "statistical population of simulation MSDs" in text and "the observed mean squared displacement" in text
    assert not re.search(r"\b(69|83|128|140) (of simulation|mean squared)", text)


def test_a_supplement_bound_in_after_the_paper_is_dropped():
    result = extract("papers_in_repo", "msd_errors")
    dropped = [s for s in result.paper.sections if s.kind == "supplementary"]
    assert len(dropped) == 1 and dropped[0].title.startswith("Supplemental Material for")
    assert "This document presents supplementary material" not in result.text


def test_a_long_numbered_author_list_and_its_affiliations_stay_out():
    """A paper with dozens of authors ("Dhruv Balwada 1, Ryan Abernathey 1, ..."): longer than any paragraph test, it
    is still a list of names, and the affiliations after it are front matter."""
    text = extract("jose", "jose.00241").text
    assert "Balwada" not in text and "Lamont Doherty Earth Observatory" not in text


def test_sidebar_dates_and_affiliations_in_other_languages_stay_out():
    text = extract("jose", "jose.00260").text
    assert "Submitted:" not in text and "Published: 29 April" not in text
    assert "Universidad de Buenos Aires" not in text


SUPERMAT = SHARED / "papers" / "pdf_supermat" / "pdf"


def test_a_maths_font_that_maps_to_icelandic_letters_is_repaired():
    """APS typesetting: parentheses, '=' and '+' of a maths font come out as ð Þ ¼ þ ("T ¼ 4.3 K", "Oð10Þ")."""
    text = PdfExtractor().extract((SUPERMAT / "PhysRevX.9.021044-CC.pdf").read_bytes()).text
    assert "ð" not in text and "Þ" not in text and "¼" not in text
    assert "planar O(1) and O(10) in the RuO2 plane" in text


def test_a_table_of_contents_is_not_the_reference_list():
    """A supplement that opens with a table of contents: its "References 6" entry used to start the reference list,
    and everything after it but long prose was dropped (headings, short paragraphs)."""
    result = extract("papers_in_repo", "dropimpact_prl_supp")
    titles = [s.title for s in result.paper.sections]
    assert "I. DIRECT NUMERICAL SIMULATIONS" in titles and "A. Governing equations" in titles
    assert "CONTENTS" not in result.text and "Direct numerical simulations 2" not in result.text  # the listing goes
    assert "We perform direct numerical simulations of an axisymmetric incompressible drop" in result.text


def test_the_cells_of_a_ruled_table_of_words_are_not_read_as_prose():
    """Tables whose cells are words (learning objectives, methods), closed by horizontal rules below their caption:
    the numbers rule does not see them; without keep_tables their cells go as the other readers drop them, and the
    prose between two such tables stays."""
    text = extract("jose", "jose.00260").text
    assert "Day 1: The workbench" not in text and "Live coding or demonstrations" not in text
    assert "Table 1: Overview of the 4 modules and learning objectives." in text  # the caption stays
    assert "The workshop can be taught on-line or in person" in text
    other = extract("jose", "jose.00292").text  # a page-footer rule as wide as the text is not the table's
    assert "Python for Everybody Specialization" not in other
    assert "illustrates the popularity and scope of beginner-friendly MOOCs" in other
    assert "Understanding these packages allows students" in other
    kept = PdfExtractor(keep_tables=True).extract((GT / "jose" / "pdf" / "jose.00292.pdf").read_bytes()).text
    assert "Python for Everybody Specialization" in kept  # keep_tables keeps the body, as a table


def test_a_collaborations_author_list_with_marks_and_spaced_commas_stays_out():
    """An AASTeX collaboration paper: dozens of names over many blocks, "Lim ," with its comma set apart and "∗"
    marks before names; the first page's front matter runs past the usual 25 blocks."""
    text = extract("papers_in_repo", "astropy_v5").text
    assert "Nathaniel Starkman" not in text and "Maximilian Nöthe" not in text
    assert "The Python programming language is a high-level, interpreted" in text


def test_code_listings_are_kept_line_by_line():
    """JuliaCon proceedings set their code in a monospaced font, often smaller than the body: it was dropped as small
    type or fragments, or glued to the next sentence. A listing is kept line by line, and the prose after it starts
    its own paragraph."""
    result = extract("juliacon_proc", "jcon.00163")
    code = [p for s in result.paper.sections for p in s.paragraphs if p.startswith("model = Chain (")]
    assert code and code[0].split("\n")[1:3] == ["(x) -> ( sqrt (γ) * x),", "SandwichFC ( nu => nh [1], relu ; T),"]
    assert "\ufffd" not in code[0]  # the listing's frame
    assert "This model is equivalent to a dense LBDN" in result.text


def test_a_footnote_is_dropped_and_the_paragraph_it_cut_runs_on():
    """A footnote (a raised number, smaller type, at the foot of a column) is dropped as the XML and LaTeX readers drop
    footnotes; the paragraph that ran round it is one paragraph again."""
    text = extract("papers_in_repo", "legwork_paper").text
    assert "is already included in the Robson et al. (2019) sensitivity" not in text
    assert "written in Flanagan & Hughes (1998) for the LIGO response function" not in text
    paper = extract("juliacon_proc", "jcon.00035").paper
    assert not any(p.startswith(("1Note that", "2Note that")) for s in paper.sections for p in s.paragraphs)


def test_panel_letters_and_tick_labels_in_body_type_stay_out():
    """A figure drawn by matplotlib sets its panel letters and labels in DejaVu Sans at the body's size: "(b)" and
    "1 -> 1" were read as paragraphs. A short block without a word goes, unless it is a relation (a display
    equation's line)."""
    text = extract("livecoms", "pyemma_tutorials").text
    lines = text.split("\n")
    assert "(b)" not in lines and "1 -> 1" not in lines and "(b) (c)" not in lines
    assert "Figure 4. Example analysis of the conformational dynamics" in text


def test_an_author_list_that_runs_onto_later_pages_stays_out_with_its_affiliations():
    """A collaboration's list fills its first page and runs on over the next with its affiliations; the page turn
    no longer ends the front matter, and the footnote on the author list at the first page's foot is no abstract."""
    result = extract("papers_in_repo", "astropy_v5")
    assert "Rohit R. Patil" not in result.text and "Flatiron Institute" not in result.text
    assert result.paper.abstract[0].startswith("The Astropy Project supports and fosters the development")
    assert "The author list has two parts" not in result.text


def test_keywords_are_the_papers_keywords_not_body_text():
    """"Keywords" set as a heading over its list, run in before it, or with a colon: the list goes where the XML
    readers put keywords (left out of the text by default), not into the body."""
    for stem, first in (("jcon.00035", "Julia"), ("jcon.00058", "landscape ecology")):
        result = extract("juliacon_proc", stem)
        assert result.paper.keywords[0] == first and "Keywords" not in result.text
    assert extract("papers_in_repo", "legwork_paper").paper.keywords[:2] == ["open source software", "gravitational waves"]


def test_a_scans_text_layer_read_off_its_plots_stays_out_and_an_identifier_is_no_title():
    path = SHARED / "papers" / "pdf_supermat" / "pdf" / "PHC1480411-CC.pdf"
    result = PdfExtractor().extract(path.read_bytes())
    assert ";Z:o i ; ~ u a2" not in result.text and "...:::::::::.." not in result.text
    assert result.paper.title is None or not result.paper.title.startswith("PII")
    assert "Fig. 4. Resistance versus temperature for EuBa2" in result.text


def test_link_footnotes_in_typewriter_type_are_footnotes_not_code():
    """JuliaCon sets a footnote that is a URL in typewriter type after a raised mark ("13https://github.com/SciML/...");
    the code-listing rule took them for listings and kept them in the text."""
    text = extract("juliacon_proc", "jcon.00133").text
    assert "https://github.com/SciML/SciMLBenchmarks.jl/tree" not in text
    assert "https://github.com/dm13450/HawkesProcesses.jl" not in text


def test_a_preprint_class_page_foot_stays_out_and_the_paragraph_it_cut_is_whole():
    text = extract("papers_in_repo", "vspec_paper").text
    assert "Preprint submitted to" not in text


def test_an_acknowledgement_run_in_with_a_colon_and_its_continuation_stay_out():
    """A letter's "Acknowledgements: The authors are grateful to Pierre Chantelot, Andrea Prosperetti," runs into the
    next column, which opens on a name: the paragraph goes on across the break (it ended on a comma), and all of it is
    an acknowledgement, out of the text as a headed one is."""
    result = extract("papers_in_repo", "dropimpact_prl")
    assert "Chantelot" not in result.text and "Uddalok Sen" not in result.text and "SURFsara" not in result.text


def test_an_acknowledgement_cut_by_a_page_on_a_name_goes_on():
    result = extract("papers_in_repo", "linearization_issues")
    assert "Kasper Tolborg" not in result.text


def test_a_piece_of_a_reference_entry_that_reads_like_prose_stays_out():
    """MuPDF cuts a reference list into blocks; a piece such as "Schilling. TaylorModels.jl: Taylor models in Julia and
    its application to validated solutions of ODEs. In SWIM, 2019." has too few years and initials to look like one,
    but it is set right under the entry it belongs to, after the References heading."""
    text = extract("juliacon_proc", "jcon.00122").text
    assert "TaylorModels.jl: Taylor models in Julia and its application" not in text
    assert "Juan Pablo Vielma" not in text


def test_captions_set_after_the_acknowledgements_are_kept():
    """Floats placed at the end, after an acknowledgement paragraph: their captions are no part of it, and went with
    it when the section policy dropped the acknowledgements."""
    text = extract("livecoms", "kinase_similarity").text
    assert "Table 2. Set of defined kinases." in text


def test_a_table_of_words_without_rules_or_caption_is_a_table():
    """A Markdown table in a JOSE paper: no rules, no caption, each row a block whose cells stand side by side. Its
    rows used to read as prose; without keep_tables its body goes (as the JATS truth drops it), with keep_tables it
    is a Markdown table, the header repeated where the table goes on over a page."""
    pdf = (GT / "jose" / "pdf" / "jose.00184.pdf").read_bytes()
    text = PdfExtractor().extract(pdf).text
    assert ".ipynb" not in text and "File Name" not in text
    assert "This project consists of several modules in the form of Jupyter notebooks" in text
    assert "The primary goal of our project is to present rotation curve development" in text
    kept = PdfExtractor(keep_tables=True).extract(pdf).text
    assert "| File Name | Description |" in kept
    assert "| 02_Widget_NGC5533_DMonly.ipynb | Interactive widget to introduce dark matter. |" in kept
    assert "| 10_Bonus_Black_Holes_as_DM.ipynb | Considering tiny black holes as dark matter candidates. |" in kept


def test_a_ruled_table_set_over_pages_goes_on_each_page_without_its_caption():
    """A long table (longtable) runs over three pages; only the first carries the caption. Under rules exactly as
    wide as its own, from the top of the next pages, its cells are still the table's body, not prose."""
    text = extract("livecoms", "membranes_best_practice").text
    assert "Table 1. Lipid membrane force fields: a survey" in text
    for cell in ("Combined bottom-up and top-down model", "Good for electrostatics (includes dipoles",  # pages 17, 18
                 "Contains parameters for lipids and proteins", "Captures experimental area per lipid"):  # page 18, 16
        assert cell not in text
    assert "For lipid membranes, there is also an extensive" in text  # the prose after the table's last page stays


def test_author_credit_lines_after_the_acknowledgements_stay_out():
    """AAS journals set "Software: astropy (Astropy Collaboration et al. 2013), ..." after the acknowledgements (the
    LaTeX source's \\software{}); it is a list of credits, back matter with them, even when its label stands on a line
    of its own and the list runs into the next block."""
    for stem in ("astropy_v5", "legwork_paper"):
        text = extract("papers_in_repo", stem).text
        assert "Software:" not in text
    assert "matplotlib (Hunter 2007)" not in extract("papers_in_repo", "legwork_paper").text


def test_the_funding_paragraph_after_an_unheaded_acknowledgement_goes_with_it():
    """Two paragraphs of thanks without a heading ("We are grateful to ...", "This project was funded in part by ..."):
    the second opens as an acknowledgement too, and a manuscript's line number ("17") no longer stays in front of it."""
    result = extract("papers_in_repo", "legwork_paper")
    assert "This project was funded in part by the National Science Foundation" not in result.text
    assert "We are grateful to Stas Babak" not in result.text


def test_a_subject_classification_under_the_abstract_stays_out():
    pdf = SHARED / "papers" / "pdf_supermat" / "pdf" / "L088167005-CC.pdf"
    text = PdfExtractor().extract(pdf.read_bytes()).text
    assert "PACS numbers" not in text and "74.25.Fy" not in text


def test_a_numbered_point_in_the_column_after_the_references_began_is_prose():
    """The reference list starts at the foot of the left column while the right column still carries the text: its
    numbered point "2) Reconciliation of the µSR and heat capacity data ..." begins like a numbered entry, but no
    author follows the number, so it is prose and stays (it was dropped as a reference)."""
    pdf = SHARED / "papers" / "pdf_supermat" / "pdf" / "P066132510-CC.pdf"
    text = PdfExtractor().extract(pdf.read_bytes()).text
    assert "2) Reconciliation of the µSR and heat capacity data puts tight constraints" in text
    assert "H. Zhang and H. Sato" not in text  # the reference list itself stays out


def test_a_paragraph_that_mentions_a_licence_is_not_a_licence_statement():
    """"The course spans 14 weeks ... They are available on a YouTube channel under an Creative Commons license": a
    paragraph of the text in body type, the licence named deep inside it; the sidebar's own licence statement, which
    opens with it, still goes."""
    text = extract("jose", "jose.00306").text
    assert "The course spans 14 weeks, comprising 14 lectures and 12 exercises." in text
    assert "Authors of papers retain copyright" not in text


def test_a_title_page_sidebar_of_link_labels_stays_out():
    """JOSS/JOSE title pages carry a sidebar of links ("• Review • Repository • Archive"): labels, not text."""
    for stem in ("jose.00306", "jose.00180"):
        text = extract("jose", stem).text
        assert "• Review" not in text and "Repository • Archive" not in text
    assert "The course spans 14 weeks" in extract("jose", "jose.00306").text


def test_a_table_of_words_given_as_a_header_and_one_block_of_rows_by_its_caption_is_a_table():
    """LiveCoMS sets a table of words without rules, its caption below it; MuPDF gives its header as one block and all
    ten rows as another, too few blocks for a run, but both hold cells side by side next to a table caption."""
    text = extract("livecoms", "atomistic_software").text
    assert "Table 1. Top ten most highly cited articles published by the American Physical Society" in text
    assert "Perdew, Burke, Ernzerhof" not in text and "# cited" not in text


