"""`corpus retokenize BUILD --tokenizer PATH -o OUT`: a finished build's documents as shards of another tokenizer,
without reading a source or running a filter, dedup or reader again.

The documents are the build's own: its kept documents per component and task (`BUILD/work/kept/<component>/<task>`,
what its shard writer read), narrowed to the records its shards hold (their provenance side-cars: what the
per-component steps, dedup removal among them, let through). Each task is written by the same `ShardWriter` with
the build's seed, component and task number, so the documents come out in the same shuffled order as the build's
shards, one shard per build shard; only the tokens differ. The token width follows the new vocabulary (uint32 past
65,536). OUT gets what a build's shards come with: the provenance side-cars, `shards/checksums.json`, a
`summary.json` (the new token counts, the source build and its fingerprint), `train_data.yaml` and
`nanotron_data.yaml` with the build's mixture stages, and Megatron's files and blends where asked. Resumable: a task
whose shard is complete (its `.done` marker under OUT/work) is not written again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import pyarrow.parquet as pq
import yaml
from datatrove.data import Document
from datatrove.utils.tokenization import load_tokenizer

from corpus.layout import OutputLayout
from corpus.pipeline import BUILD_MARKER, RankFileReader, is_build_folder
from corpus.shards.checksums import write_checksums
from corpus.shards.format import (TrainData, provenance_path, read_metadata, read_provenance_info, read_train_data,
                                  shard_files, shard_name, write_train_data)
from corpus.shards.megatron import write_data_paths
from corpus.shards.writer import ShardWriter

MADE_BY = "matcorpus corpus retokenize"


class RetokenizeError(Exception):
    """The build or the tokenizer cannot be retokenized from (nothing was written)."""


@dataclass
class TaskResult:
    component: str
    rank: int
    documents: int = 0
    tokens: int = 0
    skipped: bool = False  # complete from an earlier run


@dataclass
class RetokenizeReport:
    out: str
    tokenizer: str
    token_size: int = 0
    tasks: list[TaskResult] = field(default_factory=list)

    def components(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for t in self.tasks:
            c = out.setdefault(t.component, {"documents": 0, "tokens": 0, "shards": 0, "folder": f"shards/{t.component}"})
            c["documents"] += t.documents
            c["tokens"] += t.tokens
            c["shards"] += bool(t.documents)
        return out


def build_tasks(build: str) -> list[tuple[str, int]]:
    """(component, task) of every shard the build wrote; RetokenizeError when BUILD cannot be retokenized from."""
    layout = OutputLayout(build)
    if not os.path.isfile(layout.summary):
        raise RetokenizeError(f"{build}: no summary.json: not a finished build")
    if not os.path.isdir(layout.shards):
        raise RetokenizeError(f"{build}: no shards folder")
    tasks = []
    for component in sorted(os.listdir(layout.shards)):
        folder = layout.component_shards(component)
        if not os.path.isdir(folder):
            continue
        for ds in shard_files(folder):
            rank = int(os.path.basename(ds)[: -len(".ds")])
            kept = os.path.join(layout.kept_component(component), f"{rank:05d}.jsonl.zst")
            if not os.path.isfile(kept):
                raise RetokenizeError(f"{kept}: missing; retokenize reads the build's kept documents (its work folder), "
                                      "which were removed: rebuild instead")
            tasks.append((component, rank))
    if not tasks:
        raise RetokenizeError(f"{layout.shards}: no shards to retokenize")
    return tasks


def shard_documents(build: str, component: str, rank: int) -> tuple[set[str], Iterator[Document]]:
    """The records one shard of the build holds and its documents with their text and metadata, in the order the
    shard writer read them: the build's kept documents of that task, narrowed to the shard's provenance records."""
    layout = OutputLayout(build)
    table = pq.read_table(provenance_path(os.path.join(layout.component_shards(component), shard_name(rank))), columns=["record"])
    wanted = set(table.column("record").to_pylist())
    return wanted, (doc for doc in RankFileReader(layout.kept_component(component)).run(rank=rank) if doc.metadata.get("record") in wanted)


def _task(build: str, out: str, component: str, rank: int, tokenizer: str, eos_token: str, metadata_name: str,
          megatron: bool) -> TaskResult:
    source, target = OutputLayout(build), OutputLayout(out)
    ds = os.path.join(target.component_shards(component), shard_name(rank))
    done = os.path.join(target.work, "retokenize", component, f"{rank:05d}.done")
    if os.path.isfile(done) and os.path.isfile(ds):
        with open(done) as f:
            record = json.load(f)
        return TaskResult(component, rank, record["documents"], record["tokens"], skipped=True)
    original = os.path.join(source.component_shards(component), shard_name(rank))
    wanted, documents = shard_documents(build, component, rank)
    info = read_provenance_info(provenance_path(original))
    writer = ShardWriter(target.component_shards(component), tokenizer, eos_token=eos_token, seed=int(info.get("seed", 0)),
                         component=component, work_folder=target.tmp, metadata_name=metadata_name, megatron=megatron)
    writer.run(documents, rank=rank)
    n = pq.read_metadata(provenance_path(ds)).num_rows if os.path.isfile(ds) else 0
    if n != len(wanted):
        raise RetokenizeError(f"{component} task {rank}: {n:,} documents written, the build's shard holds {len(wanted):,} "
                              "(its kept documents changed since the build?)")
    tokens = read_metadata(ds)[2] if n else 0
    os.makedirs(os.path.dirname(done), exist_ok=True)
    with open(done, "w") as f:
        json.dump({"documents": n, "tokens": tokens}, f)
    return TaskResult(component, rank, n, tokens)


def retokenize(build: str, out: str, tokenizer: str, eos_token: str, metadata_name: str | None = None,
               megatron: bool = False, workers: int = 1, progress=None) -> RetokenizeReport:
    """Write OUT's shards of the build's documents in `tokenizer` (a tokenizer.json); see the module's docstring."""
    if not is_build_folder(build):
        raise RetokenizeError(f"{build}: not a build folder (no build.json written by `corpus build`)")
    if os.path.realpath(out) == os.path.realpath(build) or os.path.realpath(out).startswith(os.path.realpath(build) + os.sep):
        raise RetokenizeError(f"{out}: the output must lie outside the build it reads")
    tok = load_tokenizer(tokenizer)
    if tok.token_to_id(eos_token) is None:
        raise RetokenizeError(f"--eos-token {eos_token!r} is not in the tokenizer's vocabulary")
    tasks = build_tasks(build)
    metadata_name = metadata_name or (os.path.dirname(tokenizer) if os.path.isfile(tokenizer) else tokenizer)
    layout = OutputLayout(out)
    os.makedirs(layout.shards, exist_ok=True)
    with open(layout.build_record, "w") as f:  # marks OUT as ours (its shards may be checked and rebuilt into)
        json.dump({"made_by": BUILD_MARKER, "retokenized_by": MADE_BY, "source_build": os.path.abspath(build)}, f, indent=1)
    args = [(build, out, c, r, tokenizer, eos_token, metadata_name, megatron) for c, r in tasks]
    report = RetokenizeReport(out, tokenizer)
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            for result in pool.map(_task, *zip(*args)):
                report.tasks.append(result)
                if progress:
                    progress(result)
    else:
        for a in args:
            report.tasks.append(_task(*a))
            if progress:
                progress(report.tasks[-1])
    report.token_size = 2 if tok.get_vocab_size() <= 65_536 else 4
    _write_records(build, out, report, megatron)
    return report


