"""Elsevier's full-text (TDM) API: each DOI's article as `full-text-retrieval-response` XML, what the `elsevier`
reader reads. The DOIs come from a Crossref job's folder (its ISSN.jsonl files, with each work's licence) or a file
of DOIs. The key (X-ELS-APIKey) and an optional institution token (X-ELS-Insttoken) are headers built from the
environment variables the job names; the URL carries neither, so the ledger and logs never hold them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from defusedxml import ElementTree

from corpus.fetch.http import FetchFailed, PoliteClient
from corpus.fetch.manifest import ElsevierJob
from corpus.fetch.service import Item, doi_file_name, doi_list


class ElsevierService:
    root: Path = Path(".")  # the fetch's output_dir, set by the loop: dois_from is read under it

    def __init__(self, job: ElsevierJob, client: PoliteClient):
        self.job, self.client = job, client

    def count(self) -> int | None:
        try:
            return sum(1 for _ in doi_list(self.job.dois_from, self.root))
        except FetchFailed:
            return None  # the Crossref job that lists the DOIs has not run yet

    def discover(self) -> Iterator[Item]:
        for doi, licence in doi_list(self.job.dois_from, self.root):
            yield Item(id=doi, filename=doi_file_name(doi) + ".xml", expect="xml", doi=doi, licence=licence,
                       url=f"{self.job.endpoint.rstrip('/')}/content/article/doi/{quote(doi, safe='/')}?view=FULL")

    def finalise(self, path: Path) -> Path:
        """An XML answer that is a service error (no entitlement, unknown DOI) is a failure, not a paper."""
        try:
            root = ElementTree.parse(path).getroot()
        except (ElementTree.ParseError, ValueError) as e:
            path.unlink(missing_ok=True)
            raise FetchFailed("bad_xml", str(e)) from None
        tag = root.tag.rsplit("}", 1)[-1]
        if tag != "full-text-retrieval-response":
            detail = " ".join("".join(root.itertext()).split())[:200]
            path.unlink(missing_ok=True)
            raise FetchFailed("service_error" if tag == "service-error" else f"unexpected_{tag}", detail)
        return path
