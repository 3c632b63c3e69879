"""Conditional crystal generation as LLaMat evaluates it: a crystal asked for by formula and space group, judged on
whether it is the crystal asked for.

Source: the LLaMat repository, `src/cifs/crystal-text-llm/conditional_gen_eval/` (composition_comparison.py,
spacegroup_analysis.py, detailed_element_count_analysis.py), which scored LLaMat-2-CIF at 79.1% formula match and
90.8% parse success against LLaMat-3-CIF's 5.5% / 69.3% on 9,046 MP-20 prompts. Its definitions, over every
generation of the file:

  parse_success       generations that parse into a structure (pymatgen), % of all generations
  formula_match       generations whose reduced formula is the prompt's (`pretty_formula`), % of all generations
  valid_match_rate    the same matches, % of the generations that parsed ("match rate among valid extractions")
  by crystal system   the three, per crystal system of the prompt's space-group number (triclinic 1-2,
                      monoclinic 3-15, orthorhombic 16-74, tetragonal 75-142, trigonal 143-167, hexagonal 168-194,
                      cubic 195-230)
  by element count    the three, per number of elements of the prompt's formula (1, 2, 3, 4, 5, 6+)

Added here, because the prompt asks for it too: `spacegroup_match`, generations whose space group (moyopy at
`SYMPREC` Å, the tolerance the prompts' own space groups were found with, eval/items.py) is the prompt's, % of the
generations whose prompt names a space group (the others are counted in `conditional_without_spacegroup`), and
`spacegroup_match_parsed`, % of those that parsed. A space-group number may be written "225" or "225.0".

Formulas are compared as pymatgen reduced formulas (`Composition(...).reduced_formula`) on both sides. LLaMat's
script sorts element counts by a regular expression without reducing them; for its inputs -- MP's
`pretty_formula`, already reduced, against pymatgen's reduced formula of the generation -- the two agree, and
pymatgen also reads formulas written in another order, with brackets or with spaces ("O3 Fe2", "Fe2(SO4)3").
A generation whose prompt carries no formula is counted in `conditional_without_prompt` and left out.
"""

from __future__ import annotations

import warnings
from collections import defaultdict

from pymatgen.core import Composition, Structure

SYMPREC = 0.1
SYSTEMS = ((2, "triclinic"), (15, "monoclinic"), (74, "orthorhombic"), (142, "tetragonal"), (167, "trigonal"),
           (194, "hexagonal"), (230, "cubic"))


def spacegroup_number(value) -> int | None:
    """A space-group number as files write it ("225", 225, "225.0" from a pandas column with gaps), None otherwise."""
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() and 1 <= number <= 230 else None


def crystal_system(number) -> str:
    """The crystal system of a space-group number (1-230), or "unknown"."""
    n = spacegroup_number(number)
    if n is None:
        return "unknown"
    for last, name in SYSTEMS:
        if 1 <= n <= last:
            return name
    return "unknown"


def reduced_formula(text) -> str | None:
    """A formula in pymatgen's reduced form ("Fe2O3" for "Fe4 O6", "O3Fe2" or "Fe2O3"), None when it is none."""
    if text is None or not str(text).strip():
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            composition = Composition(str(text).strip())
            if not len(composition) or composition.num_atoms <= 0:
                return None
            return composition.reduced_formula
    except Exception:  # noqa: BLE001 - any text a model or a CSV holds: not a formula, not an error
        return None


def element_count(formula: str | None) -> str:
    if not formula:
        return "unknown"
    n = len(Composition(formula).elements)
    return str(n) if n <= 5 else "6+"


def _spacegroup(crystal: Structure) -> int | None:
    from corpus.crystals.structures import symmetry

    try:
        return symmetry(crystal, SYMPREC)[1]
    except Exception:  # noqa: BLE001 - a cell the symmetry finder refuses has no space group to match
        return None


def conditional_metrics(generated: list[Structure | None], formulas: list, spacegroups: list) -> dict:
    """LLaMat's conditional-generation metrics (module docstring) of generations and the formula and space-group
    number each was asked for (None where the prompt did not say). Percentages (0-100), with the counts behind them."""
    if not (len(generated) == len(formulas) == len(spacegroups)):
        raise ValueError(f"{len(generated)} generations, {len(formulas)} formulas, {len(spacegroups)} space groups")
    # group -> [generations, parsed, formula matches, prompts with a space group, those parsed, space-group matches]
    counts = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    without = 0
    for crystal, formula, spacegroup in zip(generated, formulas, spacegroups):
        want = reduced_formula(formula)
        if want is None:
            without += 1
            continue
        parsed = crystal is not None
        match = parsed and crystal.composition.element_composition.reduced_formula == want  # oxidation states aside
        wanted_sg = spacegroup_number(spacegroup)
        sg_match = parsed and wanted_sg is not None and _spacegroup(crystal) == wanted_sg
        for group in ("all", f"system={crystal_system(wanted_sg)}", f"elements={element_count(want)}"):
            c = counts[group]
            c[0] += 1
            c[1] += parsed
            c[2] += match
            c[3] += wanted_sg is not None
            c[4] += parsed and wanted_sg is not None
            c[5] += sg_match
    out = {"conditional_generations": counts["all"][0], "conditional_without_prompt": without}
    if not counts["all"][0]:
        return out
    for group, (n, parsed, match, with_sg, parsed_sg, sg) in sorted(counts.items(), key=lambda kv: (kv[0] != "all", kv[0])):
        suffix = "" if group == "all" else f":{group}"
        out[f"parse_success{suffix}"] = 100 * parsed / n
        out[f"formula_match{suffix}"] = 100 * match / n
        out[f"valid_match_rate{suffix}"] = 100 * match / parsed if parsed else 0.0
        if group == "all":  # over the prompts that name a space group (Perov-5's and Carbon-24's files name none)
            out["conditional_without_spacegroup"] = n - with_sg
            if with_sg:
                out["spacegroup_match"] = 100 * sg / with_sg
                out["spacegroup_match_parsed"] = 100 * sg / parsed_sg if parsed_sg else 0.0
        else:
            out[f"generations{suffix}"] = n
    return out


FORMULA_KEYS = ("pretty_formula", "formula")  # LLaMat's CSV column first
SPACEGROUP_KEYS = ("spacegroup_number", "spacegroup.number", "spacegroup", "space_group")  # LLaMat, CDVAE, ours


def prompt_of(row: dict) -> tuple[str | None, str | None]:
    """The formula and space-group number a generation was asked for, from a CSV row or a JSON object."""
    formula = next((row[k] for k in FORMULA_KEYS if row.get(k) not in (None, "")), None)
    spacegroup = next((row[k] for k in SPACEGROUP_KEYS if row.get(k) not in (None, "")), None)
    return (None if formula is None else str(formula)), (None if spacegroup is None else str(spacegroup))


def has_prompts(fields) -> bool:
    return any(k in fields for k in FORMULA_KEYS)
