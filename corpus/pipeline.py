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

from corpus.filters import MinCharsFilter
from corpus.filters.crystals import CrystalValidationFilter, StructureDecontaminationFilter
from corpus.filters.decontaminate import DecontaminationFilter
from corpus.filters.domain import DomainFilter
from corpus.filters.language import LanguageFilter
from corpus.filters.quality import ProseFilter, ScienceQualityFilter
from corpus.text.annotate import Annotator
from corpus.identity import StableIdAssigner
from corpus.manifest import Manifest, ManifestError, tokenizer_metadata_name, tokenizer_source
from corpus.dedup.minhash import MinHasher
from corpus.dedup.stage import DedupFilter, Deduplicator, SignatureWriter
from corpus.outcomes import DROPPED, FAILED, PASSED, OutcomeWriter
from corpus.progress import ProgressBeacon
from corpus.readers import READERS, CrystalReader
from corpus.shards.writer import ShardWriter


class OutputLayout:
    """Every path of a build, in one place."""

    def __init__(self, root: str):
        self.root = root
        self.shards = os.path.join(root, "shards")
        self.rejected = os.path.join(root, "rejected")
        self.failed = os.path.join(root, "failed")
        self.stats = os.path.join(root, "stats")
        self.outcomes = os.path.join(self.stats, "outcomes")  # per-writer ledgers
        self.inputs = os.path.join(self.stats, "inputs")  # per-reader input counts
        self.work = os.path.join(root, "work")
        self.kept = os.path.join(self.work, "kept")
        self.logs = os.path.join(root, "logs")
        self.progress = os.path.join(self.logs, "progress")
        self.crystal_contamination = os.path.join(self.stats, "crystal_contamination")  # hits per benchmark, per task
        self.summary = os.path.join(root, "summary.json")
        self.build_record = os.path.join(root, "build.json")

    def paths_file(self, source: str) -> str:
        return os.path.join(self.work, "inputs", f"{source}.txt")


@dataclass
class Stage:
    name: str
    description: str
    pipeline: list[PipelineStep | Callable]
    tasks: int
    total_files: int | None = None
    steps: list[str] = field(default_factory=list)


class ClearTaskOutputs(PipelineStep):
    """First step of a stage: removes what an interrupted run of this task left behind."""

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


