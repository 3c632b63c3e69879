"""arXiv-style LaTeX sources -> papers, with the maths kept as LaTeX.

A source path may hold arXiv downloads (`2305.18244.tar.gz`, `.tgz`, `.tar`, or a single gzipped `.tex`
saved as `.gz`) and authors' folders (a main `.tex` beside its `\\input` files). Each archive is one paper;
on disk each main `.tex` (with `\\documentclass` and `\\begin{document}`) is one paper, and a `.tex`
without them is a part of one: it yields nothing when a main file of its folder tree includes it, and
fails as `latex_fragment` when none does (so no text is lost unseen). corpus/papers/latex_source.py reads
the source defensively and splices the inputs in; corpus/papers/pandoc.py turns it into a `Paper`.

Document metadata: `latex_main` (the main file), `latex_inputs` (files spliced in), `latex_missing_inputs`
(includes naming no file of the source: packages such as `\\input xy`, or files the source left out),
`math_spans`, `latex_other_mains` (further main files of an archive, e.g. a supplement, not read), `latex_lines_dropped` (lines of the flattened source blanked because pandoc's parser rejected
them: the paper is kept without them rather than lost), and `arxiv_id` when the file is named like one.
"""

from __future__ import annotations

import os
import posixpath
import re
from functools import lru_cache
from typing import Iterator

from datatrove.data import Document
from pydantic import Field

from corpus.papers.latex_source import (
    Limits,
    SourceProblem,
    SourceTree,
    flatten,
    has_suffix,
    is_main,
    main_file,
    main_files,
    package_inputs,
    scope_of,
    tree_from_archive,
)
from corpus.papers.pandoc import paper_from_ast, run_pandoc
from corpus.papers.reader import PaperOptions, PaperReader
from corpus.readers.base import Failure
from corpus.readers.bounded import open_bounded, read_limited

_ARXIV = re.compile(r"^(?:arXiv[-_:])?(\d{4}\.\d{4,5}|[a-z-]+(?:\.[A-Z]{2})?[_/]?\d{7})(?:v\d+)?$", re.IGNORECASE)
_ARCHIVES = (".tar.gz", ".tgz", ".tar", ".gz")


class LatexOptions(PaperOptions):
    timeout_s: float = Field(120, gt=0, description="pandoc's time limit per paper, all its repair runs together "
                             "(a hostile macro ends as latex_timeout)")
    max_unpacked_bytes: int = Field(512 * 2**20, gt=0, description="the archive's member sizes together (a decompression bomb fails as too_large)")
    max_file_bytes: int = Field(16 * 2**20, gt=0, description="any one .tex or other text file of the source")
    max_flat_bytes: int = Field(32 * 2**20, gt=0, description="the main file with every \\input spliced in")
    caption_placement: str = Field("end", pattern="^(end|inline)$", description="end: every caption in the captions block "
                                   "after the body (as the XML readers); inline: where its figure or table stands in the source")


class LatexReader(PaperReader):
    name = "📐 LaTeX"
    source_format = "latex"
    Options = LatexOptions
    default_globs = ("*.tex", "*.ltx", "*.TEX", "*.tgz", "*.tar", "*.gz")

    def _limits(self) -> Limits:
        o = self.options
        return Limits(o.max_unpacked_bytes, o.max_file_bytes, o.max_flat_bytes)

    def read_records(self, filepath: str) -> Iterator[Document | Failure]:
        try:
            if has_suffix(filepath, _ARCHIVES):
                with open_bounded(self.data_folder, filepath, self.options.max_bytes) as f:
                    data = read_limited(f, self.options.max_bytes)
                tree = tree_from_archive(data, self._limits())
                main = main_file(tree)
                other_mains = [p for p in main_files(tree) if p != main]
            else:
                folder = self.data_folder.path
                rel = posixpath.normpath(filepath.replace(os.sep, "/"))
                tree = SourceTree(folder=folder, scope=scope_of(rel), limits=self._limits())
                if not is_main(tree.read(rel) or b""):
                    if not self._included_by_a_main(folder, rel):
                        yield Failure("latex_fragment", "a .tex without \\documentclass that no main file of its folder tree includes")
                    return
                main = rel
                other_mains = []
            flat = flatten(tree, main)
            other_mains = [p for p in other_mains if p not in flat.inputs]
        except SourceProblem as e:
            yield e.failure()
            return
        parsed = run_pandoc(flat.text, self.options.timeout_s)
        if isinstance(parsed, Failure):
            yield parsed
            return
        ast, lines_dropped = parsed
        paper, counts = paper_from_ast(ast, self.options.markers, self.options.keep_tables, self.options.caption_placement == "inline")
        if not paper.sections and not paper.abstract:
            yield Failure("no_text", "pandoc found no sections and no abstract in the source")
            return
        paper.metadata.update(latex_main=flat.main, latex_inputs=flat.inputs, latex_missing_inputs=sorted(set(flat.missing)),
                              math_spans=counts["math_spans"], latex_lines_dropped=lines_dropped)
        if other_mains:  # a second document in the archive (a supplement, a response letter): named, not read
            paper.metadata["latex_other_mains"] = other_mains
        stem = os.path.basename(filepath)
        for suffix in _ARCHIVES + (".tex", ".ltx"):
            if stem.lower().endswith(suffix):
                stem = stem[: -len(suffix)]
        if m := _ARXIV.match(stem):
            paper.metadata["arxiv_id"] = m.group(1)
        yield self.paper_to_document(paper)

    def _included_by_a_main(self, folder: str, rel: str) -> bool:
        """Whether a main .tex under the fragment's parent folder (where a build tool may keep the parts) splices
        it in."""
        return rel in _inputs_under(folder, scope_of(rel), self._limits())


@lru_cache(maxsize=256)
def _inputs_under(folder: str, top: str, limits: Limits) -> frozenset[str]:
    """Every file that some main .tex under `folder/top` splices in (cached: the parts of one paper ask the same)."""
    probe = SourceTree(folder=folder, scope=top, limits=limits)
    out: set[str] = set()
    for path in probe.listing():
        if has_suffix(path, (".sty", ".cls")):  # a local package that \inputs a .tex (showyourwork does): code, not text
            out.update(p for c in package_inputs(probe, path) for p in (c, c + ".tex"))
        elif has_suffix(path, (".tex", ".ltx")) and is_main(probe.read(path) or b""):
            try:
                out.update(flatten(SourceTree(folder=folder, scope=scope_of(path), limits=limits), path).inputs)
            except SourceProblem:
                continue
    return frozenset(out)
