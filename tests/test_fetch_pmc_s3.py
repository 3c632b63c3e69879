"""`corpus fetch`'s pmc_s3 job against a local S3 server (moto's, 127.0.0.1, stopped after the test and by a timer) laid
out as PMC's Cloud Service bucket is since April 2026 (one prefix per article version, `metadata/PMCID.V.json` with the
licence code, the retraction flag and the XML's S3 URL with its MD5), and a local ESearch server (bounded, stops itself)
that pages PMC ids: versions, retractions, licences, a wrong MD5, an article not in the bucket, no credentials."""

from __future__ import annotations

import hashlib
import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import moto_s3
from corpus.extract import extract
from corpus.fetch.manifest import FetchError, load_fetch_manifest
from corpus.fetch.run import fetch
from test_fetch import pmc_article, serving

pytest.importorskip("moto")

# PMCID -> (versions, licence code, retracted, MD5 right)
ARTICLES = {"PMC1000001": ([1], "CC BY", False, True), "PMC1000002": ([1, 2], "CC BY", False, True),
            "PMC1000003": ([1], "CC BY-NC", False, True), "PMC1000004": ([1], "CC0", True, True),
            "PMC1000005": ([1], "CC BY-SA", False, False)}


def _xml(pmcid: str, version: int) -> bytes:
    return pmc_article(pmcid).replace("Nanoscale Research Letters", f"Nanoscale Research Letters v{version}").encode()


def seed_pmc_bucket(url: str, articles: dict = ARTICLES) -> None:
    """PMC's bucket layout on the local S3 server: per version its prefix (XML, text) and its metadata JSON. The seeding
    client signs; the job reads unsigned, as the world-readable bucket is read."""
    import boto3

    seed = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="seed", aws_secret_access_key="seed")
    seed.create_bucket(Bucket="pmc-oa-opendata", ACL="public-read")
    for pmcid, (versions, licence, retracted, md5_right) in articles.items():
        for v in versions:
            xml = _xml(pmcid, v)
            key = f"{pmcid}.{v}/{pmcid}.{v}.xml"
            seed.put_object(Bucket="pmc-oa-opendata", ACL="public-read", Key=key, Body=xml)
            seed.put_object(Bucket="pmc-oa-opendata", ACL="public-read", Key=f"{pmcid}.{v}/{pmcid}.{v}.txt", Body=b"text")
            md5 = hashlib.md5(xml).hexdigest() if md5_right else "0" * 32  # noqa: S324
            meta = {"pmcid": pmcid, "version": v, "doi": f"10.1186/{pmcid.lower()}", "title": f"Article {pmcid}",
                    "citation": "Nanoscale Res Lett. 2021 Dec 1;16:1. doi: x", "is_pmc_openaccess": True, "is_manuscript": False,
                    "is_retracted": retracted, "license_code": licence, "xml_url": f"s3://pmc-oa-opendata/{key}?md5={md5}"}
            seed.put_object(Bucket="pmc-oa-opendata", ACL="public-read", Key=f"metadata/{pmcid}.{v}.json", Body=json.dumps(meta).encode())


@pytest.fixture
def bucket(monkeypatch):
    with moto_s3() as url:
        seed_pmc_bucket(url)
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
            monkeypatch.delenv(key, raising=False)  # the job needs no credentials
        yield url


