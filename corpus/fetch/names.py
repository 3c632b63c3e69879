"""Where a fetched file may go: every file name that comes from a service (an id, an ISSN, a DOI, a name in an archive
or a listing) passes through `file_name`, and every write is checked by `inside` to resolve under the output folder.

`file_name` keeps an id that is already a plain name (ASCII letters, digits, `.`, `_`, `-`, not starting with a dot,
at most MAX_STEM characters) as it is. Any other id is mapped character by character to that alphabet, cut to
MAX_STEM characters, and given `~` and the first 12 hex digits of the SHA-256 of the original id: `~` is outside
the plain alphabet, so a mapped name never equals a kept one, and two different ids that map to the same characters
(`a/b`, `a:b`, `a_b`'s confusable twin) get different digests. The name depends on the id alone, never on what was
fetched before, so a rerun finds the same files. The original id stays in the ledger and the side-car.

Not guaranteed: two ids that differ only in letter case are two names, which a case-insensitive file system
(macOS, Windows) holds as one file.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

MAX_STEM = 96  # with `~`, 12 hex digits and a suffix, far under the 255 bytes a file name may have
PLAIN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class OutsideOutput(ValueError):
    """A path that would resolve outside the fetch's output folder."""


def file_name(identifier: object, suffix: str = "") -> str:
    """A safe, unique, length-bounded file name (one path component) for a service's id, with `suffix` appended."""
    text = str(identifier)
    if PLAIN.fullmatch(text) and len(text) <= MAX_STEM:
        return text + suffix
    stem = UNSAFE.sub("_", text)
    stem = "_" + stem[1:] if stem.startswith(".") else stem  # never '.', '..' or a hidden file
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{stem[:MAX_STEM]}~{digest}{suffix}"


def inside(root: Path, path: Path) -> Path:
    """`path`, once checked to resolve (symbolic links followed) under `root`; OutsideOutput otherwise."""
    real_root, real = Path(root).resolve(), Path(path).resolve()
    if real != real_root and real_root not in real.parents:
        raise OutsideOutput(f"{path} resolves outside the output folder {root}")
    return path
