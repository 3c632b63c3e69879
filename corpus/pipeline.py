"""From a manifest to datatrove pipelines, and running them on the configured executor.

Four stages, each a list of datatrove steps run by a datatrove executor:

1. `process` (N tasks): every source's reader -> stable ids -> crystal validation and structure
   decontamination (crystal records only) -> filters (length, science quality, language, prose,
   domain, n-gram decontamination; crystal records skip the text rules) -> dedup signatures (text
   MinHash, or a crystal's structure) -> documents that passed, written per component
   (OUT/work/kept/); drops go to OUT/rejected/ with their reason, read failures to OUT/failed/.
2. `dedup` (1 task): identity, exact and MinHash near-duplicate groups over all text signatures,
   StructureMatcher groups over all crystals -> OUT/work/dedup/removed.parquet (record keys,
   reasons, survivors).
3. `shards` (N tasks): per component, the task's passed documents -> dedup removal (to
   OUT/rejected/ with its reason) -> `ShardWriter` -> OUT/shards/<component>/<task>.ds
   (+ .index, .metadata, .provenance.parquet).
4. `summary` (1 task): reconciles inputs against outcomes and shards, checks the shards and
   writes OUT/summary.json, OUT/stats/documents.parquet and the training data stages
   (OUT/nanotron_data.yaml, OUT/train_data.yaml; `corpus.mixture`).

`corpus build` then writes the report (`corpus.report`). Each task first clears what
an interrupted run of the same task may have left, and datatrove skips tasks that completed,
so re-running after a kill finishes the work and gives the same bytes as an uninterrupted run.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
from dataclasses import dataclass, field
from typing import Callable

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.readers.jsonl import JsonlReader

from corpus.identity import StableIdAssigner
from corpus.layout import OutputLayout
from corpus.manifest import Manifest, ManifestError, tokenizer_metadata_name, tokenizer_source
from corpus.outcomes import FAILED, PASSED, OutcomeWriter
from corpus.progress import ProgressBeacon
from corpus.readers import CrystalReader
from corpus.registry import StepContext, readers, steps
from corpus.shards.writer import ShardWriter

__all__ = ["BuildPipeline", "OutputLayout", "build_pipelines", "make_executor", "prepare_output", "write_paths_files"]


@dataclass
class BuildPipeline:
    """One datatrove pipeline of a build (process, dedup, shards, summary): its steps, run by one executor."""

    name: str
    description: str
    pipeline: list[PipelineStep | Callable]
    tasks: int
    total_files: int | None = None
    step_names: list[str] = field(default_factory=list)


class ClearTaskOutputs(PipelineStep):
    """First step of a pipeline: removes what an interrupted run of this task left behind."""

    name = "🧹 Clear task outputs"
    type = "🧹 - HOUSEKEEPING"

    def __init__(self, patterns: list[str]):
        super().__init__()
        self.patterns = patterns  # globs with {rank}

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for pattern in self.patterns:
            for path in glob.glob(pattern.format(rank=rank)):
                os.remove(path)
        if data:
            yield from data


class RankFileReader(JsonlReader):
    """Reads exactly this task's file `<rank>.jsonl.zst` from a folder (the kept documents of one component)."""

    name = "🐿 Kept documents"

    def __init__(self, folder: str):
        super().__init__(folder, compression="zstd")
        self.name = f"{type(self).name} [{os.path.basename(folder)}]"

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        filename = f"{rank:05d}.jsonl.zst"
        if self.data_folder.exists(filename):
            yield from self.read_file(filename)


def write_paths_files(layout: OutputLayout, inputs: dict[str, list[str]]) -> dict[str, str]:
    """One paths file per source (datatrove's `paths_file`), relative to the files' common folder."""
    roots = {}
    for source, files in inputs.items():
        root = os.path.commonpath([os.path.dirname(f) for f in files])
        os.makedirs(os.path.dirname(layout.paths_file(source)), exist_ok=True)
        with open(layout.paths_file(source), "w") as f:
            f.writelines(os.path.relpath(p, root) + "\n" for p in files)
        roots[source] = root
    return roots


