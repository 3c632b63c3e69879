"""The built-in readers by manifest name. A new format is one `SourceReader` subclass registered here, or, from
another package, through the `matcorpus.steps` entry point (corpus/registry.py)."""

from __future__ import annotations

from pydantic import ValidationError

from corpus.readers.base import Failure, SourceReader
from corpus.readers.crystals import CifReader, CrystalCsvReader, CrystalJsonReader, CrystalReader
from corpus.readers.elsevier import ElsevierReader
from corpus.readers.jats import JatsReader
from corpus.readers.jsonl import JsonlSourceReader
from corpus.readers.latex import LatexReader
from corpus.readers.pdf import PdfReader
from corpus.readers.tei import TeiReader
from corpus.readers.text import TextFolderReader

READERS: dict[str, type[SourceReader]] = {
    "jsonl": JsonlSourceReader,
    "text": TextFolderReader,
    "jats": JatsReader,
    "elsevier": ElsevierReader,
    "tei": TeiReader,
    "pdf": PdfReader,
    "latex": LatexReader,
    "cif": CifReader,
    "crystal_csv": CrystalCsvReader,
    "crystal_json": CrystalJsonReader,
}

for _name, _cls in READERS.items():
    _cls.key = _name  # the manifest's name for the reader, recorded on every document


def reader_options_error(reader: type[SourceReader], options: dict, where: str) -> str | None:
    """A message naming the bad option, or None when the options are valid. (Option fields typed `InputPath` are
    files the build reads: resolved against the manifest's folder and checked before any work.)"""
    try:
        reader.Options.model_validate(options)
    except ValidationError as e:
        parts = []
        for err in e.errors():
            loc = ".".join(str(x) for x in err["loc"])
            if err["type"] == "extra_forbidden":
                allowed = ", ".join(reader.Options.model_fields)
                parts.append(f"{where}.{loc}: unknown option for reader {reader.key!r}; allowed: {allowed}")
            else:
                parts.append(f"{where}.{loc}: {err['msg']} (got {err.get('input')!r})")
        return "\n  ".join(parts)
    return None


__all__ = ["READERS", "CrystalReader", "Failure", "SourceReader", "reader_options_error"]
