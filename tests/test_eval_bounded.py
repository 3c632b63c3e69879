"""mateval is bounded on any row: compositional validity ends (with CDVAE's verdict, or counted as bounded) however many
elements a generation holds; JSON readers refuse nesting past a bound instead of recursing; lm-eval sample fields are
type-checked with a named error."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymatgen.core import Element

from eval import crystal_metrics
from eval.crystal_metrics import SearchBounded, read_generations, smact_validity, smact_validity_exhaustive

ELEMENTS = ["Pm", "H", "Li", "B", "C", "N", "O", "F", "Na", "Mg", "Al", "Si", "P", "S", "Cl", "K", "Ca", "Ti", "Fe", "Cu", "Zn",
            "Ga", "As", "Se", "Br", "Sr", "Y", "Nb", "Ag", "Sn", "Sb", "Te", "I", "Ba", "La", "W", "Pb", "Bi", "He", "Ar", "Rn"]
DEEP = 100_000


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(ELEMENTS), min_size=2, max_size=4, unique=True), st.lists(st.integers(1, 6), min_size=4, max_size=4))
def test_the_pruned_search_gives_cdvaes_verdict(elements, counts):
    elements = tuple(sorted(elements, key=lambda e: Element(e).Z))
    counts = tuple(counts[: len(elements)])
    g = math.gcd(*counts)
    counts = tuple(c // g for c in counts)
    assert smact_validity(elements, counts) == smact_validity_exhaustive(elements, counts)


def crystal_of(symbols: list[str]):
    from pymatgen.core import Lattice, Structure

    n = len(symbols)
    side = 3.0 * math.ceil(n ** (1 / 3))
    per = math.ceil(n ** (1 / 3))
    coords = [[(i % per) / per, (i // per % per) / per, (i // per // per) / per] for i in range(n)]
    return Structure(Lattice.cubic(side), symbols, coords)


@pytest.mark.parametrize("n", [14, 16, 30])
def test_many_element_generations_end_quickly(n):
    import time

    started = time.monotonic()
    m = crystal_metrics.metrics([crystal_of(ELEMENTS[:n])], [], cutoffs=None)
    assert m["generations"] == 1 and time.monotonic() - started < 30  # CDVAE's loop: 30 s at 14 elements, minutes at 16


def test_a_search_past_its_bound_is_counted_not_valid(monkeypatch):
    monkeypatch.setattr(crystal_metrics, "MAX_SEARCH_NODES", 20)
    # radon has no electronegativity, so the Pauling test depends on the pair order and the search walks combinations
    elements = ("C", "N", "O", "S", "Cl", "Br", "Rn")
    with pytest.raises(SearchBounded):
        smact_validity(elements, (1,) * 7)
    m = crystal_metrics.metrics([crystal_of(list(elements)), crystal_of(["Na", "Cl"])], [], cutoffs=None)
    assert m["compositional_search_bounded"] == 1 and m["generations"] == 2
    assert m["compositional_validity_all"] == 50.0  # NaCl is valid; the bounded one counts as not valid


def test_deeply_nested_generation_lines_are_not_parsed_not_a_crash(tmp_path):
    path = tmp_path / "gen.jsonl"
    path.write_text("[" * DEEP + "]" * DEEP + "\n" + json.dumps({"prediction": {"a": [[[[[]]]]]}}) + "\n"
                    + '{"prediction": ' + '{"a": ' * 200 + "1" + "}" * 200 + "}\n")
    read = read_generations(str(path))
    assert [g.outcome for g in read] == ["not_parsed", "no_lattice", "not_parsed"]  # the middle one is read, as text


def test_lm_eval_samples_are_type_checked_with_a_named_error(tmp_path):
    from eval.lm_eval_export import read_samples

    good = {"doc": {"id": "mascqa:1"}, "resps": [["Answer: B"]]}
    (tmp_path / "samples_ok.jsonl").write_text(json.dumps(good) + "\n")
    assert read_samples(str(tmp_path / "samples_ok.jsonl")) == {"mascqa:1": "Answer: B"}
    for bad in ({"doc": {"id": "x"}, "resps": "Answer: B"},  # a string: was read as its first character
                {"doc": {"id": "x"}, "resps": [[{"text": "B"}]]},
                {"doc": "x", "resps": [["B"]]},
                {"doc": {"id": {"a": 1}}, "resps": [["B"]]}):
        (tmp_path / "samples_bad.jsonl").write_text(json.dumps(bad) + "\n")
        with pytest.raises(ValueError, match="samples_bad.jsonl:1: not an lm-eval sample"):
            read_samples(str(tmp_path / "samples_bad.jsonl"))
    (tmp_path / "samples_bad.jsonl").write_text('{"doc": {"id": "x"}, "resps": ' + "[" * DEEP + "]" * DEEP + "}\n")
    with pytest.raises(ValueError, match="nested"):
        read_samples(str(tmp_path / "samples_bad.jsonl"))


def test_prediction_files_refuse_deep_nesting_by_name(tmp_path):
    from eval.backends import PredictionsFile

    (tmp_path / "p.jsonl").write_text('{"id": "a", "prediction": ' + "[" * DEEP + "]" * DEEP + "}\n")
    with pytest.raises(ValueError, match="p.jsonl:1"):
        PredictionsFile(str(tmp_path / "p.jsonl"))


def test_a_deeply_nested_answer_scores_as_unparsable():
    from eval.scoring import parse_json

    with pytest.raises(ValueError):
        parse_json("Here: " + "{\"a\": " * 5000 + "1" + "}" * 5000)
