"""Crystal-generation metrics with CDVAE's definitions (Xie et al., `scripts/eval_utils.py`, `compute_metrics.py`).

- structural validity: every interatomic distance > 0.5 Å (the distance matrix with its diagonal
  padded) and cell volume >= 0.1 Å³ (`structure_validity`);
- compositional validity: SMACT charge neutrality with the Pauling electronegativity test, single
  elements and all-metal alloys valid (`smact_validity`, counts reduced by their gcd). Current SMACT's
  `neutral_ratios` returns only the list of neutral ratios (CDVAE unpacked a (bool, list) pair); here
  the list's non-emptiness is the test. Swallowing that unpacking error, as a try/except around the
  old call would, marks nearly everything invalid. Oxidation states are SMACT's 2014 set
  (`oxidation_states_smact14`), the default of the SMACT CDVAE ran with.
- validity = both; reported over all generations and over those that parse into a structure;
- coverage (recall / precision): CDVAE's fingerprints -- the mean CrystalNN "ops" site fingerprint
  and the magpie ElementProperty composition fingerprint -- with its cutoffs (MP-20: 0.4 / 10;
  Perov-5 and Carbon-24: 0.2 / 4), over every generation that makes a structure (valid or not, as
  CDVAE's `compute_cov` takes all its crystals); precision's denominator is all generations,
  recall's the reference crystals. CDVAE standardises composition
  fingerprints with fixed means and deviations of its training data; here they are standardised with
  the reference set's own, which shifts the composition distances (documented, not hidden);
- Wasserstein distances of density (g/cm³) and of the number of elements, valid generations
  against the reference (CDVAE draws 1,000 of its valid crystals at random; here all valid ones).

Generated crystals are read from CIF text, LLaMat crystal strings (lengths / angles / element and
coordinates lines), or LLaMat's parsed CSV (`lengths, angles, species, coords` columns).
"""

from __future__ import annotations

import ast
import csv
import itertools
import json
import os
import warnings
from collections import Counter

import numpy as np
from pymatgen.core import Composition, Lattice, Structure
from pymatgen.core.periodic_table import DummySpecies

CUTOFFS = {"mp_20": (0.4, 10.0), "perov_5": (0.2, 4.0), "carbon_24": (0.2, 4.0)}


def from_crystal_string(text: str) -> Structure:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    lengths = [float(x) for x in lines[0].split()]
    angles = [float(x) for x in lines[1].split()]
    species, coords = lines[2::2], [[float(x) for x in ln.split()] for ln in lines[3::2]]
    if len(lengths) != 3 or len(angles) != 3 or not species or len(species) != len(coords) or any(len(c) != 3 for c in coords):
        raise ValueError("not a crystal string")
    return Structure(Lattice.from_parameters(*lengths, *angles), species, coords)


def parse_structure(text: str) -> Structure | None:
    """A generated crystal as a crystal string or CIF text, or None when it does not make a structure."""
    from pymatgen.io.cif import CifParser

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for parse in (from_crystal_string, lambda t: CifParser.from_str(t).parse_structures(primitive=False)[0]):
            try:
                s = parse(text)
                # pymatgen reads an unknown symbol ("Xx") as a dummy species: not an element, so not a crystal
                real = not any(isinstance(sp, DummySpecies) for site in s for sp in site.species)
                if len(s) and real and np.isfinite(s.lattice.volume) and s.lattice.volume > 0:
                    return s
            except Exception:  # noqa: BLE001 - a generation that does not parse is the measured outcome, not an error
                continue
    return None


def read_generated(path: str) -> list[Structure | None]:
    """One entry per generation (None where it does not parse)."""
    csv.field_size_limit(1 << 30)
    if path.endswith(".csv"):
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        out = []
        for row in rows:
            if "cif" in row:
                out.append(parse_structure(row["cif"]))
                continue
            try:
                lengths, angles, species, coords = (ast.literal_eval(row[k]) for k in ("lengths", "angles", "species", "coords"))
                out.append(Structure(Lattice.from_parameters(*lengths, *angles), species, coords))
            except Exception:  # noqa: BLE001 - unparsable rows count against validity over all generations
                out.append(None)
        return out
    if path.endswith((".jsonl", ".json")):
        with open(path, encoding="utf-8") as f:
            return [parse_structure(str(json.loads(line).get("prediction") or json.loads(line).get("text") or ""))
                    for line in f if line.strip()]
    from corpus.crystals.structures import cif_blocks

    with open(path, encoding="utf-8") as f:
        return [parse_structure(block) for _, block in cif_blocks(f.read())]