def build_pipelines(manifest: Manifest, inputs: dict[str, list[str]], layout: OutputLayout, roots: dict[str, str] | None = None) -> list[BuildPipeline]:
    """The build's pipelines from the manifest: a loop over its readers and its ordered steps (corpus/registry.py)."""
    tasks = manifest.executor.tasks
    roots = roots or {s: os.path.commonpath([os.path.dirname(f) for f in files]) for s, files in inputs.items()}
    known_readers, registry = readers(), steps()
    crystals = manifest.steps.crystals
    has_crystals = any(issubclass(known_readers[s.reader], CrystalReader) for s in manifest.sources)
    ordered = [registry[name] for name in manifest.steps.names()]

    def context(spec, progress: ProgressBeacon | None = None) -> StepContext:
        settings = spec.settings.model_validate(manifest.steps.plugins.get(spec.name, {}))
        return StepContext(manifest, layout, has_crystals, settings, progress)

    # ---- process: read, identify, then the steps in order, then route what passed to OUT/work/kept/
    def crystal_options(reader: type) -> dict:
        if not issubclass(reader, CrystalReader):
            return {}
        return {"crystal_settings": crystals.crystal_settings(), "work_folder": layout.work}

    process_progress = ProgressBeacon(layout.progress, "process")
    source_readers = [
        known_readers[src.reader](
            source=src.name,
            component=manifest.component_of(src.name),
            data_folder=roots[src.name],
            paths_file=layout.paths_file(src.name),
            failed_writer=OutcomeWriter(layout.failed, layout.failed_name(src.name), FAILED, layout.failed_ledger(src.name),
                                        progress=process_progress),
            inputs_folder=layout.inputs,
            options=src.options,
            default_metadata=src.metadata,
            progress=process_progress,
            source_paths=src.paths,
            **crystal_options(known_readers[src.reader]),
        )
        for src in manifest.sources
    ]
    process_steps = [step for spec in ordered if spec.process and (step := spec.process(context(spec, process_progress))) is not None]
    keep = OutcomeWriter(layout.kept, "${component}/${rank}.jsonl", PASSED, layout.passed_ledger(), progress=process_progress)
    clear_process = ClearTaskOutputs(layout.task_outputs() + [g for spec in ordered if spec.cleanup for g in spec.cleanup(layout)])
    pipelines = [BuildPipeline(
        "process",
        "reading and filtering",
        [clear_process, *source_readers, StableIdAssigner(), *process_steps, keep],
        tasks,
        total_files=sum(len(v) for v in inputs.values()),
    )]

    # ---- the steps' pipelines of their own (one task each: dedup's clustering needs every signature)
    for spec in ordered:
        if spec.pipeline and (own := spec.pipeline(context(spec))) is not None:
            name, description, steps_of_own = own
            pipelines.append(BuildPipeline(name, description, steps_of_own, 1))

    # ---- token shards per component: each component's kept documents -> the steps' per-component work -> writer
    shard_progress = ProgressBeacon(layout.progress, "shards")
    per_component = [spec for spec in ordered if spec.per_component]
    shard_steps: list[PipelineStep] = [ClearTaskOutputs([layout.progress_file("shards")] + [
        pattern for spec in per_component for pattern in (
            layout.rejected_files(f"{spec.name}_*"),
            layout.dropped_ledger(f"{spec.name}_*"),
            layout.dropped_ledger(f"{spec.name}_*") + ".partial",
        )])]
    for comp in manifest.components:
        shard_steps += [
            RankFileReader(layout.kept_component(comp.name)),
            *[step for spec in per_component for step in spec.per_component(context(spec, shard_progress), comp.name)],
            ShardWriter(
                layout.component_shards(comp.name),
                tokenizer_source(manifest.tokenizer),
                eos_token=manifest.tokenizer.eos_token,
                seed=manifest.seed,
                component=comp.name,
                work_folder=layout.tmp,
                metadata_name=tokenizer_metadata_name(manifest.tokenizer),
                progress=shard_progress,
                megatron="megatron" in manifest.shards.formats,
            ),
        ]
    pipelines.append(BuildPipeline("shards", "tokenizing into shards", shard_steps, tasks))

    # ---- accounting
    from corpus.summary import SummaryStep

    pipelines.append(BuildPipeline("summary", "reconciling and checking", [SummaryStep(manifest, layout.root)], 1))
    for p in pipelines:
        p.step_names = [getattr(s, "name", None) or type(s).__name__ for s in p.pipeline]
    return pipelines


