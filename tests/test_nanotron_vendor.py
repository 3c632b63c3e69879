"""nanotron on its own code: the config `train/nanotron.py` emits, loaded by nanotron's own config classes, and our
shards read by nanotron's own TokenizedBytes reader (through the datatrove branch it needs), from the source
snapshots in ../shared/vendor (unpacked into a temporary folder, never imported by the project).

What runs is tests/nanotron_probe.py in a subprocess whose PYTHONPATH starts with the snapshots (the branch's
datatrove must not meet the released one this process imports); its only stand-ins are empty modules for the GPU
kernel libraries nanotron imports at import time (flash_attn, triton, grouped_gemm) and a one-process gloo group for
its logging, as torchrun would start. The whole module skips when ../shared is absent.
"""

import json
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest
import yaml

from conftest import ROOT, base_manifest, run_cli, write_manifest
from corpus.shards.format import INDEX_DTYPE, read_metadata, shard_files, token_dtype

pytestmark = pytest.mark.slow

VENDOR = ROOT.parent / "shared" / "vendor"
SNAPSHOTS = {"nanotron": "nanotron-2411b022.tar.gz", "datatrove": "datatrove-2c895af7.tar.gz"}
if not all((VENDOR / f).is_file() for f in SNAPSHOTS.values()):
    pytest.skip("../shared/vendor (nanotron and datatrove source snapshots) is absent", allow_module_level=True)


@pytest.fixture(scope="module")
def nanotron_report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nanotron")
    for name, archive in SNAPSHOTS.items():
        with tarfile.open(VENDOR / archive) as tar:
            tar.extractall(tmp / "vendor", filter="data")
    data = base_manifest()
    data["components"][0]["weight"] = 0.97
    data["components"][1]["weight"] = 0.03
    data["components"][1]["start_fraction"] = 0.5  # two data stages, the second with two folders and weights
    data["mixture"] = {"train_tokens": 200_000, "seq_len": 128, "global_batch_size": 8}
    assert run_cli("build", write_manifest(tmp, data)) == 0
    from train.nanotron import nanotron_config
    from train.trainer import load_config

    cfg = load_config(str(ROOT / "train" / "configs" / "tiny.yaml"),
                      [f"data={tmp / 'out' / 'train_data.yaml'}", f"out_dir={tmp / 'run'}", "max_steps=150"])
    config_path = tmp / "nanotron_config.yaml"
    config_path.write_text(yaml.safe_dump(nanotron_config(cfg, nproc=1), sort_keys=False))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp / "vendor" / "nanotron" / "src"), str(tmp / "vendor" / "datatrove" / "src")]))
    out = tmp / "nanotron.json"
    run = subprocess.run([sys.executable, str(ROOT / "tests" / "nanotron_probe.py"), str(config_path), str(out)],
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(out.read_text()), tmp / "out"


def test_the_code_that_ran_is_the_snapshots(nanotron_report):
    report, _ = nanotron_report
    assert "vendor" in report["nanotron"] and "vendor" in report["datatrove"]


def test_nanotron_config_classes_accept_the_emitted_config(nanotron_report):
    report, build = nanotron_report
    assert report["sequence_length"] == 128 and report["vocab_size"] == 32000
    stages = report["stages"]
    assert [(s["name"], s["start"]) for s in stages] == [("stable", 1), ("from_50pct", 99)]
    for stage in stages:  # what nanotron read from our .ds.metadata (its AutoTokenizer loads the named tokenizer)
        assert (stage["token_size"], stage["vocab_size"]) == (2, 32000)
        assert stage["tokenizer"] == read_metadata(shard_files(str(build / "shards" / "papers"))[0])[0]
    assert stages[1]["weights"] == pytest.approx([0.06, 0.94])


def test_nanotron_reader_yields_our_tokens_and_document_positions(nanotron_report):
    """Every sample nanotron's reader gave is the window of our shard files it names, and its positions (which nanotron
    computes from the EOS tokens) restart at every document end our index records."""
    report, build = nanotron_report
    seen = 0
    for stage in report["stages"]:
        for folder in stage["folders"]:
            files = shard_files(folder["folder"])
            assert folder["files"] == files  # every shard, in name order
            windows, positions = [], []
            for ds in files:
                tokens = np.fromfile(ds, dtype=token_dtype(read_metadata(ds)[1]))
                ends = np.fromfile(ds + ".index", dtype=INDEX_DTYPE).astype(np.int64)
                starts = np.repeat(np.concatenate([[0], ends[:-1]]), np.diff(np.concatenate([[0], ends])))
                n = len(tokens) // 129
                windows += [tokens[k * 129:(k + 1) * 129] for k in range(n)]
                # a position counts from its document's start, or from the window's where the document began before it
                positions += [np.arange(k * 129, (k + 1) * 129) - np.maximum(starts[k * 129:(k + 1) * 129], k * 129) for k in range(n)]
            assert folder["samples"] == len(windows)
            for i, sample in folder["picked"].items():
                assert sample["input_ids"] == windows[int(i)].tolist(), (folder["folder"], i)
                assert sample["positions"] == positions[int(i)].tolist(), (folder["folder"], i)
                seen += 1
    assert seen >= 20
