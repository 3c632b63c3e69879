"""Every path of a build, in one place: `OutputLayout(OUT)`.

Nothing else joins path strings for build outputs: the pipeline, the steps, the summary, the report, the
mixture files and the CLI all ask the layout. A layout is cheap (strings only, nothing touches the disk), so
each part of the build makes its own from OUT rather than passing folders around.

    OUT/build.json  summary.json  train_data.yaml  nanotron_data.yaml  megatron_data_path.txt (shards.formats: megatron)
        shards/<component>/<task>.ds (+ .index .metadata .provenance.parquet; .bin .idx for Megatron), shards/checksums.json
        rejected/<step>-<task>.jsonl.zst       failed/<source>-<task>.jsonl.zst
        stats/documents.parquet  stats/dedup_clusters.parquet  stats/outcomes/  stats/inputs/  stats/crystal_contamination/
        stats/text_contamination/
        report/index.html  report/summary.md
        work/ (inputs/, kept/, dedup/, tmp/, summary_buckets/: intermediate, kept for resume)
        logs/<pipeline>/ logs/progress/ logs/console.log logs/timings.json
"""

from __future__ import annotations

import glob
import os


class OutputLayout:
    """Every path of a build under `root`."""

    def __init__(self, root: str):
        self.root = root
        self.build_record = os.path.join(root, "build.json")
        self.summary = os.path.join(root, "summary.json")
        self.train_data = os.path.join(root, "train_data.yaml")
        self.nanotron_data = os.path.join(root, "nanotron_data.yaml")
        self.megatron_data = os.path.join(root, "megatron_data_path.txt")
        self.shards = os.path.join(root, "shards")
        self.rejected = os.path.join(root, "rejected")
        self.failed = os.path.join(root, "failed")
        self.stats = os.path.join(root, "stats")
        self.documents = os.path.join(self.stats, "documents.parquet")
        self.dedup_clusters = os.path.join(self.stats, "dedup_clusters.parquet")
        self.outcomes = os.path.join(self.stats, "outcomes")  # per-writer ledgers
        self.inputs = os.path.join(self.stats, "inputs")  # per-reader input counts
        self.crystal_contamination = os.path.join(self.stats, "crystal_contamination")  # hits per benchmark, per task
        self.text_contamination = os.path.join(self.stats, "text_contamination")  # items and hits per benchmark, per task
        self.report = os.path.join(root, "report")
        self.report_html = os.path.join(self.report, "index.html")
        self.report_markdown = os.path.join(self.report, "summary.md")
        self.work = os.path.join(root, "work")
        self.kept = os.path.join(self.work, "kept")
        self.tmp = os.path.join(self.work, "tmp")
        self.dedup = os.path.join(self.work, "dedup")
        self.signatures = os.path.join(self.dedup, "signatures")
        self.structures = os.path.join(self.dedup, "structures")
        self.removed = os.path.join(self.dedup, "removed.parquet")
        self.summary_buckets = os.path.join(self.work, "summary_buckets")
        self.summary_manifest = os.path.join(self.work, "summary_manifest.json")
        self.logs = os.path.join(root, "logs")
        self.progress = os.path.join(self.logs, "progress")
        self.console_log = os.path.join(self.logs, "console.log")
        self.timings = os.path.join(self.logs, "timings.json")

    # ---- per source, component, step and task
    def paths_file(self, source: str) -> str:
        """The list of a source's input files (datatrove's `paths_file`)."""
        return os.path.join(self.work, "inputs", f"{source}.txt")

    def paths_files(self) -> list[str]:
        return sorted(glob.glob(os.path.join(self.work, "inputs", "*.txt")))

    def progress_file(self, pipeline: str) -> str:
        """A pipeline task's progress beacon, with {rank} to format."""
        return os.path.join(self.progress, f"{pipeline}-{{rank:05d}}.json")

    def component_shards(self, component: str) -> str:
        return os.path.join(self.shards, component)

    def kept_component(self, component: str) -> str:
        return os.path.join(self.kept, component)

    def pipeline_logs(self, pipeline: str) -> str:
        """datatrove's logging folder of one pipeline (process, dedup, shards, summary)."""
        return os.path.join(self.logs, pipeline)

    def rejected_name(self, step: str) -> str:
        """A dropping step's file name under rejected/, with datatrove's ${rank}."""
        return f"{step}-${{rank}}.jsonl"

    def rejected_files(self, step: str) -> str:
        """The pattern (with {rank}) of a dropping step's files under rejected/ (`step` may hold a glob)."""
        return os.path.join(self.rejected, f"{step}-{{rank:05d}}.jsonl.zst")

    def failed_name(self, source: str) -> str:
        return f"{source}-${{rank}}.jsonl"

    def dropped_ledger(self, step: str) -> str:
        """A dropping step's outcome ledger, with {rank} to format."""
        return os.path.join(self.outcomes, f"dropped-{step}-{{rank:05d}}.parquet")

    def failed_ledger(self, source: str) -> str:
        return os.path.join(self.outcomes, f"failed-{source}-{{rank:05d}}.parquet")

    def passed_ledger(self) -> str:
        return os.path.join(self.outcomes, "passed-{rank:05d}.parquet")

    def ledgers(self) -> list[str]:
        return sorted(glob.glob(os.path.join(self.outcomes, "*.parquet")))

    def input_counts(self) -> list[str]:
        return sorted(glob.glob(os.path.join(self.inputs, "*.json")))

    def outcome_files(self) -> list[str]:
        """Every rejected/ and failed/ record file, rejected first."""
        return sorted(glob.glob(os.path.join(self.rejected, "*.jsonl.zst"))) + sorted(glob.glob(os.path.join(self.failed, "*.jsonl.zst")))

    def stored_documents(self, status: str) -> list[str]:
        """The record files holding the documents of one outcome (kept, dropped, failed), in a stable order."""
        pattern = {"dropped": os.path.join(self.rejected, "*.jsonl.zst"), "failed": os.path.join(self.failed, "*.jsonl.zst"),
                   "kept": os.path.join(self.kept, "*", "*.jsonl.zst")}[status]
        return sorted(glob.glob(pattern))

    def task_outputs(self) -> list[str]:
        """Globs (with {rank}) of what one process task writes, cleared before the task runs again. Steps add
        their own (`StepSpec.cleanup`)."""
        return [
            self.rejected_files("*"),
            os.path.join(self.failed, "*-{rank:05d}.jsonl.zst"),
            os.path.join(self.outcomes, "*-{rank:05d}.parquet"),
            os.path.join(self.outcomes, "*-{rank:05d}.parquet.partial"),
            os.path.join(self.inputs, "*-{rank:05d}.json"),
            os.path.join(self.kept, "*", "{rank:05d}.jsonl.zst"),
            self.progress_file("process"),
        ]

    def task_glob(self, folder: str, suffix: str) -> str:
        """The pattern (with {rank}) of one task's file in a per-task folder, for the cleanup before a rerun."""
        return os.path.join(folder, "{rank:05d}" + suffix)

    def task_files(self, folder: str, suffix: str) -> list[str]:
        """Every task's file in a per-task folder, in task order."""
        return sorted(glob.glob(os.path.join(folder, "*" + suffix)))
