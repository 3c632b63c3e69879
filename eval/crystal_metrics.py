"""Crystal-generation metrics with CDVAE's definitions (Xie et al., `scripts/eval_utils.py`, `compute_metrics.py`).

- structural validity: every interatomic distance > 0.5 Å (the distance matrix with its diagonal
  padded) and cell volume >= 0.1 Å³ (`structure_validity`);
- compositional validity: SMACT charge neutrality with the Pauling electronegativity test, single
  elements and all-metal alloys valid (`smact_validity`, counts reduced by their gcd). Current SMACT's
  `neutral_ratios` returns only the list of neutral ratios (CDVAE unpacked a (bool, list) pair); here
  the list's non-emptiness is the test. Swallowing that unpacking error, as a try/except around the
  old call would, marks nearly everything invalid. Oxidation states are SMACT's 2014 set
  (`oxidation_states_smact14`), the default of the SMACT CDVAE ran with. CDVAE tries every combination of
  oxidation states (`itertools.product`), which grows exponentially with the number of elements (14 elements:
  30 s; 16: minutes) and has no bound. Its verdict -- some combination is neutral and passes the Pauling test -- does
  not depend on the order the combinations are tried in, and with every electronegativity known the Pauling test
  passes exactly when every cation is less electronegative than every anion: so for each cut between the elements'
  electronegativities the signs each element may take are fixed and neutrality is a question about reachable sums,
  exact and polynomial (16 elements: about a millisecond). Where an element has no electronegativity (Pm, Rn, Lr)
  CDVAE's pair order matters, and a search that enters only combinations that can still be neutral runs instead;
  past MAX_SEARCH_NODES steps it stops, the crystal counts as not compositionally valid, and
  `compositional_search_bounded` in the scores counts it (CDVAE's own call would still be running: it may have
  found it valid).
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
coordinates lines), or LLaMat's parsed CSV (`lengths, angles, species, coords` columns). Every generation ends
with one outcome (`OUTCOMES`: scored, empty, bad_numbers, unknown_species, degenerate_lattice, not_parsed) and
the counts, in scores.json `outcome_<name>`, add up to `generations`: a malformed row is counted, never fatal.
"""

from __future__ import annotations

import ast
import csv
import itertools
import math
import os
import re
import time
import warnings
from collections import Counter
from typing import NamedTuple

import numpy as np
from pymatgen.core import Lattice, Structure
from pymatgen.core.periodic_table import DummySpecies, get_el_sp

from corpus.readers.bounded import loads_bounded
from eval.fingerprints import SITE_TIME_LIMIT

CUTOFFS = {"mp_20": (0.4, 10.0), "perov_5": (0.2, 4.0), "carbon_24": (0.2, 4.0)}


class NotAStructure(ValueError):
    """A generation that makes no crystal; `outcome` says why (one of OUTCOMES); `species`, its element symbols when
    they were read and are all elements (CDVAE judges a composition from the atom types whatever the lattice)."""

    def __init__(self, outcome: str, message: str = "", species: list[str] | None = None):
        super().__init__(message or outcome)
        self.outcome, self.species = outcome, species


class Generation(NamedTuple):
    """One generation as read: its structure when CDVAE would construct one, how it ended (one of OUTCOMES), and its
    element symbols when they are all elements (also where the lattice is not a crystal's)."""

    structure: Structure | None
    outcome: str
    species: list[str] | None = None

    @classmethod
    def of(cls, structure: Structure) -> "Generation":
        return cls(structure, "scored", [site.specie.symbol for site in structure])

    @classmethod
    def failed(cls, error: NotAStructure) -> "Generation":
        return cls(None, error.outcome, error.species)


# every generation ends with exactly one of these (scores.json `outcomes`, which reconcile with `generations`)
OUTCOMES = ("scored", "empty", "bad_numbers", "unknown_species", "degenerate_lattice", "no_lattice", "incomplete_lattice", "odd_lines",
            "truncated", "not_parsed")  # the text outcomes: eval/crystal_text.py


