"""Crossref: journals by ISSN or by name (LLaMat's journal list), then every work of each journal in a date range,
with its DOI, title, licence and type, cursor by cursor. The result feeds the full-text jobs (`elsevier`), which
read the DOIs from this job's folder.

Crossref's REST API is a URL template returning JSON, so it is read with our polite client (one rate limit, the
`mailto` polite pool, Retry-After, caps, the ledger) rather than habanero, whose requests have none of those.
One item = one journal: `ISSN.jsonl` (a line per work) is written as its pages arrive, into a temporary file renamed
into place when the journal's last page is read, so no journal is held in memory and a rerun resumes journal by
journal. An ISSN a server answers with is used as a file name only when it is an ISSN (NNNN-NNNC). Names that match no journal, or several, are failures with the candidates in the ledger's
reason (`unmatched_journal`, `ambiguous_journal`), never a guess.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from corpus.fetch.http import FetchFailed, PoliteClient, QuotaExhausted
from corpus.fetch.manifest import CrossrefJob
from corpus.fetch.names import file_name
from corpus.fetch.service import Item, PageGuard, failed_item
from corpus.readers.bounded import TooDeep, loads_bounded

PAGE_CAP = 64 * 2**20
SELECT = "DOI,title,container-title,ISSN,license,type,published,publisher"
ISSN = re.compile(r"\d{4}-\d{3}[\dX]")


def _text(value) -> str:
    """A Crossref text field (a list of strings, or a string) as one string; anything else as nothing."""
    if isinstance(value, str):
        return value
    return " ".join(v for v in value if isinstance(v, str)) if isinstance(value, list) else ""


def issn_of(journal: dict) -> str | None:
    """A journal record's first ISSN when it is one."""
    issns = journal.get("ISSN")
    first = issns[0] if isinstance(issns, list) and issns else issns
    return first.upper() if isinstance(first, str) and ISSN.fullmatch(first.upper()) else None


def _norm(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", title.lower().replace("&", " and ")).strip()


def _json(body: bytes) -> dict:
    try:
        data = loads_bounded(body, what="a Crossref answer")
    except TooDeep as e:
        raise FetchFailed("too_deep", str(e)) from None
    except (ValueError, UnicodeDecodeError) as e:
        raise FetchFailed("bad_listing", f"Crossref answer is not JSON: {e}") from None
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, dict):
        raise FetchFailed("bad_listing", "a Crossref answer has a message object")
    return message


def licence_of(work: dict) -> str | None:
    """The version-of-record licence URL, else the first one (Crossref lists one per content version)."""
    listed = work.get("license") if isinstance(work.get("license"), list) else []
    licences = [x for x in listed if isinstance(x, dict) and isinstance(x.get("URL"), str) and x.get("URL")]
    vor = [x for x in licences if x.get("content-version") == "vor"]
    return (vor or licences)[0]["URL"] if licences else None


