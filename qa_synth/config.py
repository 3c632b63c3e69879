"""The qa-synth manifest's schema: strict pydantic models (`extra="forbid"`), so a misspelt or unknown key, a wrong
type or a bad value fails before any work, naming the field, in the same error format as the corpus manifest
(corpus.config.format_validation_error). Path resolution and the checks that need the disk stay in
`qa_synth.cli.load_manifest`, which runs after this validation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from corpus.config import StrictModel
from corpus.tasks.crystal import TASKS as CRYSTAL_TASKS

Paths = str | list[str]


class Tokenizer(StrictModel):
    path: str
    eos_token: str = "</s>"


class Release(StrictModel):
    path: Paths
    method: str = "solid-state"


class Source(StrictModel):
    """One source of pairs; which fields a kind reads is in qa_synth/cli.py's docstring."""

    name: str
    kind: Literal["crystals", "matsci_nlp", "sie", "nerre", "matsci_instruct", "recipes", "teacher"]
    target: int | None = Field(None, ge=0, description="pairs to keep from this source (default: all)")
    near_dedup: bool | None = None
    # crystals, sie
    paths: Paths | None = None
    tasks: list[str] | None = Field(None, min_length=1)
    per_structure: int | None = Field(None, ge=1)
    # matsci_nlp
    root: str | None = None
    # nerre, matsci_instruct, recipes
    sets: dict[str, Paths] | None = None
    path: Paths | None = None
    releases: list[Release] | None = None
    # teacher
    passages: list[str] | None = None
    max_passages: int | None = Field(None, ge=1)
    pairs_per_passage: int | None = Field(None, ge=1)
    concurrency: int | None = Field(None, ge=1)
    attempts: int | None = Field(None, ge=1)
    cache: str | None = None
    allow_missing: bool = False
    model_path: str | None = None
    base_url: str | None = None
    base_url_env: str | None = None
    api_key_env: str | None = None
    model: str | None = None
    max_new_tokens: int | None = Field(None, ge=1)
    max_tokens: int | None = Field(None, ge=1)
    max_retries: int | None = Field(None, ge=0)
    temperature: float | None = Field(None, ge=0)
    timeout_s: float | None = Field(None, gt=0)

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, tasks: list[str] | None) -> list[str] | None:
        if tasks and (unknown := sorted(set(tasks) - set(CRYSTAL_TASKS))):
            raise ValueError(f"unknown crystal task(s) {', '.join(unknown)}; allowed: {', '.join(CRYSTAL_TASKS)}")
        return tasks


class Exclude(StrictModel):
    """A test set kept out of the pairs."""

    kind: Literal["structures", "mascqa", "matsci_nlp", "sie"]
    name: str | None = None
    root: str | None = None
    paths: Paths | None = None


class QAManifest(StrictModel):
    name: str
    output_dir: str
    seed: int = Field(ge=0)
    tokenizer: Tokenizer
    sources: list[Source] = Field(min_length=1)
    exclude: list[Exclude] = Field(default_factory=list)
    seq_len: int | None = Field(None, ge=8)
    global_batch_size: int | None = Field(None, ge=1)
    validation_fraction: float | None = Field(None, ge=0, lt=1)
    near_duplicate_threshold: float | None = Field(None, gt=0, le=1)
    ngram: int | None = Field(None, ge=5, le=50)
    symprec: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _unique_names(self) -> "QAManifest":
        seen: set[str] = set()
        for source in self.sources:
            if source.name in seen:
                raise ValueError(f"source name {source.name!r} is used twice")
            seen.add(source.name)
        return self
