"""`PaperReader`: the base of every paper format's reader.

A format reader only turns one file into a `Paper` (`read_paper`); this class applies the
section policy, puts the paper's own metadata (doi, title, journal, publisher, year, licence,
source format) and the section spans on the document, and turns XML refusals into failures.
"""

from __future__ import annotations

from typing import ClassVar, Iterator

from datatrove.data import Document
from pydantic import Field

from corpus.papers.model import Paper, SectionPolicy
from corpus.readers.base import Failure, ReaderOptions, SourceReader
from corpus.readers.bounded import open_bounded, read_limited


class PaperOptions(ReaderOptions):
    """Options every paper reader takes."""

    markers: str = Field("plain", pattern="^(plain|llamat)$", description="llamat: [BIB_REF]..[/BIB_REF], [FIG_REF]..[/FIG_REF], [TEX]..[/TEX]")
    keep_appendices: bool = False
    keep_tables: bool = Field(False, description="keep table bodies as text (captions are always kept)")
    keep_keywords: bool = False
    max_bytes: int = Field(256 * 2**20, gt=0, description="larger files fail as too_large before any parsing")


class PaperReader(SourceReader):
    Options = PaperOptions
    source_format: ClassVar[str] = ""

    def read_paper(self, data: bytes, filepath: str) -> Paper | Failure:
        raise NotImplementedError

    def paper_to_document(self, paper: Paper) -> Document:
        opt: PaperOptions = self.options
        policy = SectionPolicy(keep_appendices=opt.keep_appendices, keep_keywords=opt.keep_keywords)
        text, spans, dropped = policy.render(paper)
        metadata = {k: v for k, v in paper.metadata.items() if v is not None and v != ""}
        if paper.title:
            metadata.setdefault("title", paper.title)
        metadata["source_format"] = self.source_format
        metadata["sections"] = spans
        metadata["dropped_sections"] = dropped
        return Document(text=text, id="", metadata=metadata)

    def read_records(self, filepath: str) -> Iterator[Document | Failure]:
        with open_bounded(self.data_folder, filepath, self.options.max_bytes) as f:
            data = read_limited(f, self.options.max_bytes)
        paper = self.read_paper(data, filepath)
        yield paper if isinstance(paper, Failure) else self.paper_to_document(paper)