def build_stages(manifest: Manifest, inputs: dict[str, list[str]], layout: OutputLayout, roots: dict[str, str] | None = None) -> list[Stage]:
    tasks = manifest.executor.tasks
    roots = roots or {s: os.path.commonpath([os.path.dirname(f) for f in files]) for s, files in inputs.items()}

    # ---- stage 1: read, identify, filter, route
    crystals = manifest.stages.crystals
    has_crystals = any(issubclass(READERS[s.reader], CrystalReader) for s in manifest.sources)

    def crystal_options(reader: type) -> dict:
        if not issubclass(reader, CrystalReader):
            return {}
        return {"crystal_settings": crystals.crystal_settings(), "work_folder": layout.work}

    process_progress = ProgressBeacon(layout.progress, "process")
    readers = [
        READERS[src.reader](
            source=src.name,
            component=manifest.component_of(src.name),
            data_folder=roots[src.name],
            paths_file=layout.paths_file(src.name),
            failed_writer=OutcomeWriter(
                layout.failed, f"{src.name}-${{rank}}.jsonl", FAILED, os.path.join(layout.outcomes, f"failed-{src.name}-{{rank:05d}}.parquet")
            ),
            inputs_folder=layout.inputs,
            options=src.options,
            default_metadata=src.metadata,
            progress=process_progress,
            source_paths=src.paths,
            **crystal_options(READERS[src.reader]),
        )
        for src in manifest.sources
    ]
    def rejected(step: str) -> OutcomeWriter:
        return OutcomeWriter(layout.rejected, f"{step}-${{rank}}.jsonl", DROPPED, os.path.join(layout.outcomes, f"dropped-{step}-{{rank:05d}}.parquet"))

    settings = manifest.stages.filters
    filters: list[PipelineStep] = []
    if has_crystals:  # crystal records first: a record that failed validation has no text for the text filters
        filters.append(CrystalValidationFilter(exclusion_writer=rejected("crystal_validation")))
        if crystals.decontamination:
            filters.append(StructureDecontaminationFilter(
                [b.model_dump() for b in crystals.decontamination], crystals.crystal_settings(), layout.crystal_contamination,
                exclusion_writer=rejected("crystal_decontamination"),
            ))
    filters += [MinCharsFilter(settings.min_chars, exclusion_writer=rejected("min_chars")), Annotator()]
    # structural rules first, so garbled text is dropped for what it is rather than as "wrong language"
    if settings.quality_enabled:
        filters.append(ScienceQualityFilter(settings.quality, exclusion_writer=rejected("quality")))
    if settings.language.enabled:
        lang = settings.language
        filters.append(LanguageFilter(lang.keep, lang.min_score, lang.model_path, exclusion_writer=rejected("language")))
        if lang.keep == ["en"] and settings.quality_enabled:
            filters.append(ProseFilter(settings.quality.min_stopword_ratio, exclusion_writer=rejected("prose")))
    if settings.domain.model:
        filters.append(DomainFilter(settings.domain.model, settings.domain.label, settings.domain.threshold,
                                    settings.domain.components, exclusion_writer=rejected("domain")))
    decon = manifest.stages.decontamination
    if decon.benchmarks:
        filters.append(DecontaminationFilter([b.model_dump() for b in decon.benchmarks], decon.n, decon.mode, exclusion_writer=rejected("decontamination")))
    dedup = manifest.stages.dedup
    hasher = MinHasher(dedup.num_perm, seed=manifest.seed, shingle_size=dedup.shingle_size)
    signatures = os.path.join(layout.work, "dedup", "signatures")
    removed_path = os.path.join(layout.work, "dedup", "removed.parquet")
    structures = os.path.join(layout.work, "dedup", "structures") if has_crystals and crystals.dedup else None
    if dedup.enabled or structures:
        filters.append(SignatureWriter(signatures, hasher, dedup.priority, structures_folder=structures))
    keep = OutcomeWriter(layout.kept, "${component}/${rank}.jsonl", PASSED, os.path.join(layout.outcomes, "passed-{rank:05d}.parquet"))
    clear_process = ClearTaskOutputs(
        [
            os.path.join(layout.rejected, "*-{rank:05d}.jsonl.zst"),
            os.path.join(layout.failed, "*-{rank:05d}.jsonl.zst"),
            os.path.join(layout.outcomes, "*-{rank:05d}.parquet"),
            os.path.join(layout.outcomes, "*-{rank:05d}.parquet.partial"),
            os.path.join(layout.inputs, "*-{rank:05d}.json"),
            os.path.join(layout.kept, "*", "{rank:05d}.jsonl.zst"),
            os.path.join(layout.progress, "process-{rank:05d}.json"),
            os.path.join(signatures, "{rank:05d}.parquet"),
            os.path.join(layout.work, "dedup", "structures", "{rank:05d}.parquet"),
            os.path.join(layout.crystal_contamination, "{rank:05d}.json"),
        ]
    )
    process = Stage(
        "process",
        "reading and filtering",
        [clear_process, *readers, StableIdAssigner(), *filters, keep],
        tasks,
        total_files=sum(len(v) for v in inputs.values()),
    )

    # ---- stage 2: duplicates across everything that passed (one task: it needs every signature)
    stages = [process]
    if dedup.enabled or structures:
        stages.append(Stage("dedup", "finding duplicates", [Deduplicator(
            signatures, removed_path, os.path.join(layout.stats, "dedup_clusters.parquet"), hasher,
            identity=dedup.enabled and dedup.identity, exact=dedup.enabled and dedup.exact, near=dedup.enabled and dedup.near,
            threshold=dedup.threshold, structures=structures, structure_preference=list(crystals.prefer),
            memory_budget=int(dedup.memory_budget_gb * 1e9), clustering=dedup.clustering,
        )], 1))

    # ---- stage 3: token shards per component
    shard_progress = ProgressBeacon(layout.progress, "shards")
    shard_steps: list[PipelineStep] = [ClearTaskOutputs([
        os.path.join(layout.progress, "shards-{rank:05d}.json"),
        os.path.join(layout.rejected, "dedup_*-{rank:05d}.jsonl.zst"),
        os.path.join(layout.outcomes, "dropped-dedup_*-{rank:05d}.parquet"),
        os.path.join(layout.outcomes, "dropped-dedup_*-{rank:05d}.parquet.partial"),
    ])]
    deduplicating = dedup.enabled or bool(structures)
    for comp in manifest.components:
        shard_steps += [
            RankFileReader(os.path.join(layout.kept, comp.name)),
            # one filter and writer per component: a writer is closed at the end of its step, and a second
            # step sharing it would overwrite the first one's rejected file and ledger
            *([DedupFilter(removed_path, exclusion_writer=rejected(f"dedup_{comp.name}"))] if deduplicating else []),
            ShardWriter(
                os.path.join(layout.shards, comp.name),
                tokenizer_source(manifest.tokenizer),
                eos_token=manifest.tokenizer.eos_token,
                seed=manifest.seed,
                component=comp.name,
                work_folder=os.path.join(layout.work, "tmp"),
                metadata_name=tokenizer_metadata_name(manifest.tokenizer),
                progress=shard_progress,
            ),
        ]
    stages.append(Stage("shards", "tokenizing into shards", shard_steps, tasks))

    # ---- stage 4: accounting
    from corpus.summary import SummaryStep

    stages.append(Stage("summary", "reconciling and checking", [SummaryStep(manifest, layout.root)], 1))
    for stage in stages:
        stage.steps = [getattr(s, "name", None) or type(s).__name__ for s in stage.pipeline]
    return stages


def make_executor(manifest: Manifest, stage: Stage, layout: OutputLayout, depends=None):
    """The datatrove executor for one stage, as the manifest's `executor` section asks."""
    cfg = manifest.executor
    logging_dir = os.path.join(layout.logs, stage.name)
    options = dict(cfg.options)
    if cfg.type == "local":
        from datatrove.executor import LocalPipelineExecutor

        workers = min(stage.tasks, os.cpu_count() or 1) if cfg.workers == -1 else min(cfg.workers, stage.tasks)
        return LocalPipelineExecutor(
            stage.pipeline, tasks=stage.tasks, workers=workers, logging_dir=logging_dir, depends=depends, **options
        )
    if cfg.type == "slurm":
        from datatrove.executor import SlurmPipelineExecutor

        return SlurmPipelineExecutor(
            stage.pipeline,
            tasks=stage.tasks,
            logging_dir=logging_dir,
            depends=depends,
            job_name=f"{manifest.name}-{stage.name}",
            **options,
        )
    from datatrove.executor.ray import RayPipelineExecutor

    return RayPipelineExecutor(
        stage.pipeline,
        tasks=stage.tasks,
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
    with open(layout.build_record, "w") as f:
        json.dump({"made_by": BUILD_MARKER, "name": manifest.name, "fingerprint": fingerprint}, f, indent=2, sort_keys=True)
    return layout
