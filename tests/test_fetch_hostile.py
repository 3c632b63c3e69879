"""`corpus fetch` against hostile local servers (127.0.0.1 only, bounded, stopping themselves): a server that trickles,
redirects in loops or to another origin that records what it is sent, claims gzip and is not, nests JSON and XML
thousands deep, names files with traversal, absolute, NUL, over-long, confusable and colliding ids, and repeats its
next links. Each probe runs against every service that speaks HTTP (`PROBED` must name every service in
corpus.fetch.run.SERVICES but the S3 ones, so a new service inherits the probes): the fetch never raises, never
writes outside its output folder, never sends a key to another origin, and accounts for every item it requested."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from corpus.cli import main as corpus
from test_fetch import serving
from corpus.fetch import run as fetch_run
from corpus.fetch.manifest import load_fetch_manifest
from corpus.fetch.names import file_name
from corpus.fetch.run import SERVICES, fetch

SECRET = "hostile-s3cret-key"
FAST = {"per_second": 50, "retries": 1, "backoff_s": 0.01, "max_wait_s": 5, "timeout_s": 0.6, "min_bytes_per_s": 2000,
        "max_item_s": 5}
S3_SERVICES = {"arxiv_bulk", "pmc_s3"}  # boto3's transport (its own timeouts and redirects), probed in test_fetch_bulk/pmc_s3
DEEP = 50_000


class Hostile(BaseHTTPRequestHandler):
    """Every path answers by `state["mode"]`; `state["log"]` records each request's path and headers."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status: int, body: bytes, headers: dict | None = None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        state = self.server.state
        state["log"].append({"path": self.path, "headers": dict(self.headers), "port": self.server.server_address[1]})
        mode = state["mode"]
        if state.get("recorder"):  # the other origin: records and refuses
            return self._send(404, b"")
        if mode == "trickle_body":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            for _ in range(100):  # bounded: ten seconds at most
                try:
                    self.wfile.write(b"<")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.1)
            return
        if mode == "trickle_headers":
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100:
                try:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.1)
            return
        if mode == "loop":
            return self._send(302, b"", {"Location": self.path})
        if mode == "ping_pong":
            flip = "/b" if not self.path.startswith("/b") else "/a"
            return self._send(302, b"", {"Location": flip + self.path})
        if mode == "bad_gzip":
            return self._send(200, b"this is not gzip at all" * 10, {"Content-Encoding": "gzip"})
        if mode == "redirect_other":
            return self._send(302, b"", {"Location": f"http://127.0.0.1:{state['other']}{urlparse(self.path).path}"})
        if mode == "deep":
            xml = self.path.startswith(("/oai", "/content", "/openaccess"))
            body = ("<a>" * DEEP + "</a>" * DEEP) if xml else ("[" * DEEP + "]" * DEEP)
            return self._send(200, body.encode())
        if mode == "bad_url":
            return self._send(302, b"", {"Location": "http://[::1"})
        if mode == "scheme":
            return self._send(302, b"", {"Location": "file:///etc/passwd"})
        return self._send(500, b"unknown mode")


@pytest.fixture
def servers():
    """(the hostile server, the other origin that records what reaches it)."""
    with serving(Hostile, {"mode": None, "log": [], "recorder": True}) as other, serving(Hostile, {"mode": None, "log": []}) as main:
        main.state["other"] = other.server_address[1]
        yield main, other


def job_for(service: str, url: str, root: Path) -> dict:
    """A job of `service` whose every request goes to `url`, with a key where the service takes one."""
    (root / "out").mkdir(parents=True, exist_ok=True)
    (root / "out" / "dois.txt").write_text("10.1000/hostile.1\n")
    jobs = {
        "arxiv": {"endpoint": f"{url}/oai", "files_endpoint": url},
        "pmc": {"endpoint": f"{url}/oai"},
        "optimade": {"endpoint": f"{url}/v1", "filter": "nelements>=1", "format": "json", "api_key_env": "HOSTILE_KEY"},
        "crossref": {"endpoint": url, "issns": ["0925-8388"]},
        "elsevier": {"endpoint": url, "dois_from": "dois.txt", "api_key_env": "HOSTILE_KEY"},
        "springer": {"endpoint": url, "dois_from": "dois.txt", "api_key_env": "HOSTILE_KEY"},
        "materials_project": {"endpoint": url, "api_key_env": "HOSTILE_KEY"},
        "cod": {"endpoint": f"{url}/cod", "search": {"el1": "Ba"}, "ids": [1507756]},
        "gnome": {"endpoint": url},
        "openalex": {"endpoint": url, "filter": "is_oa:true", "files": "pdf", "api_key_env": "HOSTILE_KEY"},
    }
    return {"name": service, "service": service, "into": service, "limits": FAST, **jobs[service]}


