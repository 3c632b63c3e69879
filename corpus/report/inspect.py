"""`corpus inspect` (sample documents with why they were kept or dropped) and `corpus diff` (two builds compared).

`inspect` selects rows of OUT/stats/documents.parquet (by status, reason, source, component) and then
reads only those documents' text: dropped ones from OUT/rejected, failed ones from OUT/failed, kept
ones from OUT/work/kept. A threshold is checked by reading the real examples it decides.
"""

from __future__ import annotations

import json

import polars as pl

from corpus.layout import OutputLayout
from corpus.outcomes import read_documents


def select(root: str, status: str | None = None, reason: str | None = None, source: str | None = None,
           component: str | None = None, n: int = 5, seed: int = 0) -> pl.DataFrame:
    docs = pl.scan_parquet(OutputLayout(root).documents)
    for column, value in (("status", status), ("reason", reason), ("source", source), ("component", component)):
        if value is not None:
            docs = docs.filter(pl.col(column) == value)
    rows = docs.collect()
    return rows.sample(n=min(n, rows.height), seed=seed).sort("record") if rows.height > n else rows.sort("record")


def texts(root: str, rows: pl.DataFrame) -> dict[str, dict]:
    """record key -> the stored document (text and metadata) for the selected rows."""
    wanted = set(rows["record"].to_list())
    layout = OutputLayout(root)
    found: dict[str, dict] = {}
    for status in sorted(set(rows["status"].to_list())):
        for path in layout.stored_documents(status):
            for doc in read_documents(path):
                record = doc.get("metadata", {}).get("record")
                if record in wanted and record not in found:
                    found[record] = doc
                if len(found) == len(wanted):
                    return found
    return found


def show(root: str, rows: pl.DataFrame, chars: int = 800) -> str:
    docs = texts(root, rows)
    out = []
    for row in rows.iter_rows(named=True):
        why = "kept" if row["status"] == "kept" else f"{row['status']}: {row['reason']}"
        if row.get("duplicate_of"):
            why += f" (duplicate of {row['duplicate_of']})"
        if row.get("contamination"):
            why += f" (contains {row['contamination']})"
        out.append(f"=== {row['id']}  [{why}]")
        facts = {k: v for k, v in row.items() if v is not None and k not in ("id", "status", "reason", "record")}
        out.append("    " + "  ".join(f"{k}={v}" for k, v in facts.items()))
        doc = docs.get(row["record"])
        if doc is None:
            out.append("    (text not stored)")
        else:
            text = doc.get("text") or doc.get("metadata", {}).get("error", "")
            out.append("    " + text[:chars].replace("\n", "\n    ") + (" ..." if len(text) > chars else ""))
        out.append("")
    return "\n".join(out)


def diff(root_a: str, root_b: str) -> str:
    """Counts per reason, per source and tokens per component of two builds, side by side with the change."""
    a, b = (json.loads(open(OutputLayout(r).summary).read()) for r in (root_a, root_b))
    lines = [f"{'':<34} {'A':>12} {'B':>12} {'change':>12}"]

    def row(label: str, x, y) -> None:
        x, y = x or 0, y or 0
        if x or y:
            lines.append(f"{label:<34} {x:>12,} {y:>12,} {y - x:>+12,}")

    for key in ("inputs", "kept", "dropped", "failed", "tokens"):
        row(key, a.get(key), b.get(key))
    lines.append("dropped by reason")
    for reason in sorted(set(a["dropped_by_reason"]) | set(b["dropped_by_reason"])):
        row(f"  {reason}", a["dropped_by_reason"].get(reason), b["dropped_by_reason"].get(reason))
    lines.append("failed by reason")
    for reason in sorted(set(a["failed_by_reason"]) | set(b["failed_by_reason"])):
        row(f"  {reason}", a["failed_by_reason"].get(reason), b["failed_by_reason"].get(reason))
    lines.append("kept by source")
    for src in sorted(set(a["sources"]) | set(b["sources"])):
        row(f"  {src}", a["sources"].get(src, {}).get("kept"), b["sources"].get(src, {}).get("kept"))
    lines.append("tokens by component")
    for comp in sorted(set(a["components"]) | set(b["components"])):
        row(f"  {comp}", a["components"].get(comp, {}).get("tokens"), b["components"].get(comp, {}).get("tokens"))
    return "\n".join(lines)
