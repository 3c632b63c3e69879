"""OPTIMADE: one protocol across Alexandria, OQMD, JARVIS, COD, MPDS, Materials Cloud and more. Structures are
listed by filter, page by page through `links.next`, and written as CIF (through pymatgen, for the `cif` reader) or
as the OPTIMADE entry itself (JSON).

The listing is read with our polite client rather than the `optimade` package's client: that client is asynchronous
and fans out over every provider, while a fetch job talks to one endpoint under one rate limit and records each entry
in the ledger. Entries become pymatgen structures from the specification's fields (`structure_of`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from corpus.fetch.http import FetchFailed, PoliteClient
from corpus.fetch.manifest import OptimadeJob
from corpus.fetch.names import file_name
from corpus.fetch.service import Item, PageGuard, failed_item, json_page

PAGE_CAP = 64 * 2**20
FIELDS = "lattice_vectors,cartesian_site_positions,species_at_sites,species,chemical_formula_reduced,nsites"


def structure_of(entry: dict):
    """A pymatgen Structure from an OPTIMADE structure entry (lattice vectors and Cartesian positions in Å; a site's
    species by name; partial occupancy taken from `species[].concentration`)."""
    from pymatgen.core import Lattice, Structure

    attributes = entry.get("attributes") if isinstance(entry.get("attributes"), dict) else {}
    try:
        species = {s["name"]: s for s in attributes.get("species") or []}
    except (TypeError, KeyError):
        raise FetchFailed("bad_entry", f"{entry.get('id')}: species is not a list of named species") from None
    sites, positions = attributes.get("species_at_sites"), attributes.get("cartesian_site_positions")
    if not attributes.get("lattice_vectors") or not sites or not positions or len(sites) != len(positions):
        raise FetchFailed("bad_entry", f"{entry.get('id')}: no lattice, sites or positions")
    try:
        occupancy = []
        for name in sites:
            s = species.get(name, {"chemical_symbols": [name], "concentration": [1.0]})
            occupancy.append({el: c for el, c in zip(s["chemical_symbols"], s["concentration"]) if el not in ("X", "vacancy")})
        return Structure(Lattice(attributes["lattice_vectors"]), occupancy, positions, coords_are_cartesian=True)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
        raise FetchFailed("bad_entry", f"{entry.get('id')}: {e}") from None


class OptimadeService:
    def __init__(self, job: OptimadeJob, client: PoliteClient):
        self.job, self.client = job, client

    def _pages(self) -> Iterator[dict]:
        url = self.job.endpoint.rstrip("/") + "/structures"
        params: dict | None = {"filter": self.job.filter, "page_limit": self.job.page_limit, "response_fields": FIELDS}
        guard = PageGuard("OPTIMADE")
        while url:
            guard.follow([url, params])
            body = self.client.get_bytes(url, params=params, max_bytes=PAGE_CAP)
            page = json_page(body, "OPTIMADE", "data")
            guard.page(e.get("id") for e in page.get("data") or [] if isinstance(e, dict))
            if page.get("errors") and not page.get("data"):
                raise FetchFailed("optimade_error", json.dumps(page["errors"])[:300])
            yield page
            links = page.get("links") if isinstance(page.get("links"), dict) else {}
            link = links.get("next")
            url = link.get("href") if isinstance(link, dict) else link
            if url is not None and not isinstance(url, str):
                raise FetchFailed("bad_listing", f"links.next is not a URL: {url!r}")
            params = None  # the next link carries the query

    def count(self) -> int | None:
        for page in self._pages():
            meta = page.get("meta") if isinstance(page.get("meta"), dict) else {}
            returned = meta.get("data_returned")
            return returned if isinstance(returned, int) else None
        return 0

    def discover(self) -> Iterator[Item]:
        for page in self._pages():
            for entry in page.get("data") or []:
                if not isinstance(entry, dict) or entry.get("id") in (None, ""):
                    continue
                try:
                    item = self._item(entry)
                except Exception as e:  # noqa: BLE001 - one odd entry is that entry's failure, the listing goes on
                    item = failed_item(entry.get("id"), self.job.format, e)
                yield item

    def _item(self, entry: dict) -> Item:
        entry_id = str(entry["id"])
        suffix = ".json" if self.job.format == "json" else ".cif"
        if self.job.format == "json":
            content = json.dumps(entry, sort_keys=True, ensure_ascii=False).encode()
        else:
            try:
                content = structure_of(entry).to(fmt="cif").encode()
            except FetchFailed as e:
                return Item(id=entry_id, filename=file_name(entry_id, suffix), expect="cif", licence=self.job.licence, meta={"error": str(e)})
        attributes = entry.get("attributes") if isinstance(entry.get("attributes"), dict) else {}
        formula = attributes.get("chemical_formula_reduced")
        return Item(id=entry_id, filename=file_name(entry_id, suffix), expect=self.job.format, content=content, licence=self.job.licence,
                    meta={"formula": formula if isinstance(formula, str) else None, "provider": self.job.endpoint})
