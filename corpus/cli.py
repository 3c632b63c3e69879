"""`corpus`: build materials-science training corpora from a manifest.

  corpus build MANIFEST [--output DIR] [--dry-run] [--force] [--verbose]
  corpus check SHARDS_DIR [--quick] [--eos-id N] [--vocab-size N]
  corpus retokenize BUILD --tokenizer PATH -o OUT [--eos-token T] [--megatron] [--workers N]
  corpus export BUILD -o DIR [--licence redistributable|commercial] [--include-restricted]
  corpus lineage PATH      (a scores.json, a training run folder, a train_data.yaml or a build folder)
  corpus extract PATH... [--reader R] [--option K=V] [-o OUT.jsonl] [--explain]
  corpus train-classifier --positive ... --negative ... -o MODEL.bin
  corpus report OUT
  corpus inspect OUT [--status S] [--reason R] [--source S] [--component C] [-n N]
  corpus diff OUT_A OUT_B

Exit codes: 0 success; 1 the build ran but did not reconcile, a pipeline failed, or the shards are
invalid; 2 the manifest or its inputs are wrong (nothing was run).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from typing import TYPE_CHECKING

import humanize

if TYPE_CHECKING:
    from corpus.manifest import Manifest

# Heavy modules (the manifest and through it every step, pymatgen, datatrove's filters; PyMuPDF) are imported inside
# the command that runs them: `corpus --help` and `corpus extract paper.pdf` start without them.

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
EXIT_QUOTA = 3  # corpus fetch: a service's quota stopped a job; rerunning later resumes it


@contextlib.contextmanager
def _stderr_to(path: str | None):
    """Send everything written to file descriptor 2 (datatrove's per-task logs, worker processes) to a file."""
    if path is None:
        yield
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _load_tokenizer_info(manifest: Manifest) -> tuple[int, int]:
    """(vocab size, EOS id), loading the tokenizer the shards will use; ManifestError when it cannot."""
    from corpus.manifest import ManifestError, tokenizer_source

    from datatrove.utils.tokenization import load_tokenizer

    try:
        tok = load_tokenizer(tokenizer_source(manifest.tokenizer))
    except Exception as e:  # noqa: BLE001
        raise ManifestError(f"tokenizer: cannot load {tokenizer_source(manifest.tokenizer)}: {e}") from None
    eos = tok.token_to_id(manifest.tokenizer.eos_token)
    if eos is None:
        raise ManifestError(f"tokenizer.eos_token: {manifest.tokenizer.eos_token!r} is not in the tokenizer's vocabulary")
    return tok.get_vocab_size(), eos


def print_plan(manifest: Manifest, manifest_path: str, inputs: dict[str, list[str]], pipelines, vocab: int, eos: int) -> None:
    from corpus.manifest import tokenizer_source

    from corpus.shards.format import token_size_for

    ex = manifest.executor
    workers = min(ex.tasks, os.cpu_count() or 1) if ex.workers == -1 else ex.workers
    print(f"Manifest   {manifest_path}  (name {manifest.name}, seed {manifest.seed})")
    print(f"Output     {manifest.output_dir}")
    print(f"Executor   {ex.type}: {ex.tasks} task(s)" + (f", {workers} at once" if ex.type == "local" else "") +
          (f", options {ex.options}" if ex.options else ""))
    size = token_size_for(vocab)
    print(f"Tokenizer  {tokenizer_source(manifest.tokenizer)}: vocabulary {vocab:,} -> uint{size * 8} shards, "
          f"EOS {manifest.tokenizer.eos_token!r} = {eos}")
    print("Sources")
    width = max(len(s.name) for s in manifest.sources)
    for src in manifest.sources:
        files = inputs[src.name]
        nbytes = sum(os.path.getsize(f) for f in files)
        print(f"  {src.name:<{width}}  {src.reader:<6} {len(files):>7,} file(s) {humanize.naturalsize(nbytes):>9}  -> component {manifest.component_of(src.name)}")
    print("Pipelines")
    for i, st in enumerate(pipelines, 1):
        print(f"  {i}. {st.name} ({st.tasks} task(s)): " + " -> ".join(st.step_names))
    print("Outputs")
    for comp in manifest.components:
        weight = f" (target weight {comp.weight})" if comp.weight else ""
        print(f"  shards/{comp.name}/  from {', '.join(comp.sources)}{weight}")
    print("  summary.json, rejected/, failed/, stats/documents.parquet, logs/")


def print_summary(summary: dict, root: str) -> None:
    print()
    print(f"Build {summary['name']}: {summary['inputs']:,} input documents -> "
          f"{summary['kept']:,} kept, {summary['dropped']:,} dropped, {summary['failed']:,} failed")
    for reason, n in summary["dropped_by_reason"].items():
        print(f"  dropped {reason:<22} {n:>9,}")
    for reason, n in summary["failed_by_reason"].items():
        print(f"  failed  {reason:<22} {n:>9,}")
    print("Components")
    for name, c in summary["components"].items():
        print(f"  {name:<16} {c['documents']:>9,} documents {c['tokens']:>14,} tokens in {c['shards']} shard(s)")
    print(f"  {'total':<16} {summary['kept']:>9,} documents {summary['tokens']:>14,} tokens")
    state = "reconciled" if summary["reconciled"] else "NOT reconciled: " + "; ".join(summary["problems"])
    print(f"Accounting {state}; shard check {'passed' if summary['shard_check']['ok'] else 'FAILED'}")
    print(f"Shards     {os.path.join(root, 'shards')}")
    print(f"Summary    {os.path.join(root, 'summary.json')}")
    print(f"Rejected   {os.path.join(root, 'rejected')}   Failed {os.path.join(root, 'failed')}")
    print(f"Logs       {os.path.join(root, 'logs')}")
    report = os.path.join(root, "report", "index.html")
    if os.path.exists(report):
        print(f"Report     {report}   (open it in a browser; `corpus inspect {root} --reason R` shows examples)")


def cmd_build(args: argparse.Namespace) -> int:
    from corpus.manifest import ManifestError, expand_inputs, load_manifest

    from corpus.pipeline import OutputLayout, build_pipelines, prepare_output

    try:
        manifest = load_manifest(args.manifest, output_dir=args.output)
        inputs = expand_inputs(manifest)
        vocab, eos = _load_tokenizer_info(manifest)
    except ManifestError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT

    if args.dry_run:
        pipelines = build_pipelines(manifest, inputs, OutputLayout(manifest.output_dir))
        print_plan(manifest, args.manifest, inputs, pipelines, vocab, eos)
        print("\nDry run: nothing was read or written.")
        return EXIT_OK

    from corpus.buildlock import BuildLock, BuildLocked

    try:
        with BuildLock(manifest.output_dir) as lock:
            try:
                layout = prepare_output(manifest, inputs, force=args.force)
            except ManifestError as e:
                lock.release_if_unused()
                print(f"error: {e}", file=sys.stderr)
                return EXIT_BAD_INPUT
            return _run_build(args, manifest, inputs, layout, vocab, eos)
    except BuildLocked as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _run_build(args: argparse.Namespace, manifest: Manifest, inputs: dict[str, list[str]], layout, vocab: int, eos: int) -> int:
    """The build proper, while this process holds the output folder's lock."""
    from corpus.pipeline import build_pipelines, make_executor, write_paths_files
    from corpus.progress import ProgressDisplay

    roots = write_paths_files(layout, inputs)
    pipelines = build_pipelines(manifest, inputs, layout, roots)
    print_plan(manifest, args.manifest, inputs, pipelines, vocab, eos)
    print()

    timings = {}
    if manifest.executor.type == "ray":
        import ray

        # join the configured cluster (never start a private one silently when an address was given)
        address = manifest.executor.address or os.environ.get("RAY_ADDRESS")
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False, include_dashboard=False)
    if manifest.executor.type != "local":
        # cluster executors chain the pipelines as dependent jobs; the last one launches the others
        executor = None
        for built in pipelines:
            executor = make_executor(manifest, built, layout, depends=executor)
        executor.run()
        if manifest.executor.type == "slurm":
            print(f"Submitted to Slurm. When the jobs finish: {layout.summary}  (logs: {layout.logs})")
            return EXIT_OK
    else:
        for built in pipelines:
            executor = make_executor(manifest, built, layout)
            start = time.monotonic()
            console = None if args.verbose else layout.console_log
            try:
                with _stderr_to(console), ProgressDisplay(layout.progress, built.name, f"{built.name:<8}", built.total_files):
                    _run_isolated(executor) if executor.workers == 1 else executor.run()
            except Exception as e:  # noqa: BLE001 - report, point at the logs, exit non-zero
                print(f"error: pipeline {built.name} failed: {type(e).__name__}: {e}", file=sys.stderr)
                print(f"       task logs: {os.path.join(layout.pipeline_logs(built.name), 'logs')}", file=sys.stderr)
                return EXIT_FAILED
            timings[built.name] = round(time.monotonic() - start, 3)

    with open(layout.summary) as f:
        summary = json.load(f)
    start = time.monotonic()
    try:
        from corpus.report.html import write_report

        write_report(layout.root)
    except Exception as e:  # noqa: BLE001 - the corpus is built; a report problem must not hide that
        print(f"warning: the report could not be written: {type(e).__name__}: {e}", file=sys.stderr)
    if timings:  # local builds: seconds per pipeline, then the report (benchmarks/memory_flatness.py reads them in order)
        timings["report"] = round(time.monotonic() - start, 3)
        with open(layout.timings, "w") as f:
            json.dump(timings, f, indent=2)
    print_summary(summary, layout.root)
    return EXIT_OK if summary["reconciled"] else EXIT_FAILED


