"""arXiv: records listed over OAI-PMH (metadata format `arXiv`: categories, licence, DOI), kept by category, then
each paper's e-print (the LaTeX source as arXiv serves it, for the `latex` reader) or its PDF.

The listing is corpus/fetch/oai.py's, through the job's polite client (arXiv asks for one request every three
seconds).
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from pathlib import Path

from corpus.fetch.http import PoliteClient
from corpus.fetch.manifest import ArxivJob
from corpus.fetch.names import file_name
from corpus.fetch.oai import list_records, live_records
from corpus.fetch.service import Item

ARXIV = "{http://arxiv.org/OAI/arXiv/}"


def name_eprint(path: Path) -> Path:
    """An e-print saved as NAME.gz becomes NAME.tar.gz when it is a gzipped tar, NAME.tex.gz when a gzipped single
    file (the latex reader's names); any other file is left as it is."""
    if path.suffix != ".gz":
        return path
    with gzip.open(path, "rb") as f:
        head = f.read(512)
    final = path.with_name(path.name[: -len(".gz")] + (".tar.gz" if head[257:262] == b"ustar" else ".tex.gz"))
    os.replace(path, final)
    return final


class ArxivService:
    def __init__(self, job: ArxivJob, client: PoliteClient):
        self.job, self.client = job, client

    def _pages(self):
        job = self.job
        return list_records(self.client, job.endpoint, "arXiv", job.set, job.from_date, job.until_date)

    def count(self) -> int | None:
        for _, size in self._pages():
            return size  # the whole set's size, as the repository reports it on the first page
        return 0

    def discover(self) -> Iterator[Item]:
        wanted = set(self.job.categories)
        for listing, _ in self._pages():
            for _, metadata in live_records(listing):
                meta = metadata.find(f"{ARXIV}arXiv")
                if meta is None:
                    continue
                arxiv_id = (meta.findtext(f"{ARXIV}id") or "").strip()
                categories = (meta.findtext(f"{ARXIV}categories") or "").split()
                if not arxiv_id or not wanted.intersection(categories):
                    continue
                files = self.job.files
                licence = (meta.findtext(f"{ARXIV}license") or "").strip() or None
                doi = (meta.findtext(f"{ARXIV}doi") or "").strip() or None
                record = {"title": " ".join((meta.findtext(f"{ARXIV}title") or "").split()), "categories": categories,
                          "abstract": " ".join((meta.findtext(f"{ARXIV}abstract") or "").split())}
                if files == "none":  # the record itself: ID.json, e.g. the paper list (with licences) of an arxiv_bulk job
                    content = json.dumps({"id": arxiv_id, "licence": licence, "doi": doi, **record}, ensure_ascii=False, sort_keys=True)
                    yield Item(id=arxiv_id, filename=file_name(arxiv_id, ".json"), expect="json", content=(content + "\n").encode(),
                               licence=licence, doi=doi, meta=record)
                    continue
                url = f"{self.job.files_endpoint.rstrip('/')}/{'e-print' if files == 'source' else 'pdf'}/{arxiv_id}"
                yield Item(id=arxiv_id, filename=file_name(arxiv_id, ".pdf" if files == "pdf" else ".gz"), url=url,
                           expect="pdf" if files == "pdf" else "source", licence=licence, doi=doi, meta=record)

    def finalise(self, path: Path) -> Path:
        return name_eprint(path)
