"""PubMed Central's open-access subset: full-text JATS articles listed over PMC's OAI-PMH service (metadata format
`pmc`, the set `pmc-open` by default), each written as PMCnnnnnnn.xml for the `jats` reader, with the licence the
article states (its <license>) in the side-car.

OAI-PMH lists the whole subset by date, every record's full text and licence in one listing (the API moved in
September 2025 to a new base URL, the old one redirecting). PMC says the article XML of its Cloud Service bucket
(s3://pmc-oa-opendata, its new layout of April 2026) is the same: the `pmc_s3` job (pmc_s3.py) takes articles from
there by id or by a PMC search.

Filters: `licence: commercial` keeps CC BY and CC0 articles only (PMC's own commercial-use subset, `oa_comm`);
`issns` keeps the articles of those journals. Records that are deleted, carry no <article>, or fail a filter are
not requested; every article kept is fetched, skipped (already here) or failed with a reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from xml.etree.ElementTree import Element, tostring

from corpus.fetch.http import PoliteClient
from corpus.fetch.manifest import PmcJob
from corpus.fetch.oai import list_records, live_records
from corpus.fetch.service import Item
from corpus.papers.xml import child, children, descendant, jats_licence, licence_name, local, plain_text

# PMC's commercial-use subset: CC BY and CC0 (https://pmc.ncbi.nlm.nih.gov/tools/pmcaws, "oa_comm")
COMMERCIAL = re.compile(r"^(CC BY(?: \d\.\d)?|CC0(?: \d\.\d)?)$")


def commercial_use(licence: str | None) -> bool:
    return bool(licence) and bool(COMMERCIAL.match(licence_name(licence) or ""))


def _article(metadata: Element) -> Element | None:
    return next((e for e in metadata.iter() if local(e.tag) == "article"), None)


def _pmcid(article: Element, header: Element) -> str | None:
    meta = descendant(article, "article-meta")
    for aid in children(meta, "article-id") if meta is not None else []:
        if aid.get("pub-id-type") in ("pmc", "pmcid"):
            digits = re.sub(r"^PMC", "", plain_text(aid).strip(), flags=re.IGNORECASE)
            if digits.isascii() and digits.isdigit():
                return f"PMC{digits}"
    identifier = (header.findtext("{http://www.openarchives.org/OAI/2.0/}identifier") or "").strip()
    m = re.search(r"(\d+)$", identifier)  # oai:pubmedcentral.nih.gov:1234567
    return f"PMC{m.group(1)}" if m else None


class PmcService:
    def __init__(self, job: PmcJob, client: PoliteClient):
        self.job, self.client = job, client

    def _pages(self):
        job = self.job
        return list_records(self.client, job.endpoint, "pmc", job.set, job.from_date, job.until_date)

    def count(self) -> int | None:
        for _, size in self._pages():
            return size  # the whole set's size (before this job's filters), as PMC reports it on the first page
        return 0

    def discover(self) -> Iterator[Item]:
        issns = {i.replace("-", "").upper() for i in self.job.issns}
        for listing, _ in self._pages():
            for header, metadata in live_records(listing):
                article = _article(metadata)
                if article is None:
                    continue
                front = child(article, "front")
                meta = child(front, "article-meta") if front is not None else None
                licence = jats_licence(meta)
                if self.job.licence == "commercial" and not commercial_use(licence):
                    continue
                journal = child(front, "journal-meta") if front is not None else None
                if issns:
                    own = {plain_text(i).replace("-", "").strip().upper() for i in children(journal, "issn")} if journal is not None else set()
                    if not own & issns:
                        continue
                pmcid = _pmcid(article, header)
                if pmcid is None:
                    continue
                doi = next((plain_text(a).strip() for a in (children(meta, "article-id") if meta is not None else [])
                            if a.get("pub-id-type") == "doi"), None)
                title = descendant(meta, "article-title") if meta is not None else None
                journal_title = descendant(journal, "journal-title") if journal is not None else None
                yield Item(id=pmcid, filename=f"{pmcid}.xml", expect="xml",
                           content=tostring(article, encoding="utf-8", xml_declaration=True),
                           licence=licence, doi=doi.lower() if doi else None,
                           meta={"title": " ".join(plain_text(title).split()) if title is not None else None,
                                 "journal": " ".join(plain_text(journal_title).split()) if journal_title is not None else None,
                                 "pmcid": pmcid})
