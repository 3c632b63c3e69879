"""`qa-synth build MANIFEST [--output DIR]`: instruction pairs for LLaMat-style fine-tuning.

This first part builds the crystal understanding tasks (`qa_synth.cif_tasks`) from crystal
records (CIF files or CDVAE-style CSVs, parsed with the corpus crystal parser and validated the
same way), keeps every structure of the named benchmark test sets out (StructureMatcher, as the
corpus does), and writes:

  OUT/pairs.jsonl         {id, source, task, system, question, answer}
  OUT/shards/sft/         token shards in LLaMat's ChatML-like template, `.ds.loss` = answer tokens
  OUT/train_data.yaml     the stage file train/run.sh reads (train/configs/sft.yaml)
  OUT/summary.json        pairs per source and task, structures skipped by reason

Manifest (YAML): name, output_dir, seed, tokenizer {path, eos_token}, crystals [{name, paths}],
per_structure (questions per structure), symprec, exclude [{name, paths}] (benchmark test sets),
seq_len, global_batch_size. Paths are relative to the manifest. Public-dataset converters,
synthesis recipes and teacher generation (the rest of the QA-synthesis issue) are still to come.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import sys
import warnings
from collections import Counter

import yaml


def _resolve(base: str, path: str) -> str:
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(base, path))


def structures(paths: list[str], settings):
    """(record id, Structure or the reason it is unusable, properties) from CIF files and CSV tables with a `cif` column."""
    from corpus.crystals.structures import CrystalParseError, cif_records, parse_cif_block, validate

    for path in paths:
        for record, text, row in cif_records(path):
            try:
                s = parse_cif_block(text, settings).structure
            except CrystalParseError as e:
                yield record, e.kind, {}
                continue
            yield record, validate(s, settings) or s, _properties(row)


def _properties(row: dict) -> dict:
    """The generation task's conditions, when the table has them (MP-20: formation energy, energy above hull)."""
    out = {}
    for key in ("formation_energy_per_atom", "e_above_hull"):
        try:
            out[key] = float(row[key])
        except (KeyError, TypeError, ValueError):
            pass
    return out


def build(manifest_path: str, output: str | None = None) -> dict:
    from corpus.crystals.matching import StructureIndex, spacegroup_number
    from corpus.crystals.structures import CrystalSettings
    from qa_synth.cif_tasks import crystal_tasks
    from qa_synth.shards import write_sft_shard

    warnings.simplefilter("ignore")
    base = os.path.dirname(os.path.abspath(manifest_path))
    with open(manifest_path) as f:
        m = yaml.safe_load(f)
    for key in ("name", "output_dir", "seed", "tokenizer", "crystals"):
        if key not in m:
            raise ValueError(f"{manifest_path}: missing field {key!r}")
    out = os.path.abspath(output) if output else _resolve(base, m["output_dir"])
    settings = CrystalSettings(symprec=m.get("symprec", 0.1))
    exclude = [{"name": b["name"], "paths": [_resolve(base, p) for p in b["paths"]]} for b in m.get("exclude", [])]
    index = StructureIndex.load(exclude, settings) if exclude else None
    rng = random.Random(m["seed"])
    pairs, skipped, per_source = [], Counter(), Counter()
    for src in m["crystals"]:
        files = sorted({f for p in src["paths"] for f in glob.glob(_resolve(base, p))})
        if not files:
            raise ValueError(f"crystals.{src['name']}: no file matches {src['paths']}")
        for record, item, properties in structures(files, settings):
            if isinstance(item, str):
                skipped[item] += 1
                continue
            if index is not None and index.match(item, spacegroup_number(item, settings.symprec)) is not None:
                skipped["benchmark_structure"] += 1
                continue
            new = crystal_tasks(item, f"{src['name']}:{record}", src["name"], rng, m.get("per_structure", 4), properties)
            pairs += new
            per_source[src["name"]] += len(new)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "pairs.jsonl"), "w") as f:
        for p in pairs:
            f.write(json.dumps(p.__dict__, ensure_ascii=False) + "\n")
    tok = m["tokenizer"]
    tok_path = _resolve(base, tok["path"])
    tok_file = tok_path if tok_path.endswith(".json") else os.path.join(tok_path, "tokenizer.json")
    counts = write_sft_shard(pairs, os.path.join(out, "shards", "sft"), tok_file, tok.get("eos_token", "</s>"), m["seed"],
                             tok_path if not tok_path.endswith(".json") else os.path.dirname(tok_path))
    seq_len, global_batch = m.get("seq_len", 2048), m.get("global_batch_size", 64)
    steps = max(1, counts["tokens"] // (seq_len * global_batch))
    with open(os.path.join(out, "train_data.yaml"), "w") as f:
        yaml.safe_dump({"shards": os.path.join(out, "shards"), "seed": m["seed"], "seq_len": seq_len, "global_batch_size": global_batch,
                        "total_steps": steps, "stages": [{"name": "sft", "start_step": 1, "weights": {"sft": 1.0}}]}, f, sort_keys=False)
    summary = {"name": m["name"], "pairs": len(pairs), "per_source": dict(per_source),
               "per_task": dict(Counter(p.task for p in pairs)), "skipped_structures": dict(skipped), **counts, "total_steps": steps}
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qa-synth", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build instruction pairs and SFT shards from a manifest")
    b.add_argument("manifest")
    b.add_argument("--output", "-o", help="output folder (overrides the manifest's output_dir)")
    args = parser.parse_args(argv)
    try:
        summary = build(args.manifest, args.output)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
