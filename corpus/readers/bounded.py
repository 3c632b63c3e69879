"""Size limits enforced while reading, not after: the one helper every reader reads its files through.

A limit checked on bytes already in memory protects nothing: a 1 MB `.jsonl.gz` holding one 1 GiB
line used to reach 3 GB of memory before the line-length check saw it. Here decompressed bytes are
counted as they stream (`open_bounded`), a whole-file read stops one byte past its limit
(`read_limited`), and lines are cut from fixed-size chunks so an over-long line is skipped without
ever being held (`bounded_lines`). Over a limit, `TooLarge` is raised (the reader base turns it into a
`too_large` failure of the file) or, for one line, a too-long line is reported and the next line read.
"""

from __future__ import annotations

import contextlib
import io
import sys
from typing import Iterator

CHUNK = 1 << 20  # bytes read at a time by bounded_lines


class TooLarge(Exception):
    """A file (decompressed) or a record over its size limit."""


class _Budget(io.RawIOBase):
    """A stream that raises TooLarge once more than `limit` bytes have been read from it (decompressed bytes when
    the stream decompresses), so nothing downstream (csv, a text wrapper, a parser) can be fed more."""

    def __init__(self, stream, limit: int, what: str):
        self.stream, self.limit, self.what, self.seen = stream, limit, what, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.stream.read(min(len(buffer), self.limit + 1 - self.seen))
        self.seen += len(data)
        if self.seen > self.limit:
            raise TooLarge(f"{self.what} exceeds max_bytes={self.limit:,} (decompressed)")
        buffer[: len(data)] = data
        return len(data)


@contextlib.contextmanager
def open_bounded(data_folder, filepath: str, max_bytes: int, compression: str | None = None, text: bool = False,
                 **text_options) -> Iterator[io.IOBase]:
    """`data_folder.open(filepath)` (datatrove's DataFolder: local or remote, decompressing by `compression`) that
    raises TooLarge past `max_bytes` decompressed bytes; binary, or text with `text_options` (encoding, newline, ...)."""
    with data_folder.open(filepath, "rb", compression=compression) as raw:
        stream = io.BufferedReader(_Budget(raw, max_bytes, "file"), buffer_size=CHUNK)
        yield io.TextIOWrapper(stream, **text_options) if text else stream


def read_limited(stream, max_bytes: int, what: str = "file") -> bytes:
    """The whole stream, or TooLarge when it holds more than `max_bytes` (at most max_bytes + 1 bytes are read)."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise TooLarge(f"{what} exceeds max_bytes={max_bytes:,}")
    return data


def bounded_lines(stream, max_line_bytes: int) -> Iterator[tuple[int, bytes | None, int]]:
    """(1-based line number, line without its newline or None when it is over `max_line_bytes`, its length).

    Memory stays under max_line_bytes + CHUNK whatever the stream holds: a line is read only up to one byte past
    the limit, and the rest of a longer one is read past in chunks and counted, not kept. Lines before a point
    where the stream breaks (a truncated gzip) are yielded before the error is raised."""
    if not hasattr(stream, "peek"):  # readline(size) on an unbuffered stream (zstandard's reader) reads a byte at a time
        stream = io.BufferedReader(_Budget(stream, sys.maxsize, "stream"), buffer_size=CHUNK)
    lineno = 0
    while line := stream.readline(max_line_bytes + 1):
        lineno += 1
        ended = line.endswith(b"\n")
        if len(line) - ended <= max_line_bytes:
            yield lineno, line[:-1] if ended else line, len(line) - ended
            continue
        size = len(line)
        while not line.endswith(b"\n") and (line := stream.readline(CHUNK)):
            size += len(line)
        yield lineno, None, size - line.endswith(b"\n")


MAX_DEPTH = 64  # nesting any record we read needs (OPTIMADE entries, lm-eval samples, JATS): deeper is hostile


class TooDeep(ValueError):
    """A JSON value or XML tree nested past the bound: refused, never walked by recursive code."""


def check_depth(value, max_depth: int = MAX_DEPTH, what: str = "JSON") -> None:
    """TooDeep when lists and dicts in `value` nest more than `max_depth` deep; an explicit stack, no recursion."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > max_depth:
            raise TooDeep(f"{what} nested deeper than {max_depth}")
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def loads_bounded(data: bytes | str, max_depth: int = MAX_DEPTH, what: str = "JSON"):
    """json.loads that refuses nesting past `max_depth` (TooDeep) instead of recursing: a cheap count of brackets
    first (most values cannot be that deep), the parsed value walked with a stack only when they could be.
    ValueError (JSONDecodeError) for what is not JSON, as json.loads."""
    import json

    opens = data.count(b"[" if isinstance(data, bytes) else "[") + data.count(b"{" if isinstance(data, bytes) else "{")
    try:
        value = json.loads(data)
    except RecursionError:
        raise TooDeep(f"{what} nested deeper than the parser's stack") from None
    if opens > max_depth:
        check_depth(value, max_depth, what)
    return value


def check_xml_depth(root, max_depth: int = 256, what: str = "XML") -> None:
    """TooDeep when an ElementTree element nests more than `max_depth` deep (ElementTree's serialiser and most
    walks over a tree recurse); an explicit stack."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise TooDeep(f"{what} nested deeper than {max_depth}")
        stack.extend((child, depth + 1) for child in node)
