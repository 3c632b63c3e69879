"""OpenAlex: works by any OpenAlex filter (a journal's ISSN, a topic, open access, a date range), cursor by cursor,
with their open-access locations and licences. A discovery source that feeds the rest: each work's metadata as
`WORK.json`, or (`files: pdf`) the PDF at its best open-access location, for the `pdf` reader, with that location's
licence. OpenAlex asks for an API key since February 2026 (`api_key`, a URL parameter: never recorded, redacted from
errors) and a `mailto` for its polite pool.

The works endpoint is a URL template with cursor paging, read with our polite client rather than pyalex (whose
paging and retries are its own), so the listing shares the job's rate limit, caps and ledger.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

from corpus.fetch.http import PoliteClient
from corpus.fetch.manifest import OpenAlexJob
from corpus.fetch.names import file_name
from corpus.fetch.service import Item, PageGuard, failed_item, json_page

PAGE_CAP = 128 * 2**20
SELECT = "id,doi,title,publication_year,primary_location,best_oa_location,open_access"


class OpenAlexService:
    def __init__(self, job: OpenAlexJob, client: PoliteClient, contact: str | None = None):
        self.job, self.client, self.contact = job, client, contact

    def _params(self, cursor: str, per_page: int) -> dict:
        params = {"filter": self.job.filter, "per-page": per_page, "cursor": cursor, "select": SELECT}
        key = os.environ.get(self.job.api_key_env) if self.job.api_key_env else None
        return {**params, **({"api_key": key} if key else {}), **({"mailto": self.contact} if self.contact else {})}

    def _page(self, cursor: str, per_page: int) -> dict:
        body = self.client.get_bytes(f"{self.job.endpoint.rstrip('/')}/works", params=self._params(cursor, per_page), max_bytes=PAGE_CAP)
        page = json_page(body, "OpenAlex", "results")
        page.setdefault("results", [])
        return page

    def count(self) -> int | None:
        meta = self._page("*", 1).get("meta")
        count = meta.get("count") if isinstance(meta, dict) else None
        return count if isinstance(count, int) else None

    def discover(self) -> Iterator[Item]:
        cursor, guard = "*", PageGuard("OpenAlex")
        while cursor:
            guard.follow(cursor)
            page = self._page(cursor, self.job.per_page)
            works = [w for w in page["results"] if isinstance(w, dict) and w.get("id")]
            guard.page(w["id"] for w in works)
            for work in works:
                try:
                    item = self._item(work)
                except Exception as e:  # noqa: BLE001 - one odd work is that work's failure, the listing goes on
                    item = failed_item(work.get("id"), "pdf" if self.job.files == "pdf" else "json", e)
                yield item
            meta = page.get("meta") if isinstance(page.get("meta"), dict) else {}
            nxt = meta.get("next_cursor")
            cursor = nxt if isinstance(nxt, str) and nxt != cursor and page["results"] else None

    def _item(self, work: dict) -> Item:
        work_id = str(work["id"]).rstrip("/").rsplit("/", 1)[-1]
        best = work.get("best_oa_location") if isinstance(work.get("best_oa_location"), dict) else {}
        primary = work.get("primary_location") if isinstance(work.get("primary_location"), dict) else {}
        licence = best.get("license") or primary.get("license")
        doi = str(work["doi"]).removeprefix("https://doi.org/").lower() if work.get("doi") else None
        meta = {"title": work.get("title"), "year": work.get("publication_year"),
                "source": (primary.get("source") or {}).get("display_name") if isinstance(primary.get("source"), dict) else None}
        if self.job.files == "pdf":
            if not best.get("pdf_url"):
                return Item(id=work_id, filename="", expect="pdf", doi=doi, meta={"error": "no_oa_pdf: no open-access PDF location"})
            if not isinstance(best["pdf_url"], str):
                return Item(id=work_id, filename="", expect="pdf", doi=doi, meta={"error": "bad_url: the pdf_url is not a URL"})
            return Item(id=work_id, filename=file_name(work_id, ".pdf"), expect="pdf", url=best["pdf_url"], licence=licence, doi=doi, meta=meta)
        return Item(id=work_id, filename=file_name(work_id, ".json"), expect="json", content=json.dumps(work, sort_keys=True, ensure_ascii=False).encode(),
                    licence=licence, doi=doi, meta=meta)
