"""The GROBID path of the PDF reader, against a local server answering GROBID's REST endpoints with recorded TEI.

A real server: one of GROBID's official images (grobid/grobid on Docker Hub) on port 8070, then set
`options: {grobid_url: http://localhost:8070}` on a `reader: pdf` source.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLES, base_manifest, run_cli, write_manifest

pytestmark = pytest.mark.slow  # full builds, engines or training runs: `make test-fast` leaves them out

TEI = ROOT / "tests" / "fixtures" / "grobid" / "PhysRevX.8.041024-CC.superconductors.tei.xml"
PRX = SAMPLES / "papers" / "pdf" / "PhysRevX.8.041024-CC.pdf"


class FakeGrobid(BaseHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, *args):  # keep the test output clean
        pass

    def do_GET(self):
        FakeGrobid.requests.append(self.path)
        body = b"true" if self.path == "/api/isalive" else b"{}"
        self.send_response(200 if self.path in ("/api/isalive", "/api/health") else 404)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        FakeGrobid.requests.append(self.path)
        length = int(self.headers.get("Content-Length", 0))
        payload = self.rfile.read(length)
        if self.path != "/api/processFulltextDocument":
            self.send_response(404)
            self.end_headers()
            return
        if len(payload) > 1_000_000:  # the real paper: answer with its recorded TEI
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.end_headers()
            self.wfile.write(TEI.read_bytes())
        else:  # what GROBID says about a PDF it cannot parse
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"[BAD_INPUT_DATA] PDF to XML conversion failed")


@pytest.fixture
def grobid_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGrobid)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeGrobid.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _pdf_folder(tmp_path: Path) -> Path:
    import pymupdf

    folder = tmp_path / "pdfs"
    folder.mkdir()
    (folder / "paper.pdf").write_bytes(PRX.read_bytes())
    small = pymupdf.open()
    small.new_page().insert_text((72, 72), "A one-line PDF that the server refuses.")
    (folder / "refused.pdf").write_bytes(small.tobytes())
    return folder


def test_pdfs_go_through_grobid_when_the_manifest_names_a_server(tmp_path, grobid_url):
    data = base_manifest()
    data["sources"] = [{"name": "pdfs", "reader": "pdf", "paths": [str(_pdf_folder(tmp_path))], "options": {"grobid_url": grobid_url}}]
    data["components"] = [{"name": "papers", "sources": ["pdfs"]}]
    assert run_cli("build", write_manifest(tmp_path, data)) == 0
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["reconciled"] and s["kept"] == 1 and s["failed_by_reason"] == {"grobid_error": 1}
    assert "/api/isalive" in FakeGrobid.requests and FakeGrobid.requests.count("/api/processFulltextDocument") == 2
    docs = (tmp_path / "out" / "stats" / "documents.parquet")
    import polars as pl

    kept = pl.read_parquet(docs).filter(pl.col("status") == "kept")
    assert kept["chars"][0] > 20_000


def test_an_unreachable_grobid_server_fails_before_any_work(tmp_path, capsys):
    data = base_manifest()
    data["sources"] = [{"name": "pdfs", "reader": "pdf", "paths": [str(PRX)], "options": {"grobid_url": "http://127.0.0.1:9"}}]
    data["components"] = [{"name": "papers", "sources": ["pdfs"]}]
    assert run_cli("build", write_manifest(tmp_path, data)) == 2
    assert "no GROBID server answers at http://127.0.0.1:9" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