def cmd_check(args: argparse.Namespace) -> int:
    from corpus.shards.check import ShardError, check_shards

    try:
        report = check_shards(args.shards_dir, eos_id=args.eos_id, vocab_size=args.vocab_size, quick=args.quick)
    except ShardError as e:
        print(f"INVALID {e}", file=sys.stderr)
        return EXIT_FAILED
    for c in report.components:
        print(f"ok  {c.folder}: {c.files} shard(s), {c.documents:,} documents, {c.tokens:,} tokens "
              f"({c.tokenizer}|{c.token_size})")
    integrity = (f"checksums of {report.verified_files} file(s) verified against {report.record}" if not args.quick
                 else "--quick: checksums NOT verified (changed bytes inside valid-looking shards are not found)")
    print(f"VALID {len(report.components)} component(s), {report.documents:,} documents, {report.tokens:,} tokens; {integrity}")
    return EXIT_OK


def cmd_retokenize(args: argparse.Namespace) -> int:
    from corpus.manifest import ManifestError, TokenizerConfig, tokenizer_source
    from corpus.retokenize import RetokenizeError, retokenize

    try:
        source = tokenizer_source(TokenizerConfig(path=args.tokenizer))
    except ManifestError as e:
        print(f"error: --tokenizer: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    started = time.perf_counter()

    def said(task) -> None:
        what = "complete from an earlier run" if task.skipped else f"{task.documents:,} documents, {task.tokens:,} tokens"
        print(f"  {task.component}/{task.rank:05d}: {what}", flush=True)

    try:
        report = retokenize(args.build, args.output, source, args.eos_token, metadata_name=args.metadata_name,
                            megatron=args.megatron, workers=args.workers, progress=said)
    except RetokenizeError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for name, c in report.components().items():
        print(f"{name}: {c['documents']:,} documents, {c['tokens']:,} tokens in {c['shards']} shard(s) of {report.token_size}-byte tokens")
    print(f"wrote {args.output} in {time.perf_counter() - started:.1f} s (no source read); "
          f"`corpus check {os.path.join(args.output, 'shards')}` verifies it")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from corpus.export import ExportError, export

    started = time.perf_counter()
    try:
        report = export(args.build, args.output, licence=args.licence, include_restricted=args.include_restricted,
                        rows_per_file=args.rows_per_file)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    left = sum(report.left_out.values())
    print(f"exported {report.rows:,} documents in {report.files} parquet file(s), {report.bytes / 1e6:.1f} MB, "
          f"{time.perf_counter() - started:.1f} s; left out {left:,} by licence (README.md says which and why)")
    print(f"card {os.path.join(args.output, 'README.md')}; load: datasets.load_dataset(\"parquet\", data_dir={args.output!r})")
    return EXIT_OK


def cmd_lineage(args: argparse.Namespace) -> int:
    from corpus.lineage import chain

    links = chain(args.path)
    for link in links:
        print(link.line())
    broken = [link for link in links if link.status in ("changed", "missing")]
    print(f"{len(links)} link(s); " + (f"{len(broken)} changed or missing" if broken else "every recorded link holds"))
    return EXIT_FAILED if broken else EXIT_OK


def cmd_extract(args: argparse.Namespace) -> int:
    import orjson

    from corpus.extract import extract
    from corpus.readers import Failure, reader_options_error
    from corpus.registry import PluginError, reader

    options = {}
    for opt in args.option or []:
        key, _, value = opt.partition("=")
        options[key] = {"true": True, "false": False}.get(value.lower(), value)
    name = "pdf" if args.explain else args.reader
    try:
        chosen = None if name == "auto" else reader(name)
    except PluginError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if name != "auto" and chosen is None:
        print(f"error: --reader: {name!r} is not a reader; readers: auto, {', '.join(_reader_names())}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if chosen is not None and (err := reader_options_error(chosen, options, "--option")):
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.explain:
        return _explain(args.paths, options)
    out = open(args.output, "wb") if args.output else sys.stdout.buffer
    documents = failed = 0
    try:
        for path, item in extract(args.paths, args.reader, options):
            if isinstance(item, Failure):
                failed += 1
                print(f"failed  {path}: {item.kind}: {item.error}", file=sys.stderr)
                continue
            documents += 1
            out.write(orjson.dumps({"id": item.id, "text": item.text, "metadata": item.metadata}, default=str) + b"\n")
    finally:
        if args.output:
            out.close()
    print(f"{documents} document(s), {failed} failure(s)" + (f" -> {args.output}" if args.output else ""), file=sys.stderr)
    return EXIT_OK if documents or not failed else EXIT_FAILED


def _explain(paths: list[str], options: dict) -> int:
    """Every block of each PDF with the reader's decision: page, box, role, probability, text."""
    from corpus.readers.bounded import TooLarge, read_limited
    from corpus.readers.pdf import PdfOptions
    from corpus.records import Failure

    o = PdfOptions(**options)
    reader, failed, limit = o.extractor(), 0, o.max_bytes  # the cap every paper reader reads within
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = read_limited(f, limit)
        except (OSError, TooLarge) as e:
            print(f"failed  {path}: {e}", file=sys.stderr)
            failed += 1
            continue
        rows = reader.explain(data)
        if isinstance(rows, Failure):
            print(f"failed  {path}: {rows.kind}: {rows.error}", file=sys.stderr)
            failed += 1
            continue
        print(f"# {path}: {len(rows)} blocks, {sum(r['role'] != 'dropped' for r in rows)} kept")
        print("page  x0     y0     role              p      text")
        for r in rows:
            text = " ".join(r["text"].split())
            print(f"{r['page']:>4}  {r['bbox'][0]:>5.0f}  {r['bbox'][1]:>5.0f}  {r['role']:<16}  {r['probability']:.3f}  "
                  f"{text[:90]}{'…' if len(text) > 90 else ''}")
    return EXIT_FAILED if failed and failed == len(paths) else EXIT_OK


def cmd_train_classifier(args: argparse.Namespace) -> int:
    from corpus.manifest import ManifestError

    import glob

    from corpus.filters.domain import read_examples, train_classifier

    def texts(patterns: list[str]) -> list[str]:
        in_folders = (".txt", ".md", ".jsonl", ".jsonl.gz", ".json")  # not the licence files and tables beside them
        files = sorted(
            f
            for p in patterns
            for f in ([g for g in glob.glob(os.path.join(p, "**", "*"), recursive=True) if g.endswith(in_folders)] if os.path.isdir(p) else glob.glob(p))
            if os.path.isfile(f)
        )
        if not files:
            raise ManifestError(f"no file matches {patterns}")
        return [t for f in files for t in read_examples(f, tuple(args.text_key))]

    try:
        positive, negative = texts(args.positive), texts(args.negative)
    except (ManifestError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        report = train_classifier(positive, negative, args.output, label=args.label, test_fraction=args.test_fraction, seed=args.seed, epoch=args.epochs)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"trained on {report['train']:,} documents ({len(positive):,} positive, {len(negative):,} negative in all), "
          f"tested on {report['test']:,} held out (seed {report['seed']})")
    print(f"{report['label']}: precision {report['precision']:.3f}, recall {report['recall']:.3f}, F1 {report['f1']:.3f}")
    print(f"model  {args.output} ({os.path.getsize(args.output) / 1e6:.1f} MB)\nreport {args.output}.report.json")
    return EXIT_OK


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="corpus",
        description="Build LLaMat-style materials-science training corpora: sources -> filters -> token shards, "
        "with every input accounted for.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    b = sub.add_parser(
        "build",
        help="run a manifest: read, filter and tokenise into shards",
        description="Run the pipeline a manifest describes. Output: OUT/shards/<component>/ (nanotron/datatrove "
        ".ds shards with provenance), OUT/summary.json (counts that reconcile), OUT/rejected/ (dropped documents "
        "with their reason), OUT/failed/ (unreadable inputs with their error), OUT/stats/, OUT/logs/. "
        "Re-running the same manifest into the same OUT resumes: finished tasks are skipped and the result is "
        "byte-identical to an uninterrupted run.",
    )
    b.add_argument("manifest", help="manifest YAML (see manifests/demo.yaml)")
    b.add_argument("--output", "-o", help="output folder (overrides the manifest's output_dir)")
    b.add_argument("--dry-run", action="store_true", help="validate and print the plan (sources, file counts, steps, executor) without reading data")
    b.add_argument("--force", action="store_true", help="delete the output folder first instead of resuming it")
    b.add_argument("--verbose", "-v", action="store_true", help="show datatrove's per-task logs on the terminal (default: OUT/logs/console.log)")
    b.set_defaults(func=cmd_build)

    c = sub.add_parser(
        "check",
        help="validate token shards",
        description="Validate the shards under SHARDS_DIR (a build's shards folder, or one component folder of it). "
        "Completeness: every shard's four files, no orphan, every component, shard and file the build recorded in "
        "SHARDS/checksums.json and nothing else, shard counts as summary.json says. Structure: index monotone and "
        "ending at the file length, EOS at every document end, token ids inside the vocabulary, token size matching "
        "it, metadata consistent across the folder, provenance rows matching the index. Integrity: every file's "
        "xxh3 block checksums (finds any changed byte). Exit 0 when valid; 1 and the first problem (file, offset) when not.",
    )
    c.add_argument("shards_dir")
    c.add_argument("--eos-id", type=int, help="EOS token id (default: recorded in the provenance side-car)")
    c.add_argument("--vocab-size", type=int, help="vocabulary size (default: recorded in the provenance side-car)")
    c.add_argument("--quick", action="store_true", help="skip the checksums (structure and completeness only; also for shards without checksums.json)")
    c.set_defaults(func=cmd_check)

    rt = sub.add_parser(
        "retokenize",
        help="the same corpus in another tokenizer, from a finished build",
        description="Write shards of BUILD's kept documents in another tokenizer (e.g. LLaMA-3's 128k vocabulary) "
        "into OUT, without reading a source or running a filter, dedup or reader again: the same documents in the same "
        "shuffled order, one shard per build shard, with provenance, checksums, summary.json, train_data.yaml and "
        "nanotron_data.yaml (the build's mixture). Needs the build's work folder (its kept documents). Resumable: "
        "rerun after an interruption and finished shards are kept.",
    )
    rt.add_argument("build", help="a finished build folder (OUT of `corpus build`)")
    rt.add_argument("--tokenizer", required=True, help="the new tokenizer: a tokenizer.json or the folder holding it")
    rt.add_argument("--output", "-o", required=True, help="folder to write (outside BUILD)")
    rt.add_argument("--eos-token", default="</s>", help="appended after every document (LLaMA-3: <|end_of_text|>)")
    rt.add_argument("--metadata-name", help="tokenizer name written into .ds.metadata (nanotron loads it); default: its folder")
    rt.add_argument("--megatron", action="store_true", help="also write Megatron's .bin + .idx and megatron_data_path.txt")
    rt.add_argument("--workers", type=int, default=1, help="shards written at once (processes)")
    rt.set_defaults(func=cmd_retokenize)

    ex = sub.add_parser(
        "export",
        help="the kept documents as parquet with a dataset card",
        description="Write the documents a finished build's shards hold (id, text, component, source, licence, "
        "licence_class, DOI, title, year, journal, sections, quality signals) as parquet files of bounded size under "
        "DIR/data, a dataset card DIR/README.md (counts, licences, sources, what the build dropped) and DIR/.export.json, "
        "loadable with datasets.load_dataset('parquet', data_dir=DIR). Licences: by default only documents whose licence "
        "allows redistribution (open and non-commercial Creative Commons, CC0, public domain) are written; the rest are "
        "counted in the card with the reason.",
    )
    ex.add_argument("build", help="a finished build folder")
    ex.add_argument("--output", "-o", required=True, help="folder to write (outside BUILD)")
    ex.add_argument("--licence", choices=["redistributable", "commercial"], default="redistributable",
                    help="commercial: open licences only (no NC)")
    ex.add_argument("--include-restricted", action="store_true",
                    help="also documents whose licence forbids redistribution or derivatives, or is unknown (for private use)")
    ex.add_argument("--rows-per-file", type=int, default=50_000, help="rows per parquet file")
    ex.set_defaults(func=cmd_export)

    ln = sub.add_parser(
        "lineage",
        help="from a score back to the fetched files, each link checked",
        description="Print the chain from PATH (a mateval scores.json, a training run folder, a train_data.yaml or a "
        "build folder) back to the fetch ledgers: the evaluated model, the training run and its train_data.yaml, the "
        "base checkpoint, the build's shards (content fingerprint), its manifest fingerprint and the fetch ledgers above "
        "its sources; for every link whether the file is still there and still has the digest recorded. Exit 1 when a "
        "link changed or is missing.",
    )
    ln.add_argument("path")
    ln.set_defaults(func=cmd_lineage)

    x = sub.add_parser(
        "extract",
        help="show what the toolkit makes of some files (reader + cleaning, no build)",
        description="Run a reader and its cleaning (section policy, normalisation) on files or folders and write one "
        "JSON object per document: id, text, metadata (including the source file path). Failures go to stderr with "
        "their reason. The format is detected from the file name and, for .xml, from its first bytes.",
    )
    x.add_argument("paths", nargs="+", help="files or folders")
    x.add_argument("--reader", default="auto", help="format: auto (detect from the file name and first bytes; the "
                   "default) or a reader's name: " + ", ".join(_reader_names()))
    x.add_argument("--option", action="append", metavar="KEY=VALUE", help="reader option, e.g. markers=llamat or keep_tables=true")
    x.add_argument("--output", "-o", help="JSONL file to write (default: standard output)")
    x.add_argument("--explain", action="store_true",
                   help="for PDFs: print every block with the role the reader gave it, the model's probability and its "
                        "place on the page (why text was kept or dropped) instead of the documents; --option applies")
    x.set_defaults(func=cmd_extract)

    t = sub.add_parser(
        "train-classifier",
        help="train the fastText domain classifier from labelled text",
        description="Train a fastText supervised classifier on positive (in-domain) and negative examples: JSONL files "
        "(text field from --text-key, optionally gzipped) or text files, one document each; folders are searched. A "
        "seeded share is held out and precision, recall and F1 of the positive label are reported and saved beside the "
        "model. Use the model with steps.filters.domain in a manifest.",
    )
    t.add_argument("--positive", nargs="+", required=True, help="in-domain files, folders or globs")
    t.add_argument("--negative", nargs="+", required=True, help="out-of-domain files, folders or globs")
    t.add_argument("--output", "-o", required=True, help="model file to write (.bin)")
    t.add_argument("--label", default="materials")
    t.add_argument("--text-key", action="append", default=None, help="JSONL field(s) holding the text (default: text, then abstract)")
    t.add_argument("--test-fraction", type=float, default=0.2)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--epochs", type=int, default=25)
    t.set_defaults(func=cmd_train_classifier)

    r = sub.add_parser(
        "report",
        help="write the quality report of a build (OUT/report/index.html and summary.md)",
        description="Aggregate OUT/stats/documents.parquet (one row per input document) into a self-contained HTML page "
        "(no network, inline charts) and a Markdown summary: the funnel, drops by reason crossed with source, reader, "
        "publisher, journal, year and licence, tokens per component against the target weights, kept-vs-dropped "
        "distributions of the filter signals, duplicate groups, extraction quality per reader, crystal statistics and "
        "sample snippets per reason. `corpus build` writes it at the end of every build.",
    )
    r.add_argument("out", help="the output folder of a build")
    r.set_defaults(func=cmd_report)

    i = sub.add_parser(
        "inspect",
        help="print sample documents of a build with why they were kept or dropped",
        description="Select documents of a build by status, reason, source or component and print them with their "
        "metadata and outcome, to check a threshold by reading the real examples it decides.",
    )
    i.add_argument("out", help="the output folder of a build")
    i.add_argument("--status", choices=["kept", "dropped", "failed"])
    i.add_argument("--reason", help="a drop or failure reason, e.g. too_short, wrong_language, duplicate_near")
    i.add_argument("--source")
    i.add_argument("--component")
    i.add_argument("-n", type=int, default=5, help="how many documents (a seeded sample when more match)")
    i.add_argument("--seed", type=int, default=0)
    i.add_argument("--chars", type=int, default=800, help="characters of text to show per document")
    i.set_defaults(func=cmd_inspect)

    d = sub.add_parser(
        "diff",
        help="compare two builds: counts per reason and source, tokens per component",
        description="Print what changed between two builds (e.g. before and after a threshold change): inputs, kept, "
        "dropped and failed, drops and failures per reason, documents kept per source, tokens per component.",
    )
    d.add_argument("a", help="output folder of the first build")
    d.add_argument("b", help="output folder of the second build")
    d.set_defaults(func=cmd_diff)
    f = sub.add_parser(
        "fetch",
        help="get papers and crystal records from services into folders the readers read (a fetch manifest)",
        description="Run a fetch manifest (manifests/open_fetch.yaml): each job lists items at a service (Crossref, "
        "Elsevier, Springer Nature, arXiv over OAI-PMH, Materials Project, COD, an OPTIMADE provider) and downloads them politely (rate limit, retries honouring Retry-After, size "
        "caps, content checks, atomic writes) into OUTPUT_DIR/<into>/, with FILE.meta.json (id, DOI, licence, source) "
        "beside each file. OUTPUT_DIR/fetch_ledger.jsonl has one row per item attempt; a rerun skips what is there "
        "and whole, and fetches the rest. Credentials only from the environment variables a job names, sent only to "
        "the job's own endpoints. One fetch per OUTPUT_DIR at a time. Exit 0: done; 1: an item, a job or a listing "
        "failed (see fetch_report.md); 2: a bad manifest or a busy folder; 3: a quota stopped a job (rerun later to resume).",
    )
    f.add_argument("manifest", help="the fetch manifest (YAML)")
    f.add_argument("--dry-run", action="store_true", help="print each job's plan (endpoint, credentials, folder) "
                   "before any request, then the count each service reports (a few seconds per job; 'unreachable' when it "
                   "cannot be had); download and write nothing")
    f.add_argument("--limit", type=int, help="at most N items per job (a trial)")
    f.add_argument("--job", action="append", help="run only this job (repeatable)")
    f.set_defaults(func=cmd_fetch)
    return parser


def cmd_fetch(args: argparse.Namespace) -> int:
    from corpus.fetch.manifest import FetchError, load_fetch_manifest
    from corpus.fetch.run import fetch

    try:
        manifest = load_fetch_manifest(args.manifest)
        if args.limit is not None and args.limit < 1:
            raise FetchError("--limit: at least 1")
        unknown = sorted(set(args.job or []) - {j.name for j in manifest.jobs})
        if unknown:
            raise FetchError(f"--job: no job named {', '.join(unknown)} in {args.manifest}")
    except FetchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from corpus.buildlock import FolderLocked

    try:
        summary = fetch(manifest, args.limit, args.job, args.dry_run)
    except FolderLocked as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.dry_run:
        return EXIT_OK
    stopped = [name for name, s in summary.items() if "stopped" in s]
    if stopped:
        print(f"[fetch] stopped by a quota: {', '.join(stopped)}; rerun the same command later to resume (exit {EXIT_QUOTA})",
              file=sys.stderr)
        return EXIT_QUOTA
    failed = any("listing_error" in s or "error" in s for s in summary.values())
    return EXIT_FAILED if failed else EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from corpus.report.html import write_report

    try:
        path = write_report(args.out)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"Report     {path}")
    print(f"Summary    {os.path.join(args.out, 'report', 'summary.md')}")
    return EXIT_OK


