"""`corpus fetch`'s gnome job against a local server on 127.0.0.1 (bounded, stops itself) laid out as GNoME's public
bucket is (`gnome_data/stable_materials_summary.csv` with the columns its DATASET.md lists, `gnome_data/by_id.zip` of
CIFs named by MaterialId), with real CIFs from the bundled samples, and faults: a 503 with Retry-After, a body cut
short, an HTML error page, a zip member that is a bomb."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SAMPLES
from corpus.cli import main as corpus
from corpus.extract import extract
from corpus.fetch.manifest import FetchError, load_fetch_manifest
from corpus.fetch.run import fetch
from test_fetch import Faults, serving

CIFS = SAMPLES / "crystals" / "cod_cifs"
HEADER = ["Composition", "MaterialId", "Reduced Formula", "Elements", "NSites", "Volume", "Density", "Point Group", "Space Group",
          "Space Group Number", "Crystal System", "Corrected Energy", "Formation Energy Per Atom", "Decomposition Energy Per Atom",
          "Dimensionality Cheon", "Bandgap", "Is Train"]
# (MaterialId, formula, NSites, decomposition energy, the sample CIF it is served as; None: not in the zip; "bomb")
MATERIALS = [("0a1b2c3d4e", "BaTiO3", 5, 0.0, "BaTiO3_cubic.cif"), ("1f2e3d4c5b", "Ag", 4, 0.0, "Ag.cif"),
             ("2a2a2a2a2a", "Al", 4, 0.0009, "Al.cif"), ("3b3b3b3b3b", "LiTiO2", 4, 0.0, None), ("4c4c4c4c4c", "BaO", 8, 0.0, "bomb")]


def _summary() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["", *HEADER])  # the file's first column is pandas' unnamed index
    for n, (mid, formula, sites, decomposition, _) in enumerate(MATERIALS):
        elements = sorted(set(__import__("re").findall(r"[A-Z][a-z]?", formula)))
        writer.writerow([n, formula, mid, formula, str(elements), sites, 64.0, 6.1, "m-3m", "Pm-3m", 221, "cubic", -40.1, -2.5,
                         decomposition, "3D", 1.2 if formula != "Ag" else 0.0, False])
    return out.getvalue().encode()


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for mid, _, _, _, source in MATERIALS:
            if source == "bomb":
                z.writestr(f"by_id/{mid}.CIF", b"\0" * (4 * 2**20))  # inflates 1000-fold: not read
            elif source:
                z.writestr(f"by_id/{mid}.CIF", (CIFS / source).read_bytes())
        z.writestr("by_id/README", b"not a CIF")
    return out.getvalue()


SUMMARY, ZIP = _summary(), _zip()


class Bucket(Faults):  # its quiet log and its _send (a declared length may exceed the body: a cut)
    def do_GET(self):
        state = self.server.state
        state["seen"][self.path] = state["seen"].get(self.path, 0) + 1
        first = state["seen"][self.path] == 1
        if self.path == "/gnome_data/stable_materials_summary.csv":
            if state.get("html"):
                return self._send(200, b"<!DOCTYPE html><html><body>Sign in to continue</body></html>", {"Content-Type": "text/html"})
            if first:
                return self._send(200, SUMMARY[: len(SUMMARY) // 2], declared=len(SUMMARY))  # cut off mid-body
            return self._send(200, SUMMARY, {"Content-Type": "text/csv"})
        if self.path == "/gnome_data/by_id.zip":
            if first:
                return self._send(503, b"busy", {"Retry-After": "1"})
            return self._send(200, ZIP, {"Content-Type": "application/zip"})
        return self._send(404, b"<?xml version='1.0'?><Error><Code>NoSuchKey</Code></Error>")


@pytest.fixture
def bucket():
    with serving(Bucket, {"seen": {}}) as httpd:
        yield httpd


def _manifest(tmp_path: Path, bucket, **job) -> Path:
    url = f"http://127.0.0.1:{bucket.server_address[1]}/gnome_data"
    data = {"name": "t", "output_dir": "out", "jobs": [{"name": "gnome", "service": "gnome", "into": "crystals/gnome", "endpoint": url,
                                                        "limits": {"per_second": 50, "retries": 3, "backoff_s": 0.01, "max_wait_s": 5}, **job}]}
    path = tmp_path / "fetch.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _rows(folder: Path) -> list[dict]:
    with open(folder / "gnome.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_gnome_materials_by_filter_into_the_crystal_csv_reader_with_their_licence(tmp_path, bucket):
    manifest = _manifest(tmp_path, bucket, max_decomposition_energy=0.0005)
    summary = fetch(load_fetch_manifest(manifest))["gnome"]
    assert (summary["requested"], summary["fetched"], summary["failed"]) == (2, 2, 0)  # after a cut body and a 503
    assert bucket.state["seen"] == {"/gnome_data/stable_materials_summary.csv": 2, "/gnome_data/by_id.zip": 2}
    folder = tmp_path / "out" / "crystals" / "gnome"
    rows = _rows(folder)
    # Al is 0.9 meV above the hull (filtered out); LiTiO2 has no CIF and BaO's is a bomb: both named, not lost
    assert [r["material_id"] for r in rows] == ["0a1b2c3d4e", "1f2e3d4c5b"]
    assert rows[0]["reduced_formula"] == "BaTiO3" and rows[0]["formation_energy_per_atom"] == "-2.5" and "data_" in rows[0]["cif"]
    side = json.loads((folder / "gnome.csv.meta.json").read_text())
    assert side["licence"] == "CC-BY-NC-4.0" and (side["selected"], side["written"], side["missing_cif"]) == (4, 2, 2)
    assert side["missing_cif_ids"] == ["3b3b3b3b3b", "4c4c4c4c4c"]
    docs = [d for _, d in extract([str(folder)], "crystal_csv") if hasattr(d, "text")]
    formulas = {d.metadata.get("formula") for d in docs}
    assert formulas == {"BaTiO3", "Ag"} and {d.metadata.get("licence") for d in docs} == {"CC-BY-NC-4.0"}
    assert any("formation_energy_per_atom" in json.dumps(d.metadata) for d in docs)
    # a rerun fetches nothing it has
    again = fetch(load_fetch_manifest(manifest))["gnome"]
    assert (again["skipped"], again["fetched"]) == (2, 0)


def test_element_and_size_filters_and_an_html_page_in_place_of_the_summary(tmp_path, bucket):
    manifest = _manifest(tmp_path, bucket, elements=["Ba"], exclude_elements=["O"], max_sites=6)
    bucket.state["html"] = True
    summary = fetch(load_fetch_manifest(manifest))["gnome"]
    # the summary is an HTML page: failed as one; the zip then has nothing to select from and says why
    assert summary["failed_by_reason"] == {"html_error_page": 1, "no_summary": 1} and summary["requested"] == 2
    bucket.state["html"] = False
    again = fetch(load_fetch_manifest(manifest))["gnome"]
    assert (again["fetched"], again["failed"]) == (2, 0)
    assert _rows(tmp_path / "out" / "crystals" / "gnome") == []  # Ba without O in at most 6 sites: none
    other = tmp_path / "ids"
    other.mkdir()
    fetch(load_fetch_manifest(_manifest(other, bucket, ids=["1f2e3d4c5b", "2a2a2a2a2a"], max_nelements=1)))
    assert [r["material_id"] for r in _rows(other / "out" / "crystals" / "gnome")] == ["1f2e3d4c5b", "2a2a2a2a2a"]


def test_a_bad_element_symbol_fails_before_any_request(tmp_path, bucket, capsys):
    manifest = _manifest(tmp_path, bucket, elements=["lithium"])
    with pytest.raises(FetchError, match="elements"):
        load_fetch_manifest(manifest)
    assert bucket.state["seen"] == {}
    assert corpus(["fetch", str(_manifest(tmp_path, bucket)), "--dry-run"]) == 0
    assert "CC-BY-NC-4.0" in capsys.readouterr().err


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=300),
                 st.lists(st.lists(st.sampled_from(["MaterialId", "Reduced Formula", "NSites", "Decomposition Energy Per Atom", "x", "",
                                                    "0a", "Li2O", "3", "-0.1", "nan", "a,b", '"q"', "é"]), min_size=1, max_size=5),
                          min_size=1, max_size=6).map(lambda rows: "\n".join(",".join(r) for r in rows).encode())),
       st.sampled_from([{}, {"elements": ["Li"]}, {"max_sites": 4}, {"max_decomposition_energy": 0.0}, {"ids": ["0a"]}]))
def test_any_summary_table_is_selected_from_or_failed_with_a_reason(tmp_path_factory, body, filters):
    from corpus.fetch.http import FetchFailed
    from corpus.fetch.manifest import GnomeJob
    from corpus.fetch.gnome import GnomeService

    path = tmp_path_factory.mktemp("g") / "stable_materials_summary.csv"
    path.write_bytes(body)
    service = GnomeService(GnomeJob(name="g", service="gnome", into="g", **filters), client=None)
    try:
        rows, _, columns = service._select(path)
    except FetchFailed as e:
        assert e.reason == "bad_listing"
    else:
        assert isinstance(rows, list) and all(isinstance(r, dict) for r in rows) and "MaterialId" not in columns
