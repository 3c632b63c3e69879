"""Which files a source path names, and which symlinks a reader may follow out of it.

A source path is a file, a folder (every file under it that matches the reader's `default_globs`;
names starting with a dot are skipped, as `glob` does) or a glob pattern (`**` for any depth). The
tree is walked without following links; what a link may reach is the source's `follow_symlinks`:

- `inside` (default): a link is followed when what it points at lies inside one of the source's own
  paths (symlinks resolved); one that points elsewhere (`passwd.txt -> /etc/passwd`, `etc -> /etc`)
  is listed as an input and the reader fails it as `outside_source`, naming the link and its target;
- `false`: no link below a source path is followed; each one fails as `symlink_not_followed`;
- `all`: every link is followed (each folder once, so a link loop ends).

A source path that is itself a link (`data -> /mnt/big/data`) is what the user named and is always
followed. The check is made again when a file is read, so a link changed after the plan is caught.
wcmatch matches the patterns: the standard library's glob follows folder links under `**` with no
way to stop it (a link to / would walk the whole machine).
"""

from __future__ import annotations

import fnmatch
import functools
import os
from pathlib import Path
from typing import Iterable, Literal, Union

from wcmatch import glob as wcglob

from corpus.records import SIDECAR_SUFFIX, Failure

LinkPolicy = Union[Literal["inside", "all"], Literal[False]]
_FLAGS = wcglob.GLOBSTAR


def static_prefix(pattern: str) -> str:
    """The folder part of a path or glob before its first wildcard: what the pattern can reach at most."""
    kept = []
    for part in Path(pattern).parts:
        if wcglob.is_magic(part, flags=_FLAGS):
            break
        kept.append(part)
    return str(Path(*kept)) if kept else os.sep


def _inside(target: str, roots: Iterable[str]) -> bool:
    return any(target == r or target.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def source_files(patterns: list[str], default_globs: tuple[str, ...] | None, policy: LinkPolicy) -> dict[str, list[str]]:
    """pattern -> the sorted paths it names: matching files, links to files, and the folder links that were not
    followed (so the reader can account for them). `default_globs=None` takes every file of a folder."""
    roots_real = _real_roots(tuple(patterns))
    names = None if default_globs is None else [g.rsplit("/", 1)[-1] for g in default_globs]
    found: dict[str, list[str]] = {}
    for pattern in patterns:
        if os.path.isdir(pattern):
            root, deeper = pattern, None
            match = lambda p: not p.endswith(SIDECAR_SUFFIX) and (names is None or any(fnmatch.fnmatch(os.path.basename(p), g) for g in names))  # noqa: E731
        elif not wcglob.is_magic(pattern, flags=_FLAGS):
            found[pattern] = [pattern] if os.path.isfile(pattern) else []
            continue
        else:
            root = static_prefix(pattern)
            depth = len(Path(pattern).parts) - len(Path(root).parts)
            match = lambda p, pattern=pattern: wcglob.globmatch(p, pattern, flags=_FLAGS)  # noqa: E731
            deeper = None if "**" in pattern else (lambda p, root=root, depth=depth: len(Path(os.path.relpath(p, root)).parts) < depth)
        items: list[str] = []
        visited = {os.path.realpath(root)}
        stack = [root]
        while stack:
            folder = stack.pop()
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except FileNotFoundError:
                continue  # a pattern's folder that does not exist matches nothing (the manifest check names it)
            except OSError:
                items.append(folder)  # a folder that cannot be listed is an input the reader fails with the error
                continue
            for entry in entries:
                if names is not None and entry.name.startswith(".") and os.path.isdir(pattern):
                    continue
                if entry.is_symlink():
                    if os.path.isdir(entry.path):
                        target = os.path.realpath(entry.path)
                        if policy == "all":
                            if target not in visited:
                                visited.add(target)
                                stack.append(entry.path)
                        elif policy == "inside" and _inside(target, roots_real):
                            pass  # its files are reached through their own path
                        elif deeper is None or deeper(entry.path):
                            items.append(entry.path)  # a folder the reader fails as outside_source / symlink_not_followed
                    elif match(entry.path):
                        items.append(entry.path)  # a link to a file (or a broken link): the reader decides
                elif entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False) and match(entry.path):
                    items.append(entry.path)
        found[pattern] = sorted(items)
    return found


@functools.lru_cache(maxsize=256)
def _real_roots(roots: tuple[str, ...]) -> tuple[str, ...]:
    """Where a source's paths really are (computed once per source, not once per file read)."""
    return tuple(os.path.realpath(r if os.path.isdir(r) else (r if os.path.exists(r) else static_prefix(r))) for r in roots)


def link_problem(path: str, roots: list[str], policy: LinkPolicy) -> Failure | None:
    """The failure for a path that reaches outside the source through a link, or None when it may be read."""
    if policy == "all":
        return None
    absolute = os.path.abspath(path)
    target = os.path.realpath(absolute)
    if policy is False:
        for root in roots:
            root = os.path.abspath(root)
            if absolute == root or not absolute.startswith(root.rstrip(os.sep) + os.sep):
                continue
            parts = Path(os.path.relpath(absolute, root)).parts
            for i in range(1, len(parts) + 1):
                step = os.path.join(root, *parts[:i])
                if os.path.islink(step):
                    return Failure("symlink_not_followed", f"{step} is a link (to {os.path.realpath(step)}) and follow_symlinks is false")
        return None
    if _inside(target, _real_roots(tuple(roots))):
        return None
    return Failure("outside_source", f"{absolute} -> {target}: the link points outside the source's paths (follow_symlinks: inside)")
