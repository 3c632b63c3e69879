"""OAI-PMH listing (arXiv, PubMed Central): ListRecords pages over resumption tokens, through the job's polite client.

Written here rather than taken from sickle or oaipmh-scythe: the listing must go through the same client as the
downloads (one rate limit per service, the same retries and size caps), and the XML is parsed with defusedxml; the
protocol part is this one request loop.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from xml.etree.ElementTree import Element

from defusedxml import ElementTree

from corpus.fetch.http import FetchFailed, PoliteClient
from corpus.fetch.service import PageGuard
from corpus.readers.bounded import TooDeep, check_xml_depth

OAI = "{http://www.openarchives.org/OAI/2.0/}"
LISTING_CAP = 64 * 2**20  # one OAI-PMH page: arXiv's are ~1-5 MB, PMC's (ten full-text articles) ~1-10 MB


def list_records(client: PoliteClient, endpoint: str, prefix: str, set_spec: str, from_date: dt.date | None = None,
                 until_date: dt.date | None = None) -> Iterator[tuple[Element, int | None]]:
    """(ListRecords element, completeListSize or None) per page of a set's records in metadata format `prefix`,
    optionally between two datestamps; a repository with nothing to list yields nothing. Any answer that is not a
    usable OAI-PMH page raises FetchFailed with a reason."""
    params = {"verb": "ListRecords", "metadataPrefix": prefix, "set": set_spec}
    if from_date:
        params["from"] = from_date.isoformat()
    if until_date:
        params["until"] = until_date.isoformat()
    guard = PageGuard("OAI-PMH")
    while True:
        guard.follow(params)
        body = client.get_bytes(endpoint, params=params, max_bytes=LISTING_CAP)
        try:
            root = ElementTree.fromstring(body)
            check_xml_depth(root, what="an OAI-PMH page")
        except TooDeep as e:
            raise FetchFailed("too_deep", str(e)) from None
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


def live_records(listing: Element) -> Iterator[tuple[Element, Element]]:
    """(header, metadata) of each record on a page that is not deleted and has metadata."""
    for record in listing.findall(f"{OAI}record"):
        header = record.find(f"{OAI}header")
        metadata = record.find(f"{OAI}metadata")
        if header is None or header.get("status") == "deleted" or metadata is None:
            continue
        yield header, metadata
