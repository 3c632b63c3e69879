"""Crystal records on real files: readers, each validation rule, standardisation, textual forms,
structure dedup (copies found, polymorphs kept), decontamination against benchmark test structures,
and crystals flowing through a build into their own shards with the same accounting."""

import csv
import json
import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from pymatgen.core import Structure
from pymatgen.io.cif import CifParser

from conftest import SAMPLES, base_manifest, run_cli, write_manifest
from corpus.crystals.matching import StructureIndex, matcher, same_crystal, spacegroup_number
from corpus.crystals.structures import (
    CrystalParseError,
    CrystalSettings,
    cell_problem,
    cif_blocks,
    from_compact,
    parse_cif_block,
    standardise,
    structure_hash,
    validate,
)
from corpus.crystals.text import crystal_string, property_text
from corpus.dedup.structures import STRUCTURE_SCHEMA, structure_duplicates
from corpus.records import Failure

COD = SAMPLES / "crystals" / "cod_cifs"
MP20 = SAMPLES / "crystals" / "mp_20"
SETTINGS = CrystalSettings()


def cod(name: str) -> str:
    return (COD / f"{name}.cif").read_text()


def cod_structure(name: str) -> Structure:
    return parse_cif_block(cif_blocks(cod(name))[0][1], SETTINGS).structure


def mp20_rows(split: str = "test") -> list[dict]:
    with open(MP20 / f"{split}.csv", newline="") as f:
        return list(csv.DictReader(f))


def mp20_structure(row: dict) -> Structure:
    return parse_cif_block(row["cif"][row["cif"].find("data_"):], SETTINGS).structure


# ---- parsing and validation, each rule on a real CIF


def test_cod_cif_parses_with_its_database_id_and_known_space_groups():
    record = parse_cif_block(cif_blocks(cod("Fe"))[0][1], SETTINGS)
    assert record.database_id == "cod-9008536"
    for name, number in {"Fe": 229, "diamond": 227, "BaTiO3_cubic": 221, "GaAs": 216, "Mg": 194}.items():
        std = standardise(cod_structure(name), SETTINGS)
        assert std.spacegroup_number == number, name
    assert standardise(cod_structure("Fe"), SETTINGS).crystal_system == "cubic"


def test_every_bundled_cod_cif_and_mp20_row_is_valid():
    problems = {p.name: validate(cod_structure(p.stem), SETTINGS) for p in sorted(COD.glob("*.cif"))}
    assert {k: v for k, v in problems.items() if v} == {}
    assert all(validate(mp20_structure(r), SETTINGS) is None for r in mp20_rows())


def _edit(cif: str, old: str, new: str) -> str:
    assert old in cif
    return cif.replace(old, new)


def test_unparsable_missing_cell_and_no_sites_fail_with_their_own_kind():
    fe = cod("Fe")
    cases = {
        "missing_cell": _edit(fe, "_cell_length_b                   2.8665", ""),
        "no_sites": fe[: fe.index("_atom_site_label")].rsplit("loop_", 1)[0],
        "unparsable_cif": "data_broken\n_cell_length_a 1\n_cell_length_b 1\n_cell_length_c 1\n_cell_angle_alpha 90\n"
                          "_cell_angle_beta 90\n_cell_angle_gamma 90\nloop_\n_atom_site_fract_x\n'unterminated\n",
    }
    for kind, text in cases.items():
        with pytest.raises(CrystalParseError) as e:
            parse_cif_block(cif_blocks(text)[0][1], SETTINGS)
        assert e.value.kind == kind, (kind, e.value)