class ESearch(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        query = parse_qs(urlparse(self.path).query)
        self.server.state["terms"].append(query["term"][0])
        ids = ["1000001", "1000002", "1000003", "1000006"]  # 1000006 is not in the bucket
        start, size = int(query["retstart"][0]), int(query["retmax"][0])
        page = ids[start : start + 2] if size >= 2 else ids[start : start + 1]
        body = json.dumps({"header": {}, "esearchresult": {"count": str(len(ids)), "retmax": str(len(page)), "retstart": str(start),
                                                           "idlist": page}}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _manifest(tmp_path: Path, url: str, **job) -> Path:
    data = {"name": "t", "output_dir": "out", "jobs": [{"name": "pmc", "service": "pmc_s3", "into": "pmc", "endpoint": url,
                                                        "limits": {"per_second": 50, "retries": 1, "backoff_s": 0.01}, **job}]}
    path = tmp_path / "fetch.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_articles_by_id_at_their_latest_version_with_licence_retraction_and_checksum(tmp_path, bucket):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "more.txt").write_text("# more ids\nPMC1000004\n1000005\nPMC1000001\n")
    manifest = _manifest(tmp_path, bucket, pmcids=["PMC1000001", "1000002", "PMC1000003", "PMC1000007"], ids_from="more.txt")
    summary = fetch(load_fetch_manifest(manifest))["pmc"]
    assert summary["requested"] == 6 == summary["fetched"] + summary["failed"]
    assert summary["failed_by_reason"] == {"checksum_mismatch": 1, "not_in_bucket": 1, "retracted": 1}
    folder = tmp_path / "out" / "pmc"
    assert sorted(p.name for p in folder.glob("*.xml")) == ["PMC1000001.xml", "PMC1000002.xml", "PMC1000003.xml"]
    assert b"Nanoscale Research Letters v2" in (folder / "PMC1000002.xml").read_bytes()  # the latest version
    side = json.loads((folder / "PMC1000003.xml.meta.json").read_text())
    assert side["licence"] == "CC BY-NC" and side["version"] == "PMC1000003.1" and side["doi"] == "10.1186/pmc1000003"
    docs = [d for _, d in extract([str(folder)], "jats") if hasattr(d, "text")]
    assert len(docs) == 3 and all(d.metadata.get("licence") for d in docs)
    assert not list(folder.glob("*.partial"))
    again = fetch(load_fetch_manifest(manifest))["pmc"]
    assert (again["skipped"], again["fetched"]) == (3, 0)


def test_commercial_licences_only_and_a_search_through_esearch(tmp_path, bucket):
    manifest = _manifest(tmp_path, bucket, pmcids=["PMC1000003", "PMC1000001"], licence="commercial")
    summary = fetch(load_fetch_manifest(manifest))["pmc"]
    assert summary["failed_by_reason"] == {"not_commercial": 1} and summary["fetched"] == 1
    with serving(ESearch, {"terms": []}) as search:
        other = tmp_path / "search"
        other.mkdir()
        esearch = f"http://127.0.0.1:{search.server_address[1]}/esearch.fcgi"
        found = fetch(load_fetch_manifest(_manifest(other, bucket, search="perovskite", esearch_endpoint=esearch)))["pmc"]
        # two pages of ESearch; the open-access filter is PMC's own
        assert found["requested"] == 4 and found["fetched"] == 3 and found["failed_by_reason"] == {"not_in_bucket": 1}
        assert all(t == "(perovskite) AND (open_access[filter] OR author_manuscript[filter])" for t in search.state["terms"])
        third = tmp_path / "commercial"
        third.mkdir()
        fetch(load_fetch_manifest(_manifest(third, bucket, search="perovskite", esearch_endpoint=esearch, licence="commercial")))
        assert "cc_by_license[filter]" in search.state["terms"][-1]


def test_a_job_without_articles_or_with_a_bad_id_fails_before_any_request(tmp_path):
    with pytest.raises(FetchError, match="pmcids, ids_from or search"):
        load_fetch_manifest(_manifest(tmp_path, "http://127.0.0.1:9"))
    with pytest.raises(FetchError, match="PMC accession ids"):
        load_fetch_manifest(_manifest(tmp_path, "http://127.0.0.1:9", pmcids=["PMC12x"]))


class _StubBucket:
    """The bucket as `_item` asks it: the version prefixes and one metadata object, whatever its bytes."""

    def __init__(self, prefixes: list[str], metadata: bytes):
        self._prefixes, self._metadata = prefixes, metadata

    def prefixes(self, prefix):
        return iter(self._prefixes)

    def read_all(self, key, cap):
        return self._metadata


_json_value = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=8)
_metadata = st.one_of(st.binary(max_size=200),
                      st.dictionaries(st.sampled_from(["is_retracted", "license_code", "xml_url", "doi", "citation", "title", "pmcid"]),
                                      _json_value | st.just("s3://pmc-oa-opendata/PMC1.1/PMC1.1.xml?md5=abc"), max_size=7)
                      .map(lambda d: json.dumps(d).encode()))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["PMC1.1/", "PMC1.2/", "PMC1.x/", "PMC10.1/", "other/"]), max_size=4), _metadata,
       st.sampled_from(["any", "commercial"]))
def test_any_metadata_object_is_an_item_or_a_failure_with_a_reason(prefixes, metadata, licence):
    from corpus.fetch.http import FetchFailed
    from corpus.fetch.manifest import PmcS3Job
    from corpus.fetch.pmc_s3 import PmcS3Service

    service = PmcS3Service(PmcS3Job(name="p", service="pmc_s3", into="p", pmcids=["PMC1"], licence=licence), client=None)
    service.bucket = _StubBucket(prefixes, metadata)
    try:
        item = service._item("PMC1")
    except FetchFailed as e:
        assert e.reason in ("not_in_bucket", "bad_metadata", "retracted", "not_commercial", "no_xml")
    else:
        assert item.meta["key"].startswith("PMC1.") and item.meta["key"].endswith(".xml") and item.filename == "PMC1.xml"
