"""`corpus export BUILD -o DIR`: the kept documents of a finished build as parquet files with a dataset card, the way
datatrove and Dolma users publish a cleaned corpus so others can tokenize it their way.

The documents are exactly the ones the build's shards hold (`corpus.retokenize.shard_documents`: its kept documents
narrowed to the shards' provenance records), component by component and shard by shard in the shards' order. Each
row: id, text, component, source, licence, licence_class, doi, title, year, journal, sections (the section spans,
JSON) and signals (the quality signals the filters computed, JSON). Files hold at most `rows_per_file` rows
(`data/<component>/<shard>-<part>.parquet`), so any corpus size stays in bounded files; `datasets.load_dataset(
"parquet", data_dir=DIR)` loads them.

Licences decide what leaves the machine. `licence_class` sorts a document's licence into `open` (CC BY, CC BY-SA,
CC0, public domain, MIT/BSD/Apache), `noncommercial` (CC BY-NC, CC BY-NC-SA), `no_derivatives` (any ND: a cleaned
extraction is an adaptation) and `restricted` (anything else, publishers' text-and-data-mining terms, or none).
By default `open` and `noncommercial` are exported; `--licence commercial` keeps `open` only; `--include-restricted`
adds the other two for use where their terms allow it (the card says so). What is left out is counted per class
and licence in the card and in `.export.json`, never silently.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from corpus.layout import OutputLayout
from corpus.outcomes import licence_of
from corpus.papers.xml import year_of
from corpus.retokenize import RetokenizeError, build_tasks, shard_documents

ROWS_PER_FILE = 50_000
RECORD = ".export.json"  # what was exported and left out, for machines; hidden, so `datasets` does not read it as data
SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string()), ("component", pa.string()), ("source", pa.string()),
                    ("licence", pa.string()), ("licence_class", pa.string()), ("doi", pa.string()), ("title", pa.string()),
                    ("year", pa.int32()), ("journal", pa.string()), ("sections", pa.string()), ("signals", pa.string())])
_OPEN_CODE = re.compile(r"\b(MIT|BSD|APACHE|UNLICENSE|ODC BY|PDDL)\b")
CLASSES = ("open", "noncommercial", "no_derivatives", "restricted")


class ExportError(Exception):
    """The build cannot be exported (nothing was written)."""


def licence_class(licence: str | None) -> str:
    """open | noncommercial | no_derivatives | restricted (see the module's docstring)."""
    if not licence:
        return "restricted"
    norm = re.sub(r"[-_/]+", " ", licence.upper())
    if "CC0" in norm or "PUBLIC DOMAIN" in norm or _OPEN_CODE.search(norm):
        return "open"
    if re.search(r"\bCC BY\b|CREATIVECOMMONS\.ORG LICENSES BY\b|\bLICENSES BY\b", norm):
        if re.search(r"\bND\b", norm):
            return "no_derivatives"
        return "noncommercial" if re.search(r"\bNC\b", norm) else "open"
    return "restricted"


@dataclass
class ExportReport:
    out: str
    rows: int = 0
    files: int = 0
    bytes: int = 0
    exported: Counter = field(default_factory=Counter)  # by (component, licence class)
    left_out: Counter = field(default_factory=Counter)  # by (licence class, licence)
    licences: Counter = field(default_factory=Counter)  # exported, by licence


def _row(doc, component: str, licence: str | None, cls: str) -> dict:
    md = doc.metadata
    return {"id": doc.id, "text": doc.text, "component": component, "source": md.get("source"), "licence": licence,
            "licence_class": cls, "doi": md.get("doi"), "title": md.get("title"), "year": year_of(str(md["year"])) if md.get("year") is not None else None,
            "journal": md.get("journal"), "sections": json.dumps(md["sections"]) if md.get("sections") else None,
            "signals": json.dumps(md["signals"], sort_keys=True, default=str) if md.get("signals") else None}


def export(build: str, out: str, licence: str = "redistributable", include_restricted: bool = False,
           rows_per_file: int = ROWS_PER_FILE) -> ExportReport:
    """Write DIR/data/**.parquet, DIR/README.md (the dataset card) and DIR/.export.json; see the module's docstring."""
    if licence not in ("redistributable", "commercial"):
        raise ExportError(f"--licence {licence!r}: one of redistributable, commercial")
    try:
        tasks = build_tasks(build)
    except RetokenizeError as e:
        raise ExportError(str(e)) from None
    if os.path.realpath(out).startswith(os.path.realpath(build) + os.sep) or os.path.realpath(out) == os.path.realpath(build):
        raise ExportError(f"{out}: the export must lie outside the build it reads")
    allowed = {"open"} if licence == "commercial" else {"open", "noncommercial"}
    if include_restricted:
        allowed |= {"no_derivatives", "restricted"}
    report = ExportReport(out)
    for component, rank in tasks:
        folder = os.path.join(out, "data", component)
        rows, part = [], 0

        def flush() -> None:
            nonlocal rows, part
            if not rows:
                return
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, f"{rank:05d}-{part:04d}.parquet")
            pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), path, compression="zstd")
            report.files += 1
            report.bytes += os.path.getsize(path)
            rows, part = [], part + 1

        for doc in shard_documents(build, component, rank)[1]:
            doc_licence = licence_of(doc)
            cls = licence_class(doc_licence)
            if cls not in allowed:
                report.left_out[(cls, doc_licence or "(none)")] += 1
                continue
            rows.append(_row(doc, component, doc_licence, cls))
            report.rows += 1
            report.exported[(component, cls)] += 1
            report.licences[doc_licence or "(none)"] += 1
            if len(rows) >= rows_per_file:
                flush()
        flush()
    _write_card(build, out, report, licence, include_restricted)
    return report


