"""Materials Project: structures with their properties (formation energy, band gap, energy above hull, ...) from the
summary endpoint, one `MATERIAL_ID.json` per material in the shape the `crystal_json` reader reads (a record with a
pymatgen `structure` and its properties). The key goes in the `X-API-KEY` header, from the environment.

The summary endpoint is a URL template with `_fields`, `_limit` and `_skip` paging, read with our polite client (one
rate limit, Retry-After, caps, the ledger) rather than mp-api's MPRester, which pages and retries on its own terms.
Materials Project data is CC BY 4.0.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from corpus.fetch.http import PoliteClient
from corpus.fetch.manifest import MaterialsProjectJob
from corpus.fetch.names import file_name
from corpus.fetch.service import Item, PageGuard, failed_item, json_page

PAGE_CAP = 256 * 2**20
LICENCE = "CC-BY-4.0"


class MaterialsProjectService:
    def __init__(self, job: MaterialsProjectJob, client: PoliteClient):
        self.job, self.client = job, client

    def _page(self, skip: int, limit: int) -> dict:
        params = {"_fields": ",".join(["material_id", "structure", *self.job.properties]), "_limit": limit, "_skip": skip,
                  **{k: str(v) for k, v in self.job.query.items()}}
        body = self.client.get_bytes(f"{self.job.endpoint.rstrip('/')}/materials/summary/", params=params, max_bytes=PAGE_CAP)
        page = json_page(body, "Materials Project", "data")
        page.setdefault("data", [])
        return page

    def count(self) -> int | None:
        meta = self._page(0, 1).get("meta")
        total = meta.get("total_doc") if isinstance(meta, dict) else None
        return total if isinstance(total, int) else None

    def discover(self) -> Iterator[Item]:
        skip, guard = 0, PageGuard("Materials Project")
        while True:
            data = self._page(skip, self.job.page_size)["data"]
            guard.page(r.get("material_id") for r in data if isinstance(r, dict))
            for record in data:
                if not isinstance(record, dict) or not record.get("material_id"):
                    continue
                material_id = str(record["material_id"])
                if not isinstance(record.get("structure"), dict):
                    yield Item(id=material_id, filename="", expect="json", meta={"error": "bad_entry: no structure"})
                    continue
                try:
                    content = json.dumps(record, sort_keys=True, ensure_ascii=False).encode()
                except Exception as e:  # noqa: BLE001 - one odd record is that record's failure, the listing goes on
                    yield failed_item(material_id, "json", e)
                    continue
                formula = record.get("formula_pretty")
                yield Item(id=material_id, filename=file_name(material_id, ".json"), expect="json",
                           content=content, licence=LICENCE, meta={"formula": formula if isinstance(formula, str) else None})
            if len(data) < self.job.page_size:
                return
            skip += len(data)
