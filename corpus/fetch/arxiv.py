"""arXiv: records listed over OAI-PMH (metadata format `arXiv`: categories, licence, DOI), kept by category, then
each paper's e-print (the LaTeX source as arXiv serves it, for the `latex` reader) or its PDF.

OAI-PMH paging is written here rather than taken from sickle or oaipmh-scythe: the listing must go through the same
client as the downloads (one rate limit for arXiv's one request every three seconds, the same retries and size caps),
and the XML is parsed with defusedxml; the protocol part is one request loop over resumption tokens.
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Iterator
from pathlib import Path

from defusedxml import ElementTree

from corpus.fetch.http import FetchFailed, PoliteClient
from corpus.fetch.manifest import ArxivJob
from corpus.fetch.service import Item

OAI = "{http://www.openarchives.org/OAI/2.0/}"
ARXIV = "{http://arxiv.org/OAI/arXiv/}"
LISTING_CAP = 64 * 2**20  # one OAI-PMH page; arXiv's are ~1-5 MB


def safe_name(arxiv_id: str) -> str:
    """A file name for an arXiv id: old-style ids have a slash (cond-mat/0102536)."""
    return re.sub(r"[^A-Za-z0-9.-]", "_", arxiv_id)


class ArxivService:
    def __init__(self, job: ArxivJob, client: PoliteClient):
        self.job, self.client = job, client

    def _pages(self) -> Iterator[tuple[object, int | None]]:
        params = {"verb": "ListRecords", "metadataPrefix": "arXiv", "set": self.job.set}
        if self.job.from_date:
            params["from"] = self.job.from_date.isoformat()
        if self.job.until_date:
            params["until"] = self.job.until_date.isoformat()
        while True:
            body = self.client.get_bytes(self.job.endpoint, params=params, max_bytes=LISTING_CAP)
            try:
                root = ElementTree.fromstring(body)
            except (ElementTree.ParseError, ValueError) as e:  # defusedxml's refusals (entities, DTDs) are ValueErrors
                raise FetchFailed("bad_listing", f"OAI-PMH page is not usable XML: {e}") from None
            error = root.find(f"{OAI}error")
            if error is not None:
                if error.get("code") == "noRecordsMatch":
                    return
                raise FetchFailed("oai_error", f"{error.get('code')}: {(error.text or '').strip()}")
            listing = root.find(f"{OAI}ListRecords")
            if listing is None:
                raise FetchFailed("bad_listing", "no ListRecords in the OAI-PMH response")
            token = listing.find(f"{OAI}resumptionToken")
            size = token.get("completeListSize") if token is not None else None
            yield listing, int(size) if size and size.isascii() and size.isdigit() else None
            if token is None or not (token.text or "").strip():
                return
            params = {"verb": "ListRecords", "resumptionToken": token.text.strip()}

    def count(self) -> int | None:
        for _, size in self._pages():
            return size  # the whole set's size, as the repository reports it on the first page
        return 0

    def discover(self) -> Iterator[Item]:
        wanted = set(self.job.categories)
        for listing, _ in self._pages():
            for record in listing.findall(f"{OAI}record"):
                header = record.find(f"{OAI}header")
                if header is None or header.get("status") == "deleted":
                    continue
                meta = record.find(f"{OAI}metadata/{ARXIV}arXiv")
                if meta is None:
                    continue
                arxiv_id = (meta.findtext(f"{ARXIV}id") or "").strip()
                categories = (meta.findtext(f"{ARXIV}categories") or "").split()
                if not arxiv_id or not wanted.intersection(categories):
                    continue
                files = self.job.files
                url = None if files == "none" else f"{self.job.files_endpoint.rstrip('/')}/{'e-print' if files == 'source' else 'pdf'}/{arxiv_id}"
                yield Item(id=arxiv_id, filename=safe_name(arxiv_id) + (".pdf" if files == "pdf" else ".gz"), url=url,
                           expect="pdf" if files == "pdf" else "source", licence=(meta.findtext(f"{ARXIV}license") or "").strip() or None,
                           doi=(meta.findtext(f"{ARXIV}doi") or "").strip() or None,
                           meta={"title": " ".join((meta.findtext(f"{ARXIV}title") or "").split()), "categories": categories,
                                 "abstract": " ".join((meta.findtext(f"{ARXIV}abstract") or "").split())})

    def finalise(self, path: Path) -> Path:
        """An e-print that is a gzipped tar becomes NAME.tar.gz, a gzipped single file NAME.tex.gz (the latex reader's names)."""
        if path.suffix != ".gz":
            return path
        with gzip.open(path, "rb") as f:
            head = f.read(512)
        final = path.with_name(path.name[: -len(".gz")] + (".tar.gz" if head[257:262] == b"ustar" else ".tex.gz"))
        os.replace(path, final)
        return final
