"""The report's extraction quality per reader, publisher and journal, and its list of extractions worth a look, on a
hand-made ledger whose rates are known (issue 37, part 2)."""

from __future__ import annotations

import polars as pl

from corpus.outcomes import LEDGER_SCHEMA
from corpus.report.tables import TOP_GROUPS, extraction, worst_extractions


def ledger(rows: list[dict]) -> pl.LazyFrame:
    columns = {name: [r.get(name) for r in rows] for name in LEDGER_SCHEMA.names}
    return pl.from_arrow(pa_table(columns)).lazy()


def pa_table(columns):
    import pyarrow as pa

    return pa.table(columns, schema=LEDGER_SCHEMA)


def paper(i: int, publisher: str, **kw) -> dict:
    return {"id": f"d{i}", "source": "papers", "reader": "pdf", "status": "kept", "chars": 900, "publisher": publisher,
            "journal": f"J. {publisher}", "pages": 10, "no_text_pages": 0, "ocr_pages": 0, "garbled_chars": 0,
            "layout_dropped_chars": 100, "sections": 5, "file_path": f"p{i}.pdf", **kw}


def test_rates_per_publisher_and_the_long_tail_as_other():
    rows = [paper(0, "APS", ocr_pages=5, no_text_pages=1), paper(1, "APS", status="failed", reason="damaged_pdf", chars=0,
                                                              pages=None, layout_dropped_chars=None, sections=None),
            paper(2, "Elsevier", garbled_chars=7)]
    rows += [paper(10 + k, f"Press {k:02d}") for k in range(TOP_GROUPS + 3)]
    rows.append({"id": "c1", "source": "cod", "reader": "cif", "status": "kept", "chars": 500, "publisher": None})
    by = {r["publisher"]: r for r in extraction(ledger(rows), "publisher").iter_rows(named=True)}
    assert by["APS"]["documents"] == 2 and by["APS"]["failed_share"] == 0.5
    assert by["APS"]["ocr_page_share"] == 0.5 and by["APS"]["no_text_page_share"] == 0.1
    assert by["APS"]["layout_dropped_share"] == 0.1  # 100 left out of 100 + 900 kept
    assert by["Elsevier"]["garbled_share"] == 1.0
    assert "(other)" in by and len(by) == TOP_GROUPS + 1 and "(unknown)" not in by  # crystals are not papers
    readers = {r["reader"]: r for r in extraction(ledger(rows), "reader").iter_rows(named=True)}
    assert readers["cif"]["documents"] == 1 and readers["pdf"]["documents"] == len(rows) - 1


def test_worth_a_look_lists_failures_then_garble_then_text_left_out():
    rows = [paper(0, "A"), paper(1, "A", garbled_chars=3), paper(2, "A", status="failed", reason="damaged_pdf"),
            paper(3, "A", layout_dropped_chars=5000)]
    worst = worst_extractions(ledger(rows), top=3)
    assert worst["id"].to_list() == ["d2", "d1", "d3"] and worst["file_path"].to_list()[0] == "p2.pdf"
