"""OUT/report/index.html (self-contained: inline CSS and SVG, no script, no network) and OUT/report/summary.md.

The page is for deciding thresholds and sources: the funnel, what was dropped from where and why
(by source, reader, publisher, journal, year, licence), the mixture against its targets,
kept-vs-dropped distributions of the signals the filters use, duplicate groups, extraction
quality per reader, crystal statistics, and real snippets of what each rule dropped. Key figures
carry `data-key` attributes so tests (and scripts) can read them back.
"""

from __future__ import annotations

import html
import json
import os

import polars as pl

from corpus.layout import OutputLayout
from corpus.report import charts
from corpus.report.tables import ReportData, load

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2327;background:#fafafa}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px} h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px;background:#fff;font-size:13px}
th,td{border:1px solid #e1e1e1;padding:3px 8px;text-align:right;vertical-align:top}
th{background:#f1f3f5} td.l,th.l{text-align:left}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{background:#fff;border:1px solid #e1e1e1;padding:10px 14px;min-width:130px}
.card b{display:block;font-size:20px}.grid{display:flex;flex-wrap:wrap;gap:8px}.grid svg{background:#fff;border:1px solid #eee}
.ok{color:#1b7f3b}.bad{color:#b3261e} pre{white-space:pre-wrap;background:#fff;border:1px solid #e1e1e1;padding:6px;font-size:12px;max-height:9em;overflow:auto}
.muted{color:#666}
"""


def _num(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) else html.escape(str(v))


def _table(frame: pl.DataFrame, key_column: str | None = None, left: tuple[str, ...] = ()) -> str:
    if frame.is_empty():
        return '<p class="muted">none</p>'
    head = "".join(f'<th class="{"l" if c in left else ""}">{html.escape(c)}</th>' for c in frame.columns)
    rows = []
    for row in frame.iter_rows(named=True):
        cells = []
        for c, v in row.items():
            attr = f' data-key="{html.escape(key_column)}:{html.escape(str(row[key_column]))}:{html.escape(c)}"' if key_column else ""
            cells.append(f'<td class="{"l" if c in left else ""}"{attr}>{_num(v)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def render(data: ReportData) -> str:
    s, t = data.summary, data.totals
    parts = [f"<h1>Corpus report: {html.escape(s.get('name', ''))}</h1>",
             f'<p class="muted">seed {s.get("seed")} · generated from stats/documents.parquet ({t["inputs"]:,} rows)</p>']
    reconciled = s.get("reconciled")
    parts.append('<div class="cards">' + "".join(
        f'<div class="card">{label}<b data-key="{key}">{_num(value)}</b></div>'
        for label, key, value in [("input documents", "inputs", t["inputs"]), ("kept", "kept", t["kept"]),
                                  ("dropped", "dropped", t["dropped"]), ("failed", "failed", t["failed"]),
                                  ("tokens in shards", "tokens", t["tokens"])]
    ) + f'<div class="card">accounting<b class="{"ok" if reconciled else "bad"}" data-key="reconciled">'
        f'{"reconciled" if reconciled else "NOT reconciled"}</b></div></div>')
    for problem in s.get("problems", []):
        parts.append(f'<p class="bad">{html.escape(problem)}</p>')

    parts.append("<h2>Funnel</h2>")
    parts.append(_table(pl.DataFrame(data.funnel), key_column="step", left=("step",)))

    parts.append("<h2>Why documents were dropped</h2>")
    reasons = pl.DataFrame(
        [{"outcome": "dropped", "reason": r, "documents": n} for r, n in s.get("dropped_by_reason", {}).items()]
        + [{"outcome": "failed", "reason": r, "documents": n} for r, n in s.get("failed_by_reason", {}).items()],
        schema={"outcome": pl.String, "reason": pl.String, "documents": pl.Int64},
    )
    parts.append(_table(reasons, key_column="reason", left=("outcome", "reason")))
    if reasons.height:
        parts.append(charts.bars(reasons["reason"].to_list(), reasons["documents"].to_list(), "documents per reason", color=charts.DROPPED))
    for key, frame in data.drops_by.items():
        parts.append(f"<h3>By {key}</h3>")
        parts.append(_table(frame, key_column=key, left=(key,)))

    parts.append("<h2>What the corpus holds: per year, licence and journal</h2>")
    parts.append('<p class="muted">Kept documents and their tokens in the shards; journals and licences ranked by tokens '
                 "(the long tail summed as \"(other)\").</p>")
    parts.append('<div class="grid">')
    for key, frame in data.volumes.items():
        if frame.height:
            parts.append(charts.bars([str(v) for v in frame[key].to_list()], frame["tokens"].to_list(), f"tokens per {key}", "tokens"))
    parts.append("</div>")
    for key, frame in data.volumes.items():
        parts.append(f"<details><summary>table: per {key}</summary>{_table(frame, key_column=key, left=(key,))}</details>")
    if data.clusters.height:
        sizes = data.clusters.group_by("size").agg(pl.col("groups").sum()).sort("size")
        parts.append(charts.bars([str(v) for v in sizes["size"].to_list()], sizes["groups"].to_list(),
                                 "duplicate groups per size (documents in the group)", "groups"))

    parts.append("<h2>Mixture: tokens per component against the target</h2>")
    mix = s.get("mixture") or {}
    if mix.get("total_steps"):
        parts.append(f'<p class="muted">training plan: {_num(mix["train_tokens"])} tokens = {_num(mix["total_steps"])} steps of '
                     f'{_num(mix["global_batch_size"])} x {_num(mix["seq_len"])} tokens; "from" is the fraction of training at which a '
                     f'component enters, "epochs" how often its shards are repeated (train/run.sh reads train_data.yaml)</p>')
    parts.append(_table(data.components, key_column="component", left=("component",)))
    comps = data.components
    if comps.height:
        parts.append(charts.bars(comps["component"].to_list(), comps["share"].to_list(), "share of tokens", "share",
                                 targets=comps["target"].to_list()))
    if text := s.get("text_contamination"):
        parts.append("<h3>Text benchmark decontamination</h3>")
        parts.append("<p>items: indexed evaluation items; too_short_items: under the n-gram length, so no overlap can find them; "
                     "documents: documents that shared an n-gram with one of the benchmark's items</p>")
        parts.append(_table(pl.DataFrame([{"benchmark": k, **v} for k, v in text.items()]), key_column="benchmark", left=("benchmark",)))
    contamination = s.get("crystal_contamination")
    if contamination:
        parts.append("<h3>Crystal benchmark decontamination</h3>")
        parts.append(_table(pl.DataFrame([{"benchmark": k, **v} for k, v in contamination.items()]), key_column="benchmark", left=("benchmark",)))

    parts.append("<h2>Distributions: kept against dropped</h2>")
    parts.append('<p class="muted">Dashed lines: the thresholds the build applied to a column, with the reason a document on '
                 "the wrong side is dropped for and the share of input documents dropped for that reason (by any rule "
                 "that gives it).</p>")
    inputs = max(1, s.get("inputs") or 0)
    reasons = s.get("dropped_by_reason", {})
    drawn = {name: [{**t, "removed": reasons.get(t["reason"], 0) / inputs} for t in s.get("thresholds", []) if t["column"] == name]
             for name in data.distributions}
    parts.append('<div class="grid">' + "".join(
        charts.histogram(v, name.removeprefix("signal_"), drawn[name])
        for name, v in data.distributions.items()) + "</div>")

    parts.append("<h2>Duplicate groups</h2>")
    parts.append(_table(data.clusters, left=("reason",)))

    parts.append("<h2>Extraction quality</h2>")
    parts.append('<p class="muted">Shares: failed files of the documents; pages read by OCR and pages without text of the '
                 "pages; documents with garbled characters; the pages' text the PDF reader left out (figure text, front "
                 "matter, running heads) of that and the kept text.</p>")
    for key, frame in data.extraction.items():
        parts.append(f"<h3>Per {key}</h3>")
        parts.append(_table(frame, key_column=key, left=(key,)))
    if data.worst.height:
        parts.append("<h3>Extractions worth a look</h3>")
        parts.append('<p class="muted">Failed first, then the most garbled, then the most text left out. '
                     "<code>corpus extract --explain FILE.pdf</code> shows every block of a PDF with the role the reader "
                     "gave it; <code>corpus inspect OUT --reason R</code> shows a reason's documents.</p>")
        rows = [f"<li><code>{html.escape(str(r['id']))}</code> {html.escape(str(r['status']))}"
                f"{' (' + html.escape(str(r['reason'])) + ')' if r['reason'] else ''} · {html.escape(str(r['reader']))} · "
                f"left out {_num(r['layout_dropped_share'])} · garbled {_num(r['garbled_chars'])} · sections "
                f"{_num(r['sections'])}<br><code>corpus extract --explain {html.escape(str(r['file_path']))}</code></li>"
                for r in data.worst.iter_rows(named=True)]
        parts.append("<ul>" + "".join(rows) + "</ul>")

    cr = data.crystals
    if cr["outcomes"].height:
        parts.append("<h2>Crystal records</h2>")
        parts.append(_table(cr["outcomes"], left=("status", "reason")))
        parts.append('<div class="grid">')
        if cr["elements"].height:
            top = cr["elements"].head(30)
            parts.append(charts.bars(top["element"].to_list(), top["records"].to_list(), "kept records per element (top 30)"))
        if cr["spacegroups"].height:
            top = cr["spacegroups"].head(20)
            parts.append(charts.bars([str(x) for x in top["spacegroup"].to_list()], top["records"].to_list(), "kept records per space group (top 20)"))
        if cr["systems"].height:
            parts.append(charts.bars(cr["systems"]["crystal_system"].to_list(), cr["systems"]["records"].to_list(), "crystal systems"))
        parts.append("</div>")

    parts.append("<h2>Examples</h2>")
    parts.append('<p class="muted">A few documents per drop or failure reason and per source of kept documents, the start of '
                 "each (click to open). More with <code>corpus inspect OUT --reason REASON</code> or "
                 "<code>corpus inspect OUT --status kept --source SOURCE</code>.</p>")
    for title, groups in (("Dropped and failed, per reason", data.samples), ("Kept, per source", data.kept_samples)):
        parts.append(f"<h3>{title}</h3>")
        for group, docs in groups.items():
            items = []
            for d in docs:
                extra = f" · duplicate of {html.escape(str(d['duplicate_of']))}" if d.get("duplicate_of") else ""
                extra += f" · contains {html.escape(', '.join(map(str, d['contamination'])))}" if d.get("contamination") else ""
                items.append(f'<p class="muted">{html.escape(str(d["id"]))} ({html.escape(str(d["source"]))}){extra}</p>'
                             f"<pre>{html.escape(d['text'])}</pre>")
            parts.append(f'<details><summary>{html.escape(str(group))} <span class="muted">({len(docs)})</span></summary>'
                         + "".join(items) + "</details>")
    body = "\n".join(parts)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Corpus report: {html.escape(s.get("name", ""))}</title>'
            f"<style>{CSS}</style></head><body><main>{body}</main></body></html>\n")


def markdown(data: ReportData) -> str:
    s, t = data.summary, data.totals
    lines = [f"# Corpus report: {s.get('name', '')}", "",
             f"{t['inputs']:,} input documents -> {t['kept']:,} kept, {t['dropped']:,} dropped, {t['failed']:,} failed; "
             f"{t['tokens']:,} tokens in shards; accounting {'reconciled' if s.get('reconciled') else 'NOT reconciled'}.", "",
             "| step | documents | characters | tokens |", "|---|---:|---:|---:|"]
    lines += [f"| {r['step']} | {r['documents']:,} | {_num(r['characters'])} | {_num(r['tokens'])} |" for r in data.funnel]
    lines += ["", "| outcome | reason | documents |", "|---|---|---:|"]
    lines += [f"| dropped | {r} | {n:,} |" for r, n in s.get("dropped_by_reason", {}).items()]
    lines += [f"| failed | {r} | {n:,} |" for r, n in s.get("failed_by_reason", {}).items()]
    lines += ["", "| component | documents | tokens | share | target |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['component']} | {r['documents']:,} | {r['tokens']:,} | {r['share']:.4f} | {_num(r['target'])} |"
              for r in data.components.iter_rows(named=True)]
    return "\n".join(lines) + "\n"


def _retokenized_summary(path: str) -> dict | None:
    """The summary of a `corpus retokenize` folder, or None for anything else (a build's, or none)."""
    from corpus.retokenize import MADE_BY

    try:
        with open(path) as f:
            summary = json.load(f)
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) and summary.get("made_by") == MADE_BY else None


def retokenized_tokens(summary: dict) -> pl.DataFrame:
    """Per component of a `corpus retokenize` folder: documents, the source build's tokens, this tokenizer's, their
    ratio, and each component's share of the tokens under both (a mixture's shares move with the tokenizer)."""
    try:  # the source build may have moved since: its columns are then empty
        with open(os.path.join(summary["source_build"], "summary.json")) as f:
            source = json.load(f)
    except (OSError, ValueError):
        source = {}
    before = {c: v.get("tokens", 0) for c, v in (source.get("components") or {}).items()}
    after = {c: v["tokens"] for c, v in summary["components"].items()}
    total_before, total_after = max(1, sum(before.values())), max(1, sum(after.values()))
    return pl.DataFrame([
        {"component": c, "documents": summary["components"][c]["documents"], "source_tokens": before.get(c),
         "tokens": after[c], "ratio": after[c] / before[c] if before.get(c) else None,
         "source_share": before[c] / total_before if c in before else None, "share": after[c] / total_after}
        for c in sorted(after)
    ], schema={"component": pl.String, "documents": pl.Int64, "source_tokens": pl.Int64, "tokens": pl.Int64,
               "ratio": pl.Float64, "source_share": pl.Float64, "share": pl.Float64})


def render_retokenized(summary: dict) -> tuple[str, str]:
    """(HTML, Markdown) of a `corpus retokenize` folder: its token tables beside the source build's. The documents,
    drops and distributions are the source build's: its own report has them."""
    frame = retokenized_tokens(summary)
    title = f"Retokenized: {html.escape(str(summary['tokenizer']))}"
    parts = [f"<h1>{title}</h1>",
             f'<p class="muted">the kept documents of <code>{html.escape(summary["source_build"])}</code> in another tokenizer '
             f"({summary['token_size'] * 8}-bit tokens); for what was read, dropped and why, see that build's report</p>",
             '<div class="cards">' + "".join(
                 f'<div class="card">{label}<b data-key="{key}">{_num(value)}</b></div>'
                 for label, key, value in [("documents", "documents", summary["documents"]), ("tokens", "tokens", summary["tokens"]),
                                           ("source build's tokens", "source_tokens", frame["source_tokens"].sum() if frame["source_tokens"].null_count() < frame.height else None)]) + "</div>",
             "<h2>Tokens per component</h2>", _table(frame, key_column="component", left=("component",))]
    if frame.height:
        parts.append(charts.bars(frame["component"].to_list(), frame["share"].to_list(), "share of tokens (marks: the source build's)",
                                 "share", targets=frame["source_share"].to_list()))
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{CSS}</style></head>'
            f"<body><main>{''.join(parts)}</main></body></html>\n")
    md = [f"# Retokenized: {summary['tokenizer']}", "", f"{summary['documents']:,} documents, {summary['tokens']:,} tokens "
          f"(source build: {_num(frame['source_tokens'].sum())}).", "",
          "| component | documents | source tokens | tokens | ratio |", "|---|---:|---:|---:|---:|"]
    md += [f"| {r['component']} | {r['documents']:,} | {_num(r['source_tokens'])} | {r['tokens']:,} | {_num(r['ratio'])} |"
           for r in frame.iter_rows(named=True)]
    return page, "\n".join(md) + "\n"


def write_report(root: str) -> str:
    """Writes OUT/report/index.html and summary.md; returns the HTML path. For a `corpus retokenize` folder, its
    token tables beside the source build's."""
    layout = OutputLayout(root)
    retokenized = _retokenized_summary(layout.summary)
    if retokenized is not None:
        page, md = render_retokenized(retokenized)
        os.makedirs(layout.report, exist_ok=True)
        with open(layout.report_html, "w", encoding="utf-8") as f:
            f.write(page)
        with open(layout.report_markdown, "w", encoding="utf-8") as f:
            f.write(md)
        return layout.report_html
    data = load(root)
    os.makedirs(layout.report, exist_ok=True)
    with open(layout.report_html, "w", encoding="utf-8") as f:
        f.write(render(data))
    with open(layout.report_markdown, "w", encoding="utf-8") as f:
        f.write(markdown(data))
    return layout.report_html
