"""ShardWriter writes exactly what datatrove's DocumentTokenizer writes, and shuffles reproducibly."""

import gzip
import json

import numpy as np
import pytest
from datatrove.data import Document
from datatrove.pipeline.tokens.tokenizer import DocumentTokenizer

from conftest import SAMPLES, TOKENIZER
from corpus.identity import normalise_doi, stable_id
from corpus.shards.writer import ShardWriter


def _documents(n=120):
    docs = []
    with gzip.open(SAMPLES / "general" / "general_english_slice.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            docs.append(Document(text=rec["text"], id=rec["id"], metadata={"source": "general", "license": rec["license"]}))
            if len(docs) == n:
                break
    return docs


def test_unshuffled_output_is_byte_identical_to_datatrove(tmp_path):
    docs = _documents()
    DocumentTokenizer(str(tmp_path / "dt"), str(TOKENIZER), eos_token="</s>", shuffle_documents=False, save_filename="x").run(iter(docs))
    ShardWriter(str(tmp_path / "ours"), str(TOKENIZER), eos_token="</s>", shuffle=False, batch_chars=50_000).run(iter(docs))
    dt_ds = next((tmp_path / "dt").glob("*.ds"))
    ours = tmp_path / "ours" / "00000.ds"
    assert ours.read_bytes() == dt_ds.read_bytes()
    assert (tmp_path / "ours" / "00000.ds.index").read_bytes() == dt_ds.with_name(dt_ds.name + ".index").read_bytes()
    dt_meta = dt_ds.with_name(dt_ds.name + ".metadata").read_text().splitlines()
    our_meta = (tmp_path / "ours" / "00000.ds.metadata").read_text().splitlines()
    assert our_meta == dt_meta  # same tokenizer name, token size, count and words


def test_shuffle_is_a_seeded_permutation_of_whole_documents(tmp_path):
    docs = _documents(60)
    for seed in (1, 1, 2):
        ShardWriter(str(tmp_path / f"s{seed}"), str(TOKENIZER), seed=seed, component="general").run(iter(docs), rank=3)
    a, b, c = ((tmp_path / f"s{s}" / "00003.ds").read_bytes() for s in (1, 1, 2))
    assert a == b != c
    plain = tmp_path / "plain"
    ShardWriter(str(plain), str(TOKENIZER), shuffle=False).run(iter(docs), rank=3)
    ends = np.fromfile(plain / "00003.ds.index", dtype="<u8")
    tokens = np.fromfile(plain / "00003.ds", dtype="<u2")
    docs_plain = sorted(tuple(d) for d in np.split(tokens, ends[:-1]))
    ends1 = np.fromfile(tmp_path / "s1" / "00003.ds.index", dtype="<u8")
    docs_shuffled = sorted(tuple(d) for d in np.split(np.frombuffer(a, dtype="<u2"), ends1[:-1]))
    assert docs_plain == docs_shuffled


def test_unknown_eos_token_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="not in the tokenizer"):
        ShardWriter(str(tmp_path), str(TOKENIZER), eos_token="<|endoftext|>").run(iter(_documents(2)))


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("10.1186/1556-276X-8-48", "10.1186/1556-276x-8-48"),
        ("https://doi.org/10.1021/JA403611S", "10.1021/ja403611s"),
        ("doi: 10.3390/membranes2030585 ", "10.3390/membranes2030585"),
        ("not a doi", None),
    ],
)
def test_doi_normalisation(raw, expected):
    assert normalise_doi(raw) == expected


def test_ids_come_from_the_document_not_its_position():
    assert stable_id("x", {"doi": "https://doi.org/10.1021/JA403611S", "source": "s", "source_id": "7"}) == "doi:10.1021/ja403611s"
    assert stable_id("x", {"doi": "n/a", "source": "s", "source_id": "7"}) == "s:7"
    assert stable_id("x", {"source": "mp", "source_id": "mp-149"}) == "mp:mp-149"
    # without a DOI or source id, the same text gets the same id from any source, other text another id
    assert stable_id("same text", {"source": "a"}) == stable_id("same text", {"source": "b"})
    assert stable_id("same text", {}).startswith("sha1:") and stable_id("same text", {}) != stable_id("other", {})
