"""`corpus extract`: what the toolkit makes of some files, without a manifest or a build.

Runs a reader and the cleaning it applies (section policy, normalisation) on files or folders and
yields one document per paper, with the same stable id and metadata a build would give, or a
failure with its reason. With `--reader auto` the format comes from the file name and, for
`.xml`, from its first bytes.
"""

from __future__ import annotations

import os
from typing import Iterator

from datatrove.data import Document

from corpus.identity import stable_id
from corpus.readers import Failure
from corpus.registry import reader as reader_named
from corpus.readers.bounded import TooLarge
from corpus.readers.paths import link_problem, source_files
from corpus.records import ReaderOptions

_EXTENSIONS = {".pdf": "pdf", ".txt": "text", ".md": "text", ".jsonl": "jsonl", ".nxml": "jats", ".tei": "tei", ".cif": "cif",
               ".tex": "latex", ".ltx": "latex", ".tgz": "latex"}


def detect_reader(path: str) -> str | None:
    name = path.lower()
    if name.endswith((".tei.xml", ".tei")):
        return "tei"
    if name.endswith((".jsonl", ".jsonl.gz", ".jsonl.zst")):
        return "jsonl"
    if name.endswith((".tar.gz", ".tar")):  # arXiv's source download
        return "latex"
    if name.endswith(".csv"):  # a crystal table when it has a CIF column
        with open(path, "rb") as f:
            header = f.readline(65536).lower()
        return "crystal_csv" if b"cif" in header else None
    if name.endswith(".xml"):
        with open(path, "rb") as f:
            head = f.read(8192)
        if b"full-text-retrieval-response" in head or b"xocs:doc" in head or b"elsevier.com/xml" in head:
            return "elsevier"
        if b"<TEI" in head or b"<tei" in head:
            return "tei"
        if b"<article" in head or b"JATS" in head or b"<records>" in head:
            return "jats"
        return None
    return _EXTENSIONS.get(os.path.splitext(name)[1])


def extract(paths: list[str], reader: str = "auto", options: dict | None = None) -> Iterator[tuple[str, Document | Failure]]:
    """(file, document or failure) for every record of every file."""
    cache: dict[str, object] = {}
    policy = ReaderOptions.model_validate({k: v for k, v in (options or {}).items() if k == "follow_symlinks"}).follow_symlinks
    # a named reader takes a folder's files by its own globs (a LaTeX folder's figures are not inputs); auto takes all
    named = reader_named(reader) if reader != "auto" else None
    globs = named.default_globs if named is not None else None
    listed = source_files([os.path.abspath(p) for p in paths], globs, policy)
    for given, files in listed.items():
        for path in files or ([] if os.path.isdir(given) else [given]):
            yield from _extract_file(path, given, listed, reader, options, policy, cache)


def _extract_file(path: str, given: str, listed: dict, reader: str, options: dict | None, policy, cache: dict):
    if problem := link_problem(path, list(listed), policy):
        yield path, problem
        return
    if not os.path.isfile(path):
        yield path, Failure("not_found", "no such file")
        return
    name = reader if reader != "auto" else detect_reader(path)
    cls = reader_named(name) if name else None
    if cls is None:
        yield path, Failure("unknown_format", f"cannot tell the format of {os.path.basename(path)}; pass --reader")
        return
    # the folder the user named is the reader's data folder, as a build's source path is: what an included
    # file may reach (a LaTeX \input of ../x) is bounded by it
    folder = given if os.path.isdir(given) else os.path.dirname(path)
    rel = os.path.relpath(path, folder)
    key = f"{name}:{folder}"
    if key not in cache:
        cache[key] = cls(
            source="extract", component="", data_folder=folder, paths_file=None, failed_writer=None,
            inputs_folder="", options=options or {},
        )
    r = cache[key]
    try:
        position = 0
        for item in r.read_records(rel):
            if isinstance(item, Failure):
                yield path, item
                continue
            doc = r.tag(item, rel, position)
            position += 1
            doc.metadata.pop("component", None)
            doc.id = stable_id(doc.text, doc.metadata)
            yield path, doc
    except Exception as e:  # noqa: BLE001 - one bad file never stops the others
        yield path, Failure("too_large" if isinstance(e, TooLarge) else "unreadable_file", f"{type(e).__name__}: {e}")
