"""CDVAE's CrystalNN "ops" site fingerprint (matminer's `CrystalNNFingerprint.from_preset("ops")`), the same values
computed about four times faster, so that coverage of 10,000 generations fits in minutes.

Why our own code: the fingerprint is the definition of CDVAE's coverage, so its values must be matminer's, but
- pymatgen's `LocalStructOrderParams.get_order_parameters` evaluates the order parameters in Python loops over every
  (j, k, m) neighbour triple, once per order parameter: three quarters of the fingerprint's time. Here the geometry of
  a site's neighbour set (polar angles, Gram-Schmidt axes, azimuths) is computed once as arrays and every order
  parameter of that coordination number is a masked sum or maximum over them, term for term pymatgen's formulas
  (pymatgen/core/local_env.py, `get_order_parameters`, the types the "ops" preset uses). Bond-orientational q2/q4/q6
  and `sgl_bd`, which have no triple loop, are still pymatgen's own code.
- CrystalNN's neighbour search (pymatgen's VoronoiNN) measures each face of the Voronoi cell in Python; here the
  faces' solid angles and volumes are computed for all faces at once (`_voronoi_nn_class`). The tessellation, the
  faces and CrystalNN's weighting are pymatgen's.
No library computes these faster. `tests/test_crystalnn.py` holds the values against pymatgen's and matminer's on
every site of real crystal sets, on ideal polyhedra and on random neighbour sets (hypothesis);
`benchmarks/coverage.py` measures the speed.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

VERY_SMALL = 1e-12  # pymatgen's threshold for a zero-length axis and for a zero normaliser
INV_PI = 1 / math.pi
FAC_BCC = 1 / math.exp(-0.5)

# the order parameters written out here, by how pymatgen normalises them
SUM_TYPES = {"bent"}  # sum of contributions over sum of weights
MAX_TYPES = {"tri_plan_max", "tet_max", "T", "tri_pyr", "sq_pyr", "pent_pyr", "hex_pyr", "sq_plan_max", "oct_max",
             "tri_bipyr", "pent_bipyr", "hex_bipyr", "see_saw_rect", "hex_plan_max", "pent_plan_max", "cuboct_max"}
BCC = "bcc"
VECTORISED = SUM_TYPES | MAX_TYPES | {BCC}
PYRAMIDS = {"T", "tri_pyr", "sq_pyr", "pent_pyr", "hex_pyr"}
# types that take the "south pole" term (a neighbour m opposite the pole neighbour j)
BIPYRAMIDS = {"tri_bipyr", "sq_bipyr", "pent_bipyr", "hex_bipyr", "oct_max", "sq_plan_max", "hex_plan_max"}
SOUTH_POLE = BIPYRAMIDS | {"see_saw_rect"}


class Geometry:
    """Angles of one site's neighbour set, shared by every order parameter of its coordination number.

    theta[j, k]: angle between neighbours j and k seen from the centre; x[j, k]: the unit vector of neighbour k
    orthogonalised against neighbour j (pymatgen's `gramschmidt`), flat[j, k] where that vector has no length;
    phi[j, k, m]: the angle between x[j, k] and x[j, m]; triple[j, k, m]: j, k, m distinct and x[j, k] defined
    (pymatgen's m loop); both[j, k, m]: x[j, m] defined as well (the terms that use phi).
    """

    def __init__(self, centre: np.ndarray, neighbours: np.ndarray):
        # every angle is rounded as pymatgen rounds it (its dot kernel, math.acos), so that each comparison with a
        # parameter's threshold (e.g. an angle against min_SPP) goes the same way as pymatgen's
        n = len(neighbours)
        self.n = n
        rij = neighbours - centre
        unit = rij / np.sqrt(_dot(rij, rij))[:, None]
        j, k = np.divmod(np.arange(n * n), n)
        inner = _dot(unit[j], unit[k]).reshape(n, n)
        self.theta = _acos(inner)
        # gramschmidt(u_k, u_j) = u_k - (u_k.u_j / u_j.u_j) u_j, for every ordered pair (j, k)
        x = unit[None, :, :] - (inner / np.diag(inner)[:, None])[:, :, None] * unit[:, None, :]
        norm = np.sqrt(_dot(x.reshape(-1, 3), x.reshape(-1, 3))).reshape(n, n)
        eye = np.eye(n, dtype=bool)
        self.off = ~eye  # j != k
        self.flat = norm < VERY_SMALL
        xhat = x / np.where(self.flat, 1.0, norm)[:, :, None]
        # distinct[j, k, m]: j != k, j != m, k != m
        distinct = self.off[:, :, None] & self.off[:, None, :] & ~eye[None, :, :]
        self.triple = distinct & ~self.flat[:, :, None]
        self.both = self.triple & ~self.flat[:, None, :]
        self.phi = np.zeros((n, n, n))
        jj, kk, mm = np.nonzero(self.both)  # phi is needed only where both axes exist
        self.phi[jj, kk, mm] = _acos(_dot(xhat[jj, mm], xhat[jj, kk]))
        self.theta_k = self.theta[:, :, None]  # the angle j-i-k, broadcast over m
        self.theta_m = self.theta[:, None, :]  # the angle j-i-m, broadcast over k


def _acos(values: np.ndarray) -> np.ndarray:
    """math.acos of each value clipped to [-1, 1], as pymatgen takes it (numpy's arccos rounds some differently)."""
    flat = np.clip(values, -1.0, 1.0).ravel().tolist()
    return np.array([math.acos(v) for v in flat], dtype=float).reshape(np.shape(values))


def _gauss(x):
    return np.exp(-0.5 * x * x)


def order_parameter(typ: str, p: dict, g: Geometry) -> float | None:
    """One Peters-style order parameter of the site whose neighbour geometry is `g` (pymatgen's value, or None where
    pymatgen gives None)."""
    n = g.n
    th, thk, thm, phi = g.theta, g.theta_k, g.theta_m, g.phi
    qsp = np.zeros((n, n))  # per (j, k): the contributions and the weights pymatgen accumulates
    nrm = np.zeros((n, n))
    off = g.off

    def add_pair(value, where, weight=1.0):
        w = off & where
        qsp[w] += value[w]
        nrm[w] += weight

    def add_triples(value, where):
        qsp[:] += np.where(where, value, 0.0).sum(axis=2)
        nrm[:] += where.sum(axis=2)

    ones = np.ones((n, n), dtype=bool)
    if typ == "bent":
        add_pair(_gauss(p["IGW_TA"] * (th * INV_PI - p["TA"])), ones)
    elif typ in ("tri_plan_max", "tet_max"):
        add_pair(_gauss(p["IGW_TA"] * (th * INV_PI - p["TA"])), ones)
        add_triples(_gauss(p["IGW_TA"] * (thm * INV_PI - p["TA"])) * np.cos(p["fac_AA"] * phi) ** p["exp_cos_AA"], g.both)
    elif typ in PYRAMIDS:
        add_pair(_gauss(p["IGW_EP"] * (th * INV_PI - 0.5)), ones)
        add_triples(np.cos(p["fac_AA"] * phi) ** p["exp_cos_AA"] * _gauss(p["IGW_EP"] * (thm * INV_PI - 0.5)), g.both)
    elif typ in SOUTH_POLE:
        if typ == "hex_plan_max":
            def polar(t):
                return _gauss(p["IGW_TA"] * (np.abs(t * INV_PI - 0.5) - p["TA"]))
        else:
            def polar(t):
                return _gauss(p["IGW_EP"] * (t * INV_PI - 0.5))
        spp = p["min_SPP"]
        add_pair(polar(th), th < spp)
        # the south pole: a neighbour m opposite j
        add_triples(_gauss(p["IGW_SPP"] * (thm * INV_PI - 1.0)), g.triple & (thm >= spp))
        equatorial = g.both & (thm < spp) & (thk < spp)
        if typ == "see_saw_rect":
            equatorial = equatorial & (phi < 0.75 * math.pi)
        add_triples(np.cos(p["fac_AA"] * phi) ** p["exp_cos_AA"] * polar(thm), equatorial)
    elif typ == "pent_plan_max":
        def pent(t):
            return _gauss(p["IGW_TA"] * (t * INV_PI - np.where(t <= p["TA"] * math.pi, 0.4, 0.8)))
        add_pair(pent(th), ones)
        add_triples(pent(thm) * np.cos(phi) ** 2, g.both)
    elif typ == "cuboct_max":
        spp, lo, hi = p["min_SPP"], p[4], p[2]
        add_pair(p["w_SPP"] * _gauss(p["IGW_SPP"] * (th * INV_PI - 1.0)), th >= spp, weight=p["w_SPP"])
        base = g.both & (thm < spp) & (thk > lo) & (thk < hi)
        middle = base & (thm > lo) & (thm < hi)
        add_triples(np.cos(phi) ** 2 * _gauss(p[5] * (thm * INV_PI - 0.5)), middle)
        azimuth = _gauss(0.0556 * (np.cos(phi - 0.5 * math.pi) - 0.81649658))
        add_triples(azimuth * _gauss(p[6] * (thm * INV_PI - 1 / 3)), base & (thm < lo))
        add_triples(azimuth * _gauss(p[6] * (thm * INV_PI - 2 / 3)), base & (thm > hi))
    elif typ == BCC:
        upper = np.triu(ones, 1)  # pymatgen counts bcc's pairs once (j < k)
        spp = p["min_SPP"]
        w = upper & (th >= spp)
        qsp[w] += p["w_SPP"] * _gauss(p["IGW_SPP"] * (th[w] * INV_PI - 1.0))
        fac = np.where(thk > 0.5 * math.pi, 1.0, -1.0)
        t = (thm - 0.5 * math.pi) / math.asin(1 / 3)
        add_triples(fac * np.cos(3 * phi) * FAC_BCC * t * _gauss(t), g.both & upper[:, :, None] & (thk < spp))
        if n <= 3:
            return None
        return float(qsp.sum() / (0.5 * n * (6 + (n - 2) * (n - 3))))
    else:
        raise ValueError(f"order parameter {typ!r} is not vectorised here")

    if typ in SUM_TYPES:
        total = nrm[off].sum()
        return float(qsp[off].sum() / total) if total > VERY_SMALL else None
    if n <= 1:
        return None
    ratio = np.where(nrm > VERY_SMALL, qsp / np.where(nrm > VERY_SMALL, nrm, 1.0), 0.0)
    return float(ratio[off].max())


def _dot(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Row-wise dot products of 3-vectors, rounded as pymatgen's per-vector `np.dot` / `np.inner` round them (numpy's
    dot kernel: a stacked matmul of 1x3 by 3x1 runs it). Bit-equal inputs matter here: CrystalNN orders neighbours of
    equal weight by these rounded numbers, and one order parameter (bcc) depends on the order."""
    return np.matmul(u[:, None, :], v[:, :, None])[:, 0, 0]


CROWDED_SITES = 400  # expected sites inside CrystalNN's search sphere above which the sphere is shrunk
SPHERE_SITES = 60  # expected sites in the first, shrunk sphere


def crowded_radius(volume_per_site: float, cutoff: float) -> float | None:
    """The first search radius for a crowded cell, or None for a cell of ordinary density.

    Why: pymatgen tessellates every site within CrystalNN's 7 Å search sphere. A real solid has 5-60 Å^3 per atom,
    some tens of sites in that sphere; a generated cell that is nearly flat (a near-singular lattice whose atoms are
    still 0.5 Å apart) can pack 0.03 Å^3 per atom, tens of thousands of images, and one crystal took a minute. The
    site's Voronoi cell is decided by its near neighbours only: a site farther than r from the centre has its
    bisecting plane farther than r/2, so a cell whose vertices all lie within r/2 of the centre is the same cell
    among the sites within r as among those within the full cutoff. Crowded cells start from a sphere holding
    about SPHERE_SITES sites and grow it until that holds (or the cutoff is reached and pymatgen searches as
    before); cells of ordinary density are left to pymatgen's search unchanged."""
    if volume_per_site <= 0:
        return None
    expected = 4 / 3 * math.pi * cutoff**3 / volume_per_site
    if expected <= CROWDED_SITES:
        return None
    return (SPHERE_SITES * volume_per_site * 3 / (4 * math.pi)) ** (1 / 3)


def _closed_within(voro, index: int, centre: np.ndarray, reach: float) -> bool:
    """Whether the Voronoi cell of point `index` is bounded with every vertex within `reach` of `centre`."""
    region = voro.regions[voro.point_region[index]]
    if not region or -1 in region:
        return False
    vertices = voro.vertices[region]
    return bool(np.max(np.linalg.norm(vertices - centre, axis=1)) < reach)


def _voronoi_nn_class():
    """pymatgen's VoronoiNN with the faces of a site's Voronoi cell measured by numpy, all faces at once.

    Why: after the order parameters, CrystalNN's neighbour search is most of the fingerprint's time, and half of it
    is `VoronoiNN._extract_cell_info` measuring each face in Python (a solid angle and a volume per fan triangle).
    The faces, their order and every number stored are pymatgen's; only the arithmetic is batched.
    """
    from pymatgen.core.local_env import VoronoiNN

    class BatchedVoronoiNN(VoronoiNN):
        def get_voronoi_polyhedra(self, structure, n):
            """pymatgen's cell of site `n` among the sites within `cutoff`, found from a smaller sphere when the cell
            is crowded (see `crowded_radius`); otherwise pymatgen's own search."""
            radius = crowded_radius(structure.volume / len(structure), self.cutoff)
            if radius is not None:
                from scipy.spatial import QhullError, Voronoi

                targets = structure.elements if self.targets is None else self.targets
                centre = structure[n].coords
                while radius < self.cutoff:
                    found = structure.get_sites_in_sphere(centre, radius)
                    sites = sorted(found, key=lambda s: s[1])  # by distance, as pymatgen orders them
                    if len(sites) > 4:  # a 3-D tessellation needs five points
                        try:
                            voro = Voronoi([s.coords for s in sites])
                        except QhullError:
                            voro = None
                        if voro is not None and _closed_within(voro, 0, centre, radius / 2):
                            return self._extract_cell_info(0, sites, targets, voro, self.compute_adj_neighbors)
                    radius *= 1.5
            return super().get_voronoi_polyhedra(structure, n)

        def _extract_cell_info(self, site_idx, sites, targets, voro, compute_adj_neighbors=False):
            faces = []  # (other site, vertex indices), in pymatgen's order
            for pair, vind in voro.ridge_dict.items():
                if site_idx in pair:
                    if -1 in vind:
                        if self.allow_pathological:
                            continue
                        raise RuntimeError("This structure is pathological, infinite vertex in the Voronoi construction")
                    faces.append((pair[0] if pair[1] == site_idx else pair[1], vind))
            if not faces:
                raise ValueError("No Voronoi neighbors found for site - try increasing cutoff")
            centre = sites[site_idx].coords
            vertices = voro.vertices
            # each face is a fan of triangles (v0, v_i, v_i+1): the same triangles give its solid angle and volume
            first, second, third, owner = [], [], [], []
            for f, (_, vind) in enumerate(faces):
                k = len(vind)
                first += [vind[0]] * (k - 2)
                second += vind[1:k - 1]
                third += vind[2:k]
                owner += [f] * (k - 2)
            a, b, c = vertices[first] - centre, vertices[second] - centre, vertices[third] - centre  # solid angles
            ra, rb, rc = (np.sqrt(_dot(v, v)) for v in (a, b, c))
            tp = np.abs(_dot(a, np.cross(b, c)))
            de = ra * rb * rc + rc * _dot(a, b) + rb * _dot(a, c) + ra * _dot(b, c)
            with np.errstate(divide="ignore", invalid="ignore"):
                half = np.where(de == 0, np.where(tp > 0, 0.5 * math.pi, -0.5 * math.pi), np.arctan(tp / de))
            half = np.where(half > 0, half, half + math.pi) * 2
            owner = np.asarray(owner, dtype=np.int64)
            angles = np.bincount(owner, weights=half, minlength=len(faces))
            # pymatgen's vol_tetra(centre, v0, vi, vi+1): |(centre - vi+1) . ((v0 - vi+1) x (vi - vi+1))| / 6
            v0, vi, vk = vertices[first], vertices[second], vertices[third]
            volumes = np.bincount(owner, weights=np.abs(_dot(centre - vk, np.cross(v0 - vk, vi - vk))) / 6,
                                  minlength=len(faces))
            results = {}
            for f, (other, vind) in enumerate(faces):
                site = sites[other]
                face_dist = float(np.linalg.norm(centre - site.coords) / 2)
                normal = np.subtract(site.coords, centre)
                normal /= np.linalg.norm(normal)
                volume = float(volumes[f])
                results[other] = {"site": site, "normal": normal, "solid_angle": float(angles[f]), "volume": volume,
                                  "face_dist": face_dist, "area": 3 * volume / face_dist, "n_verts": len(vind)}
                if compute_adj_neighbors:
                    results[other]["verts"] = vind
            out = {}
            for index, stats in results.items():  # only the target elements, as pymatgen keeps them
                site = stats["site"]
                if site.is_ordered:
                    if site.specie in targets:
                        out[index] = stats
                elif any(sp in targets for sp in site.species):
                    out[index] = stats
            if compute_adj_neighbors:  # faces sharing an edge (two vertices), as pymatgen finds them
                verts = {index: set(stats["verts"]) for index, stats in out.items()}
                adjacent = {index: [] for index in out}
                for a in out:
                    for b in out:
                        if b <= a and len(verts[a] & verts[b]) == 2:
                            adjacent[a].append(b)
                            adjacent[b].append(a)
                for index, stats in out.items():
                    stats["adj_neighbors"] = adjacent[index]
            return out

    return BatchedVoronoiNN


@contextlib.contextmanager
def _batched_voronoi():
    """CrystalNN builds its VoronoiNN inside `get_nn_data` (no argument takes one), so for the length of a call the
    module's name points at the batched class; it computes the same values, so another user of pymatgen in this
    process would see no difference."""
    from pymatgen.core import local_env

    global _BATCHED
    if _BATCHED is None:
        _BATCHED = _voronoi_nn_class()
    original = local_env.VoronoiNN
    local_env.VoronoiNN = _BATCHED
    try:
        yield
    finally:
        local_env.VoronoiNN = original


_BATCHED = None


class CrystalNNOpsFingerprint:
    """matminer's `CrystalNNFingerprint.from_preset("ops")` (no chemical information), with the vectorised order
    parameters: the same CrystalNN neighbour weights, the same feature order and values."""

    def __init__(self):
        from matminer.featurizers.site.fingerprint import CrystalNNFingerprint

        self.reference = CrystalNNFingerprint.from_preset("ops")
        self.cnn = self.reference.cnn
        self.max_cn = sorted(self.reference.op_types)[-1]
        # per coordination number: ("wt", None) | ("vec", (type, params)) | ("pymatgen", LocalStructOrderParams)
        self.plan: dict[int, list[tuple[str, object]]] = {}
        for cn, ops in self.reference.ops.items():
            steps = []
            for op in ops:
                if op == "wt":
                    steps.append(("wt", None))
                    continue
                (typ,) = op._types
                if typ in VECTORISED:
                    steps.append(("vec", (typ, dict(op._params[0]))))  # a plain dict: pymatgen's is a slow YAML map
                else:
                    steps.append(("pymatgen", op))
            self.plan[cn] = steps

    def featurize(self, structure, idx: int) -> list[float]:
        with _batched_voronoi():
            nndata = self.cnn.get_nn_data(structure, idx)
        out: list[float] = []
        for cn in range(1, self.max_cn + 1):
            if cn not in self.plan:
                continue
            wt = nndata.cn_weights.get(cn, 0)
            geometry = None
            neighbours = [d["site"] for d in nndata.cn_nninfo[cn]] if wt else []  # once per coordination number
            for kind, op in self.plan[cn]:
                if kind == "wt" or wt == 0:
                    out.append(wt)
                    continue
                if kind == "pymatgen":
                    value = op.get_order_parameters([structure[idx], *neighbours], 0,
                                                    indices_neighs=list(range(1, len(neighbours) + 1)))[0]
                else:
                    if geometry is None:
                        geometry = Geometry(structure[idx].coords, np.array([s.coords for s in neighbours]))
                    value = order_parameter(op[0], op[1], geometry)
                out.append(wt * (value or 0))
        return out
