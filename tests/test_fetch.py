"""`corpus fetch` against local servers (127.0.0.1 only, bounded, stopping themselves) that speak arXiv's OAI-PMH and
e-print routes and the OPTIMADE API, with real content (the bundled arXiv source, MP-20 crystals) and the faults real
services give: 503 and 429 with Retry-After, truncated bodies, HTML error pages, 404s, quotas."""

import gzip
import json
import re
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import polars as pl
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SAMPLES
from corpus.cli import main as corpus
from corpus.fetch.manifest import FetchError, load_fetch_manifest
from corpus.fetch.names import file_name
from corpus.fetch.run import fetch

SOURCE = (SAMPLES / "papers" / "latex" / "msd-diffusion-revtex42.tar.gz").read_bytes()
ELSEVIER = (Path(__file__).parent / "fixtures" / "elsevier" / "S0000000000000001.xml").read_bytes()
SPRINGER = (SAMPLES / "papers" / "xml" / "springer_jats_10.1186_s11671-021-03631-x.xml").read_bytes()
FAST = {"per_second": 50, "retries": 3, "backoff_s": 0.01, "max_wait_s": 5}

# arXiv records: id, categories, licence; page 1 and page 2 of the listing (a resumption token between them)
RECORDS = [
    [("2401.00001", "cond-mat.mtrl-sci", "http://creativecommons.org/licenses/by/4.0/"),
     ("2401.00002", "hep-th", None),  # not a wanted category
     ("2401.00003", "cond-mat.supr-con cond-mat.str-el", "http://arxiv.org/licenses/nonexclusive-distrib/1.0/")],
    [("cond-mat/0102536", "cond-mat.mtrl-sci", None),  # an old-style id
     ("2401.00005", "cond-mat.mtrl-sci", "http://creativecommons.org/licenses/by-nc-sa/4.0/"),  # its e-print is an HTML page
     ("2401.00006", "cond-mat.mtrl-sci", None),  # 404
     ("2401.00007", "cond-mat.mtrl-sci", None)],  # first answer truncated, then whole
]


def oai_page(records, token: str | None, size: int) -> bytes:
    items = "".join(f"""<record><header><identifier>oai:arXiv.org:{i}</identifier><datestamp>2024-01-02</datestamp></header>
<metadata><arXiv xmlns="http://arxiv.org/OAI/arXiv/"><id>{i}</id><title>Paper {i}</title><categories>{c}</categories>
{f'<license>{lic}</license>' if lic else ''}<abstract>About {i}.</abstract></arXiv></metadata></record>""" for i, c, lic in records)
    deleted = '<record><header status="deleted"><identifier>oai:arXiv.org:2401.09999</identifier></header></record>'
    resumption = f'<resumptionToken completeListSize="{size}">{token}</resumptionToken>' if token else '<resumptionToken completeListSize="%d"/>' % size
    return (f'<?xml version="1.0" encoding="UTF-8"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>2024-01-03</responseDate>'
            f'<ListRecords>{items}{deleted}{resumption}</ListRecords></OAI-PMH>').encode()


ARTICLE = SPRINGER[SPRINGER.index(b"<article "): SPRINGER.rindex(b"</article>") + len(b"</article>")].decode()
JATS_NS = "https://jats.nlm.nih.gov/ns/archiving/1.3/"


def pmc_article(pmcid: str | None, licence: str = "by", issn: str = "1556-276X", namespaced: bool = False) -> str:
    """The bundled Springer JATS article as PMC would list it: its own PMC id, licence and ISSN."""
    article = ARTICLE.replace('<issn pub-type="epub">1556-276X</issn>', f'<issn pub-type="epub">{issn}</issn>')
    if licence == "cc0-ref":  # no xlink:href, the licence in an <ali:license_ref>
        article = article.replace('xlink:href="http://creativecommons.org/licenses/by/4.0/"', "").replace(
            "<license-p>", '<ali:license_ref xmlns:ali="http://www.niso.org/schemas/ali/1.0/">'
            "https://creativecommons.org/publicdomain/zero/1.0/</ali:license_ref><license-p>", 1)
    else:
        article = article.replace("creativecommons.org/licenses/by/4.0/", f"creativecommons.org/licenses/{licence}/4.0/")
    if pmcid:
        article = article.replace('<article-id pub-id-type="doi">', f'<article-id pub-id-type="pmc">{pmcid}</article-id><article-id pub-id-type="doi">', 1)
    if namespaced:
        article = article.replace("<article ", f'<article xmlns="{JATS_NS}" ', 1)
    return article


# PMC OAI-PMH records: (identifier number, article or None); two pages
PMC_RECORDS = [
    [("1000001", pmc_article("PMC1000001", namespaced=True)), ("1000002", pmc_article("PMC1000002", licence="by-nc")),
     ("1000009", None)],  # a record whose metadata holds no article
    [("1000003", pmc_article(None, issn="0000-0000")),  # no pmc article-id: the OAI identifier names it
     ("1000004", pmc_article("PMC1000004", licence="cc0-ref"))],
]


def pmc_page(records, token: str | None, size: int) -> bytes:
    items = "".join(f"<record><header><identifier>oai:pubmedcentral.nih.gov:{n}</identifier><datestamp>2025-02-01</datestamp>"
                    f"<setSpec>pmc-open</setSpec></header><metadata>{article or '<other/>'}</metadata></record>" for n, article in records)
    deleted = '<record><header status="deleted"><identifier>oai:pubmedcentral.nih.gov:1000099</identifier></header></record>'
    resumption = f'<resumptionToken completeListSize="{size}">{token}</resumptionToken>' if token else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
            f'<ListRecords>{items}{deleted}{resumption}</ListRecords></OAI-PMH>').encode()


