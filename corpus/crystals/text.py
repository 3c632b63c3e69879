"""Textual forms of a crystal record, chosen per manifest (`stages.crystals.forms`).

- `properties`: sentences from the record: formula, space group, crystal system, cell contents,
  volume and density, and the record's formation energy, band gap and energy above hull when given;
- `cif_p1`: pymatgen's P1 CIF of the standardised cell (rounded);
- `cif_symmetrized`: pymatgen's symmetrised CIF (space group and asymmetric unit; ~20 ms a structure);
- `crystal_string`: the compact form of LLM crystal generators and LLaMat's crystal tasks: lattice
  lengths to 0.1 Å, angles as integers, then per site the element and fractional coordinates to 2 decimals;
- `robocrys`: a robocrystallographer description (the optional `robocrys` package, ~2 s a
  structure, so cached on disk by structure hash).
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

from pymatgen.core import Structure
from pymatgen.io.cif import CifWriter

from corpus.crystals.structures import Standardised, density

_PROPERTY_SENTENCES = (
    ("formation_energy_per_atom", "The formation energy is {:.3f} eV/atom."),
    ("band_gap", "The band gap is {:.3f} eV."),
    ("e_above_hull", "The energy above the convex hull is {:.3f} eV/atom."),
    ("energy_per_atom", "The energy is {:.3f} eV/atom."),
)


def property_text(std: Standardised, properties: dict[str, Any]) -> str:
    s = std.structure
    comp = s.composition
    formula = comp.reduced_formula
    units = int(round(comp.num_atoms / comp.reduced_composition.num_atoms)) if comp.reduced_composition.num_atoms else 1
    lines = [
        f"{formula} crystallizes in the {std.crystal_system} {std.spacegroup_symbol} space group (No. {std.spacegroup_number}).",
        f"The unit cell holds {int(round(comp.num_atoms))} atoms ({units} formula unit{'s' if units != 1 else ''}) "
        f"in a volume of {s.volume:.2f} Å³; the density is {density(s):.3f} g/cm³.",
        "Lattice parameters: a = {:.3f} Å, b = {:.3f} Å, c = {:.3f} Å, ".format(*s.lattice.abc)
        + "α = {:.2f}°, β = {:.2f}°, γ = {:.2f}°.".format(*s.lattice.angles),
    ]
    for key, sentence in _PROPERTY_SENTENCES:
        value = properties.get(key)
        if isinstance(value, (int, float)) and value == value:  # skips NaN
            lines.append(sentence.format(float(value)))
    return " ".join(lines)


def crystal_string(structure: Structure) -> str:
    """`a b c` / `alpha beta gamma` / then `Element` and `x y z` per site (LLaMat's and CrystaLLM-style generators' format)."""
    lines = [" ".join(f"{x:.1f}" for x in structure.lattice.abc), " ".join(f"{round(x):d}" for x in structure.lattice.angles)]
    for site in structure:
        lines.append(site.species_string)
        lines.append(" ".join(f"{(round(x, 2) % 1.0) + 0.0:.2f}" for x in site.frac_coords))  # 0.999 -> 0.00, never 1.00 or -0.00
    return "\n".join(lines)


def cif_p1(structure: Structure, decimals: int) -> str:
    return str(CifWriter(structure, significant_figures=decimals + 2)).strip()


def cif_symmetrized(structure: Structure, symprec: float, decimals: int) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return str(CifWriter(structure, symprec=symprec, significant_figures=decimals + 2)).strip()


class RobocrysDescriber:
    """robocrystallographer's description, cached on disk by structure hash (it costs seconds a structure)."""

    def __init__(self, cache_folder: str):
        self.cache_folder = cache_folder
        self._condenser = self._describer = None

    @staticmethod
    def available() -> bool:
        try:
            import robocrys  # noqa: F401
        except ImportError:
            return False
        return True

    def describe(self, structure: Structure, key: str) -> str:
        path = os.path.join(self.cache_folder, key.replace(":", "_") + ".json")
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)["description"]
        if self._condenser is None:
            from robocrys import StructureCondenser, StructureDescriber

            self._condenser, self._describer = StructureCondenser(), StructureDescriber()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            text = self._describer.describe(self._condenser.condense_structure(structure))
        os.makedirs(self.cache_folder, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump({"description": text}, f)
        os.replace(tmp, path)  # atomic: parallel tasks may describe the same structure
        return text


def render(form: str, std: Standardised, properties: dict, decimals: int, symprec: float,
           robocrys: RobocrysDescriber | None = None, key: str | None = None) -> str:
    if form == "properties":
        return property_text(std, properties)
    if form == "cif_p1":
        return cif_p1(std.structure, decimals)
    if form == "cif_symmetrized":
        return cif_symmetrized(std.structure, symprec, decimals)
    if form == "crystal_string":
        return crystal_string(std.structure)
    if form == "robocrys":
        if robocrys is None:
            raise ValueError("the robocrys form needs a RobocrysDescriber")
        return robocrys.describe(std.structure, key or "")
    raise ValueError(f"unknown crystal text form {form!r}")
