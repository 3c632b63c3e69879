"""An arXiv-style LaTeX source -> one flattened main file, read defensively.

A source is what arXiv serves or an author keeps: a `.tar.gz` / `.tgz` / `.tar` of the paper's folder, a
single gzipped `.tex` (arXiv's form for one-file papers), or a `.tex` file in a folder beside its `\\input`
files. `SourceTree` gives the files of one paper by relative path, whichever form it came in; `main_file`
picks the file with `\\documentclass` and `\\begin{document}`; `flatten` strips comments and splices every
`\\input`/`\\include`/`\\subfile`/`\\import` in, so that pandoc (which runs sandboxed, reading no file
itself) sees one text.

The rules for untrusted sources:
- nothing is read from outside the paper: an `\\input` of an absolute path or one that climbs out of the
  source (`\\input{/etc/passwd}`, `../../x`) fails the paper as `input_outside_source`; archive members with
  such names fail it as `unsafe_archive`; links inside an archive are never followed, and on disk a file
  is read only when its real path lies inside the source folder;
- sizes are capped while reading: the sum of the archive's member sizes (what decompressing it costs) at
  `max_unpacked_bytes`, any one file at `max_file_bytes`, the flattened text at `max_flat_bytes`, the member
  count at `max_members`, and the `\\input` depth at `MAX_DEPTH` (a file that includes itself ends there
  as `input_recursion`);
- nothing is executed: TeX is never run (no shell escape, no `\\write18`), only read.

Written here rather than taken from a library: pandoc resolves `\\input` itself but either reads any file
(`/etc/passwd` included) or, sandboxed, none; plasTeX and LaTeXML run TeX-like macro code. What is needed
is only "which files, spliced where", with a boundary.
"""

from __future__ import annotations

import gzip
import io
import os
import posixpath
import re
import tarfile
from dataclasses import dataclass, field

from corpus.records import Failure

MAX_DEPTH = 16
TEX_SUFFIXES = (".tex", ".ltx")
# files a paper's text can come from; figures, PDFs and fonts are not read at all
TEXT_SUFFIXES = TEX_SUFFIXES + (".sty", ".cls", ".bbl", ".def", ".cfg", ".txt", ".inc")
LISTING_MAX, LISTING_DEPTH = 2000, 3
MAIN_NAMES = ("ms", "main", "paper", "manuscript", "article", "text")  # tie-breakers between two main files

_DOCUMENT = re.compile(rb"^[^%\n]*\\document(?:class|style)\b", re.MULTILINE)
_BEGIN = re.compile(rb"^[^%\n]*\\begin\s*\{document\}", re.MULTILINE)
# \input{f} \include{f} \subfile{f} \InputIfFileExists{f} \import{dir}{f} \subimport{dir}{f}; \input f (TeX's form)
_INCLUDE = re.compile(
    r"\\(?P<cmd>input|include|subfile|InputIfFileExists|import|subimport|subinputfrom|inputfrom)(?![A-Za-z@])\*?\s*"
    r"(?:\{(?P<a>[^{}]*)\}(?:\s*\{(?P<b>[^{}]*)\})?|(?P<bare>[A-Za-z0-9_./-]+))"
)
_TWO_ARGS = {"import", "subimport", "inputfrom", "subinputfrom"}


@dataclass(frozen=True)
class Limits:
    max_unpacked_bytes: int = 512 * 2**20
    max_file_bytes: int = 16 * 2**20
    max_flat_bytes: int = 32 * 2**20
    max_members: int = 20_000


