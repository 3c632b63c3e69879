"""What every service gives the fetch loop: items to fetch, each with where it goes and what it should look like."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from corpus.fetch.names import file_name
from corpus.readers.bounded import TooDeep, loads_bounded


@dataclass
class Item:
    id: str  # the service's own id (arXiv id, OPTIMADE id, DOI): the ledger's key
    filename: str  # under the job's folder: from names.file_name whenever any part of it comes from the service
    expect: str  # what the bytes must look like: source | pdf | xml | json | cif | csv | zip | tar
    url: str | None = None  # fetched from here ...
    content: bytes | Iterable[bytes] | None = None  # ... or already in the listing (OPTIMADE entries), or written as
    # the listing's pages arrive (a Crossref journal's works): chunks, so no journal is held in memory whole
    licence: str | None = None
    doi: str | None = None
    meta: dict = field(default_factory=dict)  # written to the side-car FILE.meta.json with the licence and source
    params: dict | None = None  # query parameters sent but never recorded (a key some services take in the URL)


def doi_file_name(doi: str, suffix: str = "") -> str:
    return file_name(doi.lower(), suffix)


def failed_item(item_id: object, expect: str, error: BaseException) -> Item:
    """The Item that stands for a record the service listed but that cannot be fetched: the loop fails it with the
    error's reason, so it is counted and in the ledger, and the listing goes on."""
    from corpus.fetch.http import FetchFailed

    reason = error.reason if isinstance(error, FetchFailed) else "too_deep" if isinstance(error, (TooDeep, RecursionError)) else "bad_entry"
    return Item(id=str(item_id)[:1000], filename="", expect=expect, meta={"error": f"{reason}: {type(error).__name__}: {error}"[:300]})


class PageGuard:
    """Stops a listing that goes round: a next link, cursor or token already followed, or a page that lists only
    items an earlier page listed (a server that ignores the paging), as FetchFailed("repeated_page")."""

    def __init__(self, service: str):
        self.service, self.followed, self.pages = service, set(), set()

    def follow(self, key: object) -> None:
        text = json.dumps(key, sort_keys=True, default=str)
        if text in self.followed:
            raise _failed("repeated_page", f"{self.service} gave a next page it had already given ({text[:120]}): the listing stops here")
        self.followed.add(text)

    def page(self, ids: Iterable[object]) -> None:
        ids = sorted(str(i) for i in ids)
        if not ids:
            return
        digest = hashlib.sha256("\n".join(ids).encode("utf-8", "surrogatepass")).hexdigest()
        if digest in self.pages:
            raise _failed("repeated_page", f"{self.service} listed the same {len(ids)} items again: the listing stops here")
        self.pages.add(digest)


def _failed(reason: str, detail: str):
    from corpus.fetch.http import FetchFailed

    return FetchFailed(reason, detail)


def doi_list(dois_from: str, root: Path) -> Iterator[tuple[str, str | None, str | None]]:
    """(DOI, licence, journal) for the full-text jobs: a Crossref job's folder (its ISSN.jsonl files) or a file of
    one DOI per line, relative to the fetch's output_dir; each DOI once."""
    from corpus.fetch.http import FetchFailed

    source = Path(dois_from)
    source = source if source.is_absolute() else root / source
    seen = set()
    if source.is_file():
        rows = ((line.strip().lower(), None, None) for line in source.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#"))
    elif source.is_dir():
        rows = ((r["doi"], r.get("licence"), r.get("journal") or None) for path in sorted(source.glob("*.jsonl"))
                for r in (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()))
    else:
        raise FetchFailed("no_dois", f"dois_from: {source} is neither a Crossref job's folder nor a file of DOIs")
    for doi, licence, journal in rows:
        if doi not in seen:
            seen.add(doi)
            yield doi, licence, journal


def json_page(body: bytes, service: str, list_key: str) -> dict:
    """A listing page: a JSON object whose `list_key` is a list, or FetchFailed("bad_listing") saying what it is not."""
    from corpus.fetch.http import FetchFailed

    try:
        page = loads_bounded(body, what=f"a {service} answer")
    except TooDeep as e:
        raise FetchFailed("too_deep", str(e)) from None
    except (ValueError, UnicodeDecodeError) as e:
        raise FetchFailed("bad_listing", f"{service} answer is not JSON: {e}") from None
    if not isinstance(page, dict) or not isinstance(page.get(list_key, []), list):
        raise FetchFailed("bad_listing", f"a {service} answer is an object with a {list_key} list")
    return page


class DoiListService:
    """A full-text service fed by a DOI list (`dois_from`: a Crossref job's folder or a file of DOIs): subclasses say
    how one DOI becomes an Item (`item`)."""

    root: Path = Path(".")  # the fetch's output_dir, set by the loop: dois_from is read under it

    def __init__(self, job, client):
        self.job, self.client = job, client

    def count(self) -> int | None:
        from corpus.fetch.http import FetchFailed

        try:
            return sum(1 for _ in doi_list(self.job.dois_from, self.root))
        except FetchFailed:
            return None  # the Crossref job that lists the DOIs has not run yet

    def discover(self) -> Iterator[Item]:
        for doi, licence, journal in doi_list(self.job.dois_from, self.root):
            item = self.item(doi, licence)
            if journal:
                item.meta.setdefault("journal", journal)
            yield item

    def item(self, doi: str, licence: str | None) -> Item:
        raise NotImplementedError