def test_impossible_cells_are_bad_cell_or_bad_volume_drops_not_rewritten(tmp_path):
    # pymatgen reads `-5.6` as a = 5.6 Å and fails a zero length as a singular matrix: the file's own numbers decide
    from corpus.extract import extract

    fe = cod("Fe")
    cases = {
        "negative_length": (_edit(fe, "_cell_length_a                   2.8665", "_cell_length_a -2.8665"), "bad_cell"),
        "zero_length": (_edit(fe, "_cell_length_a                   2.8665", "_cell_length_a 0.0"), "bad_volume"),
        "angle_180": (_edit(fe, "_cell_angle_gamma                90", "_cell_angle_gamma 180"), "bad_cell"),
        "angle_0": (_edit(fe, "_cell_angle_alpha                90", "_cell_angle_alpha 0"), "bad_cell"),
        "nan_length": (_edit(fe, "_cell_length_c                   2.8665", "_cell_length_c nan"), "bad_cell"),
        "flat_angles": (_edit(_edit(fe, "_cell_angle_alpha                90", "_cell_angle_alpha 120"),
                              "_cell_angle_beta                 90", "_cell_angle_beta 120"), None),
    }
    for name, (text, _) in cases.items():
        (tmp_path / f"{name}.cif").write_text(text)
    # alpha = beta = 120 with gamma = 90 is a real (if odd) cell; 120/120/120 is flat
    (tmp_path / "flat_120.cif").write_text(_edit(_edit(_edit(fe, "_cell_angle_alpha                90", "_cell_angle_alpha 120"),
                                                      "_cell_angle_beta                 90", "_cell_angle_beta 120"),
                                                "_cell_angle_gamma                90", "_cell_angle_gamma 120"))
    cases["flat_120"] = (None, "bad_volume")
    got = {os.path.basename(p)[:-4]: (item.metadata.get("crystal_problem") if not isinstance(item, Failure) else f"failed:{item.kind}")
           for p, item in extract([str(tmp_path)], "cif")}
    assert got == {name: want for name, (_, want) in cases.items()}
    assert cell_problem(5.6, 5.6, 5.6, 90, 90, 90) is None and cell_problem(-5.6, 5.6, 5.6, 90, 90, 90) == "bad_cell"


def test_validation_rules_on_damaged_real_structures():
    fe = cod_structure("Fe")
    close = fe.copy()
    close.append("Fe", [0.02, 0.0, 0.0])  # 0.06 Å from the first atom
    assert validate(close, SETTINGS) == "atoms_too_close"

    disordered = cod_structure("BaTiO3_cubic").copy()
    disordered.replace(0, {"Ba": 0.5, "Sr": 0.5})
    assert validate(disordered, SETTINGS) == "disordered"
    assert validate(disordered, CrystalSettings(disorder="keep")) is None

    flat = fe.copy()
    flat.lattice = flat.lattice.__class__([[2.8, 0, 0], [0, 2.8, 0], [2.8, 2.8, 0]])  # coplanar vectors: zero volume
    assert validate(flat, SETTINGS) == "bad_volume"

    dummy = fe.copy()
    dummy.replace(0, "X0+")  # a dummy species, not an element
    assert validate(dummy, SETTINGS) == "unknown_element"

    assert validate(fe * (3, 3, 3), CrystalSettings(max_sites=10)) == "too_many_sites"


def test_unknown_element_symbol_in_a_cif_is_dropped_as_unknown_element():
    head, loop = cod("Fe").rsplit("_atom_site_fract_z", 1)
    text = head + "_atom_site_fract_z" + loop.replace("Fe 0.0", "Xq 0.0")  # pymatgen reads it as a dummy species
    assert validate(parse_cif_block(cif_blocks(text)[0][1], SETTINGS).structure, SETTINGS) == "unknown_element"


# ---- standardisation and textual forms


def test_cells_by_option_niggli_and_rounding():
    row = mp20_rows()[0]
    s = mp20_structure(row)
    conv = standardise(s, CrystalSettings(cell="conventional"))
    prim = standardise(s, CrystalSettings(cell="primitive"))
    as_is = standardise(s, SETTINGS)
    assert len(prim.structure) <= len(as_is.structure) <= len(conv.structure) or len(prim.structure) <= len(conv.structure)
    assert conv.spacegroup_number == prim.spacegroup_number == as_is.spacegroup_number == int(row["spacegroup.number"])
    assert np.all(np.round(as_is.structure.frac_coords, 4) == as_is.structure.frac_coords)
    assert np.all((as_is.structure.frac_coords >= 0) & (as_is.structure.frac_coords < 1))
    assert same_crystal(matcher(), s, as_is.structure)  # rounding and reduction keep the crystal


