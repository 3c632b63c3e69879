"""The report's numbers: polars aggregations over OUT/stats/documents.parquet (one row per input document).

Every figure in the report comes from this table (and the shard counts in summary.json, which
the summary step derived from the same ledgers), aggregated lazily so that millions of rows
never become Python objects and no document text is read. Sample snippets are the exception:
`samples()` streams the rejected files and stops as soon as it has a few per reason; `kept_samples()` does the same
with the kept records, a few per source.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from corpus.layout import OutputLayout
from corpus.outcomes import REPORTED_SIGNALS, read_documents

STATUSES = ("kept", "dropped", "failed")
GROUPINGS = ("source", "reader", "publisher", "journal", "year", "licence")


@dataclass
class ReportData:
    summary: dict
    totals: dict
    funnel: list[dict]
    drops_by: dict[str, pl.DataFrame]
    components: pl.DataFrame
    distributions: dict[str, "Histogram"]
    clusters: pl.DataFrame
    extraction: dict[str, pl.DataFrame]  # per reader, publisher and journal
    worst: pl.DataFrame  # the paper extractions most worth a look
    crystals: dict[str, pl.DataFrame]
    samples: dict[str, list[dict]] = field(default_factory=dict)
    kept_samples: dict[str, list[dict]] = field(default_factory=dict)  # per source
    volumes: dict[str, pl.DataFrame] = field(default_factory=dict)  # kept documents and tokens per year, licence, journal


def load(root: str, sample_count: int = 3) -> ReportData:
    layout = OutputLayout(root)
    path = layout.documents
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: is {root} the output folder of a finished `corpus build`?")
    with open(layout.summary) as f:
        summary = json.load(f)
    docs = pl.scan_parquet(path)
    return ReportData(
        summary=summary,
        totals=totals(docs),
        funnel=funnel(docs),
        drops_by={g: drops_by(docs, g) for g in GROUPINGS},
        components=components(docs, summary),
        distributions=distributions(docs),
        clusters=clusters(docs),
        extraction={key: extraction(docs, key) for key in EXTRACTION_GROUPS},
        worst=worst_extractions(docs),
        crystals=crystals(docs),
        samples=samples(root, set(docs.filter(pl.col("status") != "kept").select(pl.col("reason").fill_null("?").unique()).collect()["reason"]), sample_count),
        kept_samples=kept_samples(root, docs, sample_count),
        volumes={key: volume_by(docs, key) for key in VOLUME_GROUPS},
    )


def totals(docs: pl.LazyFrame) -> dict:
    row = docs.select(
        pl.len().alias("inputs"),
        *[(pl.col("status") == s).sum().alias(s) for s in STATUSES],
        pl.col("tokens").sum().alias("tokens"),
        pl.col("chars").filter(pl.col("status") == "kept").sum().alias("kept_chars"),
    ).collect().row(0, named=True)
    return {k: int(v or 0) for k, v in row.items()}


def funnel(docs: pl.LazyFrame) -> list[dict]:
    """Documents and characters at each point: read, past the filters, past dedup (kept), and tokens at the end."""
    is_dup = pl.col("reason").str.starts_with("duplicate_").fill_null(False)
    row = docs.select(
        pl.len().alias("inputs"),
        (pl.col("status") != "failed").sum().alias("read"),
        pl.col("chars").filter(pl.col("status") != "failed").sum().alias("read_chars"),
        ((pl.col("status") == "kept") | is_dup).sum().alias("passed"),
        pl.col("chars").filter((pl.col("status") == "kept") | is_dup).sum().alias("passed_chars"),
        (pl.col("status") == "kept").sum().alias("kept"),
        pl.col("chars").filter(pl.col("status") == "kept").sum().alias("kept_chars"),
        pl.col("tokens").sum().alias("tokens"),
    ).collect().row(0, named=True)
    row = {k: int(v or 0) for k, v in row.items()}
    return [
        {"step": "input documents", "documents": row["inputs"], "characters": None, "tokens": None},
        {"step": "read (not failed)", "documents": row["read"], "characters": row["read_chars"], "tokens": None},
        {"step": "passed the filters", "documents": row["passed"], "characters": row["passed_chars"], "tokens": None},
        {"step": "kept after dedup (in shards)", "documents": row["kept"], "characters": row["kept_chars"], "tokens": row["tokens"]},
    ]


def drops_by(docs: pl.LazyFrame, key: str, top: int = 25) -> pl.DataFrame:
    """Rows: the `top` values of `key` by inputs; columns: inputs, kept, and one column per drop/failure reason."""
    by = docs.with_columns(
        pl.col(key).cast(pl.String).fill_null("(none)").alias(key),
        pl.when(pl.col("status") == "kept").then(pl.lit("kept")).otherwise(pl.col("status") + ":" + pl.col("reason").fill_null("?")).alias("outcome"),
    )
    counts = by.group_by(key, "outcome").agg(pl.len().alias("n")).collect()
    totals_ = counts.group_by(key).agg(pl.col("n").sum().alias("inputs")).sort(["inputs", key], descending=[True, False]).head(top)
    wide = counts.filter(pl.col(key).is_in(totals_[key].implode())).pivot(on="outcome", index=key, values="n", sort_columns=True).fill_null(0)
    table = totals_.join(wide, on=key, how="left")
    ordered = [key, "inputs"] + (["kept"] if "kept" in table.columns else []) + sorted(c for c in table.columns if ":" in c)
    return table.select(ordered)


VOLUME_GROUPS = ("year", "licence", "journal")


def volume_by(docs: pl.LazyFrame, key: str, top: int = 30) -> pl.DataFrame:
    """What the corpus holds per `key`: kept documents and the tokens they have in the shards. Years in order (all of
    them); licences and journals ranked by tokens, the `top` first and the rest summed as "(other)", so the table
    stays the same size whatever the corpus."""
    kept = docs.filter(pl.col("status") == "kept").with_columns(pl.col(key).cast(pl.String).fill_null("(none)").alias(key))
    table = kept.group_by(key).agg(pl.len().alias("documents"), pl.col("tokens").sum().alias("tokens")).collect()
    if key == "year":
        return table.sort(key)
    table = table.sort(["tokens", key], descending=[True, False])
    if table.height <= top:
        return table
    rest = table.slice(top)
    other = pl.DataFrame({key: ["(other)"], "documents": [int(rest["documents"].sum())], "tokens": [int(rest["tokens"].sum())]},
                         schema=table.schema)
    return pl.concat([table.head(top), other])


def components(docs: pl.LazyFrame, summary: dict) -> pl.DataFrame:
    kept = docs.filter(pl.col("status") == "kept").group_by("component").agg(
        pl.len().alias("documents"), pl.col("tokens").sum().alias("tokens")).collect()
    total = int(kept["tokens"].sum() or 0)
    weights = {name: c.get("target_weight") for name, c in summary.get("components", {}).items()}
    planned = (summary.get("mixture") or {}).get("components", {})
    rows = []
    for name in weights or kept["component"].to_list():
        hit = kept.filter(pl.col("component") == name)
        tokens = int(hit["tokens"][0]) if hit.height else 0
        plan = planned.get(name, {})
        rows.append({"component": name, "documents": int(hit["documents"][0]) if hit.height else 0, "tokens": tokens,
                     "share": tokens / total if total else 0.0, "target": weights.get(name),
                     "from": plan.get("start_fraction"), "training_tokens": plan.get("training_tokens"), "epochs": plan.get("epochs")})
    return pl.DataFrame(rows, schema={"component": pl.String, "documents": pl.Int64, "tokens": pl.Int64, "share": pl.Float64,
                                      "target": pl.Float64, "from": pl.Float64, "training_tokens": pl.Int64, "epochs": pl.Float64})


DISTRIBUTIONS = ("chars", "language_score", "domain_score", *[f"signal_{k}" for k in REPORTED_SIGNALS])


LOG_SCALE = ("chars", "signal_words", "signal_latex_commands", "signal_cid_runs")  # spread over orders of magnitude
BINS = 40


@dataclass
class Histogram:
    """Counts of kept and dropped documents' values in BINS bins (`edges`, log-spaced for LOG_SCALE columns,
    over the finite values' range); `kept_n`/`dropped_n`: documents with a value at all."""

    edges: np.ndarray
    kept: np.ndarray
    dropped: np.ndarray
    kept_n: int
    dropped_n: int
    log: bool


