"""`corpus fetch`'s arxiv_bulk job against a local S3 server (moto's, on 127.0.0.1, stopped after the test and by a
timer): arXiv's bulk layout (a manifest XML listing monthly tars of gzipped e-prints), requester pays, a month range,
a tar whose MD5 is not the manifest's, papers kept by an `arxiv` job's records, a rerun, and the latex reader on
the result."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import threading
from pathlib import Path

import pytest
import yaml

from conftest import SAMPLES, moto_s3
from corpus.cli import main as corpus
from corpus.fetch.names import file_name
from corpus.fetch.manifest import load_fetch_manifest
from corpus.fetch.run import fetch

pytest.importorskip("moto")

SOURCE = (SAMPLES / "papers" / "latex" / "msd-diffusion-revtex42.tar.gz").read_bytes()
SINGLE = gzip.compress(b"\\documentclass{article}\\begin{document}\\section{Results}The lattice constant of TiO$_2$ "
                       b"is 4.59 \\AA{} at room temperature, measured by X-ray diffraction.\\end{document}", mtime=0)
PDF = next((SAMPLES / "papers" / "pdf").glob("*.pdf")).read_bytes()


def _tar(members: dict[str, bytes], link: str | None = None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
        if link:  # a tar may hold links: never followed, never written
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
    return out.getvalue()


TARS = {
    "src/arXiv_src_2312_001.tar": _tar({"2312/2312.00001.gz": SOURCE}),  # before from_yymm
    "src/arXiv_src_2401_001.tar": _tar({"2401/2401.00001.gz": SOURCE, "2401/2401.00002.gz": SINGLE, "2401/2401.00003.pdf": PDF,
                                        "2401/cond-mat0102536.gz": SINGLE}, link="2401/2401.00009.gz"),
    "src/arXiv_src_2402_001.tar": _tar({"2402/2402.00001.gz": SOURCE}),  # its manifest MD5 is wrong
}


def _manifest() -> bytes:
    rows = []
    for name, data in TARS.items():
        md5 = hashlib.md5(data).hexdigest() if "2402" not in name else "0" * 32  # noqa: S324
        yymm = name.split("_")[2]
        rows.append(f"<file><filename>{name}</filename><md5sum>{md5}</md5sum><num_items>4</num_items><size>{len(data)}</size>"
                    f"<yymm>{yymm}</yymm><seq_num>1</seq_num></file>")
    return f'<?xml version="1.0" encoding="UTF-8"?><arXivSRC>{"".join(rows)}</arXivSRC>'.encode()


@pytest.fixture
def s3(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    import boto3

    with moto_s3() as url:
        client = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        client.create_bucket(Bucket="arxiv")
        client.put_object(Bucket="arxiv", Key="src/arXiv_src_manifest.xml", Body=_manifest())
        for key, data in TARS.items():
            client.put_object(Bucket="arxiv", Key=key, Body=data)
        yield url


def _write(tmp_path: Path, url: str, **job) -> Path:
    data = {"name": "bulk", "output_dir": "out", "jobs": [
        {"name": "arxiv_bulk", "service": "arxiv_bulk", "into": "arxiv", "endpoint": url, "from_yymm": "2401",
         "limits": {"per_second": 50, "retries": 1}, **job}]}
    path = tmp_path / "fetch.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_bulk_tars_by_month_kept_papers_and_checksums(tmp_path, s3):
    # the paper list an `arxiv` job with `files: none` writes: one record per paper, with its licence
    records = tmp_path / "out" / "records"
    records.mkdir(parents=True)
    for arxiv_id, licence in (("2401.00001", "http://creativecommons.org/licenses/by/4.0/"), ("2401.00002", None),
                              ("cond-mat/0102536", None), ("2402.00001", None)):
        (records / f"{arxiv_id.replace('/', '_')}.json").write_text(json.dumps({"id": arxiv_id, "licence": licence, "categories": ["cond-mat.mtrl-sci"]}))
    manifest = _write(tmp_path, s3, ids_from="records")
    summary = fetch(load_fetch_manifest(manifest))["arxiv_bulk"]
    # two tars in the month range; 2402's MD5 is not the manifest's: failed, nothing of it unpacked
    assert summary["requested"] == 2 == summary["fetched"] + summary["failed"]
    assert summary["failed_by_reason"] == {"checksum_mismatch": 1}
    folder = tmp_path / "out" / "arxiv"
    papers = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.endswith(".meta.json"))
    assert papers == ["2401.00001.tar.gz", "2401.00002.tex.gz", file_name("cond-mat/0102536", ".tex.gz")]  # 00003 is not in the records
    assert (folder / "2401.00001.tar.gz").read_bytes() == SOURCE
    side = json.loads((folder / "2401.00001.tar.gz.meta.json").read_text())
    assert side["licence"] == "http://creativecommons.org/licenses/by/4.0/" and side["tar"] == "arXiv_src_2401_001.tar"
    assert json.loads((folder / file_name("cond-mat/0102536", ".tex.gz.meta.json")).read_text())["id"] == "cond-mat/0102536"
    assert not list(folder.rglob("*.partial")) and not (folder / "2401.00009.gz").exists()  # the link was not written
    # the latex reader reads the papers and passes over the tars in .bulk/
    from corpus.extract import extract

    docs = [d for _, d in extract([str(folder)], "latex") if hasattr(d, "text")]
    assert len(docs) == 3 and any("lattice constant" in d.text for d in docs)
    assert {d.metadata.get("licence") for d in docs} >= {"http://creativecommons.org/licenses/by/4.0/"}
    # a rerun downloads nothing it has (the ledger's checksum); the bad tar fails again, for the same reason
    again = fetch(load_fetch_manifest(manifest))["arxiv_bulk"]
    assert (again["skipped"], again["fetched"], again["failed_by_reason"]) == (1, 0, {"checksum_mismatch": 1})


def test_without_a_paper_list_every_paper_is_unpacked(tmp_path, s3):
    summary = fetch(load_fetch_manifest(_write(tmp_path, s3, until_yymm="2401")))["arxiv_bulk"]
    assert summary["requested"] == summary["fetched"] == 1
    folder = tmp_path / "out" / "arxiv"
    assert sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.endswith(".meta.json")) == [
        "2401.00001.tar.gz", "2401.00002.tex.gz", "2401.00003.pdf", "cond-mat0102536.tex.gz"]


def test_dry_run_counts_tars_and_credentials_stay_in_the_environment(tmp_path, s3, capsys, monkeypatch):
    manifest = _write(tmp_path, s3)
    assert corpus(["fetch", str(manifest), "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "2 items available" in err and "2 tars: 8 papers" in err
    fetch(load_fetch_manifest(manifest))
    out = tmp_path / "out"
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".md"):
            assert "testing-secret" not in path.read_text()
    # without credentials a dry run says what a run needs, and a run fails the job with that reason
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert corpus(["fetch", str(manifest), "--dry-run"]) == 0
    assert "AWS_ACCESS_KEY_ID" in capsys.readouterr().err


class _FaultyS3:
    """A proxy on 127.0.0.1 in front of the local S3 server that answers with faults from a plan: for a key, a list of
    what its next GETs get ("503": SlowDown, "500": InternalError, "cut": the headers and half the body, then the
    connection closes; "ok": the real answer). Bounded: it stops itself after a minute."""

    def __init__(self, upstream: str):
        import http.client
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlparse

        self.plan: dict[str, list[str]] = {}
        self.seen: list[str] = []
        proxy = self
        up = urlparse(upstream)

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                key = self.path.split("?")[0]
                proxy.seen.append(f"{self.command} {key}")
                fault = next((plan.pop(0) for k, plan in proxy.plan.items() if key.endswith(k) and plan), "ok")
                if fault in ("503", "500"):
                    code = "SlowDown" if fault == "503" else "InternalError"
                    xml = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
                    self.send_response(int(fault))
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(xml)))
                    self.end_headers()
                    self.wfile.write(xml)
                    return
                conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
                conn.request(self.command, self.path, body=body, headers={k: v for k, v in self.headers.items()})
                answer = conn.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for k, v in answer.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if fault == "cut":
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(data)

            do_GET = do_PUT = do_HEAD = do_POST = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.timer = threading.Timer(60, self.server.shutdown)
        self.timer.daemon = True
        self.timer.start()

    def stop(self):
        self.timer.cancel()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def faulty(s3):
    proxy = _FaultyS3(s3)
    yield proxy
    proxy.stop()


TAR_2401 = "src/arXiv_src_2401_001.tar"


def test_a_slowdown_that_passes_is_retried_and_one_that_lasts_stops_the_job_resumably(tmp_path, faulty):
    manifest = _write(tmp_path, faulty.url, until_yymm="2401")  # retries: 1 (two attempts)
    faulty.plan = {TAR_2401: ["503"]}
    summary = fetch(load_fetch_manifest(manifest))["arxiv_bulk"]
    assert summary["fetched"] == 1 and faulty.seen.count(f"GET /arxiv/{TAR_2401}") == 2  # boto3 asked again
    # SlowDown past the retries: the job stops with a resumable state, not a crash; the rerun fetches the tar
    other = tmp_path / "other"
    other.mkdir()
    manifest = _write(other, faulty.url, until_yymm="2401")
    faulty.plan = {TAR_2401: ["503", "503"]}
    stopped = fetch(load_fetch_manifest(manifest))["arxiv_bulk"]
    assert stopped["failed_by_reason"] == {"quota": 1} and "stopped" in stopped and stopped["fetched"] == 0
    assert not list((other / "out").rglob("*.partial"))
    resumed = fetch(load_fetch_manifest(manifest))["arxiv_bulk"]
    assert (resumed["requested"], resumed["fetched"]) == (1, 1)
    assert sorted(p.name for p in (other / "out" / "arxiv").glob("*.gz")) == ["2401.00001.tar.gz", "2401.00002.tex.gz", "cond-mat0102536.tex.gz"]


def test_a_body_cut_short_and_a_lasting_server_error_fail_the_item_not_the_fetch(tmp_path, faulty):
    manifest = _write(tmp_path, faulty.url, from_yymm="2312", until_yymm="2401")
    # the 2312 tar: an InternalError on both attempts; the 2401 tar: its body cut on both attempts (a cut stream is
    # asked for again as a refused request is)
    faulty.plan = {"src/arXiv_src_2312_001.tar": ["500", "500"], TAR_2401: ["cut", "cut"]}
    summary = fetch(load_fetch_manifest(manifest))["arxiv_bulk"]
    assert summary["requested"] == 2 == summary["failed"]
    assert summary["failed_by_reason"] == {"s3_internalerror": 1, "truncated": 1}
    folder = tmp_path / "out" / "arxiv"
    assert not list(folder.rglob("*.partial")) and not list(folder.rglob("*.tar"))  # nothing half-written looks complete
    # the rerun, the faults over, fetches both: requested = fetched + skipped + failed, every time
    again = fetch(load_fetch_manifest(manifest))["arxiv_bulk"]
    assert (again["requested"], again["fetched"], again["failed"]) == (2, 2, 0)
    assert (folder / "2401.00001.tar.gz").read_bytes() == SOURCE
    # a body cut once is fetched within the run
    third = tmp_path / "third"
    third.mkdir()
    faulty.plan = {TAR_2401: ["cut"]}
    once = fetch(load_fetch_manifest(_write(third, faulty.url, until_yymm="2401")))["arxiv_bulk"]
    assert (once["fetched"], once["failed"]) == (1, 0)
    assert (third / "out" / "arxiv" / "2401.00001.tar.gz").read_bytes() == SOURCE
