"""summary.md: the QA build's tables (pairs per source and task, lengths, removals by reason) in the corpus report's Markdown style."""

from __future__ import annotations

from corpus.report.tables import markdown_table


def write_summary(summary: dict, path: str) -> None:
    lines = [f"# QA synthesis: {summary['name']}", "",
             f"{summary['pairs']:,} training pairs, {summary['validation_pairs']:,} validation pairs "
             f"({summary['distinct_pairs']:,} distinct after removals), {summary['tokens']:,} tokens of which "
             f"{summary['answer_tokens']:,} carry the loss. Built in {summary['timings_s']['total']:.0f} s.", "",
             "## Pairs per source", ""]
    rows = [[s, f"{n:,}", f"{summary['per_source'].get(s, 0):,}",
             ", ".join(f"{r} {c:,}" for r, c in summary["removed_per_source"].get(s, {}).items()) or "-"]
            for s, n in summary["converted"].items()]
    lines += markdown_table(["source", "converted", "training pairs", "removed (reason count)"], rows)
    lines += ["", "## Pairs per task", ""]
    lines += markdown_table(["source", "task", "pairs"], [[r["source"], r["task"], f"{r['pairs']:,}"] for r in summary["per_source_task"]])
    lines += ["", "## Lengths (tokens, template included)", ""]
    lines += markdown_table(["source", "prompt p50", "prompt p90", "prompt max", "answer p50", "answer p90", "answer max"],
                            [[s, *(str(v[part][q]) for part in ("prompt_tokens", "answer_tokens") for q in ("p50", "p90", "max"))]
                             for s, v in summary["lengths"].items()])
    lines += ["", "## Removals", ""]
    lines += markdown_table(["reason", "pairs"], [[r, f"{n:,}"] for r, n in summary["removed"].items()] or [["-", "0"]])
    if summary.get("failed_files"):
        lines += ["", "Files not converted (the build went on without them):"]
        lines += [f"- `{f['path']}` ({f['source']}): {f['error']}" for f in summary["failed_files"]]
    if summary.get("missing_passages"):
        lines += ["", f"Teacher passages without a usable response ({len(summary['missing_passages'])}; a rerun asks for them again):"]
        lines += [f"- `{r['passage']}` ({r['source']}, {r['attempts']} attempts): {r['last_error']}" for r in summary["missing_passages"]]
    if summary["skipped_structures"]:
        lines += ["", "Crystal structures not asked about: " + ", ".join(f"{k} {v:,}" for k, v in summary["skipped_structures"].items())]
    lines += ["", "## Evaluation sets kept out", ""]
    lines += markdown_table(["benchmark", "test items"], [[k, f"{v:,}"] for k, v in summary["evaluation_sets"].items()] or [["-", "0"]])
    if summary["notes"]:
        lines += ["", "## Notes", ""] + [f"- {k}: {v}" for k, v in summary["notes"].items()]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
