"""What a reader yields besides documents, and the base of reader options (a leaf module: no project imports)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, NamedTuple, Union

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from datatrove.data import Document

CRYSTAL = "crystal"  # metadata["kind"] of every crystal document


def is_crystal(doc: "Document") -> bool:
    """Crystal records skip the text filters (language, prose, quality) and text dedup; their own steps judge them."""
    return doc.metadata.get("kind") == CRYSTAL


class ReaderOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    follow_symlinks: Union[Literal["inside", "all"], Literal[False]] = Field(
        "inside", description="inside: follow a link only to somewhere inside the source's own paths (others fail as "
        "outside_source); false: follow none (symlink_not_followed); all: follow every link (corpus/readers/paths.py)",
    )


class Failure(NamedTuple):
    """A record (or a whole file) that could not be read."""

    kind: str  # short code that the summary groups by: unreadable_file, invalid_json, not_utf8, ...
    error: str  # the message a person reads
    line: int | None = None  # 1-based record position inside the file, when the failure is one record


# `corpus fetch` writes FILE.meta.json beside every file it fetches (id, DOI, licence, source URL): readers merge it
# into the documents' metadata (corpus/readers/base.py), and a folder's files never include it
SIDECAR_SUFFIX = ".meta.json"
SIDECAR_KEYS = {"licence": "licence", "doi": "doi", "url": "source_url", "service": "fetched_from", "journal": "journal"}


def sidecar_metadata(path: str) -> dict:
    """The document metadata a fetched file's side-car gives (empty without one, or with one that is not JSON)."""
    import json
    import os

    sidecar = path + SIDECAR_SUFFIX
    if not os.path.isfile(sidecar) or os.path.getsize(sidecar) > 1 << 20:
        return {}
    try:
        with open(sidecar, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return {ours: data[theirs] for theirs, ours in SIDECAR_KEYS.items() if isinstance(data, dict) and data.get(theirs) is not None}
