"""Filters: datatrove `BaseFilter`s returning True or (False, reason)."""

from corpus.filters.length import MinCharsFilter

__all__ = ["MinCharsFilter"]
