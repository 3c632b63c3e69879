"""Parse, validate and standardise crystal structures with pymatgen, defensively.

A record becomes a `CrystalRecord`: the pymatgen `Structure`, the record's own properties
(formation energy, band gap, ...) and its database id when it has one. Validation returns the
first problem as a short reason code; standardisation runs one symmetry analysis (spglib through
pymatgen's `SpacegroupAnalyzer`) and gives the space group, crystal system and the cell the
manifest asks for. Between pipeline steps a structure travels as `compact(structure)`, a small
JSON-safe dict, because datatrove documents are written as JSON Lines.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import logging
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal

import moyopy
import numpy as np
from moyopy import SpaceGroupType
from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Element, Lattice, Structure
from pymatgen.io.cif import CifParser
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from corpus.config import LocalPath

class CrystalSettings(BaseModel):
    """`stages.crystals` in the manifest: how crystal records are checked, standardised and rendered."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    symprec: float = Field(0.1, gt=0, le=1, description="symmetry tolerance in Å (spglib symprec)")
    angle_tolerance: float = Field(5.0, gt=0, le=20, description="angle tolerance in degrees for the conventional/primitive standard cells (spglib)")
    cell: Literal["as_is", "conventional", "primitive"] = Field("as_is", description="which cell is written")
    niggli: bool = Field(True, description="Niggli-reduce the cell (as_is and primitive cells)")
    decimals: int = Field(4, ge=1, le=8, description="fractional coordinates and lattice parameters are rounded to this")
    min_distance: float = Field(0.5, ge=0, description="atoms closer than this (Å) drop the record as atoms_too_close")
    disorder: Literal["keep", "drop"] = Field("drop", description="records with partial occupancy: keep, or drop as disordered")
    max_sites: int = Field(2000, ge=1, description="larger cells are dropped as too_many_sites (guards memory and time)")
    forms: list[Literal["properties", "cif_p1", "cif_symmetrized", "crystal_string", "robocrys"]] = Field(
        default_factory=lambda: ["properties", "cif_p1"], min_length=1,
        description="textual forms of each record, in this order",
    )
    documents: Literal["one", "per_form"] = Field("one", description="one document holding every form, or one document per form")
    robocrys_cache: LocalPath | None = Field(None, description="folder caching robocrys descriptions by structure hash; default OUT/work/robocrys")


@dataclass
class CrystalRecord:
    """One structure and what its source says about it."""

    structure: Structure | None
    database_id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None  # a drop reason found before a structure could be made (bad_cell, bad_volume)


class CrystalParseError(ValueError):
    """A record that cannot become a structure; `kind` is the failure code the summary groups by."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


# ---- parsing

_BLOCK = re.compile(r"(?im)^data_")
_CELL_TAGS = ("_cell_length_a", "_cell_length_b", "_cell_length_c", "_cell_angle_alpha", "_cell_angle_beta", "_cell_angle_gamma")
_SITE_TAGS = ("_atom_site_fract_x", "_atom_site_cartn_x")
_COD_ID = re.compile(r"^_cod_database_code\s+'?(\d+)", re.MULTILINE)
_BLOCK_NAME = re.compile(r"^data_(\S*)")


def cif_blocks(text: str) -> list[tuple[int, str]]:
    """(1-based line, text) of every `data_` block of a CIF file; comments before the first block are dropped."""
    starts = [m.start() for m in _BLOCK.finditer(text)]
    return [(text.count("\n", 0, s) + 1, text[s : e]) for s, e in zip(starts, starts[1:] + [len(text)])]


def read_cif_column(text: str) -> str:
    """A CIF cell of a table from its `data_` line on (CDVAE's cells start with a `# generated using pymatgen` comment)."""
    start = text.lower().find("data_")
    return text[start:] if start >= 0 else text


def cif_records(path: str) -> Iterator[tuple[str, str, dict]]:
    """(record name, CIF text, table row) of every `data_` block of a CIF file, or of every row of a CSV table with a
    `cif` column (name: its `material_id`, else FILE#row; CIF blocks: FILE#Lline, with an empty row)."""
    name = os.path.basename(path)
    if path.endswith(".csv"):
        csv.field_size_limit(256 * 2**20)
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            rows = csv.DictReader(f)
            if not rows.fieldnames or "cif" not in rows.fieldnames:
                raise ValueError(f"{path}: a crystal table needs a 'cif' column (found {rows.fieldnames})")
            for n, row in enumerate(rows):
                yield row.get("material_id") or f"{name}#{n}", read_cif_column(row["cif"] or ""), row
        return
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    for line, block in cif_blocks(text):
        yield f"{name}#L{line}", block, {}


_CIF_NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:inf|nan))(?:\(\d+\))?"


