"""The vectorised order parameters (eval/crystalnn.py) are pymatgen's, and the fingerprint built on them is
matminer's CrystalNN "ops" fingerprint: site by site on real crystals (as they are and moved by noise as generations
are), on ideal coordination polyhedra (exact angles sit on the parameters' thresholds), and on random neighbour
sets (hypothesis).

Tolerance: every angle and face measure that a threshold or CrystalNN's ordering of neighbours reads is rounded
as pymatgen rounds it (bit-equal, tested below), so the branches taken are pymatgen's; the Gaussians and cosines
are numpy's rather than the math module's, which differ in the last bit: 1e-12."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SAMPLES, SHARED
from eval.crystal_metrics import reference_structures
from eval.crystalnn import VECTORISED, CrystalNNOpsFingerprint, Geometry, order_parameter

pytest.importorskip("matminer")
from pymatgen.core import Site  # noqa: E402
from pymatgen.core.local_env import LocalStructOrderParams  # noqa: E402

TOLERANCE = 1e-12


@pytest.fixture(scope="module")
def featurizer() -> CrystalNNOpsFingerprint:
    return CrystalNNOpsFingerprint()


def _params() -> list[tuple[int, str, dict]]:
    """Every vectorised order parameter of the preset, with the coordination number and parameters it has there."""
    out = []
    for cn, steps in CrystalNNOpsFingerprint().plan.items():
        out += [(cn, *op) for kind, op in steps if kind == "vec"]
    return out


PARAMS = _params()


def _pymatgen(typ: str, params: dict, vectors: np.ndarray):
    sites = [Site("Fe", [0.0, 0.0, 0.0])] + [Site("O", v) for v in vectors]
    op = LocalStructOrderParams([typ], parameters=[params])
    return op.get_order_parameters(sites, 0, indices_neighs=list(range(1, len(sites))))[0]


def _agree(ours, theirs) -> bool:
    if theirs is None or ours is None:
        return ours is None and theirs is None
    return abs(ours - theirs) <= TOLERANCE


def _compare_sites(featurizer, crystals) -> int:
    sites = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for c in crystals:
            for i in range(len(c)):
                theirs = np.array(featurizer.reference.featurize(c, i))
                ours = np.array(featurizer.featurize(c, i))
                assert ours.shape == theirs.shape
                assert np.abs(ours - theirs).max() <= TOLERANCE, (c.composition.reduced_formula, i)
                sites += 1
    return sites


def _noisy(crystals, sigma: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    out = []
    for c in crystals:
        c = c.copy()
        for j in range(len(c)):
            c.replace(j, c[j].species, np.mod(c[j].frac_coords + rng.normal(0, sigma, 3), 1.0))
        out.append(c)
    return out


def test_every_vectorised_type_of_the_preset_is_covered():
    assert {typ for _, typ, _ in PARAMS} == VECTORISED


def test_fingerprint_is_matminers_on_real_crystals_and_noisy_ones(featurizer):
    crystals = reference_structures(str(SAMPLES / "crystals" / "mp_20" / "test.csv"))[:15]
    assert _compare_sites(featurizer, crystals + _noisy(crystals, 0.02)) > 100


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is not here")
def test_fingerprint_is_matminers_on_the_shared_crystal_sets(featurizer):
    crystals = []
    for name in ("perov_5", "carbon_24", "mp_20_subset"):
        path = SHARED / "crystals" / name / "test.csv"
        crystals += reference_structures(str(path))[:6]
    assert _compare_sites(featurizer, crystals + _noisy(crystals, 0.01, seed=1)) > 50


def _polyhedra() -> dict[str, np.ndarray]:
    s = 1 / np.sqrt(2)
    octahedron = [v for axis in np.eye(3) for v in (axis, -axis)]
    cube = [np.array(p) for p in itertools.product((-1, 1), repeat=3)]
    cuboctahedron = [np.array(p) * s for p in {tuple(np.roll([a, b, 0], r)) for a in (-1, 1) for b in (-1, 1) for r in range(3)}]
    hexagon = [np.array([np.cos(a), np.sin(a), 0]) for a in np.arange(6) * np.pi / 3]
    pentagon = [np.array([np.cos(a), np.sin(a), 0]) for a in np.arange(5) * 2 * np.pi / 5]
    tetrahedron = [np.array(p) / np.sqrt(3) for p in ((1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1))]
    return {
        "linear": np.array([[1, 0, 0], [-1, 0, 0]], float), "bent": np.array([[1, 0, 0], [0, 1, 0]], float),
        "coincident": np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0]], float),
        "tetrahedron": np.array(tetrahedron), "square": np.array(octahedron[:4]), "octahedron": np.array(octahedron),
        "square_pyramid": np.array(octahedron[:5]), "trigonal_bipyramid": np.array(hexagon[::2] + [np.array([0, 0, 1.0]), np.array([0, 0, -1.0])]),
        "pentagon": np.array(pentagon), "hexagon": np.array(hexagon), "pentagonal_bipyramid": np.array(pentagon + octahedron[4:]),
        "hexagonal_bipyramid": np.array(hexagon + octahedron[4:]), "cube": np.array(cube), "cuboctahedron": np.array(cuboctahedron),
    }


@pytest.mark.parametrize("shape", sorted(_polyhedra()))
def test_ideal_polyhedra(shape):
    vectors = _polyhedra()[shape] * 2.1
    for cn, typ, params in PARAMS:
        ours = order_parameter(typ, params, Geometry(np.zeros(3), vectors))
        theirs = _pymatgen(typ, params, vectors)
        assert _agree(ours, theirs), (shape, typ, ours, theirs)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 13), seed=st.integers(0, 2**32 - 1), spread=st.floats(0.0, 0.5), data=st.data())
def test_random_neighbour_sets(n, seed, spread, data):
    """Random neighbour vectors at 1.5-3.5 Å, sometimes around an ideal polyhedron (spread small)."""
    rng = np.random.default_rng(seed)
    shapes = {k: v for k, v in _polyhedra().items() if len(v) == n}
    if shapes and data.draw(st.booleans()):
        base = shapes[sorted(shapes)[data.draw(st.integers(0, len(shapes) - 1))]]
        vectors = base + rng.normal(0, spread, base.shape)
    else:
        vectors = rng.normal(size=(n, 3))
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True) * rng.uniform(1.5, 3.5, (n, 1))
    for cn, typ, params in PARAMS:
        ours = order_parameter(typ, params, Geometry(np.zeros(3), vectors))
        theirs = _pymatgen(typ, params, vectors)
        assert _agree(ours, theirs), (typ, ours, theirs)


def test_batched_voronoi_faces_are_pymatgens():
    from pymatgen.core.local_env import VoronoiNN

    from eval.crystalnn import _voronoi_nn_class

    crystal = reference_structures(str(SAMPLES / "crystals" / "mp_20" / "test.csv"))[3]
    batched = _voronoi_nn_class()(cutoff=7.0)
    plain = VoronoiNN(cutoff=7.0)
    for i in range(len(crystal)):
        ours, theirs = batched.get_voronoi_polyhedra(crystal, i), plain.get_voronoi_polyhedra(crystal, i)
        assert list(ours) == list(theirs)  # the same faces in the same order
        for face in theirs:
            a, b = ours[face], theirs[face]
            assert a["site"] == b["site"] and a["n_verts"] == b["n_verts"] and a["adj_neighbors"] == b["adj_neighbors"]
            for key in ("solid_angle", "volume", "face_dist", "area"):
                assert a[key] == b[key], key  # bit-equal: CrystalNN orders neighbours of equal weight by them
            assert np.array_equal(a["normal"], b["normal"])


def _crowded_cells():
    """Near-flat cells as generations write them: one short or sheared lattice vector packs hundreds of images into
    CrystalNN's 7 Å sphere while the atoms stay more than 0.5 Å apart."""
    from pymatgen.core import Lattice, Structure

    return [
        Structure(Lattice.from_parameters(0.45, 3.1, 4.3, 90, 97, 90), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
        Structure(Lattice.from_parameters(2.9, 0.6, 5.2, 84, 90, 111), ["Fe", "O", "O"], [[0, 0, 0], [0.3, 0.1, 0.4], [0.7, 0.6, 0.8]]),
        Structure(Lattice.from_parameters(4.0, 4.0, 4.0, 89, 91, 178.5), ["Si", "C"], [[0, 0, 0], [0.25, 0.25, 0.25]]),
    ]


def test_crowded_cells_are_searched_from_a_smaller_sphere_with_matminers_values(featurizer, monkeypatch):
    """The shrunk sphere gives the cell pymatgen finds in its full 7 Å sphere (a site beyond r cannot cut a cell whose
    vertices lie within r/2), so the fingerprint is matminer's; qhull may split a degenerate vertex differently among
    fewer points, which moves a site's value by at most 1e-3 (measured on LLaMat-2's crowded generations:
    benchmarks/coverage_real.py --check-crowded), against CDVAE's coverage cutoff of 0.4 on the crystal's mean."""
    from matminer.featurizers.site.fingerprint import CrystalNNFingerprint
    from pymatgen.core.local_env import VoronoiNN

    from eval.crystalnn import crowded_radius

    reference = CrystalNNFingerprint.from_preset("ops")
    for crystal in _crowded_cells():
        assert crowded_radius(crystal.volume / len(crystal), 7.0) is not None
        theirs = np.array([reference.featurize(crystal, i) for i in range(len(crystal))])
        with monkeypatch.context() as m:  # pymatgen's own full search is not needed for these cells
            m.setattr(VoronoiNN, "get_voronoi_polyhedra", lambda *a, **k: pytest.fail("the full search ran"))
            ours = np.array([featurizer.featurize(crystal, i) for i in range(len(crystal))])
        assert np.abs(ours - theirs).max() <= 1e-3


def test_ordinary_cells_keep_pymatgens_search():
    from eval.crystalnn import crowded_radius

    for crystal in reference_structures(str(SAMPLES / "crystals" / "mp_20" / "test.csv")):
        assert crowded_radius(crystal.volume / len(crystal), 7.0) is None
