"""LLaMat's crystal understanding tasks, with answers computed by pymatgen from the structure.

Each task shows the crystal as a P1 CIF whose sites are randomly permuted and translated (the
augmentation LLaMat used, so a model cannot learn site order), asks one of several paraphrased
instructions, and answers from the structure itself: number of atoms, lattice lengths, lattice
angles, space group, cell volume, formula, the element at given fractional coordinates, and
"these two atoms are swapped: is it the same crystal?" (decided by StructureMatcher). Generation
tasks use LLaMat's crystal strings: a structure from its formula and space group, the element
behind a [MASK], and the lattice from the sites.
"""

from __future__ import annotations

import random

import numpy as np
from pymatgen.core import Structure
from pymatgen.io.cif import CifWriter

from corpus.crystals.matching import matcher, same_crystal
from corpus.crystals.structures import symmetry
from corpus.crystals.text import crystal_string
from corpus.tasks.pairs import QAPair

SYSTEM = "You are a materials science expert. Answer questions about the crystal structure given as a CIF file."
SYSTEM_GENERATION = ("You are a materials science expert. Crystal strings give the lattice lengths (Å) and angles (°), "
                     "then each site's element and fractional coordinates.")

PROMPTS = {
    "atom_count": ["How many atoms are in the unit cell of this crystal?", "Count the atoms in the unit cell below.",
                   "What is the number of sites in this unit cell?", "How many atoms does this CIF describe?",
                   "Give the total number of atoms in the cell.", "State how many atoms the unit cell contains.",
                   "How many atomic sites are listed in this structure?", "Report the atom count of this unit cell.",
                   "What is the total atom count for the cell in this CIF?", "Tell me how many atoms are in this cell."],
    "lattice_lengths": ["What are the lattice lengths a, b and c of this crystal, in Å?", "Give the cell lengths of this unit cell.",
                        "Report the lattice parameters a, b, c in ångström.", "What are the three cell edge lengths?",
                        "State the lengths of the lattice vectors.", "List a, b and c for this unit cell in Å.",
                        "What are the unit cell dimensions (lengths only)?", "Give the lattice constants a, b and c.",
                        "How long are the cell edges of this crystal?", "Provide the lattice lengths of this structure."],
    "lattice_angles": ["What are the lattice angles alpha, beta and gamma of this crystal?", "Give the cell angles in degrees.",
                       "Report the unit cell angles.", "What are the angles between the lattice vectors?",
                       "State alpha, beta and gamma for this cell.", "List the three lattice angles of this structure.",
                       "What angles does this unit cell have?", "Give the interaxial angles of the cell.",
                       "Provide the lattice angles in degrees.", "What are the cell angles of this crystal?"],
    "space_group": ["What is the space group of this crystal?", "Determine the space group of the structure below.",
                    "Which space group does this crystal belong to?", "Give the Hermann-Mauguin symbol of the space group.",
                    "Identify the space group of this structure.", "What symmetry group describes this crystal?",
                    "State the space group symbol and number.", "Find the space group of this CIF.",
                    "What is the crystallographic space group here?", "Report the space group of this material."],
    "cell_volume": ["What is the volume of the unit cell in Å³?", "Compute the unit cell volume.",
                    "Give the cell volume of this crystal.", "How large is the unit cell, in cubic ångström?",
                    "Report the volume of this unit cell.", "What volume does the cell occupy?",
                    "State the unit cell volume in Å^3.", "Calculate the volume of the lattice cell.",
                    "What is the cell volume of this structure?", "Provide the unit cell volume."],
    "formula": ["What is the chemical formula of this crystal?", "Give the reduced formula of the structure below.",
                "Which compound does this CIF describe?", "State the chemical formula.", "What is the composition of this crystal?",
                "Report the reduced chemical formula.", "Identify the compound in this unit cell.",
                "What material is this? Give its formula.", "Write the formula of this structure.", "Name the formula of this crystal."],
    "element_at": ["Which element sits at fractional coordinates {xyz}?", "What atom is located at ({xyz}) in this cell?",
                   "Identify the element at the fractional position {xyz}.", "Which species occupies the site {xyz}?",
                   "What element is found at {xyz} (fractional coordinates)?", "Name the atom at position {xyz}.",
                   "Which element is at the site with fractional coordinates {xyz}?", "Tell me the element at {xyz}.",
                   "At {xyz}, which element is present?", "What is the element at fractional coordinates {xyz}?"],
    "swap_same": ["The elements of the sites at {a} and {b} are swapped. Is the result the same crystal? Answer yes or no.",
                  "If the atoms at {a} and {b} exchange places, is the structure unchanged? Answer yes or no.",
                  "Swap the atoms at {a} and {b}. Same crystal as before? Answer yes or no.",
                  "Exchanging the sites {a} and {b}: does the crystal stay the same? Answer yes or no.",
                  "After swapping the species at {a} and {b}, is it still the same structure? Answer yes or no.",
                  "Would interchanging the atoms at {a} and {b} give the same crystal? Answer yes or no.",
                  "Consider swapping the atoms at {a} and {b}. Is the crystal identical afterwards? Answer yes or no.",
                  "Do the sites {a} and {b}, once their atoms are swapped, leave the crystal the same? Answer yes or no.",
                  "Is the crystal the same after the atoms at {a} and {b} trade places? Answer yes or no.",
                  "Swapping the elements at {a} and {b}: same crystal or not? Answer yes or no."],
    "generate": ["Generate a crystal structure of {formula} in space group {sg}, as a crystal string.",
                 "Propose a stable crystal of {formula} with space group {sg}. Give lattice lengths, angles, then each element and its fractional coordinates.",
                 "Write a crystal string for {formula} (space group {sg}).", "Design a unit cell of {formula} in {sg}; answer as a crystal string.",
                 "Give a crystal structure for the composition {formula} with space group {sg}.",
                 "Generate {formula} in space group {sg}: lattice lengths, lattice angles, then sites.",
                 "Create a crystal string describing {formula} with symmetry {sg}.", "Suggest a {sg} crystal structure of {formula}.",
                 "Produce a periodic structure of {formula} in space group {sg}.", "Output a crystal string for a {sg} polymorph of {formula}."],
    "infill": ["One element in this crystal string is masked as [MASK]. Which element is it?\n\n{text}",
               "Fill in the masked element of this crystal:\n\n{text}", "Which element replaces [MASK] in the structure below?\n\n{text}",
               "Complete the crystal string by naming the [MASK] element.\n\n{text}", "Infill the missing element:\n\n{text}",
               "The element of one site is hidden as [MASK]. Name it.\n\n{text}", "What is [MASK] in this crystal string?\n\n{text}",
               "Predict the masked species in this structure:\n\n{text}", "Restore the element marked [MASK]:\n\n{text}",
               "Identify the element behind [MASK]:\n\n{text}"],
    "lattice_from_sites": ["Given these sites (element and fractional coordinates), predict the lattice lengths and angles.\n\n{text}",
                           "What lattice fits these atomic sites? Give lengths then angles.\n\n{text}",
                           "Predict the unit cell parameters for the sites below.\n\n{text}",
                           "Complete the crystal string with its lattice: lengths line, then angles line.\n\n{text}",
                           "From the sites below, infer the lattice parameters.\n\n{text}",
                           "Give the lattice lengths and angles of the crystal with these sites.\n\n{text}",
                           "Which lattice do these sites belong to? Answer with lengths and angles.\n\n{text}",
                           "Predict a, b, c and alpha, beta, gamma for these sites.\n\n{text}",
                           "Reconstruct the lattice of this crystal from its sites.\n\n{text}",
                           "State the lattice (lengths, then angles) for these fractional sites.\n\n{text}"],
}
TASKS = tuple(PROMPTS)
UNDERSTANDING = TASKS[:8]  # answered from a CIF shown in the question
GENERATION = TASKS[8:]  # crystal strings (LLaMat's generation tasks)


