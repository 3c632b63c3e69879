"""Generated crystal strings as a model writes them: every string is read or ends with a named outcome, prose around a
whole structure is read past, nothing is invented or dropped, and the real strings LLaMat's own parser refused
(../shared: llamat{2,3}_parse_failures.csv) each get an outcome, the recovered ones checked by hand."""

from __future__ import annotations

import csv
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SHARED
from eval.crystal_metrics import OUTCOMES, parse_generation
from eval.crystal_text import CrystalTextError, read_crystal_text

FAILURES = SHARED / "eval" / "llamat_generations"
NACL = "5.6 5.6 5.6\n90 90 90\nNa\n0.00 0.00 0.00\nNa\n0.50 0.50 0.00\nCl\n0.50 0.00 0.00\nCl\n0.00 0.50 0.00"
TEXT_OUTCOMES = {"empty", "no_lattice", "incomplete_lattice", "odd_lines", "truncated", "unknown_species"}


def test_the_layout_and_its_named_breaks():
    read = read_crystal_text(NACL)
    assert read.lengths == [5.6] * 3 and read.species == ["Na", "Na", "Cl", "Cl"] and read.passed_over == []
    cases = {
        "The model says: here it is\n" + NACL: "prose_before",
        "the lattice is 5.6 5.6 5.6\n" + NACL.split("\n", 1)[1]: "prose_before",
        NACL + "\nThis is rock salt.": "prose_after",
    }
    for text, passed in cases.items():
        read = read_crystal_text(text)
        assert read.passed_over == [passed] and read.species == ["Na", "Na", "Cl", "Cl"], text
    broken = {
        "a lattice, described in words only": "no_lattice",
        "5.6 5.6 5.6\nNa\n0.00 0.00 0.00": "incomplete_lattice",
        "description of the lattice and angle 90 90 90\nNa\n0.1 0.2 0.3": "incomplete_lattice",
        NACL + "\n0.25 0.25 0.25\nNa\n0.1 0.1 0.1": "odd_lines",  # coordinates with no element: never given one
        NACL + "\nNa\nCl\n0.1 0.1 0.1": "odd_lines",
        NACL + "\nNa": "truncated",
        NACL + "\nNa\n0.25 0.2": "truncated",
        NACL + "\nDescription\n0.1 0.1 0.1": "unknown_species",
        "": "empty",
    }
    for text, outcome in broken.items():
        with pytest.raises(CrystalTextError) as e:
            read_crystal_text(text)
        assert e.value.outcome == outcome, (text, e.value.outcome)
        assert parse_generation(text).outcome == outcome


words = st.text(alphabet=st.characters(whitelist_categories=("Ll", "Lu", "Zs"), max_codepoint=0x7F), min_size=1, max_size=40) \
    .filter(lambda w: w.strip() and not w.strip()[0].isupper())


@settings(max_examples=200, deadline=None)
@given(st.lists(words, max_size=3), st.lists(words, max_size=3))
def test_prose_around_a_whole_structure_is_read_past_and_nothing_changes(before, after):
    text = "\n".join([*before, NACL, *after])
    read = read_crystal_text(text)
    assert read.species == ["Na", "Na", "Cl", "Cl"] and read.lengths == [5.6] * 3 and read.angles == [90.0] * 3
    assert read.coords[1] == [0.5, 0.5, 0.0]


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(NACL)))
def test_a_cut_string_is_truncated_or_a_prefix_of_its_atoms(cut):
    text = NACL[:cut]
    try:
        read = read_crystal_text(text)
    except CrystalTextError as e:
        assert e.outcome in TEXT_OUTCOMES
        return
    assert read.species == ["Na", "Na", "Cl", "Cl"][: len(read.species)]


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789 .-\nNaClFeOxyz:,[]eE+")), max_size=200))
def test_any_string_is_a_generation_or_a_named_outcome(text):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        generation = parse_generation(text)
    assert generation.outcome in OUTCOMES
    assert (generation.structure is not None) == (generation.outcome == "scored")


@pytest.mark.skipif(not FAILURES.exists(), reason="../shared is not beside the project")
def test_every_string_llamats_parser_refused_gets_an_outcome_and_the_recovered_ones_read_right():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        read = {}
        for name in ("llamat2_parse_failures.csv", "llamat3_parse_failures.csv"):
            with open(FAILURES / name, newline="") as f:
                for row in csv.DictReader(f):
                    read[(name, row["index"])] = parse_generation(row["original_gen_str"])
    assert len(read) == 193 + 234 and all(g.outcome in OUTCOMES for g in read.values())
    recovered = {k: g for k, g in read.items() if g.outcome == "scored"}
    # read by hand: prose (and a garbled line of numbers) before a whole lattice and whole atoms
    expected = {("llamat2_parse_failures.csv", "847"): ((5.3, 5.3, 4.5), (90.0, 90.0, 120.0), "Pa2 Ni6"),
                ("llamat2_parse_failures.csv", "6983"): ((2.9, 4.9, 10.4), (103.0, 90.0, 90.0), "La2 C2 N4 Cl2")}
    assert set(recovered) == set(expected)
    for key, (abc, angles, formula) in expected.items():
        s = recovered[key].structure
        assert tuple(round(x, 3) for x in s.lattice.abc) == abc and tuple(round(x, 3) for x in s.lattice.angles) == angles
        assert s.composition.formula == formula
