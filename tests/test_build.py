"""End to end: manifest -> shards that datatrove reads back, accounting that reconciles, determinism, resume."""

import pytest
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
from datatrove.utils.dataset import DatatroveFolderDataset
from tokenizers import Tokenizer

from conftest import SAMPLES, TOKENIZER, base_manifest, run_cli, tree_bytes, write_manifest
from corpus.shards.format import provenance_path, read_metadata, shard_files

pytestmark = pytest.mark.slow  # full builds, engines or training runs: `make test-fast` leaves them out


def _original_texts() -> dict[str, str]:
    """The sample documents by the id the toolkit must give them, read independently of the toolkit."""
    texts = {}
    table = pl.read_csv(SAMPLES / "papers" / "sofc_exp" / "SOFC-Exp-Metadata.csv", separator="\t", infer_schema=False)
    doi_by_name = dict(zip(table["name"], table["DOI"]))
    for path in sorted((SAMPLES / "papers" / "sofc_exp").glob("*.txt")):
        texts[f"doi:{doi_by_name[path.stem].lower()}"] = path.read_text(encoding="utf-8")
    with gzip.open(SAMPLES / "general" / "general_english_slice.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            texts[f"general_english:{rec['id']}"] = rec["text"]
    return texts


def test_summary_reconciles(demo_build):
    s = json.loads((demo_build / "summary.json").read_text())
    assert s["reconciled"] and not s["problems"]
    assert s["inputs"] == s["kept"] + s["dropped"] + s["failed"] == 45 + 240
    assert s["sources"]["sofc_papers"]["files"] == 45
    assert s["components"]["papers"]["documents"] == 45
    assert s["kept"] == sum(c["documents"] for c in s["components"].values())
    meta_tokens = sum(read_metadata(ds)[2] for comp in ("papers", "general") for ds in shard_files(str(demo_build / "shards" / comp)))
    assert s["tokens"] == meta_tokens > 1_000_000


def test_shards_match_retokenised_originals(demo_build):
    tok = Tokenizer.from_file(str(TOKENIZER))
    eos = tok.token_to_id("</s>")
    originals = _original_texts()
    seen = set()
    for comp in ("papers", "general"):
        for ds in shard_files(str(demo_build / "shards" / comp)):
            tokens = np.fromfile(ds, dtype="<u2")
            index = np.fromfile(ds + ".index", dtype="<u8")
            prov = pl.read_parquet(provenance_path(ds))
            assert prov["token_end"].to_list() == index.tolist()
            for row in prov.iter_rows(named=True):
                expected = tok.encode(originals[row["id"]], add_special_tokens=False).ids + [eos]
                assert tokens[row["token_start"] : row["token_end"]].tolist() == expected, row["id"]
                seen.add(row["id"])
    assert seen == set(originals)  # every document once, none invented


def test_datatrove_reads_the_shards_back_token_for_token(demo_build):
    for comp in ("papers", "general"):
        folder = demo_build / "shards" / comp
        files = shard_files(str(folder))
        seq_len = 1023
        ds = DatatroveFolderDataset(str(folder), seq_len=seq_len, filename_pattern="*.ds", token_size=2, return_positions=True)
        expected = []
        for f in files:  # datatrove drops each file's last partial window
            t = np.fromfile(f, dtype="<u2")
            expected.append(t[: (len(t) // (seq_len + 1)) * (seq_len + 1)])
        expected = np.concatenate(expected)
        got = np.concatenate([ds[i]["input_ids"].numpy() for i in range(len(ds))])
        assert len(ds) > 0 and np.array_equal(got, expected)
        # positions restart after every document end recorded in the index
        first = np.fromfile(files[0], dtype="<u2")
        ends = np.fromfile(files[0] + ".index", dtype="<u8")
        window = ds[0]["positions"].numpy()
        doc_start = 0
        for i in range(seq_len + 1):
            if i in set(int(e) for e in ends):
                doc_start = i
            assert window[i] == i - doc_start
        assert first[ends[0] - 1] == 2


def test_metadata_and_provenance(demo_build):
    for ds in shard_files(str(demo_build / "shards" / "papers")):
        name, size, count = read_metadata(ds)
        assert name.endswith("samples/tokenizers/llama2") and size == 2
        prov = pl.read_parquet(provenance_path(ds))
        assert prov["licence"].to_list() == ["CC BY 4.0"] * prov.height
        assert all(i.startswith("doi:10.") for i in prov["id"])
    prov = pl.concat([pl.read_parquet(provenance_path(ds)) for ds in shard_files(str(demo_build / "shards" / "general"))])
    assert set(prov["licence"]) >= {"public domain (Project Gutenberg)", "CC BY 4.0 (Pang & Lee polarity v2.0)"}


def test_documents_table_has_one_row_per_input(demo_build):
    table = pl.read_parquet(demo_build / "stats" / "documents.parquet")
    assert table.height == 285 and set(table["status"]) == {"kept"}
    assert table["tokens"].sum() == json.loads((demo_build / "summary.json").read_text())["tokens"]


def test_check_command_accepts_and_rejects(demo_build, tmp_path, capsys):
    assert run_cli("check", demo_build / "shards") == 0
    assert "VALID 2 component(s)" in capsys.readouterr().out

    def broken_copy():  # the component folder of a copy of the shards folder (its checksum record beside it)
        dst = tmp_path / f"copy{len(list(tmp_path.iterdir()))}"
        shutil.copytree(demo_build / "shards", dst)
        return dst / "papers", shard_files(str(dst / "papers"))[0]

    folder, ds = broken_copy()  # an EOS overwritten
    ends = np.fromfile(ds + ".index", dtype="<u8")
    tokens = np.fromfile(ds, dtype="<u2")
    tokens[ends[3] - 1] = 17
    tokens.tofile(ds)
    assert run_cli("check", folder) == 1
    err = capsys.readouterr().err
    assert os.path.basename(ds) in err and f"byte {(int(ends[3]) - 1) * 2}" in err and "document 3 does not end with EOS" in err

    folder, ds = broken_copy()  # index does not reach the end of the file
    ends = np.fromfile(ds + ".index", dtype="<u8")
    ends[:-1].tofile(ds + ".index")
    assert run_cli("check", folder) == 1
    assert "last document ends at" in capsys.readouterr().err

    folder, ds = broken_copy()  # metadata says uint32
    Path(ds + ".metadata").write_text(Path(ds + ".metadata").read_text().replace("|2", "|4", 1))
    assert run_cli("check", folder) == 1
    assert ".metadata" in capsys.readouterr().err

    folder, ds = broken_copy()  # provenance missing
    os.remove(provenance_path(ds))
    assert run_cli("check", folder) == 1
    assert "provenance.parquet" in capsys.readouterr().err


def _bad_inputs(folder: Path) -> dict:
    """Sources with real text plus the inputs a real crawl contains: broken, empty, short, mis-encoded."""
    texts = folder / "texts"
    texts.mkdir()
    for p in sorted((SAMPLES / "papers" / "sofc_exp").glob("*.txt"))[:3]:
        shutil.copy(p, texts / p.name)
    (texts / "latin1.txt").write_bytes("Perovskite La₀.₆Sr₀.₄CoO₃ – café".encode("utf-8").replace(b"\xc3\xa9", b"\xe9") * 20)
    (texts / "empty.txt").write_text("   \n")
    (texts / "short.txt").write_text("LiFePO4 cathode.")
    jsonl = folder / "records.jsonl"
    good = json.dumps({"id": "ok-1", "text": "A solid oxide fuel cell stack was operated at 750 °C for 1000 h. " * 10})
    jsonl.write_bytes(
        b"\n".join(
            [
                good.encode(),
                b'{"id": "broken", "text": "unterminated',
                b"[1, 2, 3]",
                json.dumps({"id": "no-text", "body": "x"}).encode(),
                b'{"id": "bad-utf8", "text": "\xff\xfe abc"}',
                b"",
                json.dumps({"id": "ok-2", "text": "Thin-film electrolytes of yttria-stabilised zirconia were deposited. " * 10}).encode(),
            ]
        )
        + b"\n"
    )
    truncated = folder / "truncated.jsonl.gz"
    sentence = "Grain boundaries in the doped ceria electrolyte were imaged by transmission electron microscopy after {} h at 800 °C, and the segregation of gadolinium to the boundary core was quantified. "
    payload = gzip.compress(("\n".join(json.dumps({"id": f"t{i}", "text": sentence.format(i) * 3}) for i in range(200)) + "\n").encode())
    truncated.write_bytes(payload[: len(payload) // 2])
    data = base_manifest()
    data["sources"] = [
        {"name": "texts", "reader": "text", "paths": [str(texts)]},
        {"name": "records", "reader": "jsonl", "paths": [str(jsonl), str(truncated)], "options": {"id_key": "id"}},
    ]
    data["components"] = [{"name": "papers", "sources": ["texts", "records"]}]
    data["stages"] = {"dedup": {"enabled": False}}  # the truncated file's records are near-copies on purpose
    return data


def test_bad_inputs_are_accounted_and_never_stop_the_run(tmp_path):
    path = write_manifest(tmp_path, _bad_inputs(tmp_path))
    assert run_cli("build", path) == 0
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["reconciled"], s["problems"]
    assert s["failed_by_reason"] == {
        "invalid_json": 1,
        "missing_text_field": 1,
        "not_an_object": 1,
        "not_utf8": 2,  # the latin-1 text file and the JSONL line with invalid bytes
        "truncated_file": 1,
    }
    assert s["dropped_by_reason"] == {"empty": 1, "too_short": 1}
    truncated_docs = s["sources"]["records"]["kept"] - 2  # documents before the gzip stream broke off
    assert truncated_docs > 0
    assert s["kept"] == 3 + 2 + truncated_docs
    assert s["inputs"] == s["kept"] + 6 + 2
    failed = [json.loads(line) for f in sorted((tmp_path / "out" / "failed").iterdir()) for line in _zstd_lines(f)]
    by_kind = {r["metadata"]["error_kind"]: r for r in failed}
    assert by_kind["invalid_json"]["metadata"]["line"] == 2
    assert by_kind["truncated_file"]["metadata"]["file_path"].endswith("truncated.jsonl.gz")
    rejected = [json.loads(line) for f in sorted((tmp_path / "out" / "rejected").iterdir()) for line in _zstd_lines(f)]
    assert {r["metadata"]["filter_reason"] for r in rejected} == {"empty", "too_short"}
    assert run_cli("check", tmp_path / "out" / "shards") == 0
    _live_statistics_match_the_summary(tmp_path / "out")  # drops and failures counted live as the ledgers count them


def _zstd_lines(path: Path) -> list[str]:
    import zstandard

    return zstandard.ZstdDecompressor().stream_reader(path.open("rb")).read().decode().splitlines()


def test_same_manifest_gives_byte_identical_output(tmp_path, demo_build):
    data = base_manifest()
    data["executor"]["workers"] = 2  # a different degree of parallelism must not change a byte
    path = write_manifest(tmp_path, data)
    assert run_cli("build", path) == 0
    a, b = tree_bytes(demo_build), tree_bytes(tmp_path / "out")
    assert a.keys() == b.keys() and len(a) > 8
    assert [k for k in a if a[k] != b[k]] == []


def test_ledgers_written_in_pieces_give_the_same_build(tmp_path, demo_build, monkeypatch):
    # a task writes its ledger every LEDGER_FLUSH_ROWS documents (its memory must not grow with its documents)
    import pyarrow.parquet as pq

    from conftest import assert_same_build
    from corpus import outcomes

    monkeypatch.setattr(outcomes, "LEDGER_FLUSH_ROWS", 7)
    assert run_cli("build", write_manifest(tmp_path, base_manifest())) == 0
    ledgers = sorted((tmp_path / "out" / "stats" / "outcomes").glob("*.parquet"))
    assert ledgers and max(pq.ParquetFile(p).metadata.num_row_groups for p in ledgers) > 1
    assert not list((tmp_path / "out" / "stats" / "outcomes").glob("*.partial"))
    assert_same_build(demo_build, tmp_path / "out")


def test_another_seed_shuffles_differently(tmp_path, demo_build):
    data = base_manifest()
    data["seed"] = 8
    assert run_cli("build", write_manifest(tmp_path, data)) == 0
    ds = "shards/papers/00000.ds"
    assert (tmp_path / "out" / ds).read_bytes() != (demo_build / ds).read_bytes()
    assert sorted((tmp_path / "out" / ds).read_bytes()) == sorted((demo_build / ds).read_bytes())


def test_interrupted_tasks_are_redone_and_the_result_is_identical(tmp_path, demo_build):
    out = tmp_path / "out"
    shutil.copytree(demo_build, out)
    manifest = write_manifest(tmp_path, base_manifest())
    # the state a kill leaves: task 1 of both stages unfinished with partial files, no summary
    for stage in ("process", "shards"):
        os.remove(out / "logs" / stage / "completions" / "00001")
    for p in out.glob("shards/*/00001.ds"):
        p.write_bytes(p.read_bytes()[:1000])
    for p in out.glob("work/kept/*/00001.jsonl.zst"):
        p.write_bytes(b"partial")
    (out / "summary.json").unlink()
    (out / "logs" / "summary" / "completions" / "00000").unlink()
    assert run_cli("build", manifest) == 0
    assert tree_bytes(out) == tree_bytes(demo_build)


def test_killed_build_resumes_to_identical_output(tmp_path, demo_build):
    data = base_manifest()
    data["executor"] = {"type": "local", "tasks": 2, "workers": 1}
    manifest = write_manifest(tmp_path, data)
    cmd = [sys.executable, "-m", "corpus", "build", str(manifest)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    first_done = tmp_path / "out" / "logs" / "process" / "completions" / "00000"
    deadline = time.monotonic() + 120
    while not first_done.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "out" / "summary.json").exists(), "the build finished before it could be killed"
    assert subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode == 0
    assert tree_bytes(tmp_path / "out") == tree_bytes(demo_build)


def test_a_different_manifest_does_not_resume_into_the_same_output(tmp_path, demo_build, capsys):
    out = tmp_path / "out"
    shutil.copytree(demo_build, out)
    data = base_manifest()
    data["seed"] = 99
    assert run_cli("build", write_manifest(tmp_path, data)) == 2
    assert "--force" in capsys.readouterr().err


def test_large_vocabulary_gives_uint32_shards(tmp_path):
    from tokenizers import models, pre_tokenizers

    vocab = {f"w{i}": i for i in range(70_000)} | {"[UNK]": 70_000, "</s>": 70_001}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok_path = tmp_path / "big" / "tokenizer.json"
    tok_path.parent.mkdir()
    tok.save(str(tok_path))
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "a.txt").write_text(" ".join(f"w{i}" for i in range(66_000, 66_300)))
    data = base_manifest()
    data["tokenizer"] = {"path": str(tok_path), "eos_token": "</s>"}
    data["sources"] = [{"name": "t", "reader": "text", "paths": [str(texts)]}]
    data["components"] = [{"name": "c", "sources": ["t"]}]
    data["stages"] = {"filters": {"min_chars": 10, "language": {"enabled": False}, "quality_enabled": False}}  # a word list, not prose
    assert run_cli("build", write_manifest(tmp_path, data)) == 0
    ds = shard_files(str(tmp_path / "out" / "shards" / "c"))[0]
    assert read_metadata(ds)[1] == 4
    tokens = np.fromfile(ds, dtype="<u4")
    assert tokens[:3].tolist() == [66_000, 66_001, 66_002] and tokens[-1] == 70_001
    assert run_cli("check", tmp_path / "out" / "shards") == 0


def test_a_build_of_nothing_but_bad_files_completes_and_reconciles(tmp_path):
    (tmp_path / "bad.jsonl").write_bytes(b"\x00\x01not json\n{\"text\": 5}\n")
    data = base_manifest()
    data["sources"] = [{"name": "bad", "reader": "jsonl", "paths": [str(tmp_path / "bad.jsonl")]}]
    data["components"] = [{"name": "c", "sources": ["bad"]}]
    assert run_cli("build", write_manifest(tmp_path, data)) == 0
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["reconciled"] and s["kept"] == 0 and s["failed"] == 2 and s["tokens"] == 0
    assert s["failed_by_reason"] == {"invalid_json": 1, "missing_text_field": 1}


def _live_statistics_match_the_summary(out: Path) -> None:
    """OUT/logs/progress.json, renewed during the build and at each pipeline's end, counts what the ledgers count."""
    live = json.loads((out / "logs" / "progress.json").read_text())["pipelines"]
    summary = json.loads((out / "summary.json").read_text())
    process, shards = live["process"], live["shards"]
    assert process["state"] == shards["state"] == "finished"
    assert process["passed"] + process["dropped"] + process["failed"] == summary["inputs"]
    assert process["failed"] == summary["failed"] and shards["tokens"] == summary["tokens"]
    by_status = {"dropped": {}, "failed": {}}
    for stats in (process, shards):
        for key, n in stats["reasons"].items():
            status, reason = key.split(":", 1)
            if status in by_status:
                by_status[status][reason] = by_status[status].get(reason, 0) + n
    assert by_status["dropped"] == summary["dropped_by_reason"] and by_status["failed"] == summary["failed_by_reason"]


def test_live_statistics_reconcile_with_the_summary(demo_build):
    _live_statistics_match_the_summary(demo_build)
    assert json.loads((demo_build / "logs" / "progress.json").read_text())["pipelines"]["process"]["mb_per_s"] > 0
