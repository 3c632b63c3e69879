"""The adaptation-rigidity probe: how much will a base model still learn from my domain corpus?

    mateval rigidity-probe --data CORPUS/train_data.yaml --out DIR [--base NAME=HF_FOLDER ...]
                           [--pretrain-steps 25,250] [--seeds 0,1,2] [--cpt-steps 100]
                           [--sft-data SFT/train_data.yaml --sft-steps 50 --eval-tasks ... --eval-data ... --limit 10]

For each base, the same short continued pretraining on the user's shards (the tiny trainer config's optimiser and
batch, `--config` for another), once per seed; `mateval rigidity` on every run; and per base the mean and spread
(sample standard deviation over seeds) of the domain-loss reduction per billion tokens and the general drift, so a
difference between bases can be told from seed noise; with an instruction set, a short SFT and mateval after each CPT
and of each base without CPT give every run a task gain too. Bases are local Hugging Face folders (`--base`), or, without
any, tiny LLaMAs pretrained here on the corpus' general component alone for each of `--pretrain-steps` (e.g. 1x and
10x: the over-trained one mimics LLaMA-3's regime next to LLaMA-2's). LLaMat's finding was that the more heavily
pretrained base adapts less; the table says whether these small runs show it, with the spread beside it.

It drives the trainer (train/) and `mateval rigidity`, so it sits in eval/, the top layer.
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "train" / "configs" / "tiny.yaml"


def general_only(train_data: str, general: str, out: str, steps: int) -> str:
    """A train_data.yaml over the same shards that samples the general component alone (the bases' pretraining)."""
    from corpus.shards.format import TrainStage, read_train_data, write_train_data

    data = read_train_data(train_data)
    if not os.path.isdir(os.path.join(data.shards, general)):
        raise ValueError(f"--general: {general!r} is not a component of {data.shards}")
    only = data.model_copy(update={"stages": [TrainStage(name="general", start_step=1, weights={general: 1.0})],
                                   "total_steps": max(steps, 1)})
    write_train_data(out, only, "mateval rigidity-probe")
    return out


def _spread(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _sft_and_score(train, mateval, config: str, quiet: list[str], tasks: dict, init: str, seed: int, out: str) -> str:
    """SFT of `init` on the instruction set, then mateval of the result; returns the scores file."""
    if train([config, *quiet, f"data={tasks['sft_data']}", f"out_dir={out}", f"init_from={init}", f"max_steps={tasks['sft_steps']}",
              f"seed={seed}", "eval_every=0", "export=true"]) != 0:
        raise RuntimeError(f"SFT of {init} failed")
    if mateval(["run", "--model", os.path.join(out, "hf"), *tasks["mateval"], "--out", os.path.join(out, "mateval")]) != 0:
        raise RuntimeError(f"mateval of {out} failed")
    return os.path.join(out, "mateval", "scores.json")


def probe(train_data: str, out: str, bases: dict[str, str], pretrain_steps: list[int], seeds: list[int], cpt_steps: int,
          general: str = "general", config: str = str(TINY), tasks: dict | None = None) -> list[dict]:
    """`tasks` (optional): {"sft_data": train_data.yaml of an instruction set, "sft_steps": N, "mateval": [mateval run
    arguments: --tasks, --data, --limit, ...]}: after each CPT, a short SFT and mateval of the CPT model and, as its
    baseline, of the base without CPT, so each run also has a task gain."""
    from eval.cli import main as mateval
    from eval.rigidity import analyse, write
    from train.trainer import main as train

    os.makedirs(out, exist_ok=True)
    quiet = ["log_every=1000000", "save_every=1000000"]
    runs: list[tuple[str, str, int]] = []  # (base name, run folder, seed)
    baselines: dict[str, str] = {}  # run -> the scores of its base after the same SFT without CPT
    for seed in seeds:
        named = dict(bases)
        for steps in ([] if bases else pretrain_steps):
            base_dir = os.path.join(out, f"base-{steps}steps-seed{seed}")
            data = general_only(train_data, general, os.path.join(out, "general_only.yaml"), steps)
            if train([config, *quiet, f"data={data}", f"out_dir={base_dir}", f"max_steps={steps}", f"seed={seed}", "eval_every=0",
                      "export=true"]) != 0:
                raise RuntimeError(f"pretraining the base of {steps} steps (seed {seed}) failed")
            named[f"pretrained {steps} steps"] = os.path.join(base_dir, "hf")
        for name, hf in named.items():
            run = os.path.join(out, "cpt", f"{name.replace(' ', '_')}-seed{seed}")
            if train([config, *quiet, f"data={train_data}", f"out_dir={run}", f"init_from={hf}", f"max_steps={cpt_steps}", f"seed={seed}",
                      f"eval_every={max(cpt_steps // 4, 1)}", f"export={'true' if tasks else 'false'}"]) != 0:
                raise RuntimeError(f"continued pretraining of {name} (seed {seed}) failed")
            if tasks:
                scored = _sft_and_score(train, mateval, config, quiet, tasks, os.path.join(run, "hf"), seed, os.path.join(run, "sft"))
                os.makedirs(os.path.join(run, "mateval"), exist_ok=True)  # where `mateval rigidity` looks for a run's scores
                os.replace(scored, os.path.join(run, "mateval", "scores.json"))
                baselines[f"{name} / seed {seed}"] = _sft_and_score(train, mateval, config, quiet, tasks, hf, seed, os.path.join(run, "sft_no_cpt"))
            runs.append((name, run, seed))
    rows = analyse([f"{name} / seed {seed}={run}" for name, run, seed in runs], [general], baselines)
    write(rows, [general], os.path.join(out, "runs"))
    summary = []
    for name in dict.fromkeys(name for name, _, _ in runs):
        mine = [r for r, (n, _, _) in zip(rows, runs) if n == name]
        reduction, drift = _spread([r["domain_reduction_per_btok"] for r in mine]), _spread([r["general_drift"] or 0.0 for r in mine])
        start = _spread([r["domain_loss_start"] for r in mine])
        gains = [r["task_gain"] for r in mine if r["task_gain"] is not None]
        gain = _spread(gains) if gains else (None, None)
        summary.append({"base": name, "seeds": len(mine), "domain_loss_start": start[0], "domain_loss_start_sd": start[1],
                        "domain_reduction_per_btok": reduction[0], "domain_reduction_per_btok_sd": reduction[1],
                        "general_drift": drift[0], "general_drift_sd": drift[1], "task_gain": gain[0], "task_gain_sd": gain[1],
                        "tokens": mine[0]["tokens"]})
    with open(os.path.join(out, "probe.json"), "w") as f:
        json.dump(summary, f, indent=2)
    lines = ["# Adaptation-rigidity probe", "",
             f"The same continued pretraining ({cpt_steps} steps, {summary[0]['tokens']:,} tokens) from each base, {len(seeds)} seed(s); "
             "mean ± sample standard deviation over seeds. Per run: runs/rigidity.md (and the loss curves, runs/rigidity.svg).", "",
             "| base | seeds | domain loss at the start | domain-loss reduction per billion tokens | general drift | task gain after SFT |",
             "|---|---:|---:|---:|---:|---:|"]
    for s in summary:
        gain = "-" if s["task_gain"] is None else f"{s['task_gain']:+.3f} ± {s['task_gain_sd']:.3f}"
        lines.append(f"| {s['base']} | {s['seeds']} | {s['domain_loss_start']:.3f} ± {s['domain_loss_start_sd']:.3f} | "
                     f"{s['domain_reduction_per_btok']:,.4g} ± {s['domain_reduction_per_btok_sd']:,.2g} | "
                     f"{s['general_drift']:+.3f} ± {s['general_drift_sd']:.3f} | {gain} |")
    if tasks:
        lines += ["", "Task gain: mean over the shared task metrics of (CPT + SFT) minus (SFT of the base without CPT), per run."]
    if len(summary) > 1:
        a, b = summary[0], summary[-1]
        gap = a["domain_reduction_per_btok"] - b["domain_reduction_per_btok"]
        noise = (a["domain_reduction_per_btok_sd"] ** 2 + b["domain_reduction_per_btok_sd"] ** 2) ** 0.5
        verdict = ("larger than" if abs(gap) > 2 * noise else "within") + " twice the seeds' combined spread"
        lines += ["", f"{a['base']} minus {b['base']}: {gap:,.4g} per billion tokens ({verdict}, {noise:,.2g})."]
    with open(os.path.join(out, "probe.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return summary