def optimade_entries() -> list[dict]:
    from pymatgen.io.cif import CifParser

    rows = pl.read_csv(SAMPLES / "crystals" / "mp_20" / "test.csv").head(5)
    out = []
    for material_id, cif in zip(rows["material_id"], rows["cif"]):
        s = CifParser.from_str(cif).parse_structures(primitive=False)[0]
        symbols = [site.specie.symbol for site in s]
        out.append({"id": material_id, "type": "structures", "attributes": {
            "lattice_vectors": s.lattice.matrix.tolist(), "cartesian_site_positions": s.cart_coords.tolist(),
            "species_at_sites": symbols, "species": [{"name": e, "chemical_symbols": [e], "concentration": [1.0]} for e in sorted(set(symbols))],
            "chemical_formula_reduced": s.composition.reduced_formula, "nsites": len(s)}})
    return out


def mp_records() -> list[dict]:
    """The OPTIMADE entries with their pymatgen structure, as Materials Project's summary endpoint gives it."""
    from pymatgen.io.cif import CifParser

    rows = pl.read_csv(SAMPLES / "crystals" / "mp_20" / "test.csv").head(5)
    out = optimade_entries()
    for entry, cif in zip(out, rows["cif"]):
        entry["_structure"] = CifParser.from_str(cif).parse_structures(primitive=False)[0].as_dict()
    return out