class SourceProblem(Exception):
    """The source cannot be read as a paper; `kind` is the failure reason."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind

    def failure(self) -> Failure:
        return Failure(self.kind, str(self))


@dataclass
class SourceTree:
    """The text files of one paper by normalised relative path (posix), in memory or read from a folder on demand."""

    files: dict[str, bytes] = field(default_factory=dict)
    folder: str | None = None  # on disk: the source folder every read must stay inside
    scope: str = ""  # on disk: the folder (relative to `folder`) whose tree `listing` walks
    limits: Limits = field(default_factory=Limits)
    _listing: list[str] | None = None

    def read(self, rel: str) -> bytes | None:
        if self.folder is None:
            return self.files.get(rel)
        if rel in self.files:
            return self.files[rel]
        path = os.path.join(self.folder, rel)
        real, root = os.path.realpath(path), os.path.realpath(self.folder)
        if not (real == root or real.startswith(root.rstrip(os.sep) + os.sep)):
            raise SourceProblem("input_outside_source", f"{rel} resolves to {real}, outside the source folder")
        if not os.path.isfile(real):
            return None
        if os.path.getsize(real) > self.limits.max_file_bytes:
            raise SourceProblem("too_large", f"{rel} exceeds max_file_bytes={self.limits.max_file_bytes:,}")
        with open(real, "rb") as f:
            self.files[rel] = f.read(self.limits.max_file_bytes + 1)
        return self.files[rel]

    def listing(self) -> list[str]:
        """Every text file of the paper: the archive's, or on disk those under `scope` (bounded: LISTING_MAX files,
        LISTING_DEPTH folders down)."""
        if self.folder is None:
            return sorted(self.files)
        if self._listing is None:
            found: list[str] = []
            start = os.path.join(self.folder, self.scope)
            for dirpath, dirnames, filenames in os.walk(start):
                depth = os.path.relpath(dirpath, start).count(os.sep) + (os.path.relpath(dirpath, start) != ".")
                dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if depth < LISTING_DEPTH else []
                for name in sorted(filenames):
                    if has_suffix(name, TEXT_SUFFIXES):
                        found.append(posixpath.normpath(os.path.relpath(os.path.join(dirpath, name), self.folder).replace(os.sep, "/")))
                if len(found) >= LISTING_MAX:
                    break
            self._listing = found[:LISTING_MAX]
        return self._listing


def scope_of(main: str) -> str:
    """Where a paper on disk may keep its parts: the main file's folder's parent (build tools such as showyourwork
    keep figures' .tex in a sibling folder)."""
    return posixpath.dirname(posixpath.dirname(main))


def has_suffix(name: str, suffixes: tuple[str, ...]) -> bool:
    """File suffixes compared without case: sources from other systems have `MAIN.TEX`."""
    return name.lower().endswith(suffixes)


def _safe_name(name: str) -> str | None:
    """A member name as a relative posix path, or None when it is absolute or climbs out."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None
    norm = posixpath.normpath(name)
    return None if norm == ".." or norm.startswith("../") else norm


def tree_from_archive(data: bytes, limits: Limits) -> SourceTree:
    """A tarball (gzipped or not) or a single gzipped .tex -> its text files. Raises SourceProblem."""
    raw = data
    if data[:2] == b"\x1f\x8b":  # gzip: a tarball inside, or arXiv's single gzipped .tex
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as g:
            try:
                raw = g.read(limits.max_unpacked_bytes + 1)
            except (OSError, EOFError, gzip.BadGzipFile) as e:
                raise SourceProblem("damaged_archive", f"gzip: {e}") from None
        if len(raw) > limits.max_unpacked_bytes:
            raise SourceProblem("too_large", f"decompresses past max_unpacked_bytes={limits.max_unpacked_bytes:,}")
    if len(raw) < 262 or raw[257:262] != b"ustar":
        if _DOCUMENT.search(raw[:1 << 20]) or b"\\begin" in raw[:1 << 20]:
            if len(raw) > limits.max_file_bytes:
                raise SourceProblem("too_large", f"the .tex exceeds max_file_bytes={limits.max_file_bytes:,}")
            return SourceTree(files={"main.tex": raw}, limits=limits)
        raise SourceProblem("not_latex", "neither a tar archive nor a LaTeX file")
    tree = SourceTree(limits=limits)
    unpacked = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            for count, member in enumerate(tar, 1):
                if count > limits.max_members:
                    raise SourceProblem("too_large", f"more than max_members={limits.max_members:,} archive members")
                name = _safe_name(member.name)
                if name is None:
                    raise SourceProblem("unsafe_archive", f"member {member.name!r} is an absolute path or climbs out of the archive")
                if not member.isfile():  # folders, links (never followed), devices
                    continue
                unpacked += member.size
                if unpacked > limits.max_unpacked_bytes:
                    raise SourceProblem("too_large", f"members add up past max_unpacked_bytes={limits.max_unpacked_bytes:,}")
                if not has_suffix(name, TEXT_SUFFIXES):
                    continue
                if member.size > limits.max_file_bytes:
                    raise SourceProblem("too_large", f"{name} exceeds max_file_bytes={limits.max_file_bytes:,}")
                f = tar.extractfile(member)
                tree.files[name] = f.read(limits.max_file_bytes + 1) if f else b""
    except tarfile.TarError as e:
        raise SourceProblem("damaged_archive", f"tar: {e}") from None
    return tree


def is_main(data: bytes) -> bool:
    return bool(_DOCUMENT.search(data) and _BEGIN.search(data))


def main_files(tree: SourceTree) -> list[str]:
    """Every file of the source with \\documentclass (or 2.09's \\documentstyle) and \\begin{document}."""
    return [p for p in tree.listing() if has_suffix(p, TEX_SUFFIXES) and is_main(tree.read(p) or b"")]


def main_file(tree: SourceTree) -> str:
    """The paper's main file: a .tex with \\documentclass and \\begin{document}; of several, one that no other
    includes, then a conventional name, then the largest (the others are named in the document's metadata)."""
    mains = main_files(tree)
    if not mains:
        raise SourceProblem("no_main_file", "no .tex file with \\documentclass and \\begin{document}")
    if len(mains) == 1:
        return mains[0]
    included: set[str] = set()
    for p in mains:
        for target, _ in _includes(decode(tree.read(p) or b""), posixpath.dirname(p)):
            included.update(_candidates(target))
    top = [p for p in mains if p not in included] or mains
    return sorted(top, key=lambda p: (posixpath.splitext(posixpath.basename(p))[0].lower() not in MAIN_NAMES,
                                      -len(tree.read(p) or b""), p))[0]


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # older sources; every byte maps, nothing fails here


def strip_comments(text: str) -> str:
    """Drop `%` comments (a `%` after an even number of backslashes) and the line break they swallow, as TeX does;
    verbatim-like environments are left as they are."""
    out, verbatim = [], False
    for line in text.split("\n"):
        if re.search(r"\\begin\{(verbatim|lstlisting|minted|comment)\*?\}", line):
            verbatim = not re.search(r"\\end\{(verbatim|lstlisting|minted|comment)\*?\}", line)
            out.append(line + "\n")
            continue
        if verbatim:
            verbatim = not re.search(r"\\end\{(verbatim|lstlisting|minted|comment)\*?\}", line)
            out.append(line + "\n")
            continue
        m = re.search(r"(?<!\\)(?:\\\\)*%", line)
        out.append(line[: m.end() - 1] if m else line + "\n")
    return "".join(out)


def _includes(text: str, folder: str, here: str | None = None):
    """(target path relative to the paper, match) for every include command in `text`: against the main file's
    `folder`, as TeX resolves them, except \\subimport and \\subinputfrom, which are relative to the file
    they stand in (`here`)."""
    for m in _INCLUDE.finditer(text):
        if m.group("bare") is not None:
            if m.group("cmd") != "input":
                continue
            target = m.group("bare")
        elif m.group("cmd") in _TWO_ARGS:
            if m.group("b") is None:
                continue
            target = posixpath.join(m.group("a").strip(), m.group("b").strip())
        else:
            target = (m.group("a") or "").strip()
        if not target:
            continue
        relative_to = here if here is not None and m.group("cmd") in ("subimport", "subinputfrom") else folder
        yield _resolve(relative_to, target), m


def _resolve(folder: str, target: str) -> str:
    if target.startswith("/") or target.startswith("~") or re.match(r"^[A-Za-z]:", target):
        raise SourceProblem("input_outside_source", f"\\input of {target!r}: an absolute path")
    rel = posixpath.normpath(posixpath.join(folder, target))
    if rel == ".." or rel.startswith("../"):
        raise SourceProblem("input_outside_source", f"\\input of {target!r} climbs out of the source")
    return rel


def _candidates(rel: str) -> list[str]:
    return [rel] if has_suffix(rel, TEXT_SUFFIXES) else [rel + ".tex", rel]


def package_inputs(tree: SourceTree, package: str) -> list[str]:
    """The files a local .sty/.cls \\inputs (paths relative to the paper, as its main file would resolve them)."""
    text = strip_comments(decode(tree.read(package) or b""))
    try:
        return [target for target, _ in _includes(text, posixpath.dirname(package))]
    except SourceProblem:
        return []


@dataclass
class Flattened:
    text: str
    main: str
    inputs: list[str]  # files spliced in, in order
    missing: list[str]  # includes that name no file of the source (a package such as `\input xy`, an omitted file)


def flatten(tree: SourceTree, main: str) -> Flattened:
    inputs: list[str] = []
    missing: list[str] = []
    budget = [tree.limits.max_flat_bytes]

    def find(rel: str) -> str | None:
        for c in _candidates(rel):
            if tree.read(c) is not None:
                return c
        # a build tool (showyourwork, a journal's pipeline) may have moved it: a unique file of that name in the paper
        names = {posixpath.basename(c) for c in _candidates(rel)}
        hits = [p for p in tree.listing() if posixpath.basename(p) in names]
        return hits[0] if len(hits) == 1 else None

    def expand(rel: str, depth: int) -> str:
        if depth > MAX_DEPTH:
            raise SourceProblem("input_recursion", f"\\input nesting deeper than {MAX_DEPTH} at {rel} (a file that includes itself?)")
        text = strip_comments(decode(tree.read(rel) or b""))
        budget[0] -= len(text)
        if budget[0] < 0:
            raise SourceProblem("too_large", f"the flattened source exceeds max_flat_bytes={tree.limits.max_flat_bytes:,}")
        pieces, cursor = [], 0
        for target, m in _includes(text, posixpath.dirname(main), posixpath.dirname(rel)):
            found = find(target)
            pieces.append(text[cursor : m.start()])
            cursor = m.end()
            if found is None:
                missing.append(target)
                continue
            if has_suffix(found, (".sty", ".cls")):  # a package read by \input: its macros, not its text
                continue
            inputs.append(found)
            pieces.append("\n" + expand(found, depth + 1) + "\n")
        pieces.append(text[cursor:])
        return "".join(pieces)

    return Flattened(expand(main, 0), main, inputs, missing)