def distributions(docs: pl.LazyFrame) -> dict[str, Histogram]:
    """Per column, a histogram of kept and of dropped documents. Binned by polars aggregations (range, then counts
    per bin) rather than from the values themselves, so the report's memory stays the same whatever the corpus size."""
    docs = docs.filter(pl.col("status").is_in(["kept", "dropped"]))
    out = {}
    for col in DISTRIBUTIONS:
        log = col in LOG_SCALE
        v = pl.col(col).cast(pl.Float64)
        usable = v.is_finite() & (v > 0) if log else v.is_finite()
        stats = docs.select(
            v.filter(usable).min().alias("lo"), v.filter(usable).max().alias("hi"),
            v.filter(pl.col("status") == "kept").count().alias("kept_n"), v.filter(pl.col("status") == "dropped").count().alias("dropped_n"),
        ).collect(engine="streaming").row(0, named=True)
        if not (stats["kept_n"] or stats["dropped_n"]) or stats["lo"] is None:
            continue
        lo, hi = stats["lo"], stats["hi"] if stats["hi"] > stats["lo"] else stats["lo"] + 1
        if log:
            edges = np.logspace(np.log10(lo), np.log10(hi), BINS + 1)
            position = (v.log10() - np.log10(lo)) / (np.log10(hi) - np.log10(lo))
        else:
            edges = np.linspace(lo, hi, BINS + 1)
            position = (v - lo) / (hi - lo)
        counts = (docs.filter(usable).select("status", (position * BINS).floor().clip(0, BINS - 1).cast(pl.Int64).alias("bin"))
                  .group_by("status", "bin").agg(pl.len().alias("n")).collect(engine="streaming"))
        per = {status: np.zeros(BINS, dtype=np.int64) for status in ("kept", "dropped")}
        for status, b, n in counts.iter_rows():
            per[status][b] = n
        out[col] = Histogram(edges, per["kept"], per["dropped"], stats["kept_n"], stats["dropped_n"], log)
    return out


