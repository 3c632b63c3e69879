"""LLaMat's conditional-generation metrics (eval/conditional_generation.py): a crystal asked for by formula and space
group is scored on being that crystal, in LLaMat's CSV layout (cif, pretty_formula, spacegroup_number) and through
`mateval run`'s crystal_generation items; every generation counts, whatever it holds."""

from __future__ import annotations

import csv
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SAMPLES
from eval.conditional_generation import conditional_metrics, crystal_system, reduced_formula

TEST = SAMPLES / "crystals" / "mp_20" / "test.csv"


def _rows(n: int) -> list[dict]:
    with open(TEST, newline="") as f:
        return [row for _, row in zip(range(n), csv.DictReader(f))]


def _llamat_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["cif", "pretty_formula", "spacegroup_number"])
        w.writeheader()
        w.writerows(rows)


def test_llamat_layout_through_crystal_metrics(tmp_path, capsys):
    from eval.cli import main

    real = _rows(6)
    rows = [{"cif": r["cif"], "pretty_formula": r["pretty_formula"], "spacegroup_number": r["spacegroup.number"]} for r in real]
    assert len({r["pretty_formula"] for r in rows}) == 6
    rows[1]["pretty_formula"] = real[2]["pretty_formula"]  # the model wrote another compound
    rows[2]["cif"] = ""  # nothing generated
    rows[3]["cif"] = "data_x\n_cell_length_a 4\n(the model stopped here"  # not a crystal
    rows.append({"cif": real[0]["cif"], "pretty_formula": "", "spacegroup_number": ""})  # a row without its prompt
    _llamat_csv(tmp_path / "gen.csv", rows)
    assert main(["crystal-metrics", str(tmp_path / "gen.csv"), "--reference", str(TEST), "--no-coverage", "--out", str(tmp_path / "m.json")]) == 0
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["generations"] == 7 and m["conditional_generations"] == 6 and m["conditional_without_prompt"] == 1
    assert m["parse_success"] == 100 * 4 / 6 and m["formula_match"] == 100 * 3 / 6 and m["valid_match_rate"] == 75.0
    # the space group is its own test: the other compound (row 2) still has the space group asked for
    assert m["spacegroup_match"] == 100 * 4 / 6 and m["spacegroup_match_parsed"] == 100.0
    systems = {k.split("=", 1)[1]: v for k, v in m.items() if k.startswith("generations:system=")}
    assert sum(systems.values()) == 6 and "unknown" not in systems
    elements = {k.split("=", 1)[1]: v for k, v in m.items() if k.startswith("generations:elements=")}
    assert sum(elements.values()) == 6
    summary = capsys.readouterr().err
    assert f"| formula_match | {m['formula_match']:.2f} | {m['formula_match'] / 100:.4f} |" in summary


def test_items_carry_their_prompt_and_score_it(tmp_path):
    from corpus.crystals.text import crystal_string
    from eval.crystal_metrics import parse_structure
    from eval.items import crystal_generation
    from eval.scoring import score

    small = tmp_path / "test.csv"
    with open(TEST, newline="") as f:
        reader = csv.DictReader(f)
        with open(small, "w", newline="") as g:
            w = csv.DictWriter(g, fieldnames=reader.fieldnames)
            w.writeheader()
            w.writerows(row for _, row in zip(range(5), reader))
    items = crystal_generation([str(small)])
    assert len(items) == 5 and all(i.meta["formula"] and 1 <= i.meta["spacegroup"] <= 230 for i in items)
    # the model answers with the crystal asked for, except one answer that is another crystal of the set
    answers = {i.id: i.reference for i in items}
    answers[items[0].id] = items[1].reference
    scores = score(items, answers)["crystal_generation"]
    assert scores["parse_success"] == 100.0 and scores["formula_match"] == 80.0 and scores["valid_match_rate"] == 80.0
    assert scores["spacegroup_match"] == (100.0 if items[0].meta["spacegroup"] == items[1].meta["spacegroup"] else 80.0)
    assert crystal_string(parse_structure(items[1].reference)) == items[1].reference


def test_definitions():
    assert [crystal_system(n) for n in (1, 2, 3, 15, 16, 74, 75, 142, 143, 167, 168, 194, 195, 230)] == [
        "triclinic", "triclinic", "monoclinic", "monoclinic", "orthorhombic", "orthorhombic", "tetragonal", "tetragonal",
        "trigonal", "trigonal", "hexagonal", "hexagonal", "cubic", "cubic"]
    assert crystal_system(0) == crystal_system(231) == crystal_system("P1") == crystal_system(None) == "unknown"
    assert reduced_formula("Fe4 O6") == reduced_formula("O3Fe2") == reduced_formula("Fe2O3") == "Fe2O3"
    assert reduced_formula("Fe2(SO4)3") == reduced_formula("Fe2S3O12")
    assert reduced_formula("") is None and reduced_formula("not a formula!") is None
    m = conditional_metrics([None, None], [None, ""], [None, None])
    assert m == {"conditional_generations": 0, "conditional_without_prompt": 2}


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text_is_a_formula_or_none(text):
    assert reduced_formula(text) is None or isinstance(reduced_formula(text), str)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["Fe", "O", "Na", "Cl", "Si", "Ba", "Ti", "Li"]), st.integers(1, 6), min_size=1, max_size=4),
       st.integers(1, 4), st.randoms())
def test_a_formula_is_the_same_in_any_order_and_multiple(counts, times, rnd):
    elements = list(counts)
    rnd.shuffle(elements)
    written = " ".join(f"{e}{counts[e] * times}" for e in elements)
    assert reduced_formula(written) == reduced_formula("".join(f"{e}{n}" for e, n in counts.items()))


def test_space_groups_as_files_write_them_and_prompts_without_one():
    from eval.crystal_metrics import parse_structure

    real = _rows(3)
    crystals = [parse_structure(r["cif"]) for r in real]
    formulas = [r["pretty_formula"] for r in real]
    # pandas writes a column with gaps as floats: "225.0" is space group 225; a prompt without one is left out of
    # the space-group match, not counted as a miss
    m = conditional_metrics(crystals, formulas, [f"{real[0]['spacegroup.number']}.0", real[1]["spacegroup.number"], ""])
    assert m["conditional_without_spacegroup"] == 1 and m["spacegroup_match"] == 100.0 and m["formula_match"] == 100.0
    m = conditional_metrics(crystals, formulas, [None, None, None])  # Perov-5 / Carbon-24 files name no space group
    assert m["conditional_without_spacegroup"] == 3 and "spacegroup_match" not in m and m["formula_match"] == 100.0
