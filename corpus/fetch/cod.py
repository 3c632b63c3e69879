"""The Crystallography Open Database: CIFs by COD id, or every entry a COD search returns (its `result` endpoint with
the search's own parameters: `formula`, `el1`..`el8`, `nel1`.., `text`, ...; `format=json`), each downloaded from
`/cod/ID.cif` for the `cif` reader. COD's data are dedicated to the public domain (CC0)."""

from __future__ import annotations

from collections.abc import Iterator

from corpus.fetch.http import FetchFailed, PoliteClient
from corpus.fetch.manifest import CodJob
from corpus.fetch.service import Item
from corpus.readers.bounded import TooDeep, loads_bounded

LISTING_CAP = 256 * 2**20
LICENCE = "CC0-1.0"


class CodService:
    def __init__(self, job: CodJob, client: PoliteClient):
        self.job, self.client = job, client
        self.base = job.endpoint.rstrip("/")

    def _ids(self) -> list[tuple[str, dict]]:
        found = [(str(i), {}) for i in self.job.ids]
        if self.job.search:
            body = self.client.get_bytes(f"{self.base}/result", params={**{k: str(v) for k, v in self.job.search.items()}, "format": "json"},
                                         max_bytes=LISTING_CAP)
            try:
                rows = loads_bounded(body, what="a COD search answer")
            except TooDeep as e:
                raise FetchFailed("too_deep", str(e)) from None
            except (ValueError, UnicodeDecodeError) as e:
                raise FetchFailed("bad_listing", f"COD search answer is not JSON: {e}") from None
            if not isinstance(rows, list):
                raise FetchFailed("bad_listing", "a COD search answer is a list of entries")
            found += [(str(r["file"]), {"formula": r.get("formula") if isinstance(r.get("formula"), str) else None,
                                        "doi": r.get("doi") if isinstance(r.get("doi"), str) else None})
                      for r in rows if isinstance(r, dict) and isinstance(r.get("file"), (str, int)) and r.get("file")]
        return list({cod_id: meta for cod_id, meta in found}.items())  # each id once, in order

    def count(self) -> int | None:
        return len(self._ids())

    def discover(self) -> Iterator[Item]:
        for cod_id, meta in self._ids():
            if not cod_id.isascii() or not cod_id.isdigit():
                yield Item(id=cod_id, filename="", expect="cif", meta={"error": f"bad_id: {cod_id!r} is not a COD id"})
                continue
            yield Item(id=cod_id, filename=f"{cod_id}.cif", expect="cif", url=f"{self.base}/{cod_id}.cif", licence=LICENCE,
                       doi=meta.get("doi"), meta={"formula": (meta.get("formula") or "").strip("- ") or None, "database": "COD"})