def cif_cell(block: str) -> tuple[float, ...] | None:
    """The six cell parameters as the block writes them (a, b, c, alpha, beta, gamma), or None when one is not a number.

    Read from the text because pymatgen takes the absolute value of a length (`-5.6` became a = 5.6 Å) and
    fails on a zero one with a singular-matrix error, so neither could be told from a broken file afterwards."""
    values = []
    for tag in _CELL_TAGS:
        m = re.search(rf"(?im)^\s*{tag}\s+'?{_CIF_NUMBER}", block)
        if not m:
            return None
        values.append(float(m.group(1)))
    return tuple(values)


def cell_problem(a: float, b: float, c: float, alpha: float, beta: float, gamma: float) -> str | None:
    """bad_cell: a length negative or not finite, an angle outside (0, 180); bad_volume: a zero length, or angles
    that close the cell flat (the volume of the parallelepiped is zero or imaginary)."""
    if not all(math.isfinite(v) for v in (a, b, c, alpha, beta, gamma)) or min(a, b, c) < 0:
        return "bad_cell"
    if not all(0 < angle < 180 for angle in (alpha, beta, gamma)):
        return "bad_cell"
    ca, cb, cg = (math.cos(math.radians(x)) for x in (alpha, beta, gamma))
    radicand = 1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg
    if radicand <= 0 or a * b * c * math.sqrt(radicand) <= 1e-3:
        return "bad_volume"
    return None


def parse_cif_block(block: str, settings: CrystalSettings) -> CrystalRecord:
    """One CIF data block -> a record; raises `CrystalParseError` (missing_cell, no_sites, unparsable_cif, unknown_element).
    A cell that no structure can have gives a record without a structure and with `problem` set (a drop, not a failure)."""
    lowered = block.lower()
    missing = [t for t in _CELL_TAGS if t not in lowered]
    if missing:
        raise CrystalParseError("missing_cell", f"no {', '.join(missing)} in the block")
    if not any(t in lowered for t in _SITE_TAGS):
        raise CrystalParseError("no_sites", "no _atom_site_fract_x or _atom_site_Cartn_x loop in the block")
    name = _BLOCK_NAME.match(block)
    if (cell := cif_cell(block)) is not None and (problem := cell_problem(*cell)):
        return CrystalRecord(None, None, metadata={"cif_block": name.group(1) if name else None, "cell": list(cell)}, problem=problem)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns about every rounded coordinate; the checks below decide
        try:
            parser = CifParser.from_str(block, occupancy_tolerance=1.05)
            structures = parser.parse_structures(primitive=False, on_error="raise")
        except Exception as e:  # noqa: BLE001 - pymatgen raises many types on malformed CIF
            kind = "unknown_element" if _looks_like_unknown_element(e) else "unparsable_cif"
            raise CrystalParseError(kind, f"{type(e).__name__}: {e}") from None
    if not structures:
        raise CrystalParseError("unparsable_cif", "pymatgen found no structure in the block")
    cod = _COD_ID.search(block)
    database_id = f"cod-{cod.group(1)}" if cod else None
    return CrystalRecord(structures[0], database_id, metadata={"cif_block": name.group(1) if name else None})


def _looks_like_unknown_element(error: Exception) -> bool:
    text = str(error).lower()
    return "not a valid element" in text or "unknown element" in text or "invalid element" in text or "is not a valid" in text


def structure_from_dict(data: Any) -> Structure:
    """A pymatgen `Structure.as_dict()` (as Materials Project and similar databases export) -> Structure."""
    if not isinstance(data, dict):
        raise CrystalParseError("unparsable_structure", f"structure is a {type(data).__name__}, not a dict")
    if "lattice" not in data:
        raise CrystalParseError("missing_cell", "structure dict has no lattice")
    if not data.get("sites"):
        raise CrystalParseError("no_sites", "structure dict has no sites")
    try:
        return Structure.from_dict(data)
    except Exception as e:  # noqa: BLE001
        kind = "unknown_element" if _looks_like_unknown_element(e) else "unparsable_structure"
        raise CrystalParseError(kind, f"{type(e).__name__}: {e}") from None


# ---- validation

