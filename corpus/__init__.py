"""Corpus building: manifest -> datatrove pipeline -> token shards, with accounting."""

__version__ = "0.1.0"
