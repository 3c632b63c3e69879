"""The on-disk token shard format, as datatrove's `DocumentTokenizer` writes it and nanotron reads it.

One flat folder per mixture component, per shard `NAME.ds` plus:
- `NAME.ds`: the tokens, little-endian uint16 when the vocabulary has at most 65,536 entries, else uint32;
- `NAME.ds.index`: little-endian uint64, the cumulative end (in tokens) of every document;
- `NAME.ds.metadata`: `tokenizer|token_size`, the token count, and the count in words (datatrove's 3 lines);
- `NAME.ds.loss` (SFT shards only): one uint8 per token, 1 where the loss counts (the answers);
- `NAME.bin` + `NAME.idx` (when the manifest's `shards.formats` lists megatron): Megatron-Core's indexed dataset of
  the same documents in the same order (the `.bin` is the `.ds`'s bytes; corpus/shards/megatron.py);
- `NAME.provenance.parquet` (ours): one row per index entry: id, record (source file and position),
  source, licence, shard, token_start, token_end; its schema metadata records the tokenizer, EOS id, vocabulary size and seed, which
  is what `corpus check` validates against.
Every document ends with the EOS token.

Next to the shards' root, `train_data.yaml` (`TrainData`) names the shards and the mixture stages that
`train/run.sh` trains on; `corpus build` and `qa-synth` write it with `write_train_data`, `train.data`
reads it with `read_train_data`: one schema for both sides.
"""

from __future__ import annotations

import json
import os

import humanize
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from corpus.config import ConfigError, StrictModel, format_validation_error

INDEX_DTYPE = np.dtype("<u8")
LOSS_DTYPE = np.dtype("u1")  # `.ds.loss`: 1 where the loss counts, 0 where it does not

PROVENANCE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("record", pa.string()),
        ("source", pa.string()),
        ("licence", pa.string()),
        ("shard", pa.string()),
        ("token_start", pa.int64()),
        ("token_end", pa.int64()),
    ]
)


def token_size_for(vocab_size: int) -> int:
    return 2 if vocab_size <= np.iinfo(np.uint16).max + 1 else 4


def token_dtype(token_size: int) -> np.dtype:
    return np.dtype("<u2") if token_size == 2 else np.dtype("<u4")


def shard_name(rank: int) -> str:
    return f"{rank:05d}.ds"


def provenance_path(ds_path: str) -> str:
    return ds_path[: -len(".ds")] + ".provenance.parquet"


def loss_path(ds_path: str) -> str:
    return ds_path + ".loss"


def write_loss_mask(out, mask: np.ndarray) -> None:
    """Append one uint8 per token (any truthy value counts) to an open `.ds.loss` file."""
    np.asarray(mask, dtype=bool).astype(LOSS_DTYPE).tofile(out)


def read_loss_mask(ds_path: str) -> np.ndarray | None:
    """The shard's loss mask as a read-only memory map, or None when the shard has none (the loss counts everywhere)."""
    path = loss_path(ds_path)
    return np.memmap(path, dtype=LOSS_DTYPE, mode="r") if os.path.exists(path) else None


def write_metadata(ds_path: str, tokenizer_name: str, token_size: int, token_count: int) -> None:
    with open(ds_path + ".metadata", "w") as f:
        f.write("\n".join([f"{tokenizer_name}|{token_size}", str(token_count), humanize.metric(token_count, unit="T")]))


def read_metadata(ds_path: str) -> tuple[str, int, int]:
    """(tokenizer name, token size, token count); raises ValueError when malformed."""
    with open(ds_path + ".metadata") as f:
        lines = f.read().splitlines()
    if len(lines) < 2 or "|" not in lines[0]:
        raise ValueError("expected 'tokenizer|token_size' then the token count")
    name, _, size = lines[0].rpartition("|")
    return name, int(size), int(lines[1])


def write_provenance(ds_path: str, rows: dict[str, list], info: dict) -> None:
    table = pa.Table.from_pydict(rows, schema=PROVENANCE_SCHEMA)
    table = table.replace_schema_metadata({"matcorpus": json.dumps(info, sort_keys=True)})
    pq.write_table(table, provenance_path(ds_path))


def read_provenance_info(path: str) -> dict:
    md = pq.read_schema(path).metadata or {}
    return json.loads(md.get(b"matcorpus", b"{}"))


# .ds.loss: SFT shards only; .bin and .idx: Megatron's indexed dataset of the same tokens (corpus/shards/megatron.py)
SHARD_SUFFIXES = (".ds", ".ds.index", ".ds.metadata", ".ds.loss", ".provenance.parquet", ".bin", ".idx")


def shard_of(filename: str) -> str | None:
    """The shard (NAME.ds) a file of a component folder belongs to, or None when it is no shard file."""
    for suffix in sorted(SHARD_SUFFIXES, key=len, reverse=True):
        if filename.endswith(suffix):
            return filename[: -len(suffix)] + ".ds"
    return None


def shard_files(folder: str) -> list[str]:
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".ds"))


class TrainStage(StrictModel):
    """A mixture stage: from optimizer step `start_step` on, samples are drawn from the components by `weights`."""

    name: str = Field(min_length=1)
    start_step: int = Field(ge=1)
    weights: dict[str, float] = Field(min_length=1)

    @field_validator("weights")
    @classmethod
    def _weights(cls, weights: dict[str, float]) -> dict[str, float]:
        if any(w < 0 for w in weights.values()):
            raise ValueError("weights must be >= 0")
        if not any(w > 0 for w in weights.values()):
            raise ValueError("at least one component needs a weight above 0")
        return weights


class TrainData(StrictModel):
    """`train_data.yaml`: the shards (one folder per component under `shards`) and the stages to train them in."""

    shards: str = Field(min_length=1)
    seed: int
    seq_len: int = Field(ge=1)
    global_batch_size: int = Field(ge=1)
    total_steps: int = Field(ge=1)
    stages: list[TrainStage] = Field(min_length=1)

    @model_validator(mode="after")
    def _ascending(self) -> "TrainData":
        if self.stages[0].start_step != 1:
            raise ValueError("the first stage must start at step 1")
        for a, b in zip(self.stages, self.stages[1:]):
            if b.start_step <= a.start_step:
                raise ValueError(f"stage {b.name!r} must start after stage {a.name!r} (start_step {b.start_step} <= {a.start_step})")
        return self

    def components(self) -> list[str]:
        """Every component some stage draws from."""
        return sorted({n for s in self.stages for n, w in s.weights.items() if w > 0})


def write_train_data(path: str, data: TrainData, writer: str) -> None:
    with open(path, "w") as f:
        f.write(f"# data stages for train/run.sh (train.data); written by `{writer}`\n")
        yaml.safe_dump(data.model_dump(), f, sort_keys=False)


def read_train_data(path: str) -> TrainData:
    """The validated `train_data.yaml`; a malformed file raises ConfigError naming the field."""
    with open(path) as f:
        raw = yaml.safe_load(f)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping (shards, seed, seq_len, global_batch_size, total_steps, stages)")
    try:
        return TrainData.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, path, "train data file")) from None
