"""Coverage fingerprints made fast (eval/fingerprints.py): the symmetry shortcut gives CDVAE's mean, the pool gives
what one process gives, the cache is read instead of computing again, and every crystal ends with one status -- a
crystal past the time limit or one matminer cannot fingerprint is counted, never fatal."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymatgen.core import Lattice, Structure

from conftest import SAMPLES
from eval import fingerprints as fp
from eval.crystal_metrics import reference_structures

pytest.importorskip("matminer")

REFERENCE = SAMPLES / "crystals" / "mp_20" / "test.csv"


@pytest.fixture(scope="module")
def crystals() -> list[Structure]:
    return reference_structures(str(REFERENCE))[:12]


def _every_site(crystal: Structure) -> np.ndarray:
    """CDVAE's way: every site's CrystalNN fingerprint, then the mean."""
    site_fp, _ = fp._featurizers()
    return np.mean([site_fp.featurize(crystal, i) for i in range(len(crystal))], axis=0)


def test_symmetry_distinct_sites_give_cdvaes_mean(crystals):
    shortcut = 0
    for c in crystals:
        ours = fp.fingerprint(c)
        assert ours.status == "ok"
        assert np.abs(ours.structure - _every_site(c)).max() < 1e-3  # CDVAE's structure cutoff is 0.4
        shortcut += len(fp._distinct_sites(c)) < len(c)
    assert shortcut  # real crystals have equivalent sites: the shortcut is taken


def test_pool_cache_and_one_process_agree(tmp_path, crystals, monkeypatch):
    cache = str(tmp_path / "fp.sqlite")
    one = fp.fingerprints(crystals, workers=1, progress=False)
    pooled = fp.fingerprints(crystals, workers=2, cache=cache, progress=False)
    for a, b in zip(one, pooled):
        assert a.status == b.status == "ok"
        assert a.structure.tobytes() == b.structure.tobytes() and a.composition.tobytes() == b.composition.tobytes()

    calls = []
    monkeypatch.setattr(fp, "fingerprint", lambda *a: calls.append(a) or fp.Fingerprint("failed"))
    again = fp.fingerprints(crystals + crystals[:3], workers=1, cache=cache, progress=False)
    assert not calls  # every structure came from the cache, duplicates included
    assert [f.structure.tobytes() for f in again] == [f.structure.tobytes() for f in pooled + pooled[:3]]


def test_each_crystal_ends_with_one_status(tmp_path, crystals):
    tiny = Structure(Lattice.cubic(0.3), ["Fe"], [[0, 0, 0]])  # 0.027 Å³: CDVAE leaves such cells out
    out = fp.fingerprints([tiny, crystals[0]], workers=1, progress=False)
    assert [f.status for f in out] == ["small_cell", "ok"]
    # a limit no crystal can meet: each one is a timeout, and a timeout is not cached (it depends on the machine)
    cache = str(tmp_path / "fp.sqlite")
    slow = fp.fingerprints(crystals[:3], workers=1, cache=cache, time_limit=1e-6, progress=False)
    assert [f.status for f in slow] == ["timeout"] * 3
    # a per-site limit no site can meet, inside a generous crystal limit: each one is a site timeout, not cached either
    sites = fp.fingerprints(crystals[:3], workers=1, cache=cache, time_limit=60, site_time_limit=1e-6, progress=False)
    assert [f.status for f in sites] == ["site_timeout"] * 3
    assert [f.status for f in fp.fingerprints(crystals[:3], workers=1, cache=cache, progress=False)] == ["ok"] * 3


def test_a_changed_structure_is_a_new_key(crystals):
    c = crystals[0].copy()
    key = fp.structure_key(c)
    assert fp.structure_key(c.copy()) == key
    c.translate_sites([0], [0.01, 0, 0])
    assert fp.structure_key(c) != key


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lengths=st.lists(st.floats(1.0, 12.0), min_size=3, max_size=3), angles=st.lists(st.floats(20.0, 160.0), min_size=3, max_size=3),
       species=st.lists(st.sampled_from(["Fe", "O", "Na", "Cl", "Si", "H", "U", "Xe"]), min_size=1, max_size=6), data=st.data())
def test_random_crystals_never_raise(lengths, angles, species, data):
    coords = data.draw(st.lists(st.lists(st.floats(0, 1), min_size=3, max_size=3), min_size=len(species), max_size=len(species)))
    try:
        crystal = Structure(Lattice.from_parameters(*lengths, *angles), species, coords)
    except Exception:  # noqa: BLE001 - pymatgen refuses the cell itself: nothing to fingerprint
        return
    assert fp.fingerprint(crystal, time_limit=20).status in fp.STATUSES


def test_crystal_metrics_reports_fingerprint_statuses_and_the_papers_fractions(tmp_path, capsys):
    from corpus.crystals.text import crystal_string
    from eval.cli import main

    gen = tmp_path / "gen.jsonl"
    rows = [crystal_string(s) for s in reference_structures(str(REFERENCE))[:6]] + ["", "not a crystal"]
    gen.write_text("".join(json.dumps({"id": i, "prediction": t}) + "\n" for i, t in enumerate(rows)))
    reference = tmp_path / "ref.csv"
    with open(REFERENCE, newline="") as f, open(reference, "w", newline="") as g:  # the first 10 test crystals
        rows = csv.DictReader(f)
        w = csv.DictWriter(g, fieldnames=rows.fieldnames)
        w.writeheader()
        w.writerows(row for _, row in zip(range(10), rows))
    cache = tmp_path / "cache.sqlite"
    args = ["crystal-metrics", str(gen), "--reference", str(reference), "--workers", "2", "--cache", str(cache), "--out", str(tmp_path / "m.json")]
    assert main(args) == 0
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["generations"] == 8 and m["parsed"] == 6
    assert sum(m[f"coverage_{s}"] for s in fp.STATUSES) == m["parsed"] and m["coverage_ok"] == 6
    assert m["cov_recall"] > 0 and m["cov_precision"] > 0 and cache.exists()
    summary = capsys.readouterr().err
    assert f"| validity_all | {m['validity_all']:.2f} | {m['validity_all'] / 100:.4f} |" in summary
    assert "2 generations: " not in summary and "8 generations: scored 6, empty 1" in summary
    assert main(args) == 0  # from the cache: the same numbers
    again = json.loads((tmp_path / "m.json").read_text())
    assert {k: v for k, v in again.items() if "seconds" not in k} == {k: v for k, v in m.items() if "seconds" not in k}
    for bad, field in ((["--workers", "0"], "--workers"), (["--time-limit", "0"], "--time-limit")):
        assert main(args + bad) == 2
        assert field in capsys.readouterr().err


def test_a_damaged_cache_costs_time_not_the_run(tmp_path, crystals, capsys):
    cache = tmp_path / "fp.sqlite"
    cache.write_bytes(b"this is not an SQLite database" * 100)
    out = fp.fingerprints(crystals[:2], workers=1, cache=str(cache), progress=False)
    assert [f.status for f in out] == ["ok", "ok"]
    assert "not used" in capsys.readouterr().err
