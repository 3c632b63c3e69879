"""Lineage: which data a checkpoint saw and which checkpoint a score came from, each link a digest that can be
checked again later.

The chain, each record written by the step that made the thing:
- `corpus fetch` keeps a ledger (`fetch_ledger.jsonl` in its output folder); `corpus build` records in `build.json`
  the digest of every fetch ledger above its sources, and its manifest's fingerprint (the manifest and the exact input
  file list);
- `summary.json` holds the build's **content fingerprint**: the digest of its shards' checksum record, which holds a
  digest of every 4 MiB of every shard file, so equal fingerprints mean equal shards;
- a training run (`train/run.sh`) writes `OUT_DIR/lineage.json`: the `train_data.yaml` it read and its digest, the
  build's content fingerprint, the resolved training config and its digest, the base checkpoint and a digest of its
  files (and where that checkpoint was trained here, its own run record is followed: SFT -> CPT -> corpus);
- `qa-synth build` records its shards' content fingerprint in its summary.json like a corpus build;
- `mateval run --model PATH` puts the checkpoint's lineage (and a digest of the evaluated model's files) into
  `scores.json`.

`corpus lineage PATH` (a scores.json, a training run folder, a train_data.yaml or a build folder) walks the chain
back to the fetch ledgers and says, for every link, whether the file is still there and still the same.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

import xxhash

from corpus.fetch.ledger import sha256_of as file_digest  # sha256 of a file, as the fetch ledger records it

LEDGER = "fetch_ledger.jsonl"
RUN_RECORD = "lineage.json"
_LEDGER_LEVELS = 6  # folders above a source path searched for a fetch ledger


def folder_digest(folder: str) -> str:
    """xxh3-128 over every file of a folder (names and bytes, sorted): a model checkpoint's identity. xxh3 because a
    7B checkpoint is 13 GB and this runs at memory speed (BENCHMARKS.md, "Checksums")."""
    h = xxhash.xxh3_128()
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            h.update(os.path.relpath(path, folder).encode() + b"\0")
            with open(path, "rb") as f:
                while block := f.read(16 * 2**20):
                    h.update(block)
    return h.hexdigest()


def content_fingerprint(shards_root: str) -> str | None:
    """The digest of a build's shards: sha256 of its checksum record in canonical form (None without a record)."""
    path = os.path.join(shards_root, "checksums.json")
    if not os.path.isfile(path):
        return None
    from corpus.shards.checksums import read_checksums

    record = read_checksums(path)
    return hashlib.sha256(json.dumps(record, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def fetch_ledgers(source_paths: list[str]) -> list[dict]:
    """The fetch ledgers above the given source paths (a fetch writes its ledger in its output folder, the sources lie
    in folders under it), each with its sha256."""
    found = set()
    for p in source_paths:
        folder = os.path.dirname(p) if any(c in p for c in "*?[") or os.path.isfile(p) else p
        folder = os.path.abspath(folder)
        for _ in range(_LEDGER_LEVELS):
            if os.path.isfile(os.path.join(folder, LEDGER)):
                found.add(os.path.join(folder, LEDGER))
                break
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
    return [{"path": p, "sha256": file_digest(p)} for p in sorted(found)]


def run_record(train_data: str, config: dict, init_from: str | None) -> dict:
    """What a training run writes as OUT_DIR/lineage.json."""
    build = os.path.dirname(os.path.abspath(train_data))
    summary = os.path.join(build, "summary.json")
    fingerprint = None
    if os.path.isfile(summary):
        with open(summary) as f:
            fingerprint = (json.load(f).get("lineage") or {}).get("content_fingerprint")
    canonical = json.dumps(config, sort_keys=True, default=str)
    return {"made_by": "train/run.sh", "train_data": os.path.abspath(train_data), "train_data_sha256": file_digest(train_data),
            "build": build, "build_content_fingerprint": fingerprint, "config": json.loads(canonical),
            "config_sha256": hashlib.sha256(canonical.encode()).hexdigest(),
            "base_checkpoint": os.path.abspath(init_from) if init_from else None,
            "base_checkpoint_xxh3": folder_digest(init_from) if init_from and os.path.isdir(init_from) else None}


def model_record(model: str) -> dict:
    """What `mateval run --model PATH` records: the model's digest and the lineage of the run that made it (the
    run folder is the model folder or the one above it: train/run.sh exports to OUT_DIR/hf)."""
    out = {"model": os.path.abspath(model), "model_xxh3": folder_digest(model) if os.path.isdir(model) else None, "run": None}
    for folder in (model, os.path.dirname(os.path.abspath(model))):
        path = os.path.join(folder, RUN_RECORD)
        if os.path.isfile(path):
            with open(path) as f:
                out["run"] = {"path": os.path.abspath(path), **json.load(f)}
            break
    return out


@dataclass
class Link:
    what: str
    path: str | None
    status: str  # ok | changed | missing | unrecorded
    detail: str = ""

    def line(self) -> str:
        mark = {"ok": "ok      ", "changed": "CHANGED ", "missing": "MISSING ", "unrecorded": "--      "}[self.status]
        return f"{mark}{self.what}: {self.path or '(none)'}" + (f"  ({self.detail})" if self.detail else "")


def _check_file(what: str, path: str | None, digest: str | None, compute=file_digest) -> Link:
    if not path:
        return Link(what, None, "unrecorded", "not recorded")
    if not os.path.exists(path):
        return Link(what, path, "missing", "gone since it was recorded")
    if digest is None:
        return Link(what, path, "unrecorded", "no digest recorded")
    now = compute(path)
    return Link(what, path, "ok" if now == digest else "changed", "" if now == digest else f"recorded {digest[:12]}, now {now[:12]}")


def chain(path: str) -> list[Link]:
    """Every link from `path` back to the fetch ledgers; see the module's docstring."""
    path = os.path.abspath(path)
    links: list[Link] = []
    if os.path.isfile(path) and path.endswith(".json") and os.path.basename(path) != RUN_RECORD:  # a scores.json
        with open(path) as f:
            scores = json.load(f)
        record = scores.get("lineage")
        links.append(Link("scores", path, "ok"))
        if not record:
            return links + [Link("model", None, "unrecorded", "this scores.json has no lineage (not from mateval run --model)")]
        links.append(_check_file("model", record.get("model"), record.get("model_xxh3"), folder_digest))
        run = record.get("run")
        if not run:
            return links + [Link("training run", None, "unrecorded", "the model folder has no lineage.json (not trained by train/run.sh)")]
        return links + _run_links(run["path"], run)
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, RUN_RECORD)):
        path = os.path.join(path, RUN_RECORD)
    if os.path.basename(path) == RUN_RECORD:
        with open(path) as f:
            return _run_links(path, json.load(f))
    if os.path.isfile(path) and path.endswith((".yaml", ".yml")):
        return _build_links(os.path.dirname(path), None)
    if os.path.isdir(path):
        return _build_links(path, None)
    return [Link("input", path, "missing", "not a scores.json, training run, train_data.yaml or build folder")]


