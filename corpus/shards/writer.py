"""`ShardWriter`: documents -> one shuffled token shard per task, with a provenance side-car.

Same output format as datatrove's `DocumentTokenizer` (and its tokenizer loading and EOS
post-processor, inherited from `PipelineStepWithTokenizer`), written differently because the
spine needs what that class does not give: a per-document provenance row (id, source, licence,
token range) that survives the shuffle, batches bounded by characters rather than document
count (10,000 full papers at once would need gigabytes), and a shuffle keyed on
(seed, component, task) so one manifest seed gives byte-identical shards on any executor.
It is also faster: `encode_batch_fast` skips the character offsets that datatrove computes
and never uses for CPT, tokens are written as numpy arrays rather than `struct.pack`, and the
shuffle gathers from a memory map instead of seeking file by file
(benchmarks/shard_throughput.py measures both on the same documents).
"""

from __future__ import annotations

import os
import zlib
from typing import Iterator

import numpy as np
from datatrove.data import Document, DocumentsPipeline
from datatrove.utils.tokenization import PipelineStepWithTokenizer

from corpus.outcomes import licence_of
from corpus.progress import ProgressBeacon
from corpus.shards.format import INDEX_DTYPE, provenance_path, shard_name, token_dtype, write_metadata, write_provenance
from corpus.shards.megatron import prefix_of, write_megatron

COPY_BLOCK_TOKENS = 8 * 2**20  # tokens gathered per write while shuffling


def batches_by_chars(data: DocumentsPipeline, max_chars: int, max_docs: int = 4096) -> Iterator[list[Document]]:
    batch, size = [], 0
    for doc in data:
        batch.append(doc)
        size += len(doc.text)
        if size >= max_chars or len(batch) >= max_docs:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