def structure_validity(crystal: Structure, cutoff: float = 0.5) -> bool:
    dist = crystal.distance_matrix + np.diag(np.ones(len(crystal)) * (cutoff + 10.0))
    return not (dist.min() < cutoff or crystal.volume < 0.1)


def _pauling_ok(ox_states: tuple[int, ...], enegs: list[float | None]) -> bool:
    """The Pauling test as the SMACT CDVAE ran with evaluated it: pairs in order, a cation at least as
    electronegative as an anion fails; the first cation-anion pair with an element lacking data raised TypeError,
    which CDVAE took as a pass. Current SMACT's `pauling_test` returns False for such elements instead, so the
    test is written out here rather than called (it changes He, Ne, Ar, Pm and Rn compounds)."""
    for (ox1, en1), (ox2, en2) in itertools.combinations(list(zip(ox_states, enegs)), 2):
        if (ox1 > 0 and ox2 < 0) or (ox1 < 0 and ox2 > 0):
            if en1 is None or en2 is None:
                return True
            if (ox1 > 0 and en1 >= en2) or (ox1 < 0 and en1 <= en2):
                return False
    return True


def smact_validity(elements: tuple[str, ...], counts: tuple[int, ...], use_pauling_test: bool = True, include_alloys: bool = True) -> bool:
    """CDVAE's compositional validity of elements (in order of atomic number) with gcd-reduced counts."""
    import smact
    from smact.screening import neutral_ratios

    if len(set(elements)) == 1:
        return True
    if include_alloys and all(e in smact.metals for e in elements):
        return True
    space = smact.element_dictionary(elements)
    smact_elems = [space[e] for e in elements]
    electronegs = [e.pauling_eneg for e in smact_elems]
    threshold = int(np.max(counts))
    # the SMACT-2014 oxidation states: what `Element.oxidation_states` held in the SMACT CDVAE used (newer SMACT
    # defaults to another list); an element without data has no state and cannot be balanced
    states = [getattr(e, "oxidation_states_smact14", None) or [] for e in smact_elems]
    for ox_states in itertools.product(*states):
        ratios = neutral_ratios(ox_states, stoichs=[(c,) for c in counts], threshold=threshold)
        if ratios and (not use_pauling_test or _pauling_ok(ox_states, electronegs)):
            return True
    return False


def composition_validity(crystal: Structure) -> bool:
    counter = Counter(site.specie for site in crystal)
    elements = sorted(counter, key=lambda e: e.Z)  # CDVAE's order (atom types), which the Pauling test's pair order follows
    counts = np.array([counter[e] for e in elements])
    counts = counts // np.gcd.reduce(counts)
    return smact_validity(tuple(e.symbol for e in elements), tuple(int(c) for c in counts))


def _fingerprints(crystals: list[Structure]) -> tuple[list, list]:
    """CDVAE's fingerprints of each crystal: the mean CrystalNN "ops" site fingerprint and the magpie composition
    fingerprint, or (None, None) where the structure fingerprint cannot be computed or the cell is under 0.1 Å³
    (CDVAE then leaves the crystal out of coverage, while it still counts in precision's denominator)."""
    from matminer.featurizers.composition.composite import ElementProperty
    from matminer.featurizers.site.fingerprint import CrystalNNFingerprint

    site_fp = CrystalNNFingerprint.from_preset("ops")
    comp_fp = ElementProperty.from_preset("magpie", impute_nan=True)
    structs, comps = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for c in crystals:
            if c.volume < 0.1:  # CDVAE: "unrealistically small lattice", not a constructed crystal (and CrystalNN stalls on it)
                structs.append(None)
                comps.append(None)
                continue
            try:
                struct = np.mean([site_fp.featurize(c, i) for i in range(len(c))], axis=0)
                comp = np.asarray(comp_fp.featurize(Composition(c.composition)), dtype=float)
            except Exception:  # noqa: BLE001 - as CDVAE: a crystal without a fingerprint is left out of coverage
                struct, comp = None, None
            structs.append(struct)
            comps.append(comp)
    return structs, comps


