"""The built-in readers' manifest names and where each lives, importing nothing: the command line lists them in its
help without loading a reader (corpus/readers/__init__.py loads one when it is used)."""

from __future__ import annotations

# name -> (module, class). Imported on first use: `corpus --help` or `corpus extract paper.pdf` must not pay for
# pymatgen (the crystal readers) or pandoc's wrapper (LaTeX) that it never runs
BUILTIN: dict[str, tuple[str, str]] = {
    "jsonl": ("corpus.readers.jsonl", "JsonlSourceReader"),
    "text": ("corpus.readers.text", "TextFolderReader"),
    "jats": ("corpus.readers.jats", "JatsReader"),
    "elsevier": ("corpus.readers.elsevier", "ElsevierReader"),
    "tei": ("corpus.readers.tei", "TeiReader"),
    "pdf": ("corpus.readers.pdf", "PdfReader"),
    "latex": ("corpus.readers.latex", "LatexReader"),
    "cif": ("corpus.readers.crystals", "CifReader"),
    "crystal_csv": ("corpus.readers.crystals", "CrystalCsvReader"),
    "crystal_json": ("corpus.readers.crystals", "CrystalJsonReader"),
}
