"""Elsevier's full-text (TDM) API: each DOI's article as `full-text-retrieval-response` XML, what the `elsevier`
reader reads. The DOIs come from a Crossref job's folder (its ISSN.jsonl files, with each work's licence) or a file
of DOIs. The key (X-ELS-APIKey) and an optional institution token (X-ELS-Insttoken) are headers built from the
environment variables the job names; the URL carries neither, so the ledger and logs never hold them.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from defusedxml import ElementTree

from corpus.fetch.http import FetchFailed
from corpus.fetch.service import DoiListService, Item, doi_file_name
from corpus.readers.bounded import TooDeep, check_xml_depth


class ElsevierService(DoiListService):
    def item(self, doi: str, licence: str | None) -> Item:
        return Item(id=doi, filename=doi_file_name(doi, ".xml"), expect="xml", doi=doi, licence=licence,
                    url=f"{self.job.endpoint.rstrip('/')}/content/article/doi/{quote(doi, safe='/')}?view=FULL")

    def finalise(self, path: Path) -> Path:
        """An XML answer that is a service error (no entitlement, unknown DOI) is a failure, not a paper."""
        try:
            root = ElementTree.parse(path).getroot()
            check_xml_depth(root, what="an Elsevier answer")
        except TooDeep as e:
            path.unlink(missing_ok=True)
            raise FetchFailed("too_deep", str(e)) from None
        except (ElementTree.ParseError, ValueError) as e:
            path.unlink(missing_ok=True)
            raise FetchFailed("bad_xml", str(e)) from None
        tag = root.tag.rsplit("}", 1)[-1]
        if tag != "full-text-retrieval-response":
            detail = " ".join("".join(root.itertext()).split())[:200]
            path.unlink(missing_ok=True)
            raise FetchFailed("service_error" if tag == "service-error" else f"unexpected_{tag}", detail)
        return path