def coverage(generated: list[Structure], reference: list[Structure], struc_cutoff: float, comp_cutoff: float,
             generations: int | None = None) -> dict:
    """CDVAE's COV-R (share of reference crystals with some generation within both cutoffs, the nearest by structure
    and the nearest by composition taken separately, as CDVAE does) and COV-P (generations within both cutoffs of
    some reference crystal, over `generations`: every generation made, as CDVAE counts them before filtering)."""
    from scipy.spatial.distance import cdist

    generations = len(generated) if generations is None else generations
    gs, gc = _fingerprints(generated)
    keep = [i for i, (a, b) in enumerate(zip(gs, gc)) if a is not None and b is not None]
    if not keep or not reference or not generations:
        return {"cov_recall": 0.0, "cov_precision": 0.0}
    rs, rc = _fingerprints(reference)
    rkeep = [i for i, (a, b) in enumerate(zip(rs, rc)) if a is not None and b is not None]
    gs, gc = np.array([gs[i] for i in keep]), np.array([gc[i] for i in keep])
    rs, rc = np.array([rs[i] for i in rkeep]), np.array([rc[i] for i in rkeep])
    mean, std = rc.mean(axis=0), rc.std(axis=0)
    std[std == 0] = 1.0
    gc, rc = (gc - mean) / std, (rc - mean) / std
    struc, comp = cdist(gs, rs), cdist(gc, rc)
    recall = np.mean((struc.min(axis=0) <= struc_cutoff) & (comp.min(axis=0) <= comp_cutoff))
    precision = np.sum((struc.min(axis=1) <= struc_cutoff) & (comp.min(axis=1) <= comp_cutoff)) / generations
    return {"cov_recall": 100 * float(recall), "cov_precision": 100 * float(precision)}


def metrics(generated: list[Structure | None], reference: list[Structure], cutoffs: tuple[float, float] | None = (0.4, 10.0)) -> dict:
    from scipy.stats import wasserstein_distance

    parsed = [c for c in generated if c is not None]
    struct_ok = [structure_validity(c) for c in parsed]
    comp_ok = [composition_validity(c) for c in parsed]
    valid = [c for c, s, k in zip(parsed, struct_ok, comp_ok) if s and k]
    n_all, n_parsed = max(1, len(generated)), max(1, len(parsed))
    out = {
        "generations": len(generated), "parsed": len(parsed),
        "structural_validity_all": 100 * sum(struct_ok) / n_all, "compositional_validity_all": 100 * sum(comp_ok) / n_all,
        "validity_all": 100 * len(valid) / n_all,
        "structural_validity_parsed": 100 * sum(struct_ok) / n_parsed, "compositional_validity_parsed": 100 * sum(comp_ok) / n_parsed,
        "validity_parsed": 100 * len(valid) / n_parsed,
    }
    if valid and reference:
        out["wdist_density"] = float(wasserstein_distance([c.density for c in valid], [c.density for c in reference]))
        out["wdist_num_elems"] = float(wasserstein_distance([len(c.composition.elements) for c in valid],
                                                            [len(c.composition.elements) for c in reference]))
    if cutoffs:  # CDVAE: every generation that makes a structure, valid or not; precision over all generations
        out.update(coverage(parsed, reference, *cutoffs, generations=len(generated)))
    return out


def reference_structures(path: str) -> list[Structure]:
    """A benchmark split (CDVAE CSV with a `cif` column, or CIF files) as structures."""
    from corpus.crystals.structures import cif_records

    out = []
    for _, cif, _ in cif_records(path):
        s = parse_structure(cif)
        if s is not None:
            out.append(s)
    return out


def cutoffs_for(reference_path: str) -> tuple[float, float]:
    for name, value in CUTOFFS.items():
        if name in os.path.abspath(reference_path):
            return value
    return CUTOFFS["mp_20"]
