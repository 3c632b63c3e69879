"""Megatron-Core's indexed dataset beside our shards, read by megatron-core's own code (from PyPI, on CPU).

`IndexedDataset` must give every document's tokens exactly as the `.ds` holds them, for 2- and 4-byte tokens;
`GPTDataset` (megatron-core's compiled sample-index helpers) must cut its training samples out of those documents;
`corpus check` must verify the pair and name what is wrong with it.
"""

import os
import types
from pathlib import Path

import numpy as np
import pytest

from conftest import TOKENIZER, base_manifest, run_cli, write_manifest
from corpus.shards.check import ShardError, check_component
from corpus.shards.format import INDEX_DTYPE, TrainData, TrainStage, shard_files, write_metadata, write_provenance
from corpus.shards.megatron import data_paths, megatron_index, read_megatron_index, write_megatron
from corpus.shards.writer import ShardWriter
from test_shard_writer import _documents

from megatron.core.datasets import indexed_dataset as megatron_datasets  # the dev extra installs megatron-core


def _documents_of(folder, name="00000", dtype="<u2"):
    ends = np.fromfile(os.path.join(folder, f"{name}.ds.index"), dtype=INDEX_DTYPE)
    tokens = np.fromfile(os.path.join(folder, f"{name}.ds"), dtype=dtype)
    return np.split(tokens, ends[:-1].astype(np.int64))


@pytest.fixture(scope="module")
def shard(tmp_path_factory):
    folder = tmp_path_factory.mktemp("megatron")
    ShardWriter(str(folder), str(TOKENIZER), seed=3, component="general", megatron=True).run(iter(_documents(80)), rank=0)
    return folder


def test_megatron_core_reads_every_document_of_a_uint16_shard(shard):
    dataset = megatron_datasets.IndexedDataset(str(shard / "00000"))
    ours = _documents_of(shard)
    assert len(dataset) == len(ours) == 80
    for i, doc in enumerate(ours):
        assert dataset[i].dtype == np.uint16 and np.array_equal(dataset[i], doc), i
    assert os.path.samefile(shard / "00000.bin", shard / "00000.ds")  # the tokens are stored once
    check_component(str(shard))


def test_megatron_core_reads_int32_tokens_of_a_large_vocabulary(tmp_path):
    """A vocabulary past 65,536 (LLaMA-3's 128k): 4-byte tokens, Megatron's int32 (dtype code 4)."""
    rng = np.random.default_rng(0)
    docs = [np.append(rng.integers(0, 128_255, size=n), 128_001).astype("<u4") for n in (5, 1, 300, 17)]
    ds = str(tmp_path / "00000.ds")
    np.concatenate(docs).tofile(ds)
    ends = np.cumsum([len(d) for d in docs]).astype(INDEX_DTYPE)
    ends.tofile(ds + ".index")
    write_metadata(ds, "llama-3", 4, int(ends[-1]))
    write_provenance(ds, {"id": list("abcd"), "record": [None] * 4, "source": ["s"] * 4, "licence": ["cc-by"] * 4,
                          "shard": ["00000.ds"] * 4, "token_start": np.concatenate([[0], ends[:-1]]), "token_end": ends},
                     {"eos_id": 128_001, "vocab_size": 128_256, "token_size": 4})
    write_megatron(ds, 4)
    dataset = megatron_datasets.IndexedDataset(str(tmp_path / "00000"))
    assert [d.dtype for d in (dataset[0],)] == [np.int32]
    assert [dataset[i].tolist() for i in range(len(dataset))] == [d.tolist() for d in docs]
    assert read_megatron_index(str(tmp_path / "00000.idx"))[0] == 4
    check_component(str(tmp_path))


def test_gpt_dataset_cuts_its_samples_out_of_our_documents(shard, tmp_path):
    """megatron-core's GPTDataset (its C++ sample-index helpers) over our files: every sample is the window of our
    documents, in the document order it chose, that its indices name."""
    from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig

    # a stand-in for a Megatron tokenizer: GPTDataset reads only these attributes (it never tokenises)
    tokenizer = types.SimpleNamespace(vocab_size=32000, eod=2, pad=0, unique_identifiers={"class": "stand-in"})
    seq = 64
    config = GPTDatasetConfig(random_seed=1, sequence_length=seq, blend=([str(shard / "00000")], None), split="100,0,0",
                              reset_position_ids=False, reset_attention_mask=False, eod_mask_loss=False, tokenizer=tokenizer,
                              path_to_cache=str(tmp_path / "cache"))
    train, _, _ = BlendedMegatronDatasetBuilder(GPTDataset, [300, None, None], lambda: True, config).build()
    docs = _documents_of(shard)
    stream = np.concatenate([docs[i] for i in train.document_index])
    starts = np.concatenate([[0], np.cumsum([len(docs[i]) for i in train.document_index])])
    assert len(train) >= 300
    for i in range(0, len(train), 7):
        j = train.shuffle_index[i]
        at = starts[train.sample_index[j][0]] + train.sample_index[j][1]
        window = stream[at : at + seq + 1]
        sample = train[i]
        assert np.array_equal(sample["tokens"].numpy(), window[:-1]) and np.array_equal(sample["labels"].numpy(), window[1:]), i


