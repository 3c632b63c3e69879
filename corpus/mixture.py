"""Data stages from the manifest's mixture: per-stage component weights, nanotron's `data_stages`, epochs.

Each component has a target share of the training tokens (`weight`), or an absolute budget
(`token_budget`, a share of `mixture.train_tokens`; the weighted components share the rest), and may start late
(`start_fraction`: LLaMat put its crystals in the last 10% of training, `start_fraction: 0.9`).
A component active over a fraction f of training must have weight w/f inside the stages where it
is active for its overall share to be w; the always-on components share the rest in proportion to
their targets. Stage boundaries are the distinct start fractions, turned into optimizer steps from
`mixture.train_tokens`, `seq_len` and `global_batch_size`. With the measured token counts of the
shards, the epochs each component is repeated for follow: target tokens / available tokens.

`corpus build` writes OUT/nanotron_data.yaml (nanotron's `data_stages` block, list-form
`dataset_folder` with `dataset_weights`, `start_training_step` from 1) and OUT/train_data.yaml
(the same stages for `train/run.sh`), and puts the table in summary.json; with `shards.formats: [.., megatron]` also
OUT/megatron_data_path.txt (Megatron's `--data-path` blend per stage, corpus/shards/megatron.py).
"""

from __future__ import annotations

import math
import os

import yaml

from corpus.shards.format import TrainData, read_metadata, shard_files, write_train_data
from corpus.shards.megatron import write_data_paths


def stages(components: list[dict], total_steps: int) -> list[dict]:
    """components: {name, weight, start_fraction}; returns [{name, start_step, weights: {component: w}}] with weights
    summing to 1 in every stage, starting at step 1 and strictly ascending."""
    weighted = [c for c in components if c.get("weight")]
    if not weighted:  # no targets: every component in proportion to nothing is undefined; weight them equally
        weighted = [dict(c, weight=1.0 / len(components)) for c in components]
    total = sum(c["weight"] for c in weighted)
    comps = [dict(c, weight=c["weight"] / total, start_fraction=float(c.get("start_fraction") or 0.0)) for c in weighted]
    starts = sorted({c["start_fraction"] for c in comps} | {0.0})
    out = []
    for k, start in enumerate(starts):
        active = [c for c in comps if c["start_fraction"] <= start]
        late = [c for c in active if c["start_fraction"] > 0]
        early = [c for c in active if c["start_fraction"] == 0]
        weights = {c["name"]: c["weight"] / (1.0 - c["start_fraction"]) for c in late}
        rest = 1.0 - sum(weights.values())
        if rest < -1e-9 or (rest <= 1e-9 and early):
            raise ValueError("the late components' weights leave nothing for the others: lower their weight or start them earlier")
        early_total = sum(c["weight"] for c in early)
        weights.update({c["name"]: rest * c["weight"] / early_total for c in early})
        step = 1 if k == 0 else max(1, int(round(start * total_steps)) + 1)
        out.append({"name": "stable" if k == 0 else f"from_{int(round(start * 100))}pct", "start_step": step,
                    "weights": {n: round(w, 6) for n, w in sorted(weights.items())}})
    for a, b in zip(out, out[1:]):
        if b["start_step"] <= a["start_step"]:
            raise ValueError(f"stages {a['name']} and {b['name']} start at the same step: train longer or merge their start fractions")
    return out


def plan(manifest, summary: dict) -> dict:
    """Stages, epochs and target vs actual share, from the manifest's mixture and the built shards' token counts."""
    mix = manifest.mixture
    tokens = {name: c["tokens"] for name, c in summary["components"].items()}
    available = sum(tokens.values())
    train_tokens = mix.train_tokens or available
    tokens_per_step = mix.seq_len * mix.global_batch_size
    total_steps = max(1, math.ceil(train_tokens / tokens_per_step))
    comps = [{"name": c.name, "weight": c.weight, "start_fraction": c.start_fraction} for c in manifest.components]
    budgets = {c.name: c.token_budget for c in manifest.components if c.token_budget}
    if budgets:  # an absolute budget is a share of this training length; the weighted components share the rest
        budget_share = sum(budgets.values()) / train_tokens
        if budget_share >= 1:
            raise ValueError(f"token budgets ({sum(budgets.values()):,}) reach the training length ({train_tokens:,})")
        weighted = sum(c["weight"] or 0 for c in comps if c["name"] not in budgets)
        for c in comps:
            c["weight"] = budgets[c["name"]] / train_tokens if c["name"] in budgets else (
                (c["weight"] or 0) / weighted * (1 - budget_share) if weighted else None)
    st = stages(comps, total_steps)
    targets = {c["name"]: c["weight"] for c in comps}
    total_w = sum(w for w in targets.values() if w) or 1.0
    components = {}
    for c in manifest.components:
        weight = targets[c.name]
        share = weight / total_w if weight else None
        wanted = share * train_tokens if share is not None else None
        components[c.name] = {
            "tokens": tokens.get(c.name, 0),
            "target_share": share,
            "available_share": tokens.get(c.name, 0) / available if available else 0.0,
            "start_fraction": c.start_fraction,
            "training_tokens": int(wanted) if wanted is not None else None,
            "epochs": round(wanted / tokens[c.name], 4) if wanted is not None and tokens.get(c.name) else None,
        }
    return {"train_tokens": train_tokens, "seq_len": mix.seq_len, "global_batch_size": mix.global_batch_size,
            "total_steps": total_steps, "stages": st, "components": components}


def nanotron_data_stages(p: dict, shards_root: str, seed: int, num_loading_workers: int = 1) -> dict:
    """nanotron's `data_stages` (DatasetStageArgs -> DataArgs -> NanosetDatasetsArgs), list-form folders and weights."""
    out = []
    for stage in p["stages"]:
        names = [n for n, w in stage["weights"].items() if w > 0]
        out.append({
            "name": stage["name"],
            "start_training_step": stage["start_step"],
            "data": {
                "dataset": {
                    "dataset_folder": [os.path.join(shards_root, n) for n in names],
                    "dataset_weights": [stage["weights"][n] for n in names],
                },
                "seed": seed,
                "num_loading_workers": num_loading_workers,
            },
        })
    return {"data_stages": out}


def write(manifest, root: str, summary: dict) -> dict:
    from corpus.layout import OutputLayout

    p, layout = plan(manifest, summary), OutputLayout(root)
    shards = os.path.abspath(layout.shards)
    with open(layout.nanotron_data, "w") as f:
        f.write("# nanotron config block (paste under the top level of a nanotron config); written by `corpus build`\n")
        yaml.safe_dump(nanotron_data_stages(p, shards, manifest.seed), f, sort_keys=False)
    train = TrainData(shards=shards, seed=manifest.seed, seq_len=p["seq_len"], global_batch_size=p["global_batch_size"],
                      total_steps=p["total_steps"], stages=p["stages"])
    write_train_data(layout.train_data, train, "corpus build")
    if "megatron" in manifest.shards.formats:
        tokens = {c: {os.path.basename(ds): read_metadata(ds)[2] for ds in shard_files(os.path.join(shards, c))}
                  for c in train.components() if os.path.isdir(os.path.join(shards, c))}
        write_data_paths(layout.megatron_data, train, shards, tokens, "corpus build")
    return p