def _write_card(build: str, out: str, report: ExportReport, licence: str, include_restricted: bool) -> None:
    layout = OutputLayout(build)
    with open(layout.summary) as f:
        summary = json.load(f)
    with open(layout.build_record) as f:
        fingerprint = json.load(f).get("fingerprint")
    left = sum(report.left_out.values())
    record = {"made_by": "matcorpus corpus export", "source_build": os.path.abspath(build), "source_fingerprint": fingerprint,
              "licence_policy": licence, "include_restricted": include_restricted, "rows": report.rows, "files": report.files,
              "bytes": report.bytes, "left_out": left,
              "exported_by_component_and_class": {f"{c}/{k}": n for (c, k), n in sorted(report.exported.items())},
              "left_out_by_class_and_licence": {f"{k}/{lic}": n for (k, lic), n in sorted(report.left_out.items())},
              "build_kept": summary.get("kept"), "build_components": {c: v.get("documents") for c, v in summary.get("components", {}).items()}}
    with open(os.path.join(out, RECORD), "w") as f:
        json.dump(record, f, indent=1)
    by_component = Counter()
    for (c, _), n in report.exported.items():
        by_component[c] += n
    lines = [
        "---", "configs:", "- config_name: default", "  data_files:", "  - split: train", "    path: data/**/*.parquet", "---", "",
        f"# {summary.get('name', 'corpus')}: cleaned documents", "",
        f"Exported by `corpus export` from the build `{summary.get('name')}` (fingerprint `{fingerprint}`): the documents its "
        "token shards hold, after its readers, filters and dedup, one row per document.", "",
        "```python", "from datasets import load_dataset", "ds = load_dataset(\"parquet\", data_dir=\".\")", "```", "",
        "## Counts", "",
        "| component | documents in the build's shards | exported |", "|---|---:|---:|",
        *[f"| {c} | {v.get('documents', 0):,} | {by_component.get(c, 0):,} |" for c, v in sorted(summary.get("components", {}).items())],
        "", f"{report.rows:,} rows in {report.files} parquet file(s), {report.bytes / 1e6:.1f} MB.", "",
        "## Licences", "",
        f"Policy: `{licence}`" + (" with `--include-restricted`" if include_restricted else "") + ". Every row carries its "
        "document's `licence` and its `licence_class` (open, noncommercial, no_derivatives, restricted); the terms of each "
        "document's licence apply to it" + (", and rows of the no_derivatives and restricted classes were included on the "
        "exporter's request: check their terms before sharing this folder." if include_restricted else "."), "",
        "| licence | exported documents |", "|---|---:|",
        *[f"| {lic} | {n:,} |" for lic, n in report.licences.most_common()], "",
        f"Left out: {left:,} document(s)" + (":" if left else "."),
    ]
    if left:
        lines += ["", "| class | licence | documents | why |", "|---|---|---:|---|"]
        why = {"open": "not open enough for the policy", "noncommercial": "non-commercial terms (the policy is commercial)",
               "no_derivatives": "no derivatives: a cleaned extraction is an adaptation",
               "restricted": "no licence that allows redistribution is recorded (publisher terms or none)"}
        lines += [f"| {k} | {lic} | {n:,} | {why[k]} |" for (k, lic), n in sorted(report.left_out.items())]
    sources = summary.get("sources", {})
    if sources:
        lines += ["", "## Sources", "", "| source | kept by the build |", "|---|---:|",
                  *[f"| {s} | {v.get('kept', 0):,} |" for s, v in sorted(sources.items()) if isinstance(v, dict)]]
    dropped = summary.get("dropped_by_reason", {})
    if dropped:
        lines += ["", "## What the build dropped", "", "| reason | documents |", "|---|---:|",
                  *[f"| {r} | {n:,} |" for r, n in sorted(dropped.items(), key=lambda x: -x[1])]]
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
