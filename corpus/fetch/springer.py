"""Springer Nature's Open Access API: each DOI's article as JATS, in the API's `<response>` envelope that the `jats`
reader reads. The API takes its key as a URL parameter (`api_key`) and echoes it in the body (`<apiKey>`): the key
is sent as a parameter the ledger never records (`Item.params`), redacted from every error message, and replaced by
`REDACTED` in the saved file, as in ../shared/data's real example. A DOI that is not open access answers with no
record (`<total>0</total>`): a failure `no_open_access_record`, not an empty paper.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from corpus.fetch.http import FetchFailed
from corpus.fetch.service import DoiListService, Item, doi_file_name

API_KEY = re.compile(rb"<apiKey>[^<]*</apiKey>")
TOTAL = re.compile(rb"<total>\s*(\d+)\s*</total>")


class SpringerService(DoiListService):
    def item(self, doi: str, licence: str | None) -> Item:
        return Item(id=doi, filename=doi_file_name(doi, ".xml"), expect="xml", doi=doi, licence=licence,
                    url=f"{self.job.endpoint.rstrip('/')}/openaccess/jats?q=doi:{doi}",
                    params={"q": f"doi:{doi}", "api_key": os.environ.get(self.job.api_key_env, "")})

    def finalise(self, path: Path) -> Path:
        data = path.read_bytes()
        total = TOTAL.search(data)
        if (total and int(total.group(1)) == 0) or b"<article" not in data:
            path.unlink(missing_ok=True)
            raise FetchFailed("no_open_access_record", "the API has no open-access JATS for this DOI")
        if API_KEY.search(data):
            partial = path.with_name(path.name + ".partial")
            partial.write_bytes(API_KEY.sub(b"<apiKey>REDACTED</apiKey>", data))
            os.replace(partial, path)
        return path