def test_crystal_string_and_property_sentences():
    row = next(r for r in mp20_rows() if r["pretty_formula"] == "GaTe")
    std = standardise(mp20_structure(row), SETTINGS)
    text = crystal_string(std.structure)
    lines = text.split("\n")
    assert len(lines) == 2 + 2 * len(std.structure)
    assert all(len(x.split(".")[1]) == 1 for x in lines[0].split())  # lengths to 0.1 Å
    assert all(x.lstrip("-").isdigit() for x in lines[1].split())  # angles as integers
    assert lines[2] in ("Ga", "Te") and all(len(x.split(".")[1]) == 2 for x in lines[3].split())
    props = property_text(std, {"formation_energy_per_atom": float(row["formation_energy_per_atom"]), "band_gap": float(row["band_gap"]),
                                "e_above_hull": float(row["e_above_hull"])})
    assert "GaTe crystallizes in the hexagonal P6_3/mmc space group (No. 194)" in props
    assert f"{float(row['band_gap']):.3f} eV" in props and "energy above the convex hull is 0.000" in props


# ---- structure identity: copies are the same crystal, polymorphs are not


def _copies(s: Structure) -> dict[str, Structure]:
    rng = np.random.default_rng(0)
    rotated = Structure(s.lattice.matrix @ _rotation(0.7, 0.3).T, s.species, s.frac_coords)
    translated = s.copy()
    translated.translate_sites(list(range(len(s))), [0.13, 0.27, 0.41])
    reordered = Structure(s.lattice, [s.species[i] for i in rng.permutation(len(s))], s.frac_coords)
    order = rng.permutation(len(s))
    reordered = Structure(s.lattice, [s.species[i] for i in order], s.frac_coords[order])
    return {"rotated": rotated, "translated": translated, "supercell": s * (2, 1, 1), "reordered": reordered}


def _rotation(a: float, b: float) -> np.ndarray:
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rz @ rx


def _table(structures: list[tuple[str, Structure, dict]]) -> "pa.Table":  # noqa: F821
    import pyarrow as pa

    rows = []
    for record, s, extra in structures:
        std = standardise(s, SETTINGS)
        from corpus.crystals.structures import compact

        rows.append({"record": record, "id": record, "source": extra.get("source", "x"), "component": "crystals",
                     "priority": extra.get("priority", 0), "formula": std.structure.composition.reduced_formula,
                     "spacegroup": std.spacegroup_number, "form": None, "e_above_hull": extra.get("e_above_hull"),
                     "volume_per_formula_unit": std.structure.volume / (std.structure.composition.num_atoms / std.structure.composition.reduced_composition.num_atoms),
                     "structure": json.dumps(compact(std.structure))})
    return pa.Table.from_pylist(rows, schema=STRUCTURE_SCHEMA)


def test_rotated_translated_supercell_and_reordered_copies_are_duplicates_of_real_structures():
    for s in [mp20_structure(r) for r in mp20_rows()[:5]] + [cod_structure("BaTiO3_cubic")]:
        entries = [("a-original", s, {"e_above_hull": 0.0})] + [(f"b-{k}", c, {}) for k, c in _copies(s).items()]
        removed = structure_duplicates(_table(entries), ["priority", "e_above_hull", "volume_per_formula_unit"])
        assert sorted(r["record"] for r in removed) == sorted(f"b-{k}" for k in _copies(s)), s.composition
        assert {r["survivor"] for r in removed} == {"a-original"}  # the record with a known e_above_hull survives
        assert structure_hash(s) == structure_hash(_copies(s)["reordered"]) == structure_hash(_copies(s)["translated"])


