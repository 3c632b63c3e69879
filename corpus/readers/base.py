"""The reader contract every format plugs into.

A `SourceReader` is a datatrove `BaseDiskReader` with accounting: its `read_records(path)`
yields either a `Document` or a `Failure`, and the base class does the rest — default
metadata, the source and component tags, failures written to OUT/failed/ with their reason,
a file that raises mid-way recorded as failed without stopping the run, and an input count
per task that the build later reconciles against the outcomes.

A new format is one new subclass with an `Options` model and `read_records`; nothing else
changes.
"""

from __future__ import annotations

import functools
import json
import os
from collections import Counter
from typing import ClassVar, Iterator

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.readers.base import BaseDiskReader

from corpus.outcomes import OutcomeWriter
from corpus.progress import ProgressBeacon
from corpus.readers.bounded import TooLarge
from corpus.readers.paths import link_problem
from corpus.records import Failure, ReaderOptions, sidecar_metadata

__all__ = ["Failure", "ReaderOptions", "SourceReader"]


class _BuiltinKey:
    """A built-in reader's manifest name, found from its module and class in the table of built-in readers: a
    worker process that imports one reader module (datatrove's spawned tasks do) gets the same name as the parent."""

    def __get__(self, obj, cls) -> str:
        return _builtin_names().get((cls.__module__, cls.__name__), "")


@functools.lru_cache(maxsize=1)
def _builtin_names() -> dict[tuple[str, str], str]:
    """(module, class) -> manifest name of every built-in reader (read per document: built once)."""
    from corpus.readers.names import BUILTIN

    return {where: name for name, where in BUILTIN.items()}


class SourceReader(BaseDiskReader):
    """Base of all readers: accounting, metadata and failure handling around `read_records`."""

    type = "📖 - READER"
    Options: ClassVar[type[ReaderOptions]] = ReaderOptions
    default_globs: ClassVar[tuple[str, ...]] = ("*",)  # files taken when a source path is a folder
    key: ClassVar[str] = _BuiltinKey()  # the manifest's name for this reader (a plugin's is set where it is registered)

    def __init__(
        self,
        source: str,
        component: str,
        data_folder: str,
        paths_file: str,
        failed_writer: OutcomeWriter,
        inputs_folder: str,
        options: dict | None = None,
        default_metadata: dict | None = None,
        progress: ProgressBeacon | None = None,
        source_paths: list[str] | None = None,
    ):
        super().__init__(data_folder, paths_file=paths_file, default_metadata=default_metadata)
        self.source = source
        self.component = component
        self.options = self.Options.model_validate(options or {})
        self.failed_writer = failed_writer
        self.inputs_folder = inputs_folder
        self.progress = progress
        self.source_paths = list(source_paths) if source_paths else [data_folder]  # what links may point into
        self.name = f"{self.name} [{source}]"
        self._rank = 0

    @classmethod
    def preflight(cls, options: ReaderOptions) -> list[str]:
        """Problems with the options that need the file system (e.g. a table's columns); checked before work."""
        return []

    def read_records(self, filepath: str) -> Iterator[Document | Failure]:
        raise NotImplementedError

    def checked_records(self, filepath: str) -> Iterator[Document | Failure]:
        """`read_records`, unless the path reaches outside the source through a link the policy does not follow."""
        problem = link_problem(os.path.join(self.data_folder.path, filepath), self.source_paths, self.options.follow_symlinks)
        if problem:
            yield problem
            return
        yield from self.read_records(filepath)

    # datatrove's contract: one file -> documents (used by datatrove tools that call read_file directly)
    def read_file(self, filepath: str) -> DocumentsPipeline:
        documents = (item for item in self.checked_records(filepath) if isinstance(item, Document))
        for position, doc in enumerate(documents):
            yield self.tag(doc, filepath, position)

    def tag(self, doc: Document, filepath: str, position: int) -> Document:
        """Default metadata, source, component, file, and the record key: the file and the document's
        position in it, stable however the files are split into tasks."""
        # the source's metadata, then what `corpus fetch` recorded beside the file, then the document's own
        doc.metadata = (self.default_metadata or {}) | self._sidecar(filepath) | doc.metadata
        doc.metadata["record"] = f"{self.source}:{filepath}#{position}"
        doc.metadata["source"] = self.source
        doc.metadata["component"] = self.component
        doc.metadata["reader"] = self.key
        doc.metadata.setdefault("file_path", self.data_folder.resolve_paths(filepath))
        return doc

    def _sidecar(self, filepath: str) -> dict:
        if getattr(self, "_sidecar_of", (None,))[0] != filepath:  # one read per file, not per document
            self._sidecar_of = (filepath, sidecar_metadata(self.data_folder.resolve_paths(filepath)))
        return self._sidecar_of[1]

    def _failure_document(self, failure: Failure, filepath: str) -> Document:
        where = filepath if failure.line is None else f"{filepath}#L{failure.line}"
        return Document(
            text="",
            id=f"{self.source}:{where}",
            metadata={
                "record": f"{self.source}:{where}",
                "source": self.source,
                "component": self.component,
                "reader": self.key,
                "file_path": self.data_folder.resolve_paths(filepath),
                "line": failure.line,
                "error_kind": failure.kind,
                "error": failure.error[:2000],
            },
        )

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self._rank = rank
        yield from super().run(data, rank, world_size)

    def read_files_shard(self, shard: list[str]) -> DocumentsPipeline:
        counts: Counter = Counter(files=0, documents=0, failed=0)
        rank = self._rank
        with self.failed_writer as failed:
            for filepath in shard:
                counts["files"] += 1
                yielded = 0
                try:
                    for item in self.checked_records(filepath):
                        if isinstance(item, Failure):
                            failed.write(self._failure_document(item, filepath), rank)
                            counts["failed"] += 1
                            self.stat_update("failed")
                            continue
                        doc = self.tag(item, filepath, yielded)
                        yielded += 1
                        counts["documents"] += 1
                        self.stat_update("documents")
                        yield doc
                except Exception as e:  # noqa: BLE001 - a bad file must never stop the run
                    kind = "too_large" if isinstance(e, TooLarge) else "unreadable_file" if yielded == 0 else "truncated_file"
                    failed.write(self._failure_document(Failure(kind, f"{type(e).__name__}: {e}"), filepath), rank)
                    counts["failed"] += 1
                    self.stat_update("failed")
                if self.progress:
                    self.progress.add(rank, files=1, documents=yielded)
        if self.progress:
            self.progress.flush()
        os.makedirs(self.inputs_folder, exist_ok=True)
        with open(os.path.join(self.inputs_folder, f"{self.source}-{rank:05d}.json"), "w") as f:
            json.dump({"source": self.source, "rank": rank, **counts}, f, sort_keys=True)
