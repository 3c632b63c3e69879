"""`corpus check` finds every corruption of a build's shards, names the file (and offset where there is one), and never
lets a library exception through: 15 kinds of deliberate damage and 20 random single-bit flips, each on a fresh copy."""

import os
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from corpus.shards.format import provenance_path, shard_files


def _flip_in_range(ds):  # a byte inside the token file changed to another valid token
    tokens = np.fromfile(ds, dtype="<u2")
    tokens[len(tokens) // 2] = (int(tokens[len(tokens) // 2]) + 1) % 1000 + 1
    tokens.tofile(ds)


def _swap_tokens(ds):  # two tokens of one document swapped: same multiset, same EOS positions
    tokens = np.fromfile(ds, dtype="<u2")
    i = len(tokens) // 3
    j = next(k for k in range(i + 1, len(tokens)) if tokens[k] != tokens[i] and tokens[k] != 2 and tokens[i] != 2)
    tokens[i], tokens[j] = tokens[j], tokens[i]
    tokens.tofile(ds)


def _rewrite(path, fn):
    p = Path(path)
    p.write_bytes(fn(p.read_bytes()))


CORRUPTIONS = {
    # (what, how): the ones corpus check missed before, then the ones it already found
    "deleted_ds_rest_remains": lambda root, ds: os.remove(ds),
    "deleted_whole_shard": lambda root, ds: [os.remove(p) for p in (ds, ds + ".index", ds + ".metadata", provenance_path(ds))],
    "deleted_component": lambda root, ds: shutil.rmtree(os.path.dirname(ds)),
    "byte_flip_in_range": lambda root, ds: _flip_in_range(ds),
    "two_tokens_swapped": lambda root, ds: _swap_tokens(ds),
    "damaged_provenance": lambda root, ds: _rewrite(provenance_path(ds), lambda b: b[:100] + b"\x00" * 64 + b[164:]),
    "orphan_shard_file": lambda root, ds: shutil.copy(ds + ".index", ds[:-3] + "99.ds.index"),
    "deleted_checksum_record": lambda root, ds: os.remove(os.path.join(root, "checksums.json")),
    # already found before this change
    "truncated_ds": lambda root, ds: _rewrite(ds, lambda b: b[:-4]),
    "eos_overwritten": lambda root, ds: _rewrite(ds, lambda b: b[:-2] + b"\x11\x00"),
    "index_not_monotone": lambda root, ds: _rewrite(ds + ".index", lambda b: b[8:16] + b[:8] + b[16:]),
    "index_truncated": lambda root, ds: _rewrite(ds + ".index", lambda b: b[:-8]),
    "metadata_count_wrong": lambda root, ds: _rewrite(ds + ".metadata", lambda b: b.replace(b"\n", b"1\n", 1)),
    "deleted_provenance": lambda root, ds: os.remove(provenance_path(ds)),
    "token_outside_vocabulary": lambda root, ds: _rewrite(ds, lambda b: b[:10] + b"\xff\xff" + b[12:]),
}


@pytest.fixture()
def fresh_shards(demo_build, tmp_path):
    def make():
        dst = tmp_path / f"s{len(list(tmp_path.iterdir()))}"
        shutil.copytree(demo_build / "shards", dst)
        return dst
    return make


def test_a_clean_copy_is_valid_and_says_what_was_verified(fresh_shards, capsys):
    root = fresh_shards()
    assert run_cli("check", root) == 0
    out = capsys.readouterr().out
    assert "checksums of" in out and "verified" in out
    assert run_cli("check", root / "papers") == 0  # one component, its record beside it
    assert run_cli("check", root, "--quick") == 0 and "NOT verified" in capsys.readouterr().out


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_every_corruption_kind_is_found_and_named(fresh_shards, kind, capsys):
    root = fresh_shards()
    ds = shard_files(str(root / "papers"))[0]
    CORRUPTIONS[kind](str(root), ds)
    assert run_cli("check", root) == 1, kind
    err = capsys.readouterr().err
    assert err.startswith("INVALID ") and "Traceback" not in err
    named = err.split()[1].rstrip(":")
    assert os.path.isabs(named) and str(root) in named, err  # names the file (or folder) that is wrong


def test_twenty_random_bit_flips_are_all_found(fresh_shards, capsys):
    rng = random.Random(2026)
    for trial in range(20):
        root = fresh_shards()
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "checksums.json")
        target = rng.choice(files)
        data = bytearray(target.read_bytes())
        bit = rng.randrange(len(data) * 8)
        data[bit // 8] ^= 1 << (bit % 8)
        target.write_bytes(bytes(data))
        assert run_cli("check", root) == 1, (trial, target.name, bit)
        err = capsys.readouterr().err
        assert target.name in err and "Traceback" not in err, (trial, target.name, err)
        shutil.rmtree(root)


def test_damaged_provenance_is_named_not_a_pyarrow_error(fresh_shards, capsys):
    root = fresh_shards()
    ds = shard_files(str(root / "papers"))[0]
    Path(provenance_path(ds)).write_bytes(b"PAR1 this is not parquet PAR1")
    assert run_cli("check", root, "--quick") == 1
    err = capsys.readouterr().err
    assert os.path.basename(provenance_path(ds)) in err and "not a readable Parquet file" in err


def test_an_sft_loss_mask_of_the_wrong_length_is_found(tmp_path, capsys):
    """qa-synth's shards carry `.ds.loss` (one byte per token); a truncated mask is named even in --quick mode, where
    no checksum would catch it."""
    from conftest import TOKENIZER
    from corpus.shards.checksums import write_checksums
    from corpus.tasks.pairs import QAPair
    from qa_synth.shards import write_sft_shard

    pairs = [QAPair(f"p{i}", "s", "t", "You are a materials scientist.", f"What is the band gap of material {i}?",
                    f"About {i}.{i} eV, measured optically.") for i in range(20)]
    folder = tmp_path / "shards" / "sft"
    write_sft_shard(pairs, str(folder), str(TOKENIZER), "</s>", 0, "llama2")
    write_checksums(str(tmp_path / "shards"), ["sft"])
    assert run_cli("check", str(tmp_path / "shards")) == 0
    loss = folder / "00000.ds.loss"
    loss.write_bytes(loss.read_bytes()[:-3])
    assert run_cli("check", "--quick", str(tmp_path / "shards")) != 0
    out = capsys.readouterr()
    assert "00000.ds.loss" in out.out + out.err and "loss-mask bytes" in out.out + out.err


def _deep(n: int = 100_000) -> str:
    return "[" * n + "]" * n


MALFORMED_RECORDS = {  # what a damaged or hostile checksums.json holds, each refused by name (never a traceback)
    "components_a_list": lambda r: {**r, "components": list(r["components"])},
    "bytes_a_string": lambda r: _set_file(r, "bytes", "12"),
    "blocks_a_dict": lambda r: _set_file(r, "blocks", {"0": "x"}),
    "blocks_miscounted": lambda r: _set_file(r, "blocks", []),
    "digest_not_hex": lambda r: _set_file(r, "blocks", ["zz" * 16]),
    "shards_negative": lambda r: {**r, "components": {c: {**v, "shards": -1} for c, v in r["components"].items()}},
    "component_a_path": lambda r: {**r, "components": {"../..": next(iter(r["components"].values()))}},
    "file_a_path": lambda r: {**r, "components": {c: {**v, "files": {"../../../etc/passwd": {"bytes": 1, "blocks": ["0" * 32]}}}
                                                  for c, v in r["components"].items()}},
    "other_block_size": lambda r: {**r, "block_bytes": 1},
    "extra_field": lambda r: {**r, "signed_by": "someone"},
}


def _set_file(record: dict, key: str, value) -> dict:
    import copy

    record = copy.deepcopy(record)
    files = next(iter(record["components"].values()))["files"]
    files[next(iter(files))][key] = value
    return record


@pytest.mark.parametrize("kind", sorted(MALFORMED_RECORDS) + ["deep_nesting", "not_json", "huge_sparse"])
def test_a_malformed_checksum_record_is_invalid_by_name(fresh_shards, kind, capsys):
    import json

    root = fresh_shards()
    path = root / "checksums.json"
    if kind == "deep_nesting":
        path.write_text('{"algorithm": "xxh3_128", "block_bytes": 4194304, "components": ' + _deep() + "}")
    elif kind == "not_json":
        path.write_text('{"algorithm": "xxh3_128", ')
    elif kind == "huge_sparse":  # 2 GB of nothing on disk: read to the cap, never whole
        with open(path, "r+b") as f:
            f.truncate(2 * 2**30)
    else:
        path.write_text(json.dumps(MALFORMED_RECORDS[kind](json.loads(path.read_text()))))
    assert run_cli("check", root) == 1, kind
    err = capsys.readouterr().err
    assert err.startswith("INVALID ") and "Traceback" not in err and str(path) in err, (kind, err)