class Faults(BaseHTTPRequestHandler):
    """Routes with scripted faults; `self.server.state` counts calls so a fault can fire once."""

    def log_message(self, *args):
        pass

    def _send(self, status: int, body: bytes, headers: dict | None = None, declared: int | None = None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(declared if declared is not None else len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        state = self.server.state
        url = urlparse(self.path)
        query = parse_qs(url.query)
        state["calls"].append(self.path)
        state["auth"].append(self.headers.get("Authorization"))
        state["agents"].append(self.headers.get("User-Agent", ""))
        key = url.path
        state["seen"][key] = state["seen"].get(key, 0) + 1
        if state.get("always_429"):
            return self._send(429, b"slow down", {"Retry-After": "86400"})
        if url.path == "/oai":
            if state["seen"][key] == 1:
                return self._send(503, b"busy", {"Retry-After": "1"})  # arXiv's usual first answer under load
            if "resumptionToken" in query:
                return self._send(200, oai_page(RECORDS[1], None, 7), {"Content-Type": "text/xml"})
            return self._send(200, oai_page(RECORDS[0], "tok1", 7), {"Content-Type": "text/xml"})
        if url.path == "/pmc/oai/oai.cgi":  # the documented address moved: a redirect to the new one, query kept
            return self._send(301, b"", {"Location": f"/api/oai/v1/mh/?{url.query}"})
        if url.path == "/api/oai/v1/mh/":
            assert query.get("metadataPrefix") == ["pmc"] or "resumptionToken" in query
            if state["seen"][key] == 1:
                return self._send(503, b"busy", {"Retry-After": "1"})
            if "resumptionToken" in query:
                return self._send(200, pmc_page(PMC_RECORDS[1], None, 5), {"Content-Type": "text/xml"})
            assert query["set"] == ["pmc-open"] and query["from"] == ["2025-01-01"]
            return self._send(200, pmc_page(PMC_RECORDS[0], "p2", 5), {"Content-Type": "text/xml"})
        if url.path.startswith("/e-print/"):
            arxiv_id = url.path[len("/e-print/"):]
            if state.get("slow"):
                time.sleep(state["slow"])  # room for a kill to land mid-fetch
            if arxiv_id == "2401.00005":
                return self._send(200, b"<!DOCTYPE html><html><body>Access denied</body></html>", {"Content-Type": "text/html"})
            if arxiv_id == "2401.00006":
                return self._send(404, b"not found")
            if arxiv_id == "2401.00007" and state["seen"][key] == 1:
                return self._send(200, SOURCE[: len(SOURCE) // 2], declared=len(SOURCE))  # cut off mid-body
            if arxiv_id == "2401.00003":  # a single gzipped .tex, not a tar
                return self._send(200, gzip.compress(b"\\documentclass{article}\\begin{document}Hello.\\end{document}", mtime=0))
            return self._send(200, SOURCE)
        if url.path == "/v1/structures":
            entries = optimade_entries()
            if state["seen"][key] == 1:
                return self._send(429, b"{}", {"Retry-After": "1"})
            start = int(query.get("page_offset", ["0"])[0])
            page = entries[start : start + 3]
            nxt = f"http://127.0.0.1:{self.server.server_address[1]}/v1/structures?page_offset={start + 3}" if start + 3 < len(entries) else None
            body = {"data": page, "meta": {"data_returned": len(entries)}, "links": {"next": nxt}}
            return self._send(200, json.dumps(body).encode(), {"Content-Type": "application/vnd.api+json"})
        if url.path == "/journals":
            titles = {"journal of alloys and compounds": [("Journal of Alloys and Compounds", "0925-8388")],
                      "materials today": [("Materials Today", "1369-7021"), ("Materials Today", "1873-4103")]}
            found = titles.get(query.get("query", [""])[0].lower(), [("Journal of Something Else", "1111-2222")])
            items = [{"title": t, "ISSN": [i], "publisher": "Elsevier BV"} for t, i in found]
            return self._send(200, json.dumps({"status": "ok", "message": {"items": items}}).encode())
        if url.path == "/journals/0925-8388/works":
            if state["seen"][key] == 1:
                return self._send(500, b"oops")
            assert query.get("mailto") == ["curator@example.org"]
            assert "from-pub-date:2020-01-01" in query["filter"][0]
            pages = {"*": (["0001", "0002"], "c2"), "c2": (["0003"], "c3"), "c3": ([], "c4")}
            numbers, nxt = pages[query["cursor"][0]]
            works = [{"DOI": f"10.1016/J.JALLCOM.2020.{n}", "title": [f"Alloy {n}"], "container-title": ["Journal of Alloys and Compounds"],
                      "type": "journal-article", "license": [{"URL": "http://www.elsevier.com/tdm/userlicense/1.0/", "content-version": "tdm"},
                                                             {"URL": "http://creativecommons.org/licenses/by/4.0/", "content-version": "vor"}]}
                     for n in numbers]
            return self._send(200, json.dumps({"status": "ok", "message": {"items": works, "next-cursor": nxt, "total-results": 3}}).encode())
        if url.path == "/openaccess/jats":
            state["springer_keys"].append(query.get("api_key", [None])[0])
            if query["q"][0] == "doi:10.1186/s11671-021-03631-x":
                return self._send(200, SPRINGER.replace(b"<apiKey>REDACTED</apiKey>", f"<apiKey>{query['api_key'][0]}</apiKey>".encode()))
            if query["q"][0] == "doi:10.1007/boom":
                return self._send(401, b"<response><error>Invalid api key " + query["api_key"][0].encode() + b"</error></response>")
            return self._send(200, b'<?xml version="1.0"?><response><result><total>0</total></result><records/></response>')
        if url.path == "/works":
            state["openalex_keys"].append(query.get("api_key", [None])[0])
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            def work(n, pdf):
                loc = {"pdf_url": f"{base}/pdf/W{n}.pdf", "license": "cc-by"} if pdf else None
                return {"id": f"https://openalex.org/W{n}", "doi": f"https://doi.org/10.1103/PhysRevX.{n}", "title": f"Work {n}",
                        "best_oa_location": loc, "primary_location": {"license": None, "source": {"display_name": "Physical Review X"}}}
            pages = {"*": ([work(1, True), work(2, False)], "c2"), "c2": ([work(3, True)], None)}
            results, nxt = pages[query["cursor"][0]]
            return self._send(200, json.dumps({"meta": {"count": 3, "next_cursor": nxt}, "results": results}).encode())
        if url.path.startswith("/pdf/"):
            return self._send(200, (SAMPLES / "papers" / "pdf" / "PhysRevX.8.041024-CC.pdf").read_bytes(), {"Content-Type": "application/pdf"})
        if url.path == "/cod/result":
            assert query["format"] == ["json"] and query["el1"] == ["Ba"]
            rows = [{"file": "1507756", "formula": "- Ba O3 Ti -"}, {"file": "9999999", "formula": "- X -"}, {"file": "1507756"}]
            return self._send(200, json.dumps(rows).encode())
        if url.path == "/cod/1507756.cif":
            return self._send(200, (Path(__file__).parent / "fixtures" / "cod" / "BaTiO3_cubic.cif").read_bytes())
        if url.path == "/cod/9999999.cif":
            return self._send(200, b"<html><body>No such entry</body></html>")
        if url.path == "/materials/summary/":
            state["mp_keys"].append(self.headers.get("X-API-KEY"))
            records = [{"material_id": e["id"], "structure": e["_structure"], "formula_pretty": e["attributes"]["chemical_formula_reduced"],
                        "band_gap": 1.5, "formation_energy_per_atom": -1.0} for e in mp_records()]
            skip, limit = int(query["_skip"][0]), int(query["_limit"][0])
            assert query["_fields"][0].startswith("material_id,structure,") and query["nsites_max"] == ["20"]
            return self._send(200, json.dumps({"data": records[skip : skip + limit], "meta": {"total_doc": len(records)}}).encode())
        if url.path.startswith("/content/article/doi/"):
            state["elsevier_keys"].append(self.headers.get("X-ELS-APIKey"))
            if url.path.endswith("0002"):
                return self._send(200, b'<service-error><status><statusCode>RESOURCE_NOT_FOUND</statusCode></status></service-error>')
            return self._send(200, ELSEVIER, {"Content-Type": "text/xml"})
        return self._send(404, b"")


@contextmanager
def serving(handler, state: dict):
    """A handler's server on 127.0.0.1, its `state` shared with the test; bounded: it stops itself after two minutes."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.state = state
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    stopper = threading.Timer(120, httpd.shutdown)  # bounded: stops itself even if a test hangs
    stopper.daemon = True
    stopper.start()
    try:
        yield httpd
    finally:
        stopper.cancel()
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server():
    with serving(Faults, {"calls": [], "auth": [], "agents": [], "seen": {}, "elsevier_keys": [], "springer_keys": [], "mp_keys": [],
                          "openalex_keys": []}) as httpd:
        yield httpd


def write_manifest(tmp_path: Path, url: str, **arxiv) -> Path:
    data = {"name": "t", "output_dir": "out", "contact": "curator@example.org", "jobs": [
        {"name": "arxiv", "service": "arxiv", "into": "arxiv", "endpoint": f"{url}/oai", "files_endpoint": url,
         "categories": ["cond-mat.mtrl-sci", "cond-mat.supr-con"], "limits": FAST, **arxiv},
        {"name": "crystals", "service": "optimade", "into": "crystals", "endpoint": f"{url}/v1", "filter": 'nelements>=1',
         "page_limit": 3, "licence": "CC-BY-4.0", "limits": FAST},
    ]}
    path = tmp_path / "fetch.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def final_state(root: Path) -> tuple[dict, dict]:
    """What a fetch leaves: every file's bytes, and per item the last ledger row without its time and status kind."""
    files = {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
             if p.is_file() and p.name not in ("fetch_ledger.jsonl", "fetch_summary.json", ".fetch.lock")}
    last = {}
    for line in (root / "fetch_ledger.jsonl").read_text().splitlines():
        row = json.loads(line)
        last[(row["job"], row["item"])] = {k: row[k] for k in ("path", "bytes", "sha256", "licence", "doi") if row["status"] != "failed"} or {"failed": row["reason"]}
    return files, last


def test_fetch_with_faults_accounts_for_every_item(tmp_path, server):
    url = f"http://127.0.0.1:{server.server_address[1]}"
    summary = fetch(load_fetch_manifest(write_manifest(tmp_path, url)))
    arxiv = summary["arxiv"]
    # 6 records in the wanted categories (hep-th and the deleted record are not requested)
    assert arxiv["requested"] == 6 == arxiv["fetched"] + arxiv["skipped"] + arxiv["failed"]
    assert arxiv["fetched"] == 4 and arxiv["failed_by_reason"] == {"html_error_page": 1, "http_404": 1}
    root = tmp_path / "out"
    assert sorted(p.name for p in (root / "arxiv").glob("*.gz")) == ["2401.00001.tar.gz", "2401.00003.tex.gz", "2401.00007.tar.gz",
                                                                     file_name("cond-mat/0102536", ".tar.gz")]
    assert (root / "arxiv" / "2401.00007.tar.gz").read_bytes() == SOURCE  # the truncated answer was retried, not kept
    assert not list(root.rglob("*.partial"))
    meta = json.loads((root / "arxiv" / "2401.00001.tar.gz.meta.json").read_text())
    assert meta["licence"] == "http://creativecommons.org/licenses/by/4.0/" and meta["categories"] == ["cond-mat.mtrl-sci"]
    crystals = summary["crystals"]
    assert crystals["requested"] == crystals["fetched"] == 5 and crystals["failed"] == 0  # after a 429 with Retry-After
    from pymatgen.core import Structure

    for cif in (root / "crystals").glob("*.cif"):
        assert Structure.from_file(cif).composition.reduced_formula == json.loads(Path(f"{cif}.meta.json").read_text())["formula"]
    assert all(json.loads(Path(f"{c}.meta.json").read_text())["licence"] == "CC-BY-4.0" for c in (root / "crystals").glob("*.cif"))
    assert all("mailto:curator@example.org" in agent for agent in server.state["agents"])  # the polite pools' contact
    report = (root / "fetch_report.md").read_text()
    assert "| arxiv | arxiv | 4 | 2 |" in report and "| http://creativecommons.org/licenses/by/4.0/ | 1 |" in report
    assert "| CC-BY-4.0 | 5 |" in report and "| arxiv | html_error_page | 1 |" in report
    # the fetched arXiv sources are what the latex reader reads
    from corpus.extract import extract

    docs = [d for _, d in extract([str(root / "arxiv")], "latex") if hasattr(d, "text")]
    assert len(docs) == 4 and sorted(len(d.text) > 1000 for d in docs) == [False, True, True, True]  # "Hello." is short


def fetched_whole_and_to_cut(tmp_path: Path, server) -> tuple[Path, Path]:
    """An uninterrupted fetch's output folder, and the manifest of a second one to interrupt (its own folder)."""
    url = f"http://127.0.0.1:{server.server_address[1]}"
    (tmp_path / "whole").mkdir()
    fetch(load_fetch_manifest(write_manifest(tmp_path / "whole", url)))
    (tmp_path / "cut").mkdir()
    return tmp_path / "whole" / "out", write_manifest(tmp_path / "cut", url)


def test_a_rerun_after_an_interrupted_fetch_equals_an_uninterrupted_one(tmp_path, server):
    whole, path = fetched_whole_and_to_cut(tmp_path, server)
    cut = path.parent
    manifest = load_fetch_manifest(path)
    first = fetch(manifest, limit=2)  # stopped early, as a kill would
    (cut / "out" / "arxiv" / "stray.gz.partial").write_bytes(b"half")  # what a kill mid-download leaves
    second = fetch(manifest)
    assert first["arxiv"]["fetched"] == 2 and second["arxiv"]["skipped"] == 2 and second["arxiv"]["fetched"] == 2
    files_whole, rows_whole = final_state(whole)
    files_cut, rows_cut = final_state(cut / "out")
    assert "arxiv/stray.gz.partial" not in files_cut  # the rerun cleared what the kill left
    assert files_cut == files_whole and rows_cut == rows_whole
    third = fetch(manifest)  # nothing left to do: nothing downloaded again
    assert third["arxiv"]["fetched"] == 0 and third["arxiv"]["skipped"] == 4 and third["crystals"]["skipped"] == 5


@pytest.mark.slow
def test_a_killed_fetch_process_resumes_to_the_same_result(tmp_path, server):
    import os
    import signal
    import subprocess
    import sys

    whole, path = fetched_whole_and_to_cut(tmp_path, server)
    cut = path.parent
    server.state["slow"] = 0.4
    process = subprocess.Popen([sys.executable, "-m", "corpus", "fetch", str(path)], cwd=cut, stderr=subprocess.DEVNULL)
    ledger = cut / "out" / "fetch_ledger.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not ledger.exists() or ledger.read_text().count('"fetched"') < 2):
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)  # mid-fetch: two items done, one in flight
    process.wait()
    killed_at = ledger.read_text().count("\n")
    server.state["slow"] = 0
    fetch(load_fetch_manifest(path))
    files_whole, rows_whole = final_state(whole)
    files_cut, rows_cut = final_state(cut / "out")
    assert 2 <= killed_at and files_cut == files_whole and rows_cut == rows_whole


def test_a_quota_stops_the_job_cleanly(tmp_path, server):
    server.state["always_429"] = True
    url = f"http://127.0.0.1:{server.server_address[1]}"
    summary = fetch(load_fetch_manifest(write_manifest(tmp_path, url)))
    assert "quota" in summary["arxiv"]["stopped"] and "quota" in summary["crystals"]["stopped"]
    assert summary["arxiv"]["requested"] == 0 and "listing_error" not in summary["arxiv"]
    assert corpus(["fetch", str(write_manifest(tmp_path, url))]) == 3  # a quota's own exit code: rerun later to resume


def test_dry_run_says_what_would_be_fetched_and_writes_nothing(tmp_path, server, capsys):
    url = f"http://127.0.0.1:{server.server_address[1]}"
    assert corpus(["fetch", str(write_manifest(tmp_path, url)), "--dry-run", "--limit", "3"]) == 0
    err = capsys.readouterr().err
    assert "arxiv: arxiv at" in err and "7 items available, at most 3 fetched" in err and "5 items available" in err
    # the plan of every job comes before any count (before any request)
    assert err.index("crystals: optimade at") < err.index("arxiv: 7 items available")
    assert not (tmp_path / "out").exists()


def test_credentials_come_from_the_environment_and_stay_out_of_the_ledger(tmp_path, server, monkeypatch):
    url = f"http://127.0.0.1:{server.server_address[1]}"
    path = write_manifest(tmp_path, url)
    data = yaml.safe_load(path.read_text())
    data["jobs"][1]["api_key_env"] = "TEST_OPTIMADE_KEY"
    path.write_text(yaml.safe_dump(data))
    summary = fetch(load_fetch_manifest(path), only=["crystals"])
    assert "TEST_OPTIMADE_KEY is not set" in summary["crystals"]["error"]
    monkeypatch.setenv("TEST_OPTIMADE_KEY", "s3cret-token")
    summary = fetch(load_fetch_manifest(path), only=["crystals"])
    assert summary["crystals"]["fetched"] == 5 and "Bearer s3cret-token" in server.state["auth"]
    for f in (tmp_path / "out").rglob("*"):
        if f.is_file():
            assert b"s3cret-token" not in f.read_bytes(), f


def test_bad_manifests_fail_before_any_request_naming_the_field(tmp_path, capsys):
    bad = {"name": "t", "output_dir": "out", "jobs": [{"name": "x", "service": "ftp", "into": "x"}]}
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(FetchError, match="jobs"):
        load_fetch_manifest(tmp_path / "a.yaml")
    bad["jobs"] = [{"name": "x", "service": "optimade", "into": "x", "endpoint": "http://127.0.0.1:9/v1"}]
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(bad))
    assert corpus(["fetch", str(tmp_path / "b.yaml")]) == 2
    assert "filter" in capsys.readouterr().err
    assert corpus(["fetch", str(tmp_path / "missing.yaml")]) == 2
    bad["jobs"] = [{"name": "x", "service": "cod", "into": "../../elsewhere", "ids": [1]}]
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(FetchError, match=r"jobs\.0\.cod\.into|into"):
        load_fetch_manifest(tmp_path / "c.yaml")


def test_crossref_journals_then_elsevier_full_text(tmp_path, server, monkeypatch, capsys):
    url = f"http://127.0.0.1:{server.server_address[1]}"
    data = {"name": "t", "output_dir": "out", "contact": "curator@example.org", "jobs": [
        {"name": "dois", "service": "crossref", "into": "crossref", "endpoint": url, "from_date": "2020-01-01", "limits": FAST,
         "journals": ["Journal of Alloys and Compounds", "Materials Today", "Unknown Journal"]},
        {"name": "fulltext", "service": "elsevier", "into": "elsevier", "endpoint": url, "dois_from": "crossref",
         "api_key_env": "TEST_ELS_KEY", "limits": FAST}]}
    path = tmp_path / "f.yaml"
    path.write_text(yaml.safe_dump(data))
    # a dry run explains both jobs without the key (the DOIs do not exist yet)
    assert corpus(["fetch", str(path), "--dry-run"]) == 0
    assert "TEST_ELS_KEY is not set" in capsys.readouterr().err
    monkeypatch.setenv("TEST_ELS_KEY", "els-s3cret")
    summary = fetch(load_fetch_manifest(path))
    assert summary["dois"]["requested"] == 3 and summary["dois"]["fetched"] == 1
    assert summary["dois"]["failed_by_reason"] == {"ambiguous_journal": 1, "unmatched_journal": 1}
    root = tmp_path / "out"
    works = [json.loads(x) for x in (root / "crossref" / "0925-8388.jsonl").read_text().splitlines()]
    assert [w["doi"] for w in works] == ["10.1016/j.jallcom.2020.0001", "10.1016/j.jallcom.2020.0002", "10.1016/j.jallcom.2020.0003"]
    assert {w["licence"] for w in works} == {"http://creativecommons.org/licenses/by/4.0/"}  # the version of record's
    full = summary["fulltext"]
    assert full["requested"] == 3 and full["fetched"] == 2 and full["failed_by_reason"] == {"service_error": 1}
    assert set(server.state["elsevier_keys"]) == {"els-s3cret"}
    assert not (root / "elsevier" / file_name("10.1016/j.jallcom.2020.0002", ".xml")).exists()
    meta = json.loads((root / "elsevier" / file_name("10.1016/j.jallcom.2020.0001", ".xml.meta.json")).read_text())
    assert meta["licence"] == "http://creativecommons.org/licenses/by/4.0/" and meta["doi"] == "10.1016/j.jallcom.2020.0001"
    assert meta["journal"] == "Journal of Alloys and Compounds"  # from the Crossref row, for the reports' journal tables
    assert "| fulltext | Journal of Alloys and Compounds | 2 |" in (root / "fetch_report.md").read_text()
    for f in root.rglob("*"):
        if f.is_file():
            assert b"els-s3cret" not in f.read_bytes(), f
    from corpus.extract import extract

    docs = [d for _, d in extract([str(root / "elsevier")], "elsevier") if hasattr(d, "text")]
    assert len(docs) == 2 and all(len(d.text) > 200 for d in docs)


def test_springer_open_access_jats_without_its_key_anywhere(tmp_path, server, monkeypatch):
    url = f"http://127.0.0.1:{server.server_address[1]}"
    (tmp_path / "dois.txt").write_text("# DOIs\n10.1186/s11671-021-03631-x\n10.1007/not-open\n10.1007/boom\n10.1186/S11671-021-03631-X\n")
    data = {"name": "t", "output_dir": "out", "jobs": [
        {"name": "oa", "service": "springer", "into": "springer", "endpoint": url, "dois_from": str(tmp_path / "dois.txt"),
         "api_key_env": "TEST_SPRINGER_KEY", "limits": FAST}]}
    (tmp_path / "f.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("TEST_SPRINGER_KEY", "spr-s3cret")
    summary = fetch(load_fetch_manifest(tmp_path / "f.yaml"))["oa"]
    # the same DOI in another case is one item; a DOI without an open-access record and a refused one are failures
    assert summary["requested"] == 3 and summary["fetched"] == 1
    assert summary["failed_by_reason"] == {"http_401": 1, "no_open_access_record": 1}
    assert set(server.state["springer_keys"]) == {"spr-s3cret"}
    root = tmp_path / "out"
    saved = (root / "springer" / file_name("10.1186/s11671-021-03631-x", ".xml")).read_bytes()
    assert b"<apiKey>REDACTED</apiKey>" in saved
    for f in root.rglob("*"):
        if f.is_file():
            assert b"spr-s3cret" not in f.read_bytes(), f
    from corpus.extract import extract

    docs = [d for _, d in extract([str(root / "springer")], "jats") if hasattr(d, "text")]
    assert len(docs) == 1 and len(docs[0].text) > 5000


def test_materials_project_structures_with_properties(tmp_path, server, monkeypatch):
    url = f"http://127.0.0.1:{server.server_address[1]}"
    data = {"name": "t", "output_dir": "out", "jobs": [
        {"name": "mp", "service": "materials_project", "into": "mp", "endpoint": url, "query": {"nsites_max": 20}, "page_size": 2,
         "api_key_env": "TEST_MP_KEY", "limits": FAST}]}
    (tmp_path / "f.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("TEST_MP_KEY", "mp-s3cret")
    summary = fetch(load_fetch_manifest(tmp_path / "f.yaml"))["mp"]
    assert summary["requested"] == summary["fetched"] == 5 and set(server.state["mp_keys"]) == {"mp-s3cret"}
    from corpus.extract import extract

    docs = [d for _, d in extract([str(tmp_path / "out" / "mp")], "crystal_json") if hasattr(d, "text")]
    assert len(docs) == 5 and all(d.metadata.get("licence") == "CC-BY-4.0" for d in docs)
    assert all(d.metadata["properties"]["band_gap"] == 1.5 and d.metadata["crystal_id"].startswith("mp-") for d in docs)


def test_cod_by_search_and_id(tmp_path, server):
    url = f"http://127.0.0.1:{server.server_address[1]}"
    data = {"name": "t", "output_dir": "out", "jobs": [
        {"name": "cod", "service": "cod", "into": "cod", "endpoint": f"{url}/cod", "search": {"el1": "Ba", "nel1": 3},
         "ids": ["abc"], "limits": FAST}]}
    (tmp_path / "f.yaml").write_text(yaml.safe_dump(data))
    summary = fetch(load_fetch_manifest(tmp_path / "f.yaml"))["cod"]
    # a bad id, an entry whose CIF is an HTML page, and one CIF (listed twice, fetched once)
    assert summary["requested"] == 3 and summary["fetched"] == 1
    assert summary["failed_by_reason"] == {"bad_id": 1, "html_error_page": 1}
    from corpus.extract import extract

    docs = [d for _, d in extract([str(tmp_path / "out" / "cod")], "cif") if hasattr(d, "text")]
    assert len(docs) == 1 and docs[0].metadata["formula"] == "BaTiO3" and docs[0].metadata["licence"] == "CC0-1.0"


def test_openalex_works_to_open_access_pdfs(tmp_path, server, monkeypatch):
    url = f"http://127.0.0.1:{server.server_address[1]}"
    data = {"name": "t", "output_dir": "out", "contact": "curator@example.org", "jobs": [
        {"name": "oa", "service": "openalex", "into": "openalex", "endpoint": url, "files": "pdf", "per_page": 2,
         "filter": "primary_location.source.issn:2160-3308,open_access.is_oa:true", "api_key_env": "TEST_OA_KEY", "limits": FAST}]}
    (tmp_path / "f.yaml").write_text(yaml.safe_dump(data))
    assert "TEST_OA_KEY is not set" in fetch(load_fetch_manifest(tmp_path / "f.yaml"))["oa"]["error"]
    monkeypatch.setenv("TEST_OA_KEY", "oa-s3cret")
    summary = fetch(load_fetch_manifest(tmp_path / "f.yaml"))["oa"]
    assert summary["requested"] == 3 and summary["fetched"] == 2 and summary["failed_by_reason"] == {"no_oa_pdf": 1}
    assert set(server.state["openalex_keys"]) == {"oa-s3cret"}
    root = tmp_path / "out"
    for f in root.rglob("*"):
        if f.is_file() and f.suffix != ".pdf":
            assert b"oa-s3cret" not in f.read_bytes(), f
    from corpus.extract import extract

    docs = [d for _, d in extract([str(root / "openalex")], "pdf") if hasattr(d, "text")]
    assert len(docs) == 2 and all(d.metadata["licence"] == "cc-by" and d.metadata["doi"].startswith("10.1103/") for d in docs)


def test_pmc_open_access_by_licence_and_journal(tmp_path, server, capsys):
    url = f"http://127.0.0.1:{server.server_address[1]}"
    pmc = {"service": "pmc", "endpoint": f"{url}/pmc/oai/oai.cgi", "from_date": "2025-01-01", "limits": FAST}
    data = {"name": "t", "output_dir": "out", "jobs": [
        {"name": "pmc_commercial", "into": "pmc/commercial", "licence": "commercial", **pmc},
        {"name": "pmc_journal", "into": "pmc/journal", "issns": ["1556276x"], **pmc}]}
    (tmp_path / "fetch.yaml").write_text(yaml.safe_dump(data))
    assert corpus(["fetch", str(tmp_path / "fetch.yaml"), "--dry-run"]) == 0
    assert "5 items available" in capsys.readouterr().err
    summary = fetch(load_fetch_manifest(tmp_path / "fetch.yaml"))
    root = tmp_path / "out"
    # commercial: CC BY and CC0 only (the CC BY-NC article is not requested); journal: that ISSN, any licence
    assert summary["pmc_commercial"]["requested"] == summary["pmc_commercial"]["fetched"] == 3
    assert summary["pmc_journal"]["requested"] == summary["pmc_journal"]["fetched"] == 3
    assert sorted(p.name for p in (root / "pmc" / "commercial").glob("*.xml")) == ["PMC1000001.xml", "PMC1000003.xml", "PMC1000004.xml"]
    assert sorted(p.name for p in (root / "pmc" / "journal").glob("*.xml")) == ["PMC1000001.xml", "PMC1000002.xml", "PMC1000004.xml"]
    meta = json.loads((root / "pmc" / "commercial" / "PMC1000004.xml.meta.json").read_text())
    assert meta["licence"] == "https://creativecommons.org/publicdomain/zero/1.0/" and meta["doi"] == "10.1186/s11671-021-03631-x"
    from corpus.extract import extract

    docs = {d.metadata["file_path"]: d for _, d in extract([str(root / "pmc" / "journal")], "jats") if hasattr(d, "text")}
    assert len(docs) == 3 and all(len(d.text) > 5000 for d in docs.values())  # the namespaced article reads like the others
    licences = sorted(d.metadata.get("licence") for d in docs.values())
    assert licences == ["CC BY 4.0", "CC BY-NC 4.0", "CC0 1.0"]
    # a rerun fetches nothing again
    again = fetch(load_fetch_manifest(tmp_path / "fetch.yaml"))
    assert again["pmc_commercial"]["skipped"] == 3 and again["pmc_commercial"]["fetched"] == 0


@settings(max_examples=100, deadline=None)
@given(pmcid=st.text(max_size=12), identifier=st.text(max_size=30), licence=st.text(max_size=60), issn=st.text(max_size=12))
def test_any_pmc_record_is_an_item_or_left_out(pmcid, identifier, licence, issn):
    from xml.sax.saxutils import escape

    from corpus.fetch.manifest import PmcJob
    from corpus.fetch.pmc import PmcService

    article = (f'<article><front><journal-meta><issn>{escape(issn)}</issn></journal-meta><article-meta>'
               f'<article-id pub-id-type="pmc">{escape(pmcid)}</article-id><permissions><license xlink:href="{escape(licence, {chr(34): "&quot;"})}" '
               f'xmlns:xlink="http://www.w3.org/1999/xlink"/></permissions></article-meta></front><body><p>Text.</p></body></article>')
    page = (f'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords><record><header><identifier>{escape(identifier)}'
            f'</identifier></header><metadata>{article}</metadata></record></ListRecords></OAI-PMH>').encode()

    class Canned:
        requests = 0

        def get_bytes(self, url, params=None, max_bytes=None):
            return page

    for licence_filter in ("any", "commercial"):
        try:
            items = list(PmcService(PmcJob(name="p", service="pmc", into="p", licence=licence_filter), Canned()).discover())
        except Exception as e:  # noqa: BLE001 - only a FetchFailed (an unusable page) may come out
            from corpus.fetch.http import FetchFailed

            assert isinstance(e, FetchFailed)
            continue
        assert len(items) <= 1
        for item in items:
            assert re.fullmatch(r"PMC\d+\.xml", item.filename) and item.content.startswith(b"<?xml")


def test_the_bundled_recipes_validate():
    root = Path(__file__).resolve().parent.parent / "manifests"
    assert {j.service for j in load_fetch_manifest(root / "open_fetch.yaml").jobs} == {"arxiv", "pmc", "optimade"}
    llamat = load_fetch_manifest(root / "llamat_fetch.yaml")
    assert {j.service for j in llamat.jobs} == {"crossref", "elsevier", "springer", "optimade", "gnome", "cod"}
    from corpus.fetch.crossref import CrossrefService

    journals = {job.name: CrossrefService(job, client=None)._journals() for job in llamat.jobs if job.service == "crossref"}
    assert (len(journals["elsevier_dois"]), len(journals["springer_dois"])) == (467, 338)  # LLaMat's 805 journals
    assert "Journal of Alloys and Compounds" in journals["elsevier_dois"]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_any_listing_page_is_read_or_failed_with_a_reason(body):
    # whatever a server answers, the OAI-PMH and OPTIMADE readers return items or raise FetchFailed, never anything else
    from corpus.fetch.arxiv import ArxivService
    from corpus.fetch.http import FetchFailed
    from corpus.fetch.manifest import ArxivJob, OptimadeJob
    from corpus.fetch.optimade import OptimadeService

    class Canned:
        requests = 0

        def get_bytes(self, url, params=None, max_bytes=None):
            return body

    from corpus.fetch.cod import CodService
    from corpus.fetch.crossref import CrossrefService
    from corpus.fetch.manifest import CodJob, CrossrefJob, MaterialsProjectJob, OpenAlexJob
    from corpus.fetch.openalex import OpenAlexService
    from corpus.fetch.materials_project import MaterialsProjectService

    from corpus.fetch.manifest import PmcJob
    from corpus.fetch.pmc import PmcService

    for service in (ArxivService(ArxivJob(name="a", service="arxiv", into="a"), Canned()),
                    PmcService(PmcJob(name="p", service="pmc", into="p"), Canned()),
                    OptimadeService(OptimadeJob(name="o", service="optimade", into="o", endpoint="http://127.0.0.1:9/v1", filter="x"), Canned()),
                    CrossrefService(CrossrefJob(name="c", service="crossref", into="c", journals=["Acta Materialia"], issns=["1359-6454"]), Canned()),
                    MaterialsProjectService(MaterialsProjectJob(name="m", service="materials_project", into="m"), Canned()),
                    CodService(CodJob(name="d", service="cod", into="d", search={"el1": "Ba"}), Canned()),
                    OpenAlexService(OpenAlexJob(name="x", service="openalex", into="x", filter="is_oa:true", files="pdf"), Canned())):
        try:
            items = []
            for item in service.discover():
                items.append(item)
                if len(items) > 50:
                    break
        except FetchFailed:
            pass


@given(st.one_of(st.none(), st.text(max_size=40), st.integers(0, 10**6).map(str)))
def test_retry_after_is_seconds_or_none(value):
    from corpus.fetch.http import retry_after_seconds

    wait = retry_after_seconds(value)
    assert wait is None or wait >= 0


@pytest.mark.slow
def test_a_fetched_folder_builds_and_its_licences_reach_the_provenance(tmp_path, server):
    from conftest import base_manifest, write_manifest as write_build_manifest
    from corpus.shards.format import provenance_path, shard_files

    url = f"http://127.0.0.1:{server.server_address[1]}"
    fetch(load_fetch_manifest(write_manifest(tmp_path, url)))
    fetched = tmp_path / "out"
    build = base_manifest()
    build["output_dir"] = str(tmp_path / "build")
    build["sources"] = [{"name": "arxiv", "reader": "latex", "paths": [str(fetched / "arxiv")]},
                        {"name": "crystals", "reader": "cif", "paths": [str(fetched / "crystals")]}]
    build["components"] = [{"name": "papers", "sources": ["arxiv"]}, {"name": "crystals", "sources": ["crystals"]}]
    assert corpus(["build", str(write_build_manifest(tmp_path / "m", build))]) == 0
    summary = json.loads((tmp_path / "build" / "summary.json").read_text())
    assert summary["inputs"] == 4 + 5  # the side-cars are not inputs
    licences = {}
    for component in ("papers", "crystals"):
        for ds in shard_files(str(tmp_path / "build" / "shards" / component)):
            prov = pl.read_parquet(provenance_path(ds))
            licences.update(dict(zip(prov["record"], prov["licence"])))
    assert licences, "nothing was built"
    by_file = {record.split(":", 1)[1].split("#")[0]: licence for record, licence in licences.items()}
    assert by_file.get("2401.00001.tar.gz") == "http://creativecommons.org/licenses/by/4.0/"
    assert {v for k, v in by_file.items() if k.endswith(".cif")} == {"CC-BY-4.0"}


def test_a_job_that_sets_some_limits_keeps_its_services_polite_rate(tmp_path):
    data = {"name": "t", "output_dir": "out", "jobs": [
        {"name": "a", "service": "arxiv", "into": "a", "limits": {"retries": 2}},
        {"name": "b", "service": "arxiv", "into": "b", "limits": {"per_second": 0.1}},
        {"name": "c", "service": "elsevier", "into": "c", "dois_from": "x"}]}
    (tmp_path / "f.yaml").write_text(yaml.safe_dump(data))
    jobs = load_fetch_manifest(tmp_path / "f.yaml").jobs
    assert [round(j.limits.per_second, 3) for j in jobs] == [0.333, 0.1, 5.0] and jobs[0].limits.retries == 2


def test_an_arxiv_listing_without_files_writes_each_record(tmp_path, server):
    # `files: none`: the OAI records themselves (ids, categories, licences), e.g. the paper list of an arxiv_bulk job
    url = f"http://127.0.0.1:{server.server_address[1]}"
    summary = fetch(load_fetch_manifest(write_manifest(tmp_path, url, files="none")), only=["arxiv"])["arxiv"]
    assert summary["requested"] == summary["fetched"] == 6 and not any("/e-print/" in c for c in server.state["calls"])
    record = json.loads((tmp_path / "out" / "arxiv" / "2401.00001.json").read_text())
    assert record["licence"] == "http://creativecommons.org/licenses/by/4.0/" and record["categories"] == ["cond-mat.mtrl-sci"]
    assert json.loads((tmp_path / "out" / "arxiv" / file_name("cond-mat/0102536", ".json")).read_text())["id"] == "cond-mat/0102536"


def test_a_side_car_gives_licence_and_journal_and_the_readers_own_metadata_wins(tmp_path):
    from corpus.records import SIDECAR_SUFFIX, sidecar_metadata

    paper = tmp_path / "W1.pdf"
    paper.write_bytes(b"%PDF-1.4")
    (tmp_path / ("W1.pdf" + SIDECAR_SUFFIX)).write_text(json.dumps(
        {"id": "W1", "service": "openalex", "licence": "cc-by", "journal": "Physical Review X", "title": "ignored"}))
    assert sidecar_metadata(str(paper)) == {"licence": "cc-by", "journal": "Physical Review X", "fetched_from": "openalex"}