def _is_build(root: str, needed: str) -> bool:
    """True when `root` holds `needed`; else says on stderr that it is not a finished build."""
    if os.path.exists(os.path.join(root, needed)):
        return True
    print(f"error: {root} has no {needed}: not the output of a finished build", file=sys.stderr)
    return False


def cmd_inspect(args: argparse.Namespace) -> int:
    from corpus.report.inspect import select, show

    if not _is_build(args.out, os.path.join("stats", "documents.parquet")):
        return EXIT_BAD_INPUT
    rows = select(args.out, args.status, args.reason, args.source, args.component, args.n, args.seed)
    if rows.is_empty():
        print("no document matches")
        return EXIT_OK
    print(show(args.out, rows, args.chars))
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from corpus.report.inspect import diff

    if not all(_is_build(root, "summary.json") for root in (args.a, args.b)):
        return EXIT_BAD_INPUT
    print(diff(args.a, args.b))
    return EXIT_OK


def _reader_names() -> list[str]:
    """The readers' names, without importing any reader (the parser is built for every command)."""
    from corpus.registry import reader_names

    return reader_names()


def _run_isolated(executor) -> None:
    """A one-worker pipeline's tasks in one child process.

    datatrove runs a one-worker pipeline in the calling process, so the clustering task's and the
    reconciliation's memory (gigabytes at millions of documents) would stay with `corpus build` for
    the rest of the build (benchmarks/memory_flatness.py saw the shards pipeline "grow" by exactly that);
    a child process hands it back to the operating system when it ends.
    """
    import multiprocess  # datatrove's own multiprocessing (dill pickling), the way its pool starts tasks

    child = multiprocess.get_context("forkserver").Process(target=_run_fresh, args=(executor,))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"a task of this pipeline failed (exit code {child.exitcode})")


def _run_fresh(executor) -> None:
    # a forkserver child has not used polars' thread pool: the summary can run in it directly (corpus.summary)
    os.environ["CORPUS_FRESH_PROCESS"] = "1"
    executor.run()


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    if getattr(args, "text_key", "unset") is None:
        args.text_key = ["text", "abstract"]
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
