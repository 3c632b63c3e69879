"""Is this the same crystal? pymatgen's `StructureMatcher`, only within a (reduced formula, space group) group.

Comparing every pair of N structures is N^2 matcher calls; two structures with different
reduced formulas or space groups are never the same crystal, so candidates are grouped by that
key first and the matcher only runs inside a group. Structure dedup and structure decontamination
both use this.
"""

from __future__ import annotations

import glob
import os
import warnings
from collections import defaultdict
from dataclasses import dataclass

from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure

from corpus.crystals.structures import CrystalParseError, CrystalSettings, cif_records, parse_cif_block, symmetry


def group_key(structure: Structure, spacegroup_number: int) -> tuple[str, int]:
    return structure.composition.reduced_formula, int(spacegroup_number)


def spacegroup_number(structure: Structure, symprec: float, angle_tolerance: float = 5.0) -> int:
    """The same analysis as the records' (`structures.symmetry`), so a test structure and its copy in the corpus land in one group."""
    return symmetry(structure, symprec, angle_tolerance)[1]


def matcher() -> StructureMatcher:
    """pymatgen's defaults (ltol 0.2, stol 0.3, angle_tol 5°, primitive cells, volume scaling), as CDVAE's coverage uses."""
    return StructureMatcher()


def same_crystal(m: StructureMatcher, a: Structure, b: Structure) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return bool(m.fit(a, b))
        except Exception:  # noqa: BLE001 - the matcher fails on some degenerate cells: not a match
            return False


@dataclass
class Reference:
    benchmark: str
    item: str
    structure: Structure
    volume_per_atom: float = 0.0
    spacegroup: int = 0


class StructureIndex:
    """Benchmark test structures grouped by (reduced formula, space group), for decontamination by structure."""

    def __init__(self, symprec: float = 0.1, angle_tolerance: float = 5.0):
        self.symprec, self.angle_tolerance = symprec, angle_tolerance
        self.groups: dict[tuple[str, int], list[Reference]] = defaultdict(list)
        self.by_formula: dict[str, list[Reference]] = defaultdict(list)
        self.counts: dict[str, int] = defaultdict(int)
        self.matcher = matcher()

    def add(self, benchmark: str, item: str, structure: Structure) -> None:
        key = group_key(structure, spacegroup_number(structure, self.symprec, self.angle_tolerance))
        ref = Reference(benchmark, item, structure, structure.volume / len(structure), key[1])
        self.groups[key].append(ref)
        self.by_formula[key[0]].append(ref)
        self.counts[benchmark] += 1

    def match(self, structure: Structure, spacegroup: int, density_tolerance: float = 0.02) -> Reference | None:
        """The first test structure that StructureMatcher calls the same crystal. Candidates: the same reduced formula and
        space group, closest density first (a re-encoded copy has the same volume per atom, so it is found at once even
        in Carbon-24's large groups); then, for cells at the edge of the symmetry tolerance whose space group moved when
        they were re-encoded, the same formula in another space group within `density_tolerance` of the volume per atom."""
        vpa = structure.volume / len(structure)
        key = group_key(structure, spacegroup)
        for ref in sorted(self.groups.get(key, ()), key=lambda r: abs(r.volume_per_atom - vpa)):
            if same_crystal(self.matcher, ref.structure, structure):
                return ref
        near = [r for r in self.by_formula.get(key[0], ())
                if r.spacegroup != key[1] and abs(r.volume_per_atom - vpa) <= density_tolerance * vpa]
        for ref in sorted(near, key=lambda r: abs(r.volume_per_atom - vpa)):
            if same_crystal(self.matcher, ref.structure, structure):
                return ref
        return None

    @classmethod
    def load(cls, benchmarks: list[dict], settings: CrystalSettings) -> "StructureIndex":
        """Benchmarks as `{name, paths}`: CSV files with a `cif` column (CDVAE's MP-20, Perov-5, Carbon-24) or CIF files."""
        index = cls(settings.symprec, settings.angle_tolerance)
        for bench in benchmarks:
            files = sorted({f for pattern in bench["paths"] for f in (glob.glob(pattern) or [pattern])})
            for path in files:
                for item, structure in _benchmark_structures(path, settings):
                    index.add(bench["name"], item, structure)
        return index


def _benchmark_structures(path: str, settings: CrystalSettings):
    if not os.path.exists(path):
        raise FileNotFoundError(f"benchmark file not found: {path}")
    for item, cif, _ in cif_records(path):
        try:
            record = parse_cif_block(cif, settings)
        except CrystalParseError:
            continue  # a broken test structure cannot contaminate anything
        if record.structure is not None:
            yield item, record.structure


__all__ = ["StructureIndex", "group_key", "matcher", "same_crystal", "spacegroup_number"]