PROBED = sorted(set(SERVICES) - S3_SERVICES)


def test_every_http_service_is_probed():
    assert set(PROBED) == {"arxiv", "pmc", "optimade", "crossref", "elsevier", "springer", "materials_project", "cod", "gnome", "openalex"}


def run_probe(tmp_path: Path, main, service: str, mode: str, monkeypatch) -> dict:
    monkeypatch.setenv("HOSTILE_KEY", SECRET)
    main.state["mode"] = mode
    url = f"http://127.0.0.1:{main.server_address[1]}"
    data = {"name": "h", "output_dir": "out", "contact": "curator@example.org", "jobs": [job_for(service, url, tmp_path)]}
    path = tmp_path / "fetch.yaml"
    path.write_text(yaml.safe_dump(data))
    before = {p for p in tmp_path.parent.rglob("*")}
    started = time.monotonic()
    summary = fetch(load_fetch_manifest(path))[service]
    elapsed = time.monotonic() - started
    assert {p for p in tmp_path.parent.rglob("*")} - before <= {p for p in tmp_path.rglob("*")}, "wrote outside its folder"
    assert summary["requested"] == summary["fetched"] + summary["skipped"] + summary["failed"]
    assert summary["failed"] == sum(summary["failed_by_reason"].values())
    assert elapsed < 60, f"{service} under {mode} took {elapsed:.0f} s"
    for f in (tmp_path / "out").rglob("*"):
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f
    return summary


def reasons_of(summary: dict) -> str:
    return json.dumps(summary["failed_by_reason"]) + " " + summary.get("listing_error", "")


@pytest.mark.parametrize("service", PROBED)
@pytest.mark.parametrize("mode,reason", [("trickle_body", "too_slow"), ("trickle_headers", "too_slow"), ("loop", "redirect_loop"),
                                         ("ping_pong", "redirect_loop"), ("bad_gzip", "bad_encoding"), ("bad_url", "bad_url"),
                                         ("scheme", "bad_url")])
def test_a_hostile_answer_is_one_named_failure(tmp_path, servers, service, mode, reason, monkeypatch):
    main, _ = servers
    summary = run_probe(tmp_path, main, service, mode, monkeypatch)
    assert reason in reasons_of(summary), (service, mode, summary)


@pytest.mark.parametrize("service", PROBED)
def test_deep_nesting_is_refused_not_recursed(tmp_path, servers, service, monkeypatch):
    main, _ = servers
    summary = run_probe(tmp_path, main, service, "deep", monkeypatch)
    if service in ("gnome", "cod", "springer"):  # what they fetch (CSV, CIF, JATS kept as it came) is not parsed here
        assert summary["failed"] or summary.get("listing_error") or summary["fetched"]
    else:
        assert "too_deep" in reasons_of(summary), (service, summary)


@pytest.mark.parametrize("service", PROBED)
def test_no_key_follows_a_redirect_to_another_origin(tmp_path, servers, service, monkeypatch):
    main, other = servers
    run_probe(tmp_path, main, service, "redirect_other", monkeypatch)
    assert other.state["log"], f"{service}: the redirect was not followed at all"
    for request in other.state["log"]:
        assert SECRET not in json.dumps(request), (service, request)
    keyed = [r for r in main.state["log"] if SECRET in json.dumps(r)]
    if service in ("optimade", "elsevier", "springer", "materials_project", "openalex"):
        assert keyed, f"{service}: its own origin never got the key"