class CrossrefService:
    def __init__(self, job: CrossrefJob, client: PoliteClient, contact: str | None = None):
        self.job, self.client, self.contact = job, client, contact
        self.base = job.endpoint.rstrip("/")

    def _params(self, **extra) -> dict:
        return {**({"mailto": self.contact} if self.contact else {}), **extra}

    def resolve(self, name: str) -> str:
        """A journal name to its ISSN: the one journal whose normalised title equals the name."""
        items = _json(self.client.get_bytes(f"{self.base}/journals", params=self._params(query=name, rows=20), max_bytes=PAGE_CAP)).get("items") or []
        items = items if isinstance(items, list) else []
        exact = [j for j in items if isinstance(j, dict) and _norm(_text(j.get("title"))) == _norm(name) and j.get("ISSN") is not None]
        issns = sorted({issn_of(j) for j in exact} - {None})
        if exact and not issns:
            raise FetchFailed("bad_issn", f"{name!r}: the journal's ISSN is not an ISSN ({str(exact[0].get('ISSN'))[:60]!r})")
        if not issns:
            near = ", ".join(_text(j.get("title"))[:80] for j in items[:3] if isinstance(j, dict))
            raise FetchFailed("unmatched_journal", f"{name!r}: no journal of that title (nearest: {near or 'none'})")
        if len(issns) > 1:
            raise FetchFailed("ambiguous_journal", f"{name!r}: {len(issns)} journals of that title ({', '.join(issns)})")
        return issns[0]

    def _filter(self) -> str:
        parts = [f"type:{self.job.work_type}"] if self.job.work_type else []
        if self.job.from_date:
            parts.append(f"from-pub-date:{self.job.from_date.isoformat()}")
        if self.job.until_date:
            parts.append(f"until-pub-date:{self.job.until_date.isoformat()}")
        return ",".join(parts)

    def works(self, issn: str) -> Iterator[tuple[dict, int | None]]:
        cursor, guard = "*", PageGuard("Crossref")
        while True:
            guard.follow(cursor)
            params = self._params(cursor=cursor, rows=self.job.rows, select=SELECT)
            if self._filter():
                params["filter"] = self._filter()
            message = _json(self.client.get_bytes(f"{self.base}/journals/{issn}/works", params=params, max_bytes=PAGE_CAP))
            listed = message.get("items") if isinstance(message.get("items"), list) else []
            items = [w for w in listed if isinstance(w, dict) and isinstance(w.get("DOI"), str) and w["DOI"].strip()]
            guard.page(w["DOI"].lower() for w in items)
            total = message.get("total-results")
            yield from ((w, total if isinstance(total, int) else None) for w in items)
            nxt = message.get("next-cursor")
            if not items or not isinstance(nxt, str) or nxt == cursor:
                return
            cursor = nxt

    def count(self) -> int | None:
        """Works over the journals that resolve; the ones that do not are in `notes` (a dry run prints them)."""
        total, self.notes = 0, []
        for journal in self._journals():
            issn, problem = self._issn(journal)
            if problem and problem.startswith(("too_slow", "network")):
                raise FetchFailed(*problem.split(": ", 1))  # the service cannot be reached: the dry run says so once
            if problem:
                self.notes.append(problem)
                continue
            for _, n in self.works(issn):
                total += n or 0
                break
        return total

    def _issn(self, journal: str) -> tuple[str | None, str | None]:
        """(ISSN, None) for an ISSN or a title that resolves; (None, why not) otherwise. A quota still stops the job."""
        if ISSN.fullmatch(journal):
            return journal, None
        try:
            return self.resolve(journal), None
        except QuotaExhausted:
            raise
        except FetchFailed as e:
            return None, f"{e.reason}: {e.detail}"

    def _journals(self) -> list[str]:
        listed = []
        if self.job.journals_file:
            import csv

            with open(self.job.journals_file, newline="", encoding="utf-8") as f:
                for row in csv.DictReader(f):
                    if row.get("journal") and (not self.job.publisher or (row.get("publisher") or "").lower() == self.job.publisher.lower()):
                        listed.append(row["journal"].replace("_", " ").strip())
        return list(dict.fromkeys([*self.job.issns, *self.job.journals, *listed]))

    def discover(self) -> Iterator[Item]:
        for journal in self._journals():
            try:
                issn, problem = self._issn(journal)
            except QuotaExhausted:
                raise
            except Exception as e:  # noqa: BLE001 - one journal's bad answer is that journal's failure
                yield failed_item(journal, "json", e)
                continue
            if problem:
                yield Item(id=journal, filename="", expect="json", meta={"error": problem})
                continue
            meta = {"journal": journal, "works": 0}
            yield Item(id=issn, filename=file_name(issn, ".jsonl"), expect="json", content=self._lines(issn, meta), meta=meta)

    def _lines(self, issn: str, meta: dict) -> Iterator[bytes]:
        """The journal's works as JSON lines, page by page (read while the loop writes the file); `meta["works"]`
        counts them for the side-car."""
        for work, _ in self.works(issn):
            published = work.get("published") if isinstance(work.get("published"), dict) else {}
            line = json.dumps({"doi": work["DOI"].strip().lower(), "title": _text(work.get("title")),
                               "journal": _text(work.get("container-title")), "issn": issn,
                               "type": work.get("type") if isinstance(work.get("type"), str) else None,
                               "publisher": work.get("publisher") if isinstance(work.get("publisher"), str) else None,
                               "licence": licence_of(work), "published": published.get("date-parts")}, ensure_ascii=False, sort_keys=True)
            meta["works"] += 1
            yield (line + "\n").encode()