def test_polymorphs_of_one_formula_are_not_duplicates():
    pairs = [("Sn-alpha", "Sn-beta"), ("vo2-m1", "vo2-rutile"), ("Pu-alpha", "Pu-delta"), ("diamond", "C")]
    for a, b in pairs:
        removed = structure_duplicates(_table([(a, cod_structure(a), {}), (b, cod_structure(b), {})]), ["priority"])
        assert removed == [], (a, b)
    # and the same formula in one space group but different structures (MP-20 polymorphs, if the subset has any)
    by_formula: dict = {}
    for r in mp20_rows("train"):
        by_formula.setdefault(r["pretty_formula"], []).append(r)
    polymorphs = [rows for rows in by_formula.values() if len(rows) > 1][:5]
    for rows in polymorphs:
        removed = structure_duplicates(_table([(r["material_id"], mp20_structure(r), {}) for r in rows]), ["priority"])
        assert removed == [], [r["material_id"] for r in rows]


def test_survivor_rule_is_configurable():
    s = cod_structure("GaAs")
    entries = [("low-priority", s, {"priority": 0, "e_above_hull": 0.0}), ("high-priority", s * (1, 1, 2), {"priority": 5, "e_above_hull": 0.1})]
    by_priority = structure_duplicates(_table(entries), ["priority", "e_above_hull"])
    by_hull = structure_duplicates(_table(entries), ["e_above_hull", "priority"])
    assert by_priority[0]["survivor"] == "high-priority" and by_hull[0]["survivor"] == "low-priority"


# ---- decontamination by structure


def test_every_test_structure_re_encoded_is_caught_and_train_structures_are_not():
    index = StructureIndex.load([{"name": "mp_20", "paths": [str(MP20 / "test.csv")]}], SETTINGS)
    assert index.counts["mp_20"] == len(mp20_rows())
    rng = np.random.default_rng(1)
    for row in mp20_rows():
        s = mp20_structure(row)
        order = rng.permutation(len(s))
        permuted = Structure(s.lattice, [s.species[i] for i in order], s.frac_coords[order])
        variant = standardise(permuted * (1, 1, 2), CrystalSettings(cell="conventional"))  # another cell and setting
        hit = index.match(variant.structure, variant.spacegroup_number)
        assert hit is not None and hit.item == row["material_id"], row["material_id"]
    misses = [r for r in mp20_rows("val")[:40] if index.match(mp20_structure(r), spacegroup_number(mp20_structure(r), 0.1)) is not None]
    assert misses == []


# ---- readers and the build


def _crystal_manifest(tmp_path: Path, sources: list[dict], crystals: dict | None = None) -> Path:
    data = base_manifest()
    data["sources"] = sources
    data["components"] = [{"name": "crystals", "sources": [s["name"] for s in sources]}]
    data["stages"] = {"crystals": crystals or {}}
    return write_manifest(tmp_path, data)


