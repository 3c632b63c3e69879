"""A second implementation of CDVAE's crystal-generation metrics, for checking eval/crystal_metrics.py.

Written from the definitions (Xie et al., CDVAE, ICLR 2022: `structure_validity`, `smact_validity`,
`compute_cov`, the Wasserstein distances of its `GenEval`), sharing no code path with eval's version:
crystal strings are parsed here, periodic distances, volumes and densities come from ASE rather than
pymatgen, oxidation states are read from SMACT's 2014 data file rather than its Element objects,
charge balance is a direct search rather than SMACT's `neutral_ratios`, the Wasserstein distance
integrates the difference of the two empirical CDFs rather than calling scipy, and coverage distances
are numpy broadcasts. The fingerprints are part of the definition (matminer's CrystalNN "ops" site
fingerprint and magpie ElementProperty), so both sides compute them with matminer; the composition
fingerprints are standardised with the reference set's statistics, as eval documents.
"""

from __future__ import annotations

import itertools
import math
import os
from collections import Counter
from dataclasses import dataclass

import numpy as np

AMU_PER_A3_TO_G_PER_CM3 = 1.66053906660  # 1 u/Å³ in g/cm³


@dataclass
class Crystal:
    symbols: list[str]
    atoms: object  # ase.Atoms


def parse(text: str) -> Crystal | None:
    """A crystal string (lengths line, angles line, then element and fractional-coordinate lines), or None."""
    from ase import Atoms
    from ase.data import atomic_numbers
    from ase.geometry import cellpar_to_cell

    lines = [ln.strip() for ln in (text or "").strip().splitlines() if ln.strip()]
    try:
        lengths = [float(x) for x in lines[0].split()]
        angles = [float(x) for x in lines[1].split()]
        symbols = lines[2::2]
        frac = [[float(x) for x in ln.split()] for ln in lines[3::2]]
    except (IndexError, ValueError):
        return None
    if len(lengths) != 3 or len(angles) != 3 or not symbols or len(symbols) != len(frac) or any(len(f) != 3 for f in frac):
        return None
    if any(s not in atomic_numbers or s == "X" for s in symbols):
        return None
    try:
        cell = cellpar_to_cell(lengths + angles)
    except Exception:  # noqa: BLE001 - impossible angles: not a crystal
        return None
    volume = abs(np.linalg.det(cell))
    if not np.all(np.isfinite(cell)) or not math.isfinite(volume) or volume <= 0:
        return None
    atoms = Atoms(symbols=symbols, scaled_positions=np.array(frac) % 1.0, cell=cell, pbc=True)
    return Crystal(symbols, atoms)


def structure_valid(c: Crystal, cutoff: float = 0.5) -> bool:
    if len(c.symbols) > 1:
        d = c.atoms.get_all_distances(mic=True)
        if d[~np.eye(len(d), dtype=bool)].min() < cutoff:
            return False
    return c.atoms.get_volume() >= 0.1


def _smact14_states() -> dict[str, list[int]]:
    import smact

    path = os.path.join(os.path.dirname(smact.__file__), "data", "oxidation_states.txt")
    states = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if parts and not line.startswith("#"):
                states[parts[0]] = [int(x) for x in parts[1:]]
    return states