class Listing(BaseHTTPRequestHandler):
    """A listing server for the id probes: OPTIMADE, OpenAlex, Materials Project, arXiv OAI-PMH and Crossref pages
    whose ids are hostile, and OPTIMADE next links that repeat or point to another origin."""

    def log_message(self, *args):
        pass

    def _json(self, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        state = self.server.state
        state["log"].append({"path": self.path, "headers": dict(self.headers)})
        url = urlparse(self.path)
        query = parse_qs(url.query)
        ids = state["ids"]
        if url.path == "/v1/structures":
            nxt = state.get("next")
            return self._json({"data": [{"id": i, "type": "structures", "attributes": {"nsites": 1}} for i in ids],
                               "meta": {"data_returned": len(ids)}, "links": {"next": nxt}})
        if url.path == "/works":
            if query.get("cursor") != ["*"]:
                return self._json({"meta": {"next_cursor": None}, "results": []})
            return self._json({"meta": {"count": len(ids), "next_cursor": "again"}, "results": [{"id": i} for i in ids]})
        if url.path == "/materials/summary/":
            return self._json({"data": [{"material_id": i, "structure": {"lattice": {}}} for i in ids], "meta": {"total_doc": len(ids)}})
        if url.path == "/journals":
            return self._json({"message": {"items": [{"title": "Hostile Letters", "ISSN": [i]} for i in ids[:1]]}})
        return self._json({})


HOSTILE_IDS = ["../../escaped", "/tmp/absolute-escape", "a\x00b", "x" * 5000, "ｍｐ-1", "mp-1", "a/b", "a:b", "a_b", "..", ".", ""]


@pytest.mark.parametrize("service", ["optimade", "openalex", "materials_project"])
def test_hostile_ids_make_distinct_names_inside_the_folder_and_a_rerun_converges(tmp_path, service):
    state = {"ids": HOSTILE_IDS, "log": []}
    with serving(Listing, state) as httpd:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        job = {"name": service, "service": service, "into": service, "limits": FAST,
               **{"optimade": {"endpoint": f"{url}/v1", "filter": "x", "format": "json"},
                  "openalex": {"endpoint": url, "filter": "x", "api_key_env": None},
                  "materials_project": {"endpoint": url, "api_key_env": "HOSTILE_MP"}}[service]}
        os.environ["HOSTILE_MP"] = "k"
        (tmp_path / "f.yaml").write_text(yaml.safe_dump({"name": "h", "output_dir": "out", "jobs": [job]}))
        first = fetch(load_fetch_manifest(tmp_path / "f.yaml"))[service]
        named = [i for i in HOSTILE_IDS if i]  # an entry without an id is not an item
        if service == "openalex":  # an OpenAlex id is the last part of its URL (https://openalex.org/W123)
            named = [i.rstrip("/").rsplit("/", 1)[-1] for i in named]
        assert first["requested"] == len(named) == first["fetched"], first
        files = sorted(p for p in (tmp_path / "out" / service).iterdir() if not p.name.endswith(".meta.json"))
        assert len(files) == len(named)  # nothing overwritten
        assert all(len(p.name) < 200 for p in files)
        assert not (tmp_path / "escaped").exists() and not Path("/tmp/absolute-escape.json").exists()
        ids = {json.loads(Path(f"{p}.meta.json").read_text())["id"] for p in files}
        assert ids == set(named)  # each file's side-car keeps its original id
        second = fetch(load_fetch_manifest(tmp_path / "f.yaml"))[service]
        assert second["skipped"] == len(named) and second["fetched"] == 0  # a rerun converges


@pytest.mark.parametrize("issn", ["../../../escaped", "/tmp/crossref-escape", 12345678, ["0925-8388", None], {"a": 1}])
def test_an_issn_from_the_server_never_names_a_file_it_is_not(tmp_path, issn):
    state = {"ids": [issn], "log": []}
    with serving(Listing, state) as httpd:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        job = {"name": "c", "service": "crossref", "into": "c", "endpoint": url, "journals": ["Hostile Letters"], "limits": FAST}
        (tmp_path / "f.yaml").write_text(yaml.safe_dump({"name": "h", "output_dir": "out", "jobs": [job]}))
        summary = fetch(load_fetch_manifest(tmp_path / "f.yaml"))["c"]
        assert summary["requested"] == 1 and summary["failed"] + summary["fetched"] == 1
        written = [p for p in tmp_path.rglob("*.jsonl") if p.name != "fetch_ledger.jsonl"]
        assert all(p.parent == tmp_path / "out" / "c" for p in written)
        assert not Path("/tmp/crossref-escape.jsonl").exists() and not list(tmp_path.parent.glob("escaped*"))


def test_next_links_that_repeat_stop_and_keep_their_counts(tmp_path):
    state = {"ids": ["e1", "e2"], "log": []}
    with serving(Listing, state) as httpd:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        state["next"] = f"{url}/v1/structures?page=2"  # page 2 is page 1 again, and names itself as next
        job = {"name": "o", "service": "optimade", "into": "o", "endpoint": f"{url}/v1", "filter": "x", "format": "json", "limits": FAST}
        (tmp_path / "f.yaml").write_text(yaml.safe_dump({"name": "h", "output_dir": "out", "jobs": [job]}))
        assert corpus(["fetch", str(tmp_path / "f.yaml")]) == 1
        summary = json.loads((tmp_path / "out" / "fetch_summary.json").read_text())["o"]
        assert summary["fetched"] == 2 and "repeated_page" in summary["listing_error"] and summary["listing_stopped_after"] == 2
        assert len(state["log"]) <= 3


def test_a_bearer_token_stays_with_its_provider_when_the_next_link_moves(tmp_path, monkeypatch):
    other_state = {"ids": ["far-1"], "log": []}
    with serving(Listing, other_state) as other:
        state = {"ids": ["near-1"], "log": [], "next": f"http://127.0.0.1:{other.server_address[1]}/v1/structures?page=2"}
        with serving(Listing, state) as httpd:
            monkeypatch.setenv("HOSTILE_KEY", SECRET)
            url = f"http://127.0.0.1:{httpd.server_address[1]}"
            job = {"name": "o", "service": "optimade", "into": "o", "endpoint": f"{url}/v1", "filter": "x", "format": "json",
                   "api_key_env": "HOSTILE_KEY", "limits": FAST}
            (tmp_path / "f.yaml").write_text(yaml.safe_dump({"name": "h", "output_dir": "out", "jobs": [job]}))
            summary = fetch(load_fetch_manifest(tmp_path / "f.yaml"))["o"]
    assert summary["fetched"] == 2  # the next page was read, without the token
    assert any(SECRET in json.dumps(r) for r in state["log"])
    assert other_state["log"] and not any(SECRET in json.dumps(r) for r in other_state["log"])


def test_a_listing_page_over_its_cap_fails_the_listing_not_the_memory(tmp_path):
    state = {"ids": [f"id-{i}-" + "x" * 100 for i in range(2000)], "log": []}
    with serving(Listing, state) as httpd:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        job = {"name": "o", "service": "optimade", "into": "o", "endpoint": f"{url}/v1", "filter": "x", "format": "json",
               "limits": {**FAST, "max_listing_bytes": 10_000}}
        (tmp_path / "f.yaml").write_text(yaml.safe_dump({"name": "h", "output_dir": "out", "jobs": [job]}))
        summary = fetch(load_fetch_manifest(tmp_path / "f.yaml"))["o"]
        assert summary["requested"] == 0 and summary["listing_error"].startswith("too_large")


def test_one_fetch_per_folder(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    code = ("import sys, time; from corpus.buildlock import FolderLock\n"
            f"lock = FolderLock({str(tmp_path / 'out')!r}, '.fetch.lock', 'corpus fetch').__enter__(); print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        job = {"name": "d", "service": "cod", "into": "cod", "endpoint": "http://127.0.0.1:9/cod", "ids": [1], "limits": FAST}
        (tmp_path / "f.yaml").write_text(yaml.safe_dump({"name": "h", "output_dir": "out", "jobs": [job]}))
        assert corpus(["fetch", str(tmp_path / "f.yaml")]) == 2
        err = capsys.readouterr().err
        assert "in use by another corpus fetch" in err and f"pid {holder.pid}" in err
        assert not (tmp_path / "out" / "fetch_ledger.jsonl").exists()  # refused before any work
    finally:
        holder.kill()
        holder.wait()
    assert corpus(["fetch", str(tmp_path / "f.yaml")]) == 0  # the holder gone, the lock is free (its item fails: no server)
    assert json.loads((tmp_path / "out" / "fetch_summary.json").read_text())["d"]["failed_by_reason"] == {"network": 1}


def test_a_dry_run_answers_fast_when_the_services_cannot_be_reached(tmp_path, monkeypatch, capsys):
    import socket

    monkeypatch.setattr(fetch_run, "DRY_RUN_DEADLINE_S", 1.0)
    silent = socket.socket()  # accepts connections (the backlog) and never answers: a proxy that drops everything
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        jobs = [job_for(s, url, tmp_path) for s in PROBED]
        for job in jobs:
            job["limits"] = {"timeout_s": 60, "retries": 5}  # the defaults a user has: the dry run's deadline bounds them
        (tmp_path / "f.yaml").write_text(yaml.safe_dump({"name": "h", "output_dir": "out", "jobs": jobs}))
        started = time.monotonic()
        assert corpus(["fetch", str(tmp_path / "f.yaml"), "--dry-run"]) == 0
        elapsed = time.monotonic() - started
        err = capsys.readouterr().err
        assert elapsed < 10, elapsed  # one deadline for all the jobs, not one each
        assert err.count("unreachable:") >= 5 and err.index("openalex: openalex at") < err.index("unreachable:")
    finally:
        silent.close()


def test_file_names_are_plain_bounded_and_distinct():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=400, deadline=None)
    @given(st.lists(st.text(max_size=300), min_size=2, max_size=6, unique=True), st.sampled_from(["", ".json", ".tar.gz"]))
    def check(ids, suffix):
        names = [file_name(i, suffix) for i in ids]
        assert len(set(names)) == len(ids)
        for name in names:
            assert "/" not in name and "\x00" not in name and name not in (".", "..") and not name.startswith(".")
            assert len(name.encode()) <= 255 and name.isascii()

    check()


def test_a_job_folder_that_links_out_of_the_output_is_refused_and_nothing_there_is_touched(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "keep.partial").write_bytes(b"not ours")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "cod").symlink_to(outside)
    job = {"name": "d", "service": "cod", "into": "cod", "endpoint": "http://127.0.0.1:9/cod", "ids": [1], "limits": FAST}
    (tmp_path / "f.yaml").write_text(yaml.safe_dump({"name": "h", "output_dir": "out", "jobs": [job]}))
    summary = fetch(load_fetch_manifest(tmp_path / "f.yaml"))["d"]
    assert summary["error"].startswith("outside_output") and (outside / "keep.partial").read_bytes() == b"not ours"


class Proxy(BaseHTTPRequestHandler):
    """A forward proxy in front of nothing: it records the absolute URL each request names and answers a listing."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.state["log"].append(self.path)
        body = json.dumps({"data": [{"id": "via-proxy", "type": "structures"}], "meta": {"data_returned": 1}, "links": {"next": None}}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_the_environments_proxy_is_still_used(tmp_path, monkeypatch):
    """The time budget is set on the connection pools httpx builds, so HTTP_PROXY from the environment keeps working."""
    with serving(Proxy, {"log": []}) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        job = {"name": "o", "service": "optimade", "into": "o", "endpoint": "http://provider.invalid/v1", "filter": "x",
               "format": "json", "limits": FAST}
        (tmp_path / "f.yaml").write_text(yaml.safe_dump({"name": "h", "output_dir": "out", "jobs": [job]}))
        summary = fetch(load_fetch_manifest(tmp_path / "f.yaml"))["o"]
    assert summary["fetched"] == 1 and proxy.state["log"][0].startswith("http://provider.invalid/v1/structures")