def _element(symbol) -> str | None:
    """The element symbol of a generated species ("Fe", "Fe2+"), or None for what is no element (pymatgen's dummy
    species "A", "Xx" included)."""
    try:
        sp = get_el_sp(str(symbol).strip())
    except (ValueError, KeyError, TypeError):
        return None
    return None if isinstance(sp, DummySpecies) else str(getattr(sp, "element", sp).symbol)


def build_structure(lengths, angles, species, coords) -> Structure:
    """A Structure from generated lattice parameters, species and fractional coordinates when CDVAE's `Crystal` would
    construct one (cdvae/common/eval_utils.py... `Crystal.get_structure`: no negative length, pymatgen builds the
    lattice and the structure, volume >= 0.1 Å³), or NotAStructure naming what is wrong: no species
    (`empty`), a species that is no element (`unknown_species`), numbers that are not three finite lengths/angles
    and one finite triple per site (`bad_numbers`: CDVAE would build a lattice of NaNs and call it valid), or a
    lattice CDVAE does not construct (`degenerate_lattice`). Past the species check the error carries them."""
    if species is None or len(species) == 0:
        raise NotAStructure("empty", "no species")
    symbols = [_element(sp) for sp in species]
    if any(sym is None for sym in symbols):
        raise NotAStructure("unknown_species", f"{species[symbols.index(None)]!r} is not an element")
    try:
        lengths = np.asarray(lengths, dtype=float).reshape(-1)
        angles = np.asarray(angles, dtype=float).reshape(-1)
        coords = np.asarray(coords, dtype=float)
    except (TypeError, ValueError) as e:
        raise NotAStructure("bad_numbers", str(e), symbols) from None
    if lengths.shape != (3,) or angles.shape != (3,) or coords.ndim != 2 or coords.shape[1:] != (3,) or len(coords) != len(species):
        raise NotAStructure("bad_numbers", f"lengths {lengths.shape}, angles {angles.shape}, coords {coords.shape} for {len(species)} species",
                            symbols)
    if not (np.isfinite(lengths).all() and np.isfinite(angles).all() and np.isfinite(coords).all()):
        raise NotAStructure("bad_numbers", "NaN or infinite values", symbols)
    if (lengths < 0).any():  # CDVAE: "non_positive_lattice"
        raise NotAStructure("degenerate_lattice", f"a negative length: {lengths.tolist()}", symbols)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lattice = Lattice.from_parameters(*lengths, *angles)
            volume = lattice.volume
            if not (np.isfinite(volume) and np.isfinite(lattice.matrix).all()) or volume < 0.1:  # CDVAE: "unrealistically_small_lattice"
                raise NotAStructure("degenerate_lattice", f"volume {volume} (CDVAE constructs from 0.1 Å³)", symbols)
            np.linalg.inv(lattice.matrix)
            return Structure(lattice, [str(sp).strip() for sp in species], coords)
    except NotAStructure:
        raise
    except (np.linalg.LinAlgError, ValueError, ZeroDivisionError, TypeError) as e:  # CDVAE: "construction_raises_exception"
        raise NotAStructure("degenerate_lattice", f"{type(e).__name__}: {e}", symbols) from None


def from_crystal_string(text: str) -> Structure:
    """A crystal string read as eval/crystal_text.py reads it (prose before and after passed over, every other break
    of the layout a named outcome), then built as CDVAE builds it."""
    from eval.crystal_text import CrystalTextError, read_crystal_text

    try:
        read = read_crystal_text(text)
    except CrystalTextError as e:
        raise NotAStructure(e.outcome, str(e)) from None
    return build_structure(read.lengths, read.angles, read.species, read.coords)