@pytest.fixture(scope="module")
def crystal_build(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("crystals")
    bad = tmp / "bad"
    bad.mkdir()
    fe = cod("Fe")
    (bad / "truncated.cif").write_text(fe[: fe.index("_cell_length_b")])  # the cell is cut off
    (bad / "not_a_cif.cif").write_bytes(b"\x89PNG\r\n\x1a\n binary")
    (bad / "two_blocks.cif").write_text(cod("GaAs") + "\n" + cod("Cu"))  # a multi-block file
    (bad / "close_atoms.cif").write_text(_edit(fe, "Fe 0.00000 0.00000 0.00000\n", "Fe 0.00000 0.00000 0.00000\nFe2 0.01000 0.00000 0.00000\n"))
    mp_dicts = tmp / "mp_dump.jsonl"
    rows = mp20_rows("val")[:10]
    with open(mp_dicts, "w") as f:
        for r in rows:
            f.write(json.dumps({"material_id": r["material_id"], "band_gap": float(r["band_gap"]),
                                "structure": mp20_structure(r).as_dict()}) + "\n")
        f.write(json.dumps({"material_id": "mp-bad", "structure": {"lattice": {"matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}, "sites": []}}) + "\n")
        f.write("{not json\n")
    sources = [
        {"name": "cod", "reader": "cif", "paths": [str(COD)]},
        {"name": "bad_cifs", "reader": "cif", "paths": [str(bad)]},
        {"name": "mp20", "reader": "crystal_csv", "paths": [str(MP20 / "test.csv"), str(MP20 / "val.csv")]},
        {"name": "mp_json", "reader": "crystal_json", "paths": [str(mp_dicts)]},
    ]
    crystals = {"forms": ["properties", "cif_p1", "crystal_string"],
                "decontamination": [{"name": "mp_20", "paths": [str(MP20 / "test.csv")]}]}
    assert run_cli("build", _crystal_manifest(tmp, sources, crystals)) == 0
    return tmp / "out"


@pytest.mark.slow
def test_build_accounts_every_crystal_and_decontaminates(crystal_build):
    s = json.loads((crystal_build / "summary.json").read_text())
    assert s["reconciled"], s["problems"]
    assert s["failed_by_reason"] == {"missing_cell": 1, "unparsable_cif": 1, "no_sites": 1, "invalid_json": 1}
    assert s["dropped_by_reason"]["atoms_too_close"] == 1
    assert s["dropped_by_reason"]["benchmark_structure"] == len(mp20_rows("test"))  # every MP-20 test row is a test structure
    assert s["crystal_contamination"]["mp_20"]["hits"] == len(mp20_rows("test"))
    # the JSON dump repeats ten MP-20 validation structures: they are duplicates of the CSV rows (same mp ids)
    assert s["dropped_by_reason"]["duplicate_structure"] >= 10 + 2  # + GaAs and Cu, read twice from the COD folder and the multi-block file
    assert s["components"]["crystals"]["documents"] == s["kept"] > 0


def test_crystal_documents_carry_ids_facts_and_forms(crystal_build):
    import zstandard

    kept = crystal_build / "work" / "kept" / "crystals"
    docs = []
    for f in sorted(kept.glob("*.jsonl.zst")):
        with open(f, "rb") as fh:
            docs += [json.loads(line) for line in zstandard.ZstdDecompressor().stream_reader(fh).read().decode().splitlines()]
    by_id = {d["id"]: d for d in docs}
    fe = by_id["cod-9008536"]
    assert fe["metadata"]["spacegroup_number"] == 229 and fe["metadata"]["crystal_system"] == "cubic"
    assert "Fe crystallizes in the cubic Im-3m space group" in fe["text"]
    assert "_cell_length_a" in fe["text"] and "\nFe\n0.00 0.00 0.00" in fe["text"]
    cif = fe["text"][fe["text"].index("# generated using pymatgen"): fe["text"].rindex("\n\n")]
    back = CifParser.from_str(cif).parse_structures(primitive=False)[0]
    assert same_crystal(matcher(), back, from_compact(fe["metadata"]["structure"]))
    val_ids = {r["material_id"] for r in mp20_rows("val")}
    assert val_ids & set(by_id)  # database ids from the CSV are the document ids
    removed = pl.read_parquet(crystal_build / "work" / "dedup" / "removed.parquet")
    pairs = {frozenset(p) for p in zip(removed["record"], removed["survivor"])}
    # the multi-block file's GaAs and Cu against the COD folder's; ties go to the smaller record key
    assert {frozenset({"cod:GaAs.cif#0", "bad_cifs:two_blocks.cif#0"}), frozenset({"cod:Cu.cif#0", "bad_cifs:two_blocks.cif#1"})} <= pairs


def test_crystal_shards_hold_the_kept_records(crystal_build):
    assert run_cli("check", crystal_build / "shards" / "crystals") == 0
    prov = pl.concat([pl.read_parquet(p) for p in (crystal_build / "shards" / "crystals").glob("*.provenance.parquet")])
    assert prov.height == json.loads((crystal_build / "summary.json").read_text())["kept"]


@pytest.mark.slow
def test_per_form_documents_and_bad_crystal_settings(tmp_path):
    sources = [{"name": "cod", "reader": "cif", "paths": [str(COD / "Fe.cif"), str(COD / "Cu.cif")]}]
    manifest = _crystal_manifest(tmp_path, sources, {"forms": ["crystal_string", "cif_p1"], "documents": "per_form"})
    assert run_cli("build", manifest) == 0
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["kept"] == 4 and s["inputs"] == 4 and s["reconciled"]
    from corpus.manifest import ManifestError, load_manifest

    bad = _crystal_manifest(tmp_path / "bad", sources, {"forms": ["xyz"]})
    with pytest.raises(ManifestError) as e:
        load_manifest(bad)
    assert "stages.crystals.forms" in str(e.value) and "xyz" in str(e.value)


@pytest.mark.slow
def test_robocrys_descriptions_are_cached_by_structure(tmp_path):
    from corpus.crystals.text import RobocrysDescriber

    describer = RobocrysDescriber(str(tmp_path))
    text = describer.describe(cod_structure("GaAs"), "cod-9008845")
    assert "GaAs" in text and "F-43m" in text and "tetrahedra" in text
    assert (tmp_path / "cod-9008845.json").exists()
    describer._describer = None  # a cached description needs no describer
    assert describer.describe(cod_structure("GaAs"), "cod-9008845") == text


def test_extract_detects_cif_files_and_crystal_tables(tmp_path):
    out = tmp_path / "crystals.jsonl"
    assert run_cli("extract", COD / "GaAs.cif", MP20 / "test.csv", "-o", out) == 0
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(docs) == 1 + len(mp20_rows())
    assert docs[0]["id"] == "cod-9008845" and docs[0]["metadata"]["spacegroup_number"] == 216
    assert {d["id"] for d in docs[1:]} == {r["material_id"] for r in mp20_rows()}


@pytest.mark.slow
def test_hostile_crystal_files_fail_alone_with_a_reason(tmp_path):
    """Empty files, a table without a CIF column, a cell numpy cannot handle, an oversized JSON Lines record."""
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.cif").write_text("")
    (bad / "empty.csv").write_text("")
    (bad / "nocif.csv").write_text("a,b\n1,2\n")
    cell = "\n".join(f"_cell_{k} {v}" for k, v in [("length_a", "1e308"), ("length_b", 1), ("length_c", 1),
                                                     ("angle_alpha", 90), ("angle_beta", 90), ("angle_gamma", 90)])
    sites = "loop_\n_atom_site_label\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\nFe 0 0 0\n"
    (bad / "huge_cell.cif").write_text(f"data_huge\n{cell}\n{sites}" + cod("Cu"))  # the good second block survives
    (bad / "dump.jsonl").write_text(json.dumps({"material_id": "mp-x", "structure": cod_structure("Cu").as_dict()}) + "\n" + "x" * 5000 + "\n")
    sources = [{"name": "cifs", "reader": "cif", "paths": [str(bad / "empty.cif"), str(bad / "huge_cell.cif")]},
               {"name": "tables", "reader": "crystal_csv", "paths": [str(bad / "empty.csv"), str(bad / "nocif.csv")]},
               {"name": "dumps", "reader": "crystal_json", "paths": [str(bad / "dump.jsonl")], "options": {"max_line_bytes": 4000}}]
    assert run_cli("build", _crystal_manifest(tmp_path, sources)) == 0
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["reconciled"], s["problems"]
    # the 1e308 Å cell is a cell no crystal has: dropped as bad_cell (its lattice is not finite), not a failure
    assert s["failed_by_reason"] == {"unparsable_cif": 1, "missing_column": 2, "too_large": 1}
    assert s["dropped_by_reason"] == {"bad_cell": 1, "duplicate_structure": 1}
    assert s["kept"] + s["dropped"] == 3  # the huge cell, the Cu block after it, and the Cu record of the dump