def composition_valid(c: Crystal) -> bool:
    import smact
    from ase.data import atomic_numbers

    counts = Counter(c.symbols)
    elements = sorted(counts, key=lambda s: atomic_numbers[s])
    n = [counts[e] for e in elements]
    g = math.gcd(*n)
    n = [k // g for k in n]
    if len(elements) == 1 or all(e in smact.metals for e in elements):
        return True
    table = _smact14_states()
    enegs = [smact.Element(e).pauling_eneg for e in elements]
    for ox in itertools.product(*[table.get(e, []) for e in elements]):
        if sum(o * k for o, k in zip(ox, n)) != 0:
            continue
        if _electronegativity_order_ok(ox, enegs):
            return True
    return False


def _electronegativity_order_ok(ox, enegs) -> bool:
    """Every cation less electronegative than every anion, pairs taken in order; the first cation-anion pair
    lacking data passes the test (CDVAE caught the TypeError it raised)."""
    for i, j in itertools.combinations(range(len(ox)), 2):
        if ox[i] * ox[j] >= 0:
            continue
        if enegs[i] is None or enegs[j] is None:
            return True
        cation, anion = (i, j) if ox[i] > 0 else (j, i)
        if enegs[cation] >= enegs[anion]:
            return False
    return True


def density(c: Crystal) -> float:
    return float(c.atoms.get_masses().sum() / c.atoms.get_volume() * AMU_PER_A3_TO_G_PER_CM3)


def wasserstein(u, v) -> float:
    u, v = np.sort(np.asarray(u, float)), np.sort(np.asarray(v, float))
    grid = np.sort(np.concatenate([u, v]))
    cdf_u = np.searchsorted(u, grid[:-1], side="right") / len(u)
    cdf_v = np.searchsorted(v, grid[:-1], side="right") / len(v)
    return float(np.sum(np.abs(cdf_u - cdf_v) * np.diff(grid)))


def _to_pymatgen(c: Crystal):
    from pymatgen.core import Lattice, Structure

    return Structure(Lattice(c.atoms.cell[:]), c.symbols, c.atoms.get_scaled_positions(wrap=False))


def fingerprints(crystals: list[Crystal]) -> list[tuple[np.ndarray, np.ndarray] | None]:
    import warnings

    from matminer.featurizers.composition.composite import ElementProperty
    from matminer.featurizers.site.fingerprint import CrystalNNFingerprint
    from pymatgen.core import Composition

    site, comp = CrystalNNFingerprint.from_preset("ops"), ElementProperty.from_preset("magpie", impute_nan=True)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for c in crystals:
            if c.atoms.get_volume() < 0.1:  # CDVAE's "unrealistically small lattice": not a constructed crystal
                out.append(None)
                continue
            try:
                s = _to_pymatgen(c)
                out.append((np.array([site.featurize(s, i) for i in range(len(s))]).mean(axis=0),
                            np.array(comp.featurize(Composition(dict(Counter(c.symbols)))), float)))
            except Exception:  # noqa: BLE001 - no fingerprint: out of coverage, as in CDVAE
                out.append(None)
    return out


def coverage(generated: list[Crystal], reference: list[Crystal], generations: int, struc_cut: float, comp_cut: float) -> dict:
    g = [f for f in fingerprints(generated) if f is not None]
    r = [f for f in fingerprints(reference) if f is not None]
    if not g or not r:
        return {"cov_recall": 0.0, "cov_precision": 0.0}
    gs, gc = np.array([f[0] for f in g]), np.array([f[1] for f in g])
    rs, rc = np.array([f[0] for f in r]), np.array([f[1] for f in r])
    mu, sd = rc.mean(axis=0), rc.std(axis=0)
    sd = np.where(sd == 0, 1.0, sd)
    gc, rc = (gc - mu) / sd, (rc - mu) / sd
    ds = np.sqrt(((gs[:, None, :] - rs[None, :, :]) ** 2).sum(-1))
    dc = np.sqrt(((gc[:, None, :] - rc[None, :, :]) ** 2).sum(-1))
    recall = float(np.mean((ds.min(0) <= struc_cut) & (dc.min(0) <= comp_cut)))
    precision = float(((ds.min(1) <= struc_cut) & (dc.min(1) <= comp_cut)).sum() / generations)
    return {"cov_recall": 100 * recall, "cov_precision": 100 * precision}


def metrics(texts: list[str], reference: list[Crystal], cutoffs=(0.4, 10.0), coverage_of: str = "valid") -> dict:
    """`coverage_of`: "valid" fingerprints the valid crystals only (crystal-text-llm's `Crystal`, LLaMat's evaluation),
    "constructed" every parsed one (CDVAE's original `Crystal`)."""
    parsed = [c for c in (parse(t) for t in texts) if c is not None]
    s_ok = [structure_valid(c) for c in parsed]
    c_ok = [composition_valid(c) for c in parsed]
    valid = [c for c, a, b in zip(parsed, s_ok, c_ok) if a and b]
    n, p = len(texts), len(parsed)
    out = {"generations": n, "parsed": p,
           "structural_validity_all": 100 * sum(s_ok) / n, "compositional_validity_all": 100 * sum(c_ok) / n,
           "validity_all": 100 * len(valid) / n,
           "structural_validity_parsed": 100 * sum(s_ok) / p, "compositional_validity_parsed": 100 * sum(c_ok) / p,
           "validity_parsed": 100 * len(valid) / p}
    if valid:
        out["wdist_density"] = wasserstein([density(c) for c in valid], [density(c) for c in reference])
        out["wdist_num_elems"] = wasserstein([len(set(c.symbols)) for c in valid], [len(set(c.symbols)) for c in reference])
    if cutoffs:
        out.update(coverage(valid if coverage_of == "valid" else parsed, reference, n, *cutoffs))
    return out


def reference_from_csv(path: str) -> list[Crystal]:
    """A CDVAE benchmark split's crystals, read from its `cif` column with ASE's CIF reader."""
    import csv
    import io
    import warnings

    from ase.io import read

    out = []
    with open(path, newline="", encoding="utf-8") as f, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for row in csv.DictReader(f):
            atoms = read(io.StringIO(row["cif"]), format="cif")
            out.append(Crystal(atoms.get_chemical_symbols(), atoms))
    return out
