import contextlib
import copy
import json
import os
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
SHARED = ROOT.parent / "shared" / "data"
TOKENIZER = SAMPLES / "tokenizers" / "llama2" / "tokenizer.json"

BASE_MANIFEST = {
    "name": "test",
    "output_dir": "out",
    "seed": 7,
    "executor": {"type": "local", "tasks": 2, "workers": 1},
    "tokenizer": {"path": str(TOKENIZER.parent), "eos_token": "</s>"},
    "sources": [
        {
            "name": "sofc_papers",
            "reader": "text",
            "paths": [str(SAMPLES / "papers" / "sofc_exp" / "*.txt")],
            "metadata": {"licence": "CC BY 4.0"},
            "options": {
                "metadata_table": str(SAMPLES / "papers" / "sofc_exp" / "SOFC-Exp-Metadata.csv"),
                "metadata_separator": "\t",
                "metadata_columns": {"doi": "DOI", "title": "Document title", "journal": "Journal"},
            },
        },
        {
            "name": "general_english",
            "reader": "jsonl",
            "paths": [str(SAMPLES / "general" / "general_english_slice.jsonl.gz")],
            "options": {"id_key": "id", "metadata_keys": ["license", "source"]},
        },
    ],
    "stages": {"filters": {"min_chars": 200}},
    "components": [
        {"name": "papers", "sources": ["sofc_papers"]},
        {"name": "general", "sources": ["general_english"]},
    ],
}


def base_manifest() -> dict:
    return copy.deepcopy(BASE_MANIFEST)


def write_manifest(folder: Path, data: dict, name: str = "manifest.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_cli(*args: str) -> int:
    from corpus.cli import main

    return main([str(a) for a in args])


def tree_bytes(root: Path, subdirs=("shards", "rejected", "failed")) -> dict[str, bytes]:
    """Every file under the given sub-folders, plus summary.json and the documents table, by relative path."""
    files = {}
    for sub in subdirs:
        for dirpath, _, names in os.walk(root / sub):
            for n in names:
                p = Path(dirpath) / n
                files[str(p.relative_to(root))] = p.read_bytes()
    for extra in ("summary.json", "stats/documents.parquet"):
        files[extra] = (root / extra).read_bytes()
    return files


@pytest.fixture(scope="session")
def demo_build(tmp_path_factory):
    """One build of the sample data, shared by the read-only tests."""
    folder = tmp_path_factory.mktemp("demo")
    manifest = write_manifest(folder, base_manifest())
    assert run_cli("build", manifest) == 0
    return folder / "out"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def moto_s3():
    """moto's S3 server on 127.0.0.1 (its URL); bounded: it stops itself after two minutes even if a test hangs."""
    import logging
    import threading

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    stopper = threading.Timer(120, server.stop)
    stopper.daemon = True
    stopper.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stopper.cancel()
        server.stop()


def assert_same_build(expected: Path, actual: Path) -> None:
    """Two builds of one manifest on different executors: shards, rejected and failed files and the documents
    table byte for byte; summary.json equal except for how the build ran (executor, timings)."""
    a, b = tree_bytes(expected), tree_bytes(actual)
    assert a.keys() == b.keys() and any(k.startswith("shards/") for k in a)
    differ = [k for k in a if a[k] != b[k]]
    assert differ in ([], ["summary.json"]), differ
    sa, sb = json.loads(a["summary.json"]), json.loads(b["summary.json"])
    for key in set(sa) | set(sb):
        if key not in ("executor", "timings", "manifest_fingerprint"):
            assert sa.get(key) == sb.get(key), key