def _run_links(path: str, run: dict, depth: int = 0) -> list[Link]:
    """A training run's links; where its base checkpoint was itself trained here (SFT on a CPT model), that run's
    links follow, so the chain names every dataset the checkpoint saw."""
    what = "training run" if depth == 0 else "base checkpoint's training run"
    links = [Link(what, path, "ok"), _check_file("train_data.yaml", run.get("train_data"), run.get("train_data_sha256"))]
    links += _build_links(run.get("build"), run.get("build_content_fingerprint"))
    base = run.get("base_checkpoint")
    if base:
        links.append(_check_file("base checkpoint", base, run.get("base_checkpoint_xxh3"), folder_digest))
        record = model_record(base)["run"] if os.path.isdir(base) and depth < 8 else None
        if record:
            links += _run_links(record["path"], record, depth + 1)
    return links


def _build_links(build: str | None, expected_fingerprint: str | None) -> list[Link]:
    if not build or not os.path.isdir(build):
        return [Link("build", build, "missing", "the build folder is gone")]
    links = []
    summary = os.path.join(build, "summary.json")
    recorded = None
    if os.path.isfile(summary):
        with open(summary) as f:
            recorded = (json.load(f).get("lineage") or {}).get("content_fingerprint")
    now = content_fingerprint(os.path.join(build, "shards"))
    want = expected_fingerprint or recorded
    if now is None:
        links.append(Link("build shards", os.path.join(build, "shards"), "missing" if want else "unrecorded", "no checksum record"))
    elif want is None:
        links.append(Link("build shards", os.path.join(build, "shards"), "unrecorded", f"content {now[:12]}, nothing recorded to compare"))
    else:
        links.append(Link("build shards", os.path.join(build, "shards"), "ok" if now == want else "changed",
                          f"content {now[:12]}" if now == want else f"recorded {want[:12]}, now {now[:12]}"))
    record_path = os.path.join(build, "build.json")
    if not os.path.isfile(record_path):  # qa-synth's instruction sets have a summary and checksums, no build record
        return links + [Link("build manifest", record_path, "unrecorded", "no build.json: not made by corpus build")]
    with open(record_path) as f:
        record = json.load(f)
    links.append(Link("build manifest", record_path, "ok", f"manifest and inputs fingerprint {str(record.get('fingerprint'))[:12]}"))
    ledgers = record.get("fetch_ledgers")
    if ledgers is None:
        links.append(Link("fetch ledger", None, "unrecorded", "the build predates lineage records"))
    elif not ledgers:
        links.append(Link("fetch ledger", None, "unrecorded", "no fetch ledger above the build's sources (not fetched by corpus fetch)"))
    for ledger in ledgers or []:
        links.append(_check_file("fetch ledger", ledger["path"], ledger["sha256"]))
    return links


def source_paths(manifest) -> list[str]:
    """Every path a manifest's sources name (globs kept as given)."""
    return [p for src in manifest.sources for p in src.paths]
