"""Deduplication: identity (DOI, title), exact text, MinHash near-duplicates; removal by record key."""
