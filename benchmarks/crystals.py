"""Crystal records: throughput, structure dedup at 10k, dedup correctness, decontamination recall.

1. Throughput, one core, on the CDVAE CSVs (MP-20 subset, Perov-5, Carbon-24; all rows of each):
   the crystal CSV reader's own path, i.e. parse + validate + standardise (symmetry, Niggli,
   rounding) + P1 CIF + crystal string + property sentences, in structures/s. Median of 3 passes.
   Also robocrys descriptions (when the optional package is installed) on a few structures, uncached.
2. Structure dedup on 10,000 real structures (Perov-5 + Carbon-24 + MP-20 rows, plus planted
   copies): wall time, matcher calls against the n^2/2 of comparing every pair, groups found.
3. Dedup correctness: every structure's rotated / translated / supercell / re-ordered copy must be
   found (recall); distinct structures of one formula (Carbon-24's carbon polymorphs, MP-20
   formulas with several entries) must not be merged (false merges).
4. Symmetry libraries: spglib against moyopy, time and agreement (`benchmarks/crystals.py symmetry` alone).
5. Decontamination: every test structure of each benchmark, re-encoded (sites permuted, doubled
   along c, written in the conventional standard setting) and fed through the index: caught fraction.

    .venv/bin/python benchmarks/crystals.py      (needs ../shared/data/crystals)
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "crystals"
sys.path.insert(0, str(ROOT))
warnings.simplefilter("ignore")

from pymatgen.core import Structure  # noqa: E402

from corpus.crystals.matching import StructureIndex  # noqa: E402
from corpus.crystals.structures import CrystalSettings, cif_records, compact, parse_cif_block, standardise  # noqa: E402
from corpus.crystals.text import RobocrysDescriber  # noqa: E402
from corpus.dedup.structures import STRUCTURE_SCHEMA, structure_duplicates  # noqa: E402
from corpus.outcomes import OutcomeWriter  # noqa: E402
from corpus.readers.crystals import CrystalCsvReader  # noqa: E402
from corpus.records import Failure  # noqa: E402

SETTINGS = CrystalSettings(forms=["properties", "cif_p1", "crystal_string"])
CSVS = {
    "MP-20 subset": ["mp_20_subset/train.csv", "mp_20_subset/val.csv", "mp_20_subset/test.csv"],
    "Perov-5": ["perov_5/val.csv", "perov_5/test.csv"],
    "Carbon-24": ["carbon_24/val.csv", "carbon_24/test.csv"],
}


def reader(tmp: str) -> CrystalCsvReader:
    return CrystalCsvReader(
        source="bench", component="crystals", data_folder=str(SHARED), paths_file=None,
        failed_writer=OutcomeWriter(tmp, "failed.jsonl", "failed", os.path.join(tmp, "ledger.parquet")),
        inputs_folder=tmp, crystal_settings=SETTINGS, work_folder=tmp,
    )


def throughput() -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        r = reader(tmp)
        for name, files in CSVS.items():
            rates, docs, failed = [], 0, 0
            for _ in range(3):
                start, docs, failed = time.perf_counter(), 0, 0
                for f in files:
                    for item in r.read_records(f):
                        if isinstance(item, Failure):
                            failed += 1
                        else:
                            docs += 1
                rates.append((docs + failed) / (time.perf_counter() - start))
            out[name] = {"structures": docs + failed, "failed": failed, "structures_per_s": round(statistics.median(rates), 1)}
            print(name, out[name], flush=True)
    total = sum(v["structures"] for v in out.values())
    out["all"] = {"structures": total, "structures_per_s": round(total / sum(v["structures"] / v["structures_per_s"] for v in out.values() if isinstance(v, dict) and "structures_per_s" in v), 1)}
    print("all", out["all"])
    return out


def robocrys_rate(structures: list[Structure]) -> dict:
    if not RobocrysDescriber.available():
        return {"installed": False}
    with tempfile.TemporaryDirectory() as tmp:
        describer = RobocrysDescriber(tmp)
        start = time.perf_counter()
        for i, s in enumerate(structures):
            describer.describe(s, f"s{i}")
        cold = (time.perf_counter() - start) / len(structures)
        start = time.perf_counter()
        for i, s in enumerate(structures):
            describer.describe(s, f"s{i}")
        warm = (time.perf_counter() - start) / len(structures)
    return {"installed": True, "structures": len(structures), "seconds_per_structure": round(cold, 3), "cached_seconds_per_structure": round(warm, 5)}


def load(files: list[str], limit: int | None = None) -> list[tuple[str, Structure]]:
    out = []
    for f in files:
        for name, cif, _ in cif_records(str(SHARED / f)):
            out.append((f"{f}#{name}", parse_cif_block(cif, SETTINGS).structure))
            if limit and len(out) >= limit:
                return out
    return out


def symmetry_libraries(limit: int = 600) -> dict:
    """spglib (through pymatgen's SpacegroupAnalyzer, angle tolerance 5°) against moyopy (what the reader uses), both at
    symprec 0.1: milliseconds per structure and how often they name the same space group; MP-20 also against the
    `spacegroup.number` column Materials Project computed."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    from corpus.crystals.structures import symmetry

    out = {}
    for name, files in CSVS.items():
        rows = []
        for f in files:
            rows += [(parse_cif_block(cif, SETTINGS).structure, row.get("spacegroup.number")) for _, cif, row in cif_records(str(SHARED / f))]
        rows = rows[:limit]
        start = time.perf_counter()
        moyo = [symmetry(s, 0.1)[1] for s, _ in rows]
        t_moyo = time.perf_counter() - start
        start = time.perf_counter()
        spg = [SpacegroupAnalyzer(s, symprec=0.1).get_space_group_number() for s, _ in rows]
        t_spg = time.perf_counter() - start
        out[name] = {"structures": len(rows), "moyopy_ms": round(1000 * t_moyo / len(rows), 2), "spglib_ms": round(1000 * t_spg / len(rows), 2),
                     "same_group": round(sum(a == b for a, b in zip(moyo, spg)) / len(rows), 4)}
        listed = [(m, int(n)) for m, (_, n) in zip(moyo, rows) if n]
        if listed:
            out[name]["moyopy_equals_listed"] = round(sum(a == b for a, b in listed) / len(listed), 4)
        print("symmetry", name, out[name], flush=True)
    return out


def rows_for(entries: list[tuple[str, Structure]]) -> pa.Table:
    rows = []
    for record, s in entries:
        std = standardise(s, SETTINGS)
        comp = std.structure.composition
        rows.append({"record": record, "id": record, "source": "bench", "component": "crystals", "priority": 0,
                     "formula": comp.reduced_formula, "spacegroup": std.spacegroup_number, "form": None, "e_above_hull": None,
                     "volume_per_formula_unit": std.structure.volume / (comp.num_atoms / comp.reduced_composition.num_atoms),
                     "structure": json.dumps(compact(std.structure))})
    return pa.Table.from_pylist(rows, schema=STRUCTURE_SCHEMA)


def copies(s: Structure, rng: np.random.Generator) -> dict[str, Structure]:
    a, b = rng.uniform(0, np.pi, 2)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    translated = s.copy()
    translated.translate_sites(list(range(len(s))), rng.uniform(0, 1, 3))
    order = rng.permutation(len(s))
    return {
        "rotated": Structure(s.lattice.matrix @ (rz @ rx).T, s.species, s.frac_coords),
        "translated": translated,
        "supercell": s * (1, 2, 1),
        "reordered": Structure(s.lattice, [s.species[i] for i in order], s.frac_coords[order]),
    }


def dedup_at_10k() -> dict:
    import corpus.crystals.matching as matching

    calls = {"n": 0}
    original = matching.same_crystal

    def counted(m, a, b):
        calls["n"] += 1
        return original(m, a, b)

    base = load(CSVS["Perov-5"] + CSVS["Carbon-24"] + CSVS["MP-20 subset"], limit=9000)
    rng = np.random.default_rng(0)
    planted = [(f"copy-{i}-{k}", c) for i, (_, s) in enumerate(base[:250]) for k, c in copies(s, rng).items()]
    entries = base + planted
    start = time.perf_counter()
    table = rows_for(entries)
    prepare = time.perf_counter() - start
    import corpus.dedup.structures as ds

    ds.same_crystal = counted
    try:
        start = time.perf_counter()
        removed = structure_duplicates(table, ["priority"])
        seconds = time.perf_counter() - start
    finally:
        ds.same_crystal = original
    n = len(entries)
    cluster = {r["record"]: r["survivor"] for r in removed}
    merged = sum(
        len({cluster.get(rec, rec) for rec in [base[i][0]] + [f"copy-{i}-{k}" for k in ("rotated", "translated", "supercell", "reordered")]}) == 1
        for i in range(250)
    )
    out = {"structures": n, "seconds": round(seconds, 1), "standardise_seconds": round(prepare, 1), "matcher_calls": calls["n"],
           "all_pairs": n * (n - 1) // 2, "removed": len(removed), "planted_groups": 250, "planted_groups_merged": merged,
           "removed_beyond_planted": len(removed) - 4 * merged}
    print("dedup 10k", out, flush=True)
    return out


def correctness() -> dict:
    rng = np.random.default_rng(1)
    sample = load(CSVS["MP-20 subset"], limit=200) + load(CSVS["Perov-5"], limit=100)
    recall = {k: [0, 0] for k in ("rotated", "translated", "supercell", "reordered")}
    for record, s in sample:
        for kind, c in copies(s, rng).items():
            removed = structure_duplicates(rows_for([(record, s), (f"{record}-{kind}", c)]), ["priority"])
            recall[kind][0] += len(removed) == 1
            recall[kind][1] += 1
    carbon = load(["carbon_24/test.csv"])
    carbon_removed = structure_duplicates(rows_for(carbon), ["priority"])
    mp = load(CSVS["MP-20 subset"])
    mp_removed = structure_duplicates(rows_for(mp), ["priority"])
    out = {
        "copies_found": {k: f"{a}/{b}" for k, (a, b) in recall.items()},
        "carbon24_test_structures": len(carbon), "carbon24_merged": len(carbon_removed),
        "mp20_structures": len(mp), "mp20_merged": len(mp_removed),
        "mp20_merged_examples": [(r["record"], r["survivor"]) for r in mp_removed[:5]],
        "carbon24_merged_examples": [(r["record"], r["survivor"]) for r in carbon_removed[:5]],
    }
    print("correctness", out, flush=True)
    return out


def decontamination() -> dict:
    out = {}
    rng = np.random.default_rng(2)
    conventional = CrystalSettings(cell="conventional")
    for name, path in {"MP-20 subset": "mp_20_subset/test.csv", "Perov-5": "perov_5/test.csv", "Carbon-24": "carbon_24/test.csv"}.items():
        start = time.perf_counter()
        index = StructureIndex.load([{"name": name, "paths": [str(SHARED / path)]}], SETTINGS)
        build = time.perf_counter() - start
        tests = load([path])
        caught, start = 0, time.perf_counter()
        for _, s in tests:
            order = rng.permutation(len(s))
            permuted = Structure(s.lattice, [s.species[i] for i in order], s.frac_coords[order]) * (1, 1, 2)
            variant = standardise(permuted, conventional)
            caught += index.match(variant.structure, variant.spacegroup_number) is not None
        out[name] = {"test_structures": len(tests), "caught": caught, "recall": round(caught / len(tests), 4),
                     "index_seconds": round(build, 1), "lookup_ms_per_structure": round(1000 * (time.perf_counter() - start) / len(tests), 1)}
        print("decontamination", name, out[name], flush=True)
    return out


if __name__ == "__main__":
    if not SHARED.is_dir():
        sys.exit(f"{SHARED} not found")
    parts = {"decontamination": decontamination, "symmetry": symmetry_libraries}
    if sys.argv[1:2] and sys.argv[1] in parts:  # one part alone, merged into the stored results
        path = ROOT / "benchmarks" / "results" / "crystals.json"
        results = json.loads(path.read_text()) if path.exists() else {}
        results[sys.argv[1]] = parts[sys.argv[1]]()
        path.write_text(json.dumps(results, indent=1) + "\n")
        sys.exit(0)
    results = {"throughput": throughput()}
    results["symmetry"] = symmetry_libraries()
    results["robocrys"] = robocrys_rate([s for _, s in load(["mp_20_subset/test.csv"], limit=5)])
    print("robocrys", results["robocrys"], flush=True)
    results["dedup_10k"] = dedup_at_10k()
    results["correctness"] = correctness()
    results["decontamination"] = decontamination()
    (ROOT / "benchmarks" / "results" / "crystals.json").write_text(json.dumps(results, indent=1) + "\n")