def make_executor(manifest: Manifest, built: BuildPipeline, layout: OutputLayout, depends=None):
    """The datatrove executor for one pipeline, as the manifest's `executor` section asks."""
    cfg = manifest.executor
    logging_dir = layout.pipeline_logs(built.name)
    options = dict(cfg.options)
    if cfg.type == "local":
        from datatrove.executor import LocalPipelineExecutor

        workers = min(built.tasks, os.cpu_count() or 1) if cfg.workers == -1 else min(cfg.workers, built.tasks)
        return LocalPipelineExecutor(
            built.pipeline, tasks=built.tasks, workers=workers, logging_dir=logging_dir, depends=depends, **options
        )
    if cfg.type == "slurm":
        from datatrove.executor import SlurmPipelineExecutor

        return SlurmPipelineExecutor(
            built.pipeline,
            tasks=built.tasks,
            logging_dir=logging_dir,
            depends=depends,
            job_name=f"{manifest.name}-{built.name}",
            **options,
        )
    from datatrove.executor.ray import RayPipelineExecutor

    return RayPipelineExecutor(
        built.pipeline,
        tasks=built.tasks,
        workers=cfg.workers,
        logging_dir=logging_dir,
        depends=depends,
        **options,
    )


BUILD_MARKER = "matcorpus corpus build"  # build.json's `made_by`: the only folders `--force` may empty


def is_build_folder(root: str) -> bool:
    """True when `root` carries this toolkit's build marker: a build.json with the marker (or, from builds
    before the marker, the manifest fingerprint only `corpus build` writes)."""
    try:
        with open(os.path.join(root, "build.json")) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and (record.get("made_by") == BUILD_MARKER or isinstance(record.get("fingerprint"), str))


def prepare_output(manifest: Manifest, inputs: dict[str, list[str]], force: bool) -> OutputLayout:
    """Create OUT, or resume it when it was started by the same manifest and inputs.

    `--force` empties OUT only when it carries the build marker: a folder `corpus build` did not make is
    never deleted, whatever the flags (the manifest check has already refused an OUT that holds an input)."""
    from corpus.buildlock import LOCK_NAME

    layout = OutputLayout(manifest.output_dir)
    fingerprint = manifest.fingerprint(inputs)
    present = [n for n in os.listdir(layout.root) if n != LOCK_NAME] if os.path.isdir(layout.root) else []
    if present and not is_build_folder(layout.root):
        raise ManifestError(
            f"{layout.root} exists, is not empty and is not a corpus build (no build.json marker); it is never deleted, "
            "--force or not: build elsewhere with --output, or empty it yourself"
        )
    if present and force:
        for name in present:  # everything but the lock this build holds
            path = os.path.join(layout.root, name)
            shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.remove(path)
    elif os.path.exists(layout.build_record):
        with open(layout.build_record) as f:
            previous = json.load(f).get("fingerprint")
        if previous != fingerprint:
            raise ManifestError(
                f"{layout.root} holds a build of a different manifest or different input files; "
                "use --force to start it over, or --output to build elsewhere"
            )
    for folder in (layout.root, layout.shards, layout.rejected, layout.failed, layout.stats):
        os.makedirs(folder, exist_ok=True)
    from corpus.lineage import fetch_ledgers, source_paths

    with open(layout.build_record, "w") as f:  # the fetch ledgers above the sources: the first links of the lineage
        json.dump({"made_by": BUILD_MARKER, "name": manifest.name, "fingerprint": fingerprint,
                   "fetch_ledgers": fetch_ledgers(source_paths(manifest))}, f, indent=2, sort_keys=True)
    return layout
