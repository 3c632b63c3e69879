"""Stable document ids, derived from the document itself, never from its position in a stream.

Order of preference: a crystal record's database id or structure hash (`corpus.crystals`), the DOI (normalised, so the same paper from XML and from PDF gets the
same id), then the record's own id inside its source (prefixed with the source name, because
two databases may both have a record 17), then a hash of the text. Dedup, resume and the
provenance side-car all key on this id.
"""

from __future__ import annotations

import hashlib
import re

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)
_DOI_SHAPE = re.compile(r"^10\.\d{4,9}/\S+$")


def normalise_doi(value: str) -> str | None:
    """`https://doi.org/10.1186/ABC` -> `10.1186/abc`; None when it is not a DOI."""
    doi = _DOI_PREFIX.sub("", value.strip()).strip().lower()
    return doi if _DOI_SHAPE.match(doi) else None


def content_id(text: str) -> str:
    return "sha1:" + hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def stable_id(text: str, metadata: dict) -> str:
    if metadata.get("crystal_id"):  # a crystal's database id (mp-1234, cod-9008536) or its canonical structure hash
        return str(metadata["crystal_id"])
    if metadata.get("doi"):
        doi = normalise_doi(str(metadata["doi"]))
        if doi:
            return f"doi:{doi}"
    if metadata.get("source_id"):
        return f"{metadata['source']}:{metadata['source_id']}"
    return content_id(text)


class StableIdAssigner(PipelineStep):
    """Sets `document.id` from the document (DOI > source id > content hash)."""

    name = "🪪 Stable ids"
    type = "🏷 - ANNOTATOR"

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            doc.id = stable_id(doc.text, doc.metadata)
            self.stat_update("doi" if doc.id.startswith("doi:") else "hash" if doc.id.startswith("sha1:") else "source_id")
            yield doc