def augmented(structure: Structure, rng: random.Random) -> Structure:
    """Sites randomly permuted and the whole cell translated: the same crystal, written differently."""
    order = list(range(len(structure)))
    rng.shuffle(order)
    shift = np.array([rng.random(), rng.random(), rng.random()])
    coords = np.mod(structure.frac_coords[order] + shift, 1.0)
    return Structure(structure.lattice, [structure.species[i] for i in order], coords)


def _xyz(coords) -> str:
    return ", ".join(f"{x:.4f}" for x in coords)


def answer(task: str, s: Structure, symprec: float = 0.1, site: int = 0, other: int = 1) -> str:
    """The answer of `task` for structure `s`, computed by pymatgen (also how the tests re-derive answers)."""
    if task == "atom_count":
        return str(len(s))
    if task == "lattice_lengths":
        return "a = {:.3f} Å, b = {:.3f} Å, c = {:.3f} Å".format(*s.lattice.abc)
    if task == "lattice_angles":
        return "alpha = {:.2f}°, beta = {:.2f}°, gamma = {:.2f}°".format(*s.lattice.angles)
    if task == "space_group":
        symbol, number, _ = symmetry(s, symprec)
        return f"{symbol} (No. {number})"
    if task == "cell_volume":
        return f"{s.volume:.2f} Å³"
    if task == "formula":
        return s.composition.reduced_formula
    if task == "element_at":
        return s[site].species_string
    if task == "swap_same":
        swapped = s.copy()
        a, b = s[site].species, s[other].species
        swapped.replace(site, b)
        swapped.replace(other, a)
        return "yes" if same_crystal(matcher(), s, swapped) else "no"
    if task == "generate":
        return crystal_string(s)
    if task == "infill":
        return s[site].species_string
    if task == "lattice_from_sites":
        return "\n".join(crystal_string(s).split("\n")[:2])
    raise ValueError(f"unknown task {task!r}")


