"""The built-in readers by manifest name. A new format is one `SourceReader` subclass registered here, or, from
another package, through the `matcorpus.steps` entry point (corpus/registry.py)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module
from typing import TYPE_CHECKING

from pydantic import ValidationError

from corpus.readers.names import BUILTIN

if TYPE_CHECKING:
    from corpus.readers.base import Failure, SourceReader


def builtin_reader(name: str) -> type[SourceReader]:
    """The built-in reader of that manifest name, imported now (KeyError for another name)."""
    module, cls_name = BUILTIN[name]
    return getattr(import_module(module), cls_name)  # its `key` is this name (corpus/readers/base.py)


class _BuiltinReaders(Mapping):
    """The built-in readers by name, each imported when it is first looked up."""

    def __getitem__(self, name: str) -> type[SourceReader]:
        return builtin_reader(name)

    def __iter__(self) -> Iterator[str]:
        return iter(BUILTIN)

    def __len__(self) -> int:
        return len(BUILTIN)


READERS: Mapping[str, type[SourceReader]] = _BuiltinReaders()


def __getattr__(name: str):
    """The readers' shared names, imported when asked for: the package itself stays light (its `names` are read by
    the command line's help, which must not load datatrove's readers)."""
    if name in ("Failure", "SourceReader"):
        from corpus.readers import base

        return getattr(base, name)
    if name == "CrystalReader":  # the crystal readers' base, for the pipeline
        from corpus.readers.crystals import CrystalReader

        return CrystalReader
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
