"""Generated crystals as real models write them: every row ends with one stated outcome, counts reconcile, and no row
ends `mateval crystal-metrics` (the classes a real 9,046-generation LLaMat file showed, then random ones)."""

from __future__ import annotations

import csv
import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SAMPLES
from eval.crystal_metrics import OUTCOMES, NotAStructure, build_structure, metrics, parse_generation, read_generations

REFERENCE = SAMPLES / "crystals" / "mp_20" / "test.csv"
ROCKSALT = ([5.64, 5.64, 5.64], [90, 90, 90], ["Na", "Na", "Na", "Na", "Cl", "Cl", "Cl", "Cl"],
            [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5], [0.5, 0.5, 0.5]])
ROWS = {  # (lengths, angles, species, coords) -> the outcome it must end with
    "scored": ROCKSALT,
    "empty": ([4.0, 4.0, 4.0], [90, 90, 90], [], []),
    "degenerate_lattice": ([4.0, 4.0, 4.0], [1.0, 1.2, 0.9], ["Si", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    "unknown_species": ([4.0, 4.0, 4.0], [90, 90, 90], ["A", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    "bad_numbers": ([float("nan"), 4.0, 4.0], [90, 90, 90], ["Si"], [[0, 0, 0]]),
}


def _csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["lengths", "angles", "species", "coords"])
        for lengths, angles, species, coords in rows:
            w.writerow([repr(lengths), repr(angles), repr(species), repr(coords)])


def test_each_class_of_malformed_row_is_its_own_outcome_and_the_command_completes(tmp_path, capsys):
    from eval.cli import main

    # an angle near 180: CDVAE constructs it (0.56 Å³, over its 0.1), and one atom has no distance to fail
    rows = list(ROWS.values()) + [([4.0, 4.0, 4.0], [179.5, 90, 90], ["Fe"], [[0, 0, 0]]),
                                  ([1e300, 1e300, 1e300], [90, 90, 90], ["Fe"], [[0, 0, 0]]),  # a volume that overflows
                                  ([4.0, 4.0, 4.0], [90, 90, 90], ["Fe", "Fe"], [[0, 0, 0], [0, 0, 0]])]  # one site twice
    _csv(tmp_path / "gen.csv", rows)
    (tmp_path / "gen.csv").write_text((tmp_path / "gen.csv").read_text() + "not a list,[,,\n")
    read = read_generations(str(tmp_path / "gen.csv"))
    assert [g.outcome for g in read] == list(ROWS) + ["scored", "degenerate_lattice", "scored", "not_parsed"]
    assert main(["crystal-metrics", str(tmp_path / "gen.csv"), "--reference", str(REFERENCE), "--no-coverage",
                 "--out", str(tmp_path / "m.json")]) == 0
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["generations"] == len(rows) + 1 == sum(m[f"outcome_{k}"] for k in OUTCOMES)
    assert m["parsed"] == m["outcome_scored"] == 3 and round(m["structural_validity_parsed"], 2) == 66.67  # the doubled site is invalid
    # CDVAE judges compositions from the atoms whatever the lattice: NaCl, the degenerate row's SiO, the bad-numbers
    # row's Si and the three Fe rows are valid; the empty, unknown-species and unparsed rows have no atoms to judge
    assert m["compositional_validity_all"] == 100 * 6 / 9


def test_text_generations_end_with_an_outcome_too():
    assert parse_generation("")[1] == "empty"
    assert parse_generation("the model rambled instead of writing a crystal")[1] == "no_lattice"
    assert parse_generation("4.0 4.0 4.0\n90 90 90\nXq\n0 0 0\n")[1] == "unknown_species"
    assert parse_generation("4.0 4.0 4.0\n0.5 0.5 0.5\nSi\n0 0 0\n")[1] == "degenerate_lattice"
    assert parse_generation("5.64 5.64 5.64\n90 90 90\nNa\n0 0 0\nCl\n0.5 0.5 0.5\n")[1] == "scored"


numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(min_value=-5, max_value=200), st.just(0.0))
species = st.lists(st.sampled_from(["Si", "O", "Fe", "Na", "Cl", "A", "Xx", "", "H", "U"]), max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(numbers, min_size=0, max_size=4), st.lists(numbers, min_size=0, max_size=4), species,
       st.lists(st.lists(numbers, min_size=0, max_size=4), max_size=6))
def test_any_lattice_species_and_coordinates_are_a_structure_or_a_named_outcome(lengths, angles, sp, coords):
    try:
        s = build_structure(lengths, angles, sp, coords)
    except NotAStructure as e:
        assert e.outcome in OUTCOMES and e.outcome != "scored"
        return
    assert len(s) == len(sp) and math.isfinite(s.volume) and s.volume > 0
    m = metrics([s, None], [], cutoffs=None, outcomes=["scored", "empty"])  # scoring it never raises either
    assert sum(m[f"outcome_{k}"] for k in OUTCOMES) == 2