@pytest.mark.parametrize("damage", ["no_idx", "no_bin", "idx_header", "idx_other_documents", "bin_changed"])
def test_corpus_check_names_a_damaged_megatron_pair(shard, tmp_path, damage):
    folder = tmp_path / "c"
    folder.mkdir()
    for f in shard.iterdir():
        if f.is_file():
            (folder / f.name).write_bytes(f.read_bytes())  # copies: the .bin is no longer a link
    check_component(str(folder))
    idx, bin_ = folder / "00000.idx", folder / "00000.bin"
    if damage == "no_idx":
        idx.unlink()
    elif damage == "no_bin":
        bin_.unlink()
    elif damage == "idx_header":
        idx.write_bytes(b"XXIDIDX\x00\x00" + idx.read_bytes()[9:])
    elif damage == "idx_other_documents":
        ends = np.fromfile(folder / "00000.ds.index", dtype=INDEX_DTYPE)
        idx.write_bytes(megatron_index(np.concatenate([ends[:3], ends[4:]]), 2))  # two documents merged
    else:
        data = bytearray(bin_.read_bytes())
        data[101] ^= 0x10
        bin_.write_bytes(bytes(data))
    with pytest.raises(ShardError) as err:
        check_component(str(folder))
    expected = {"no_idx": "00000.idx", "idx_header": "00000.idx", "idx_other_documents": "00000.idx"}.get(damage, "00000.bin")
    assert err.value.path.endswith(expected), str(err.value)
    if damage == "bin_changed":
        assert err.value.offset == 101


def test_data_path_blend_shares_a_component_weight_among_its_shards_by_tokens(tmp_path):
    data = TrainData(shards=str(tmp_path), seed=0, seq_len=8, global_batch_size=2, total_steps=10,
                     stages=[TrainStage(name="stable", start_step=1, weights={"papers": 0.75, "crystals": 0.25}),
                             TrainStage(name="late", start_step=8, weights={"papers": 1.0, "crystals": 0.0})])
    blends = data_paths(data, str(tmp_path), {"papers": {"00000.ds": 300, "00001.ds": 100}, "crystals": {"00000.ds": 50}})
    (name, start, first), (_, late_start, late) = blends
    parts = first.split()
    weights = dict(zip(parts[1::2], map(float, parts[::2])))
    assert (name, start, late_start) == ("stable", 1, 8)
    assert weights == {str(tmp_path / "papers" / "00000"): 0.5625, str(tmp_path / "papers" / "00001"): 0.1875,
                       str(tmp_path / "crystals" / "00000"): 0.25}
    assert "crystals" not in late


@pytest.mark.slow
def test_a_build_asked_for_megatron_writes_it_for_every_shard_and_check_verifies_it(tmp_path):
    data = base_manifest()
    data["shards"] = {"formats": ["nanotron", "megatron"]}
    assert run_cli("build", write_manifest(tmp_path, data)) == 0
    out = tmp_path / "out"
    shards = [Path(p) for c in sorted((out / "shards").iterdir()) if c.is_dir() for p in shard_files(str(c))]
    assert len(shards) >= 2
    for ds in shards:
        prefix = str(ds)[: -len(".ds")]
        dataset = megatron_datasets.IndexedDataset(prefix)
        ours = _documents_of(ds.parent, ds.name[: -len(".ds")])
        assert len(dataset) == len(ours) and all(np.array_equal(dataset[i], d) for i, d in enumerate(ours))
    lines = [line for line in (out / "megatron_data_path.txt").read_text().splitlines() if not line.startswith("#")]
    parts = lines[0].split()
    assert sorted(parts[1::2]) == sorted(str(ds)[: -len(".ds")] for ds in shards)
    assert abs(sum(map(float, parts[::2])) - 1) < 1e-6
    assert run_cli("check", out / "shards") == 0  # the checksum record covers the .bin and .idx too
    (out / "shards" / shards[0].parent.name / (shards[0].name[: -len(".ds")] + ".idx")).unlink()
    assert run_cli("check", out / "shards") != 0