def parse_generation(text: str) -> Generation:
    """A generated crystal (crystal string or CIF text), how it ended ("scored" when CDVAE would construct it), and
    its species when they are elements."""
    from pymatgen.io.cif import CifParser

    if not text or not text.strip():
        return Generation(None, "empty")
    failed = Generation(None, "not_parsed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return Generation.of(from_crystal_string(text))
        except NotAStructure as e:
            failed = Generation.failed(e)
        except Exception:  # noqa: BLE001 - any other shape: try it as CIF
            pass
        try:
            s = CifParser.from_str(text).parse_structures(primitive=False)[0]
        except Exception:  # noqa: BLE001 - a generation that does not parse is the measured outcome, not an error
            return failed
        # pymatgen reads an unknown symbol ("Xx") as a dummy species: not an element, so not a crystal
        if not len(s):
            return Generation(None, "empty")
        if any(isinstance(sp, DummySpecies) for site in s for sp in site.species):
            return Generation(None, "unknown_species")
        symbols = [site.specie.symbol if site.is_ordered else site.species.elements[0].symbol for site in s]
        if not (np.isfinite(s.lattice.volume) and s.lattice.volume >= 0.1):
            return Generation(None, "degenerate_lattice", symbols)
        return Generation(s, "scored", symbols)


def parse_structure(text: str) -> Structure | None:
    """A generated crystal as a crystal string or CIF text, or None when it does not make a structure."""
    return parse_generation(text).structure


def read_generations(path: str) -> list[Generation]:
    """One Generation (structure or None, outcome, species) per generation of a file: CSV (a `cif` column, or LLaMat's parsed
    `lengths, angles, species, coords`), JSON Lines (`prediction` or `text`), or CIF. A row that cannot be read is
    an outcome, never an exception."""
    return read_generations_and_prompts(path)[0]


def read_generations_and_prompts(path: str) -> tuple[list[Generation], list[tuple] | None]:
    """`read_generations`, and the (formula, space group) each generation was asked for, one per generation, when
    the file says (CSV columns `pretty_formula`/`formula` and `spacegroup_number`/`spacegroup`, as LLaMat's
    conditional-generation files have them; the same keys in JSON Lines); None when it does not (CIF files, or no
    formula anywhere)."""
    from eval.conditional_generation import has_prompts, prompt_of

    csv.field_size_limit(1 << 30)
    if path.endswith(".csv"):
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            fields = reader.fieldnames or []
        prompts = [prompt_of(row) for row in rows] if has_prompts(fields) else None
        out = []
        for row in rows:
            if "cif" in row:
                out.append(parse_generation(row["cif"] or ""))
                continue
            try:  # nan/inf (which literal_eval does not read) become None, a non-number: bad_numbers below
                lengths, angles, species, coords = (ast.literal_eval(re.sub(r"(?<![\w'\"])-?(nan|inf)(?![\w'\"])", "None", row.get(k) or "None",
                                                                            flags=re.IGNORECASE))
                                                    for k in ("lengths", "angles", "species", "coords"))
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                out.append(Generation(None, "not_parsed"))
                continue
            try:
                out.append(Generation.of(build_structure(lengths, angles, species, coords)))
            except NotAStructure as e:
                out.append(Generation.failed(e))
            except Exception:  # noqa: BLE001 - whatever else a row holds, it is counted, not fatal
                out.append(Generation(None, "not_parsed"))
        return out, prompts
    if path.endswith((".jsonl", ".json")):
        out, prompts = [], []
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    row = loads_bounded(line, what="a generation")
                except ValueError:  # not JSON, or nested past the bound (TooDeep): not parsed, never a RecursionError
                    row = None
                if not isinstance(row, dict):
                    out.append(Generation(None, "not_parsed"))
                    prompts.append((None, None))
                    continue
                out.append(parse_generation(str(row.get("prediction") or row.get("text") or "")))
                prompts.append(prompt_of(row))
        return out, (prompts if any(f is not None for f, _ in prompts) else None)
    from corpus.crystals.structures import cif_blocks

    with open(path, encoding="utf-8", errors="replace") as f:
        return [parse_generation(block) for _, block in cif_blocks(f.read())], None


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


MAX_SEARCH_NODES = 200_000  # steps of the search where an element has no electronegativity (about a second at worst)


class SearchBounded(Exception):
    """The compositional-validity search stopped at its bound before reaching a verdict."""


def smact_validity(elements: tuple[str, ...], counts: tuple[int, ...], use_pauling_test: bool = True, include_alloys: bool = True,
                   max_nodes: int | None = None) -> bool:
    """CDVAE's compositional validity of elements (in order of atomic number) with gcd-reduced counts: some
    combination of oxidation states that is charge-neutral (SMACT's `neutral_ratios` with the counts as the only
    stoichiometry: the charges times the counts sum to zero) and passes the Pauling test. SearchBounded past
    `max_nodes` steps of the search."""
    import smact

    if len(set(elements)) == 1:
        return True
    if include_alloys and all(e in smact.metals for e in elements):
        return True
    space = smact.element_dictionary(elements)
    smact_elems = [space[e] for e in elements]
    electronegs = [e.pauling_eneg for e in smact_elems]
    # the SMACT-2014 oxidation states: what `Element.oxidation_states` held in the SMACT CDVAE used (newer SMACT
    # defaults to another list); an element without data has no state and cannot be balanced
    states = [getattr(e, "oxidation_states_smact14", None) or [] for e in smact_elems]
    if np.gcd.reduce(np.array(counts, dtype=np.int64)) != 1:
        return False  # neutral_ratios keeps only ratios in their simplest form (composition_validity reduces them)
    if not use_pauling_test:
        return _neutral_possible(states, counts)
    if all(en is not None for en in electronegs):
        # with every electronegativity known the Pauling test passes exactly when every cation is less
        # electronegative than every anion, whatever the pair order: some cut then has the cations at or below it and
        # the anions above. Each cut restricts the signs each element may take, and neutrality under a restriction is
        # a question about sums: exact, and polynomial in the number of elements
        for cut in [-math.inf, *sorted(set(electronegs))]:
            allowed = [[o for o in options if o == 0 or (o > 0 and en <= cut) or (o < 0 and en > cut)]
                       for options, en in zip(states, electronegs)]
            if _neutral_possible(allowed, counts):
                return True
        return False
    return _search(states, counts, electronegs, MAX_SEARCH_NODES if max_nodes is None else max_nodes)


def _neutral_possible(states: list[list[int]], counts: tuple[int, ...]) -> bool:
    """Whether one state per element makes the charges times the counts sum to zero (the reachable sums, element by
    element: a few thousand integers at most)."""
    sums = {0}
    for options, count in zip(states, counts):
        sums = {s + o * count for s in sums for o in options}
        if not sums:
            return False
    return 0 in sums


def _search(states: list[list[int]], counts: tuple[int, ...], electronegs: list, max_nodes: int) -> bool:
    """CDVAE's verdict where an element has no electronegativity (the Pauling test then depends on the order of the
    pairs, and its first such cation-anion pair passes): a search that enters only combinations that can still be
    neutral, each complete one given CDVAE's Pauling test; SearchBounded past `max_nodes` steps."""
    n = len(states)
    # tails[i]: every total charge elements i.. can add, so a partial combination is extended only when the rest can
    # still cancel its charge
    tails = [set() for _ in range(n)] + [{0}]
    for i in reversed(range(n)):
        tails[i] = {o * counts[i] + rest for o in states[i] for rest in tails[i + 1]}
    if 0 not in tails[0]:
        return False
    chosen: list[int] = []
    steps = 0

    def search(i: int, charge: int) -> bool:
        nonlocal steps
        steps += 1
        if steps > max_nodes:
            raise SearchBounded(f"{n} elements: over {max_nodes} steps of the oxidation-state search")
        if i == n:
            return _pauling_ok(tuple(chosen), electronegs)
        for o in states[i]:
            if -(charge + o * counts[i]) in tails[i + 1]:
                chosen.append(o)
                if search(i + 1, charge + o * counts[i]):
                    return True
                chosen.pop()
        return False

    return search(0, 0)


def smact_validity_exhaustive(elements: tuple[str, ...], counts: tuple[int, ...], use_pauling_test: bool = True) -> bool:
    """CDVAE's own loop (every combination, SMACT's `neutral_ratios`): the reference `smact_validity` is tested
    against on compositions small enough to run it."""
    import smact
    from smact.screening import neutral_ratios

    if len(set(elements)) == 1:
        return True
    if all(e in smact.metals for e in elements):
        return True
    space = smact.element_dictionary(elements)
    smact_elems = [space[e] for e in elements]
    electronegs = [e.pauling_eneg for e in smact_elems]
    threshold = int(np.max(counts))
    states = [getattr(e, "oxidation_states_smact14", None) or [] for e in smact_elems]
    for ox_states in itertools.product(*states):
        ratios = neutral_ratios(ox_states, stoichs=[(c,) for c in counts], threshold=threshold)
        if ratios and (not use_pauling_test or _pauling_ok(ox_states, electronegs)):
            return True
    return False


def composition_validity(crystal: Structure) -> bool:
    return species_validity([site.specie.symbol for site in crystal])


def species_validity(symbols: list[str]) -> bool:
    """CDVAE's `comp_valid` of a generation's atoms (element symbols): elements in order of atomic number (its atom
    types, which the Pauling test's pair order follows), counts reduced by their gcd."""
    from pymatgen.core import Element

    counter = Counter(symbols)
    elements = sorted(counter, key=lambda e: Element(e).Z)
    counts = np.array([counter[e] for e in elements])
    counts = counts // np.gcd.reduce(counts)
    return smact_validity(tuple(elements), tuple(int(c) for c in counts))


def coverage(generated: list[Structure], reference: list[Structure], struc_cutoff: float, comp_cutoff: float,
             generations: int | None = None, workers: int | None = None, cache: str | None = None,
             time_limit: float = 60.0, site_time_limit: float = SITE_TIME_LIMIT) -> dict:
    """CDVAE's COV-R (share of reference crystals with some generation within both cutoffs, the nearest by structure
    and the nearest by composition taken separately, as CDVAE does) and COV-P (generations within both cutoffs of
    some reference crystal, over `generations`: every generation made, as CDVAE counts them before filtering).
    Fingerprints come from eval/fingerprints.py (parallel, cached, time-limited); how each generation's fingerprint
    ended is counted in `coverage_<status>` (they add up to the generations given)."""
    from scipy.spatial.distance import cdist

    from eval.fingerprints import STATUSES, fingerprints

    generations = len(generated) if generations is None else generations
    start = time.perf_counter()
    gfp = fingerprints(generated, workers, cache, time_limit, label="generations", site_time_limit=site_time_limit)
    seconds = time.perf_counter() - start
    counts = Counter(f.status for f in gfp)
    out = {**{f"coverage_{k}": counts.get(k, 0) for k in STATUSES}, "coverage_seconds": round(seconds, 2),
           "coverage_seconds_per_structure": round(seconds / max(1, len(generated)), 4)}
    rfp = [f for f in fingerprints(reference, workers, cache, time_limit, label="reference", site_time_limit=site_time_limit)
           if f.status == "ok"]
    kept = [f for f in gfp if f.status == "ok"]
    if not kept or not rfp or not generations:
        return {"cov_recall": 0.0, "cov_precision": 0.0, **out}
    gs, gc = np.array([f.structure for f in kept]), np.array([f.composition for f in kept])
    rs, rc = np.array([f.structure for f in rfp]), np.array([f.composition for f in rfp])
    mean, std = rc.mean(axis=0), rc.std(axis=0)
    std[std == 0] = 1.0
    gc, rc = (gc - mean) / std, (rc - mean) / std
    struc, comp = cdist(gs, rs), cdist(gc, rc)
    recall = np.mean((struc.min(axis=0) <= struc_cutoff) & (comp.min(axis=0) <= comp_cutoff))
    precision = np.sum((struc.min(axis=1) <= struc_cutoff) & (comp.min(axis=1) <= comp_cutoff)) / generations
    return {"cov_recall": 100 * float(recall), "cov_precision": 100 * float(precision), **out}


def _checked(fn, crystal: Structure) -> bool | None:
    """A validity test on one crystal, or None when the test itself fails on it (SMACT on an odd species, a
    distance matrix of a cell numpy cannot invert): counted as an outcome, not an exception."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return bool(fn(crystal))
    except SearchBounded:
        raise
    except Exception:  # noqa: BLE001 - a degenerate generation must not end the run
        return None


def metrics(generated: list[Structure | None], reference: list[Structure], cutoffs: tuple[float, float] | None = (0.4, 10.0),
            outcomes: list[str] | None = None, workers: int | None = None, cache: str | None = None, time_limit: float = 60.0,
            species: list[list[str] | None] | None = None, coverage_of: str = "valid", site_time_limit: float = SITE_TIME_LIMIT) -> dict:
    """CDVAE's metrics over every generation, with `outcomes`: how each generation ended (scored, or why not), so
    that the counts reconcile (the `outcome_*` counts add up to `generations`). Without `outcomes`, a None is
    `not_parsed`. `species`: each generation's element symbols where they were read, so that a composition is judged
    whatever its lattice, as CDVAE's `Crystal.get_validity` does (`comp_valid` from the atom types, `struct_valid`
    False when the crystal is not constructed).

    Rates over all generations (`_all`) and over the constructed ones (`_parsed`: `parsed` counts the generations
    CDVAE's `Crystal` constructs, `build_structure`); a structure whose distances cannot be computed is not one.

    `coverage_of`: which generations are fingerprinted for coverage. "valid" (the default) is LLaMat's protocol: its
    evaluation runs crystal-text-llm's `Crystal`, which fingerprints a crystal only when it is valid (composition and
    structure) and leaves every other one's fingerprint empty. "constructed" is CDVAE's original `Crystal`, which
    fingerprints every crystal it constructs, valid or not. Either way precision is over all generations. On real
    generations nine tenths of the fingerprint time goes to structurally invalid crystals (atoms closer than 0.5 Å:
    CrystalNN's neighbour search grows with the images packed inside its cutoff; benchmarks/coverage_real.py)."""
    if coverage_of not in ("valid", "constructed"):
        raise ValueError(f"coverage_of: 'valid' or 'constructed', not {coverage_of!r}")
    from scipy.stats import wasserstein_distance

    ends = [o if o in OUTCOMES else "not_parsed" for o in outcomes] if outcomes is not None else ["scored" if c is not None else "not_parsed" for c in generated]
    species = species if species is not None else [None] * len(generated)
    parsed, struct_ok, comp_parsed = [], [], []
    comp_all, bounded = 0, 0
    for i, c in enumerate(generated):
        s = _checked(structure_validity, c) if c is not None else None
        if c is not None and s is None:
            ends[i] = "degenerate_lattice"  # its distances cannot be computed: not a structure to score
        try:  # from the structure when it has one ordered species a site, else from the atoms read; none: not valid
            if c is not None and c.is_ordered:
                k = bool(_checked(composition_validity, c))
            else:
                k = bool(species[i]) and bool(_checked(species_validity, species[i]))
        except SearchBounded:
            k, bounded = False, bounded + 1
        comp_all += k
        if s is None:
            continue
        parsed.append(c)
        struct_ok.append(s)
        comp_parsed.append(k)
    valid = [c for c, s, k in zip(parsed, struct_ok, comp_parsed) if s and k]
    n_all, n_parsed = max(1, len(generated)), max(1, len(parsed))
    counts = Counter(ends)
    out = {
        "generations": len(generated), "parsed": len(parsed),
        # one number per outcome (flat keys: every score is a number for the report and the rigidity analysis)
        **{f"outcome_{k}": counts.get(k, 0) for k in OUTCOMES},
        "structural_validity_all": 100 * sum(struct_ok) / n_all, "compositional_validity_all": 100 * comp_all / n_all,
        "validity_all": 100 * len(valid) / n_all,
        "structural_validity_parsed": 100 * sum(struct_ok) / n_parsed, "compositional_validity_parsed": 100 * sum(comp_parsed) / n_parsed,
        "validity_parsed": 100 * len(valid) / n_parsed,
        "compositional_search_bounded": bounded,  # counted not valid: the search stopped at MAX_SEARCH_NODES
    }
    if valid and reference:
        out["wdist_density"] = float(wasserstein_distance([c.density for c in valid], [c.density for c in reference]))
        out["wdist_num_elems"] = float(wasserstein_distance([len(c.composition.elements) for c in valid],
                                                            [len(c.composition.elements) for c in reference]))
    if cutoffs:  # precision over all generations, as both protocols count it
        out.update(coverage(valid if coverage_of == "valid" else parsed, reference, *cutoffs, generations=len(generated), workers=workers,
                            cache=cache, time_limit=time_limit, site_time_limit=site_time_limit))
        out["valid_only_coverage"] = int(coverage_of == "valid")  # 1: LLaMat's protocol, 0: CDVAE's original
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
