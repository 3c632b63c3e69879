"""Publisher names: one name per house whatever spelling a source or Crossref uses; normalising twice changes nothing."""

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SAMPLES
from corpus.publishers import ALIASES, normalise_publisher


@pytest.mark.parametrize("name,expected", [
    ("American Chemical Society", "American Chemical Society"), ("American Chemical Society (ACS)", "American Chemical Society"),
    ("Springer", "Springer Nature"), ("Springer US", "Springer Nature"), ("Springer Berlin Heidelberg", "Springer Nature"),
    ("Springer Science and Business Media LLC", "Springer Nature"), ("Nature Publishing Group", "Springer Nature"),
    ("Nature Publishing Group UK", "Springer Nature"), ("BioMed Central", "Springer Nature"),
    ("Elsevier", "Elsevier"), ("Elsevier BV", "Elsevier"), ("Elsevier Ltd", "Elsevier"),
    ("Elsevier Science Publishers B.V., Amsterdam", "Elsevier"),
    ("Wiley Online Library", "Wiley"), ("John Wiley & Sons, Ltd", "Wiley"), ("Wiley-VCH Verlag GmbH & Co. KGaA", "Wiley"),
    ("The Royal Society of Chemistry", "Royal Society of Chemistry"), ("Informa UK Limited", "Taylor & Francis"),
    ("MDPI AG", "MDPI"), ("Frontiers Media SA", "Frontiers"), ("Walter de Gruyter GmbH", "De Gruyter"),
    ("Public Library of Science San Francisco, CA USA", "Public Library of Science"),
    # unknown houses keep the rule's result; a house that only starts like a known one is not merged into it
    ("Nova Science Publishers, Inc.", "Nova Science Publishers"), ("Open Journals", "Open Journals"),
    ("Springer Publishing Company", "Springer Publishing Company"), ("  ", None), (None, None),
])
def test_aliases(name, expected):
    assert normalise_publisher(name) == expected


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=60), st.lists(st.sampled_from(
    ["Springer", "US", "Inc.", "&", "Co.", "Ltd", "(ACS)", "The", "Science", ",", "CA USA", "GmbH", "Elsevier", "and", "UK",
     "Public", "Library", "of", "Berlin", "Heidelberg", " "]), max_size=8).map(" ".join)))
def test_normalising_twice_changes_nothing(name):
    once = normalise_publisher(name)
    assert normalise_publisher(once) == once


def test_every_family_name_is_its_own_normal_form():
    for family in ALIASES:
        assert normalise_publisher(family) == family


def test_the_names_in_the_bundled_papers_and_a_crossref_row_reach_their_house():
    names = set()
    for path in (SAMPLES / "papers" / "xml").glob("*.xml"):
        names.update(re.findall(r"<publisher-name>([^<]+)</publisher-name>", path.read_text(encoding="utf-8", errors="replace"))[:1])
    assert names, "no publisher names in the bundled JATS papers"
    for name in names:
        assert normalise_publisher(name) in ALIASES or normalise_publisher(name) == normalise_publisher(normalise_publisher(name))
    crossref = {"publisher": "Elsevier BV"}  # what api.crossref.org's works rows say for Elsevier's journals
    assert normalise_publisher(json.loads(json.dumps(crossref))["publisher"]) == "Elsevier"