def validate(structure: Structure, settings: CrystalSettings) -> str | None:
    """The first problem of a parsed structure as a drop reason, or None when it is usable."""
    if len(structure) == 0:
        return "no_sites"
    if len(structure) > settings.max_sites:
        return "too_many_sites"
    if problem := cell_problem(*structure.lattice.abc, *structure.lattice.angles):
        return problem
    volume = structure.lattice.volume
    if not math.isfinite(volume) or volume <= 1e-3:
        return "bad_volume"
    for sp in structure.composition:
        if not 1 <= (getattr(sp, "Z", 0) or 0) <= 103:  # DummySpecies (X, Vac, ...) have Z = 0
            return "unknown_element"
    if not structure.is_ordered and settings.disorder == "drop":
        return "disordered"
    if len(structure) > 1 and _min_distance(structure, settings.min_distance) < settings.min_distance:
        return "atoms_too_close"
    return None


def _min_distance(structure: Structure, cutoff: float) -> float:
    """Shortest distance between two sites, periodic images included (one site with its own image too);
    for large cells only distances under `cutoff` are searched (inf when there is none)."""
    if len(structure) <= 200:
        d = structure.distance_matrix
        np.fill_diagonal(d, np.inf)
        shortest = float(d.min())
    else:  # neighbour search instead of an n^2 matrix for large cells
        centers, points, images, dists = structure.get_neighbor_list(max(cutoff, 0.01))
        dists = dists[~((centers == points) & np.all(images == 0, axis=1))]  # a site is not its own neighbour
        shortest = float(dists.min()) if len(dists) else math.inf
    return min(shortest, min(structure.lattice.abc))


# ---- standardisation

@dataclass
class Standardised:
    structure: Structure
    spacegroup_symbol: str
    spacegroup_number: int
    crystal_system: str


for _name in ("moyo", "moyopy"):  # moyo logs a note per cell whose primitive operations it trims: not our business
    logging.getLogger(_name).setLevel(logging.ERROR)

_SYSTEMS = ((2, "triclinic"), (15, "monoclinic"), (74, "orthorhombic"), (142, "tetragonal"), (167, "trigonal"), (194, "hexagonal"), (230, "cubic"))


def crystal_system(number: int) -> str:
    return next(name for last, name in _SYSTEMS if number <= last)


def symmetry(structure: Structure, symprec: float, angle_tolerance: float = 5.0) -> tuple[str, int, str]:
    """(space group symbol, number, crystal system) by moyopy, the Rust successor of spglib by spglib's
    authors: ~0.4 ms a structure against spglib's ~4 ms on MP-20 cells (benchmarks/crystals.py), the
    difference between meeting and missing 200 structures/s. Disordered sites count as one kind per
    distinct occupancy, as pymatgen's SpacegroupAnalyzer does. No symmetry found: P1."""
    kinds: dict[str, int] = {}
    numbers = [kinds.setdefault(site.species_string, len(kinds) + 1) for site in structure]
    try:
        # the lattice in pymatgen's canonical orientation, rebuilt from its parameters: a rotated copy of a
        # structure must land in the same group, and moyo's tolerance checks are not exactly rotation-invariant
        basis = Lattice.from_parameters(*structure.lattice.parameters).matrix
        cell = moyopy.Cell(basis.tolist(), structure.frac_coords.tolist(), numbers)
        # angle_tolerance stays moyo's default (off): with it set, moyo 0.21 never returns on some MP-20 cells;
        # without it moyo agrees with pymatgen/spglib at symprec 0.1 on every MP-20 test structure
        number = moyopy.MoyoDataset(cell, symprec=symprec).number
    except Exception:  # noqa: BLE001 - moyo raises on cells where no tolerance gives a consistent group
        return "P1", 1, "triclinic"
    return _symbol(number), number, crystal_system(number)


@functools.lru_cache(maxsize=None)
def _symbol(number: int) -> str:
    """pymatgen's spelling of the standard setting's short Hermann-Mauguin symbol: `P6_3/mmc`, `Im-3m`."""
    return SpaceGroupType(number).hm_short.replace(" ", "")


