"""`corpus retokenize`: a finished build's documents in another tokenizer, with no source read again.

The build's inputs are copied to a temporary folder and deleted after the build, so any read of a source fails.
With the build's own tokenizer the new shards equal the build's byte for byte (same documents, order and shuffle);
with LLaMA-3 (128k vocabulary, from ../shared/data/tokenizers/llama3, converted from its tiktoken ranks) every
document is the build's document in the new tokens, uint32, and `corpus check` accepts the result.
"""

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer

from conftest import SAMPLES, SHARED, TOKENIZER, base_manifest, run_cli, write_manifest
from corpus.layout import OutputLayout
from corpus.pipeline import RankFileReader
from corpus.shards.format import INDEX_DTYPE, provenance_path, read_metadata, shard_files, token_dtype

pytestmark = pytest.mark.slow

LLAMA3 = SHARED / "tokenizers" / "llama3" / "tokenizer.model"
# LLaMA-3's pre-tokenizer pattern and its 256 special tokens (<|begin_of_text|> 128000, <|end_of_text|> 128001, ...)
LLAMA3_PATTERN = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
LLAMA3_SPECIAL = (["<|begin_of_text|>", "<|end_of_text|>"] + [f"<|reserved_special_token_{i}|>" for i in range(4)]
                  + ["<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_4|>", "<|eot_id|>"]
                  + [f"<|reserved_special_token_{i}|>" for i in range(5, 251)])


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """A build whose inputs are gone afterwards."""
    tmp = tmp_path_factory.mktemp("retok")
    inputs = tmp / "inputs"
    shutil.copytree(SAMPLES / "papers" / "sofc_exp", inputs / "sofc")
    (inputs / "general").mkdir()
    shutil.copy(SAMPLES / "general" / "general_english_slice.jsonl.gz", inputs / "general")
    data = base_manifest()
    data["sources"][0]["paths"] = [str(inputs / "sofc" / "*.txt")]
    data["sources"][0]["options"]["metadata_table"] = str(inputs / "sofc" / "SOFC-Exp-Metadata.csv")
    data["sources"][1]["paths"] = [str(inputs / "general" / "general_english_slice.jsonl.gz")]
    assert run_cli("build", write_manifest(tmp, data)) == 0
    shutil.rmtree(inputs)
    return tmp / "out"


def _documents(folder):
    """{shard name: (ids in order, token arrays)} of a component folder."""
    out = {}
    for ds in shard_files(str(folder)):
        size = read_metadata(ds)[1]
        tokens = np.fromfile(ds, dtype=token_dtype(size))
        ends = np.fromfile(ds + ".index", dtype=INDEX_DTYPE).astype(np.int64)
        ids = pq.read_table(provenance_path(ds), columns=["id"]).column("id").to_pylist()
        out[ds.rsplit("/", 1)[1]] = (ids, np.split(tokens, ends[:-1]), size)
    return out


def test_the_same_tokenizer_gives_the_builds_shards_byte_for_byte(build, tmp_path, capsys):
    out = tmp_path / "same"
    assert run_cli("retokenize", build, "--tokenizer", TOKENIZER.parent, "-o", out) == 0
    for component in ("papers", "general"):
        for ds in shard_files(str(build / "shards" / component)):
            name = ds.rsplit("/", 1)[1]
            for suffix in ("", ".index"):
                assert (out / "shards" / component / (name + suffix)).read_bytes() == open(ds + suffix, "rb").read()
    assert run_cli("check", out / "shards") == 0
    # a rerun keeps what is complete
    capsys.readouterr()
    assert run_cli("retokenize", build, "--tokenizer", TOKENIZER.parent, "-o", out) == 0
    assert capsys.readouterr().out.count("complete from an earlier run") == 3


@pytest.fixture(scope="module")
def llama3(tmp_path_factory):
    if not LLAMA3.is_file():
        pytest.skip("../shared/data/tokenizers/llama3 is absent")
    from tokenizers import AddedToken
    from transformers.convert_slow_tokenizer import TikTokenConverter

    tok = TikTokenConverter(str(LLAMA3), pattern=LLAMA3_PATTERN).converted()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in LLAMA3_SPECIAL])
    folder = tmp_path_factory.mktemp("llama3")
    tok.save(str(folder / "tokenizer.json"))
    assert tok.get_vocab_size() == 128_256 and tok.token_to_id("<|end_of_text|>") == 128_001
    return folder


def test_llama3_shards_hold_the_builds_documents_in_llama3_tokens(build, llama3, tmp_path):
    out = tmp_path / "llama3"
    assert run_cli("retokenize", build, "--tokenizer", llama3, "--eos-token", "<|end_of_text|>", "-o", out, "--megatron",
                   "--workers", "2") == 0
    tok = Tokenizer.from_file(str(llama3 / "tokenizer.json"))
    source = OutputLayout(str(build))
    for component in ("papers", "general"):
        old, new = _documents(build / "shards" / component), _documents(out / "shards" / component)
        assert list(old) == list(new)
        for name, (ids, docs, size) in new.items():
            assert size == 4 and ids == old[name][0]  # the same documents in the same order
            rank = int(name[: -len(".ds")])
            text = {d.id: d.text for d in RankFileReader(source.kept_component(component)).run(rank=rank)}
            for doc_id, tokens in zip(ids, docs):
                assert tokens.tolist() == tok.encode(text[doc_id]).ids + [128_001], doc_id
    assert run_cli("check", out / "shards") == 0
    summary = json.loads((out / "summary.json").read_text())
    built = json.loads((build / "summary.json").read_text())
    assert summary["token_size"] == 4 and summary["documents"] == sum(c["documents"] for c in built["components"].values())
    assert summary["source_fingerprint"] == json.loads((build / "build.json").read_text())["fingerprint"]
    assert (out / "train_data.yaml").is_file() and (out / "megatron_data_path.txt").is_file()
    assert str(out / "shards") in (out / "nanotron_data.yaml").read_text()
    # the report's token tables for the new tokenizer, beside the source build's
    assert run_cli("report", out) == 0
    page = (out / "report" / "index.html").read_text()
    for component, c in summary["components"].items():
        before = built["components"][component]["tokens"]
        assert f'data-key="component:{component}:tokens">{c["tokens"]:,}<' in page
        assert f'data-key="component:{component}:source_tokens">{before:,}<' in page
    assert f"{summary['tokens']:,} tokens" in (out / "report" / "summary.md").read_text()


def test_retokenize_refuses_what_it_cannot_do_before_writing(build, tmp_path, capsys):
    assert run_cli("retokenize", tmp_path, "--tokenizer", TOKENIZER.parent, "-o", tmp_path / "x") == 2
    assert "not a build folder" in capsys.readouterr().err
    assert run_cli("retokenize", build, "--tokenizer", TOKENIZER.parent, "-o", tmp_path / "y", "--eos-token", "<|none|>") == 2
    assert "not in the tokenizer" in capsys.readouterr().err and not (tmp_path / "y").exists()
    assert run_cli("retokenize", build, "--tokenizer", TOKENIZER.parent, "-o", build / "inside") == 2
    assert "outside the build" in capsys.readouterr().err
