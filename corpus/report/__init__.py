"""Quality reports of a build: `corpus report OUT` (static HTML + Markdown), `corpus inspect`, `corpus diff`.

- `tables`: every figure, aggregated with polars from OUT/stats/documents.parquet;
- `charts`: inline SVG charts;
- `html`: the page and its Markdown summary;
- `inspect`: sample documents with their metadata and outcome, and the difference between two builds.
"""