def conditions(properties: dict) -> str:
    """LLaMat conditioned generation on formation energy and energy above hull when they are known."""
    parts = []
    if "formation_energy_per_atom" in properties:
        parts.append(f"formation energy {properties['formation_energy_per_atom']:.3f} eV/atom")
    if "e_above_hull" in properties:
        parts.append(f"energy above hull {properties['e_above_hull']:.3f} eV/atom")
    return f" The target has {' and '.join(parts)}." if parts else ""


def crystal_tasks(structure: Structure, record: str, source: str, rng: random.Random, per_structure: int,
                  properties: dict | None = None, tasks: list[str] | None = None) -> list[QAPair]:
    """`per_structure` questions about one structure (of `tasks`, default all), distinct tasks first, each with a
    random paraphrase."""
    tasks = list(tasks or TASKS)
    rng.shuffle(tasks)
    out = []
    for k in range(per_structure):
        task = tasks[k % len(tasks)]
        shown = augmented(structure, rng)
        template = rng.choice(PROMPTS[task])
        site, other = rng.randrange(len(shown)), rng.randrange(len(shown))
        if task == "swap_same" and len(shown) < 2:
            continue
        while task == "swap_same" and other == site:
            other = rng.randrange(len(shown))
        if task in GENERATION:
            lines = crystal_string(shown).split("\n")
            if task == "infill":
                lines[2 + 2 * site] = "[MASK]"
            text = "\n".join(lines[2:] if task == "lattice_from_sites" else lines)
            symbol, number, _ = symmetry(shown, 0.1)
            question = template.format(formula=shown.composition.reduced_formula, sg=f"{symbol} (No. {number})", text=text)
            if task == "generate":
                question += conditions(properties or {})
                text = ""  # the answer, not part of the question
        else:
            cif = str(CifWriter(shown, significant_figures=6)).strip()
            xyz = _xyz(shown[site].frac_coords)
            question = template.format(xyz=xyz, a=xyz, b=_xyz(shown[other].frac_coords)) + f"\n\n{cif}"
            text = cif
        out.append(QAPair(f"{record}#{task}#{k}", source, task, SYSTEM if task in UNDERSTANDING else SYSTEM_GENERATION, question,
                          answer(task, shown, site=site, other=other), context=text))
    return out


def read_structures(paths: list[str], settings):
    """(record id, Structure or the reason it is unusable, properties) from CIF files and CSV tables with a `cif` column."""
    from corpus.crystals.structures import CrystalParseError, cif_records, parse_cif_block, validate

    for path in paths:
        for record, text, row in cif_records(path):
            try:
                parsed = parse_cif_block(text, settings)
            except CrystalParseError as e:
                yield record, e.kind, {}
                continue
            if parsed.problem:
                yield record, parsed.problem, {}
                continue
            yield record, validate(parsed.structure, settings) or parsed.structure, generation_conditions(row)


def generation_conditions(row: dict) -> dict:
    """The generation task's conditions, when the table has them (MP-20: formation energy, energy above hull)."""
    out = {}
    for key in ("formation_energy_per_atom", "e_above_hull"):
        try:
            out[key] = float(row[key])
        except (KeyError, TypeError, ValueError):
            pass
    return out