def _write_records(build: str, out: str, report: RetokenizeReport, megatron: bool) -> None:
    source, layout = OutputLayout(build), OutputLayout(out)
    components = report.components()
    write_checksums(layout.shards, [c for c, v in components.items() if v["shards"]])
    with open(source.build_record) as f:
        fingerprint = json.load(f).get("fingerprint")
    with open(layout.summary, "w") as f:
        json.dump({"made_by": MADE_BY, "source_build": os.path.abspath(build), "source_fingerprint": fingerprint,
                   "tokenizer": report.tokenizer, "token_size": report.token_size,
                   "documents": sum(c["documents"] for c in components.values()),
                   "tokens": sum(c["tokens"] for c in components.values()), "components": components}, f, indent=1)
    if not os.path.isfile(source.train_data):
        return
    data = read_train_data(source.train_data)
    train = TrainData(**{**data.model_dump(), "shards": os.path.abspath(layout.shards)})
    write_train_data(layout.train_data, train, "corpus retokenize")
    if os.path.isfile(source.nanotron_data):  # the same stages, over OUT's folders
        with open(source.nanotron_data) as f:
            stages = yaml.safe_load(f)
        for stage in stages.get("data_stages", []):
            dataset = stage["data"]["dataset"]
            dataset["dataset_folder"] = [os.path.join(train.shards, os.path.basename(p)) for p in dataset["dataset_folder"]]
        with open(layout.nanotron_data, "w") as f:
            f.write("# nanotron config block; written by `corpus retokenize`\n")
            yaml.safe_dump(stages, f, sort_keys=False)
    if megatron:
        tokens = {c: {os.path.basename(ds): read_metadata(ds)[2] for ds in shard_files(layout.component_shards(c))}
                  for c in train.components() if os.path.isdir(layout.component_shards(c))}
        write_data_paths(layout.megatron_data, train, layout.shards, tokens, "corpus retokenize")