def clusters(docs: pl.LazyFrame) -> pl.DataFrame:
    """Duplicate groups by size and reason (one row per group, named by its survivor)."""
    return (
        docs.filter(pl.col("cluster").is_not_null() & pl.col("reason").str.starts_with("duplicate_").fill_null(False))
        .group_by("cluster").agg(pl.col("cluster_size").first().alias("size"), pl.col("reason").first().alias("reason"))
        .group_by("reason", "size").agg(pl.len().alias("groups")).sort("reason", "size").collect()
    )


EXTRACTION_GROUPS = ("reader", "publisher", "journal")
PAPER_READERS = ("pdf", "jats", "elsevier", "tei", "latex")
TOP_GROUPS = 25  # publishers or journals shown, by documents (a long tail is summed into "(other)")


def extraction(docs: pl.LazyFrame, key: str = "reader") -> pl.DataFrame:
    """Per reader, publisher or journal (papers only for the latter two): documents, the share that failed, pages, the
    shares of pages read by OCR and without text, the share of documents with garbled text, the share of the pages'
    text the PDF reader left out (figure text, front matter, running heads), mean sections. Rates, so that groups of
    any size compare; the TOP_GROUPS largest, the rest as "(other)"."""
    if key != "reader":
        docs = docs.filter(pl.col("reader").is_in(PAPER_READERS))
    grouped = docs.with_columns(pl.col(key).fill_null("(unknown)").alias(key))
    if key != "reader":
        top = (grouped.group_by(key).agg(pl.len().alias("n")).sort(["n", key], descending=[True, False]).head(TOP_GROUPS)
               .collect()[key].to_list())
        grouped = grouped.with_columns(pl.when(pl.col(key).is_in(top)).then(pl.col(key)).otherwise(pl.lit("(other)")).alias(key))
    kept_text = pl.when(pl.col("status") == "kept").then(pl.col("chars")).otherwise(None)
    return (
        grouped.group_by(key).agg(
            pl.len().alias("documents"),
            ((pl.col("status") == "failed").sum() / pl.len()).alias("failed_share"),
            pl.col("pages").sum().alias("pages"),
            (pl.col("ocr_pages").sum() / pl.col("pages").sum()).alias("ocr_page_share"),
            (pl.col("no_text_pages").sum() / pl.col("pages").sum()).alias("no_text_page_share"),
            ((pl.col("garbled_chars") > 0).sum() / pl.len()).alias("garbled_share"),
            (pl.col("layout_dropped_chars").sum() / (pl.col("layout_dropped_chars").sum() + kept_text.sum()))
            .alias("layout_dropped_share"),
            pl.col("sections").mean().alias("mean_sections"),
        ).sort(["documents", key], descending=[True, False]).collect()
    )


