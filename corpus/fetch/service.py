"""What every service gives the fetch loop: items to fetch, each with where it goes and what it should look like."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Item:
    id: str  # the service's own id (arXiv id, OPTIMADE id, DOI): the ledger's key
    filename: str  # under the job's folder
    expect: str  # what the bytes must look like: source | pdf | xml | json | cif
    url: str | None = None  # fetched from here ...
    content: bytes | None = None  # ... or already in the listing (OPTIMADE entries)
    licence: str | None = None
    doi: str | None = None
    meta: dict = field(default_factory=dict)  # written to the side-car FILE.meta.json with the licence and source