def standardise(structure: Structure, settings: CrystalSettings) -> Standardised:
    """One symmetry analysis, then the requested cell, Niggli-reduced and rounded."""
    symbol, number, system = symmetry(structure, settings.symprec, settings.angle_tolerance)
    cell = structure
    if settings.cell != "as_is":  # the standard cells need spglib's refinement through pymatgen
        sga = SpacegroupAnalyzer(structure, symprec=settings.symprec, angle_tolerance=settings.angle_tolerance)
        try:
            cell = sga.get_conventional_standard_structure() if settings.cell == "conventional" else sga.get_primitive_standard_structure()
        except Exception:  # noqa: BLE001 - spglib finds no standard cell: keep the cell as it is
            cell = structure
    if settings.niggli and settings.cell != "conventional":
        cell = cell.get_reduced_structure("niggli")
    return Standardised(rounded(cell, settings.decimals), symbol, number, system)


@functools.lru_cache(maxsize=None)
def _mass(species: str) -> float:
    return float(Element(species).atomic_mass)


def density(structure: Structure) -> float:
    """g/cm³. pymatgen's `Structure.density` builds unit-carrying floats per site (~1 ms a structure); this is plain arithmetic."""
    amu = sum(occ * _mass(getattr(sp, "element", sp).symbol) for site in structure for sp, occ in site.species.items())
    return amu * 1.66053906660 / structure.volume


def rounded(structure: Structure, decimals: int) -> Structure:
    """Lattice parameters and fractional coordinates (wrapped into [0, 1)) rounded consistently."""
    a, b, c = (round(x, decimals) for x in structure.lattice.abc)
    alpha, beta, gamma = (round(x, decimals) for x in structure.lattice.angles)
    lattice = Lattice.from_parameters(a, b, c, alpha, beta, gamma)
    coords = np.round(np.mod(structure.frac_coords, 1.0), decimals)
    coords[coords >= 1.0] = 0.0
    return Structure(lattice, structure.species_and_occu, coords, site_properties=None)


# ---- the compact form a structure travels in between steps, and canonical ids

def compact(structure: Structure) -> dict:
    """JSON-safe: lattice matrix, species (a symbol, or {symbol: occupancy} when disordered), fractional coordinates."""
    species = [
        site.species_string if site.is_ordered else {str(sp): round(occ, 6) for sp, occ in site.species.items()}
        for site in structure
    ]
    return {
        "lattice": np.round(structure.lattice.matrix, 8).tolist(),
        "species": species,
        "coords": np.round(structure.frac_coords, 8).tolist(),
    }


def from_compact(data: dict) -> Structure:
    return Structure(Lattice(data["lattice"]), data["species"], data["coords"])


def structure_hash(structure: Structure, symprec: float = 0.1) -> str:
    """A canonical id for a structure without a database id: the same for rotated, translated,
    supercell, re-ordered and re-set copies. Built only from what those cannot change: the reduced
    formula, the space group, the Niggli-reduced primitive lattice (lengths to 0.01 Å, angles to 0.1°)
    and the multiset of (species, orbit size) of the primitive cell's symmetry-equivalent sites.
    Coordinates are left out on purpose: an origin shift changes them. Two different structures
    sharing all of this get one id; structure dedup still tells them apart with StructureMatcher."""
    try:
        sga = SpacegroupAnalyzer(structure, symprec=symprec)
        prim = sga.find_primitive() or structure
        number = sga.get_space_group_number()
        equivalent = SpacegroupAnalyzer(prim, symprec=symprec).get_symmetry_dataset().equivalent_atoms
    except Exception:  # noqa: BLE001 - no symmetry found: the cell as it is, P1, every site its own orbit
        prim, number, equivalent = structure, 1, np.arange(len(structure))
    lattice = prim.lattice.get_niggli_reduced_lattice()
    abc = " ".join(f"{x:.2f}" for x in sorted(lattice.abc))
    angles = " ".join(f"{x:.1f}" for x in sorted(lattice.angles))
    orbits = sorted(f"{prim[int(rep)].species_string}x{int((equivalent == rep).sum())}" for rep in np.unique(equivalent))
    key = f"{prim.composition.reduced_formula}|{number}|{abc}|{angles}|" + ";".join(orbits)
    return "crystal:" + hashlib.sha1(key.encode()).hexdigest()[:20]


_DATABASE_ID = re.compile(r"^(mp|mvc|agm|gnome|oqmd|icsd|cod|jvasp|aflow|mpds)-\S+$", re.IGNORECASE)


def database_id(value: Any) -> str | None:
    """`mp-1234` and the like are global ids; anything else is only an id inside its source (None here)."""
    if value is None:
        return None
    text = str(value).strip()
    return text if _DATABASE_ID.match(text) else None