class ShardWriter(PipelineStepWithTokenizer):
    """Tokenise documents, append EOS, write `<rank>.ds` (+ .index, .metadata, .provenance.parquet) shuffled.

    Args:
        output_folder: the component's flat shard folder
        tokenizer_name_or_path: a tokenizer.json path or a hub name
        eos_token: appended after every document
        seed: manifest seed; the shuffle of task `rank` uses (seed, crc32(component), rank)
        component: mixture component name (part of the shuffle key and the provenance metadata)
        work_folder: where the unshuffled temporary file goes (default: output_folder)
        metadata_name: tokenizer name written to .ds.metadata (what nanotron's AutoTokenizer loads)
        batch_chars: characters tokenised per batch
        shuffle: shuffle documents inside the shard
        megatron: also write Megatron-Core's `.bin` + `.idx` of the shard (corpus/shards/megatron.py)
    """

    name = "🔢 Shards"
    type = "🔢 - TOKENIZER"

    def __init__(
        self,
        output_folder: str,
        tokenizer_name_or_path: str,
        eos_token: str = "</s>",
        seed: int = 0,
        component: str = "",
        work_folder: str | None = None,
        metadata_name: str | None = None,
        batch_chars: int = 4_000_000,
        shuffle: bool = True,
        progress: ProgressBeacon | None = None,
        megatron: bool = False,
    ):
        super().__init__(tokenizer_name_or_path, eos_token)
        self.output_folder = output_folder
        self.work_folder = work_folder or output_folder
        self.seed = seed
        self.component = component
        self.metadata_name = metadata_name or tokenizer_name_or_path
        self.batch_chars = batch_chars
        self.shuffle = shuffle
        self.progress = progress
        self.megatron = megatron
        if component:
            self.name = f"{type(self).name} [{component}]"

    def shuffle_order(self, n_docs: int, rank: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(n_docs)
        rng = np.random.default_rng([self.seed, zlib.crc32(self.component.encode()), rank])
        return rng.permutation(n_docs)

    def _remove_outputs(self, ds_path: str) -> None:
        for path in (ds_path, ds_path + ".index", ds_path + ".metadata", provenance_path(ds_path),
                     prefix_of(ds_path) + ".bin", prefix_of(ds_path) + ".idx"):
            if os.path.lexists(path):
                os.remove(path)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        try:  # datatrove's EOS post-processor fails with a TypeError when the token is unknown
            eos_id = self.tokenizer.token_to_id(self.eos_token)
        except TypeError:
            eos_id = None
        if eos_id is None:
            raise ValueError(f"EOS token {self.eos_token!r} is not in the tokenizer's vocabulary")
        dtype = token_dtype(self.token_size)
        os.makedirs(self.output_folder, exist_ok=True)
        os.makedirs(self.work_folder, exist_ok=True)
        ds_path = os.path.join(self.output_folder, shard_name(rank))
        self._remove_outputs(ds_path)  # a re-run after a kill starts from a clean slate
        tmp_path = os.path.join(self.work_folder, f"{shard_name(rank)}.{self.component}.unshuffled")

        ids, records, sources, licences, lengths = [], [], [], [], []
        with open(tmp_path, "wb") as tmp:
            for batch in batches_by_chars(data, self.batch_chars):
                with self.track_time(unit="batch"):
                    encoded = self.tokenizer.encode_batch_fast([doc.text for doc in batch])
                    n_tokens = 0
                    for doc, enc in zip(batch, encoded):
                        tokens = np.array(enc.ids, dtype=dtype)
                        tmp.write(tokens.data)
                        ids.append(doc.id)
                        records.append(doc.metadata.get("record"))
                        sources.append(doc.metadata.get("source"))
                        licences.append(licence_of(doc))
                        lengths.append(len(tokens))
                        n_tokens += len(tokens)
                self.stat_update("tokens", value=n_tokens, unit="batch")
                if self.progress:
                    self.progress.add(rank, documents=len(batch), tokens=n_tokens)
        if self.progress:
            self.progress.flush()

        if not lengths:
            os.remove(tmp_path)
            return
        order = self.shuffle_order(len(lengths), rank)
        self._write_shuffled(tmp_path, ds_path, dtype, np.asarray(lengths, dtype=np.int64), order)
        os.remove(tmp_path)

        ends = np.cumsum(np.asarray(lengths, dtype=np.int64)[order])
        write_metadata(ds_path, self.metadata_name, self.token_size, int(ends[-1]))
        write_provenance(
            ds_path,
            {
                "id": [ids[i] for i in order],
                "record": [records[i] for i in order],
                "source": [sources[i] for i in order],
                "licence": [licences[i] for i in order],
                "shard": [os.path.basename(ds_path)] * len(order),
                "token_start": np.concatenate([[0], ends[:-1]]),
                "token_end": ends,
            },
            {
                "tokenizer": self.metadata_name,
                "eos_token": self.eos_token,
                "eos_id": eos_id,
                "vocab_size": self.tokenizer.get_vocab_size(),
                "token_size": self.token_size,
                "seed": self.seed,
                "component": self.component,
            },
        )
        if self.megatron:
            write_megatron(ds_path, self.token_size)

    def _write_shuffled(self, tmp_path: str, ds_path: str, dtype: np.dtype, lengths: np.ndarray, order: np.ndarray) -> None:
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        tokens = np.memmap(tmp_path, dtype=dtype, mode="r")
        ends_out = np.cumsum(lengths[order])
        with open(ds_path, "wb") as out:
            block: list[np.ndarray] = []
            block_tokens = 0
            for i in order:
                block.append(tokens[starts[i] : starts[i] + lengths[i]])
                block_tokens += lengths[i]
                if block_tokens >= COPY_BLOCK_TOKENS:
                    out.write(np.concatenate(block).data)
                    block, block_tokens = [], 0
            if block:
                out.write(np.concatenate(block).data)
        ends_out.astype(INDEX_DTYPE).tofile(ds_path + ".index")
        del tokens
