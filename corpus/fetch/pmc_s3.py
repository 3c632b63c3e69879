"""PubMed Central's Cloud Service bucket (`pmc-oa-opendata`, world-readable, no credentials) in its layout of April 2026,
as PMC documents it (pmc.ncbi.nlm.nih.gov/tools/pmcaws): one prefix per article version (`PMC12855588.1/`) holding its
JATS XML (`PMC12855588.1.xml`), text, PDF and media, and a JSON metadata object per version under `metadata/`
(`metadata/PMC12855588.1.json`: pmcid, version, doi, title, citation, is_pmc_openaccess, is_retracted, license_code
(`CC BY`, `CC BY-NC`, ..., `TDM`, null) and the objects' S3 URLs, each with its MD5 as an `md5` parameter).

Which articles: `pmcids` and/or `ids_from` (a file of them), or a PMC `search` through ESearch (db=pmc) with PMC's
open-access filters added, the eSearch-S3 pipeline PMC describes. Each article is taken at its latest version (the
version prefixes under `PMCID.`), its metadata read, then its XML written as `PMCnnnnnnn.xml` for the `jats` reader,
its MD5 checked against the metadata's. A retracted article fails `retracted`; with `licence: commercial` an article
outside PMC's commercial-reuse licences (CC0, CC BY, CC BY-SA, CC BY-ND) fails `not_commercial` (a search asks PMC for
those licences only). The `pmc` job (OAI-PMH) carries the same XML, PMC says; this route suits a list of articles or
a search, and carries PMC's own licence code and retraction flag.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from corpus.fetch.http import Download, FetchFailed, PoliteClient, sniff
from corpus.fetch.manifest import PmcS3Job
from corpus.fetch.s3 import S3Bucket
from corpus.fetch.service import Item

METADATA_CAP = 4 * 2**20
SEARCH_CAP = 64 * 2**20
PAGE = 500
OPEN = "(open_access[filter] OR author_manuscript[filter])"
COMMERCIAL_FILTER = "(cc0_license[filter] OR cc_by_license[filter] OR cc_by-sa_license[filter] OR cc_by-nd_license[filter])"
COMMERCIAL_CODES = {"CC0", "CC BY", "CC BY-SA", "CC BY-ND"}


def pmcid_of(value: str) -> str | None:
    m = re.fullmatch(r"\s*(?:PMC)?(\d{1,10})\s*", str(value), re.IGNORECASE)
    return f"PMC{int(m.group(1))}" if m else None


class PmcS3Service:
    def __init__(self, job: PmcS3Job, client: PoliteClient):
        self.job, self.client = job, client
        self.root = Path(".")  # the fetch's output_dir, set by the loop: ids_from is read under it
        self.bucket = S3Bucket(client, job.endpoint, job.bucket, unsigned=True)
        self.notes: list[str] = []

    # --- which articles -----------------------------------------------------------------------------------------
    def _term(self) -> str:
        term = f"({self.job.search}) AND {OPEN}"
        return f"{term} AND {COMMERCIAL_FILTER}" if self.job.licence == "commercial" else term

    def _search_page(self, start: int) -> dict:
        body = self.client.get_bytes(self.job.esearch_endpoint, params={"db": "pmc", "term": self._term(), "retmode": "json",
                                                                         "retstart": start, "retmax": PAGE}, max_bytes=SEARCH_CAP)
        try:
            result = json.loads(body)["esearchresult"]
            ids, count = result["idlist"], int(result["count"])
        except (ValueError, KeyError, TypeError) as e:
            raise FetchFailed("bad_listing", f"an ESearch answer without esearchresult.idlist/count ({type(e).__name__})") from None
        if not isinstance(ids, list):
            raise FetchFailed("bad_listing", "ESearch's idlist is not a list")
        return {"ids": [str(i) for i in ids], "count": count}

    def _listed(self) -> list[str]:
        listed = list(self.job.pmcids)
        if self.job.ids_from:
            source = Path(self.job.ids_from)
            source = source if source.is_absolute() else self.root / source
            if not source.is_file():
                raise FetchFailed("no_ids", f"ids_from: {source} is not a file of PMCIDs")
            listed += [line.strip() for line in source.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#")]
        return listed

    def _ids(self) -> Iterator[str]:
        seen = set()
        for value in self._listed():
            if value not in seen:
                seen.add(value)
                yield value
        if self.job.search:
            start = 0
            while True:
                page = self._search_page(start)
                for value in page["ids"]:
                    if value not in seen:
                        seen.add(value)
                        yield value
                start += len(page["ids"])
                if not page["ids"] or start >= page["count"]:
                    return

    def count(self) -> int | None:
        listed = len(set(self._listed()))
        if self.job.search:
            found = self._search_page(0)["count"]
            self.notes.append(f"the search finds {found} open-access articles{' under commercial-reuse licences' if self.job.licence == 'commercial' else ''}")
            return listed + found
        return listed

    # --- each article -------------------------------------------------------------------------------------------
    def discover(self) -> Iterator[Item]:
        for value in self._ids():
            pmcid = pmcid_of(value)
            if pmcid is None:
                yield Item(id=str(value), filename="", expect="xml", meta={"error": f"bad_id: {value!r} is not a PMCID"})
                continue
            try:
                yield self._item(pmcid)
            except FetchFailed as e:
                if e.reason == "quota":
                    raise
                yield Item(id=pmcid, filename="", expect="xml", meta={"error": f"{e.reason}: {e}"})

    def _item(self, pmcid: str) -> Item:
        versions = [int(m.group(1)) for p in self.bucket.prefixes(f"{pmcid}.") if (m := re.fullmatch(rf"{pmcid}\.(\d+)/", p))]
        if not versions:
            raise FetchFailed("not_in_bucket", f"{pmcid} has no version in the bucket (not open access, or not in PMC)")
        version = f"{pmcid}.{max(versions)}"
        try:
            meta = json.loads(self.bucket.read_all(f"metadata/{version}.json", METADATA_CAP))
        except ValueError:
            raise FetchFailed("bad_metadata", f"metadata/{version}.json is not JSON") from None
        if not isinstance(meta, dict):
            raise FetchFailed("bad_metadata", f"metadata/{version}.json is not an object")
        if meta.get("is_retracted"):
            raise FetchFailed("retracted", f"{version} is retracted")
        licence = meta.get("license_code") if isinstance(meta.get("license_code"), str) and meta["license_code"] else None
        if self.job.licence == "commercial" and licence not in COMMERCIAL_CODES:
            raise FetchFailed("not_commercial", f"{version}: licence {licence!r} is not one for commercial reuse")
        url = urlparse(str(meta.get("xml_url") or ""))
        key = url.path.lstrip("/")
        if url.scheme != "s3" or url.netloc != self.job.bucket or not key.endswith(".xml"):
            raise FetchFailed("no_xml", f"{version}: the metadata gives no XML in {self.job.bucket}")
        md5 = (parse_qs(url.query).get("md5") or [None])[0]
        citation = str(meta.get("citation") or "")
        return Item(id=pmcid, filename=f"{pmcid}.xml", expect="xml", url=f"s3://{self.job.bucket}/{key}", licence=licence,
                    doi=str(meta["doi"]).lower() if meta.get("doi") else None,
                    meta={"pmcid": pmcid, "version": version, "title": meta.get("title"), "citation": citation or None,
                          "journal": citation.split(".")[0].strip() or None, "key": key, "md5": md5,
                          "manuscript": bool(meta.get("is_manuscript"))})

    def download(self, item: Item, target: Path) -> Download:
        got = self.bucket.download(item.meta["key"], target, item.meta.get("md5"))
        with open(got.path, "rb") as f:
            problem = sniff(f.read(1024), "xml")  # what the HTTP client asks of every download
        if problem:
            got.path.unlink()
            raise FetchFailed(problem, item.meta["key"])
        return got