def worst_extractions(docs: pl.LazyFrame, top: int = 10) -> pl.DataFrame:
    """The paper extractions most worth a look: failed files, then the most garbled, then those whose reader left
    out the largest share of their pages' text, then the fewest sections for their pages; with the file, for
    `corpus extract --explain` (a PDF) or `corpus inspect`."""
    papers = docs.filter(pl.col("reader").is_in(PAPER_READERS))
    share = pl.col("layout_dropped_chars") / (pl.col("layout_dropped_chars") + pl.col("chars"))
    return (
        papers.select(
            "id", "source", "reader", "file_path", "status", "reason", "publisher", "pages", "sections", "garbled_chars",
            share.alias("layout_dropped_share"),
            (pl.col("status") == "failed").cast(pl.Int8).alias("_failed"),
        )
        .sort(["_failed", "garbled_chars", "layout_dropped_share", "sections", "id"],
              descending=[True, True, True, False, False], nulls_last=True)
        .head(top).drop("_failed").collect()
    )


def crystals(docs: pl.LazyFrame) -> dict[str, pl.DataFrame]:
    crystal_readers = ["cif", "crystal_csv", "crystal_json"]
    c = docs.filter(pl.col("reader").is_in(crystal_readers))
    kept = c.filter(pl.col("status") == "kept")
    return {
        "outcomes": c.group_by("status", "reason").agg(pl.len().alias("records")).sort("records", descending=True).collect(),
        "elements": kept.select(pl.col("elements").str.split(" ").alias("element")).explode("element").drop_nulls()
        .group_by("element").agg(pl.len().alias("records")).sort(["records", "element"], descending=[True, False]).collect(),
        "spacegroups": kept.group_by("spacegroup").agg(pl.len().alias("records")).drop_nulls()
        .sort(["records", "spacegroup"], descending=[True, False]).collect(),
        "systems": kept.group_by("crystal_system").agg(pl.len().alias("records")).drop_nulls()
        .sort(["records", "crystal_system"], descending=[True, False]).collect(),
    }


def samples(root: str, reasons: set[str], per_reason: int = 3, chars: int = 400) -> dict[str, list[dict]]:
    """A few dropped and failed documents per reason, read from OUT/rejected and OUT/failed until every reason has enough."""
    found: dict[str, list[dict]] = {}
    for path in OutputLayout(root).outcome_files():
        if reasons and all(len(found.get(r, ())) >= per_reason for r in reasons):
            break
        for doc in read_documents(path):
            md = doc.get("metadata", {})
            bucket = found.setdefault(md.get("filter_reason") or md.get("error_kind") or "?", [])
            if len(bucket) < per_reason:
                bucket.append({"id": doc.get("id"), "source": md.get("source"), "text": (doc.get("text") or md.get("error") or "")[:chars],
                               "duplicate_of": md.get("duplicate_of"), "contamination": md.get("contamination")})
    return dict(sorted(found.items()))


def kept_samples(root: str, docs: pl.LazyFrame, per_source: int = 3, chars: int = 400) -> dict[str, list[dict]]:
    """A few kept documents per source, read from the build's kept records until every source has enough; only
    documents the ledger calls kept (a record the dedup later dropped is not shown as kept)."""
    wanted = set(docs.filter(pl.col("status") == "kept").select(pl.col("source").unique()).collect()["source"].drop_nulls())
    found: dict[str, list[dict]] = {}
    for path in OutputLayout(root).stored_documents("kept"):
        if all(len(found.get(source, ())) >= 2 * per_source for source in wanted):
            break
        for doc in read_documents(path):
            source = doc.get("metadata", {}).get("source")
            bucket = found.setdefault(source, [])
            if source in wanted and len(bucket) < 2 * per_source:  # twice as many: some may have gone in the dedup
                bucket.append({"id": doc.get("id"), "source": source, "text": (doc.get("text") or "")[:chars]})
    ids = [d["id"] for bucket in found.values() for d in bucket]
    kept = set(docs.filter(pl.col("id").is_in(ids) & (pl.col("status") == "kept")).select("id").collect()["id"])
    return {source: [d for d in found[source] if d["id"] in kept][:per_source] for source in sorted(found) if source in wanted}


def markdown_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """Lines of a Markdown table; columns whose first cell looks numeric are right-aligned."""
    numeric = [bool(rows) and str(rows[0][k]).replace(",", "").replace(".", "").replace("-", "").isdigit() for k in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
