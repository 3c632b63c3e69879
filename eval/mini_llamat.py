"""LLaMat in miniature, end to end, on CPU: corpus -> continued pretraining -> SFT -> mateval -> rigidity.

    .venv/bin/python -m eval.mini_llamat [--out out/mini-llamat] [--cpt-steps 200] [--sft-steps 100] [--limit 10]
    (make mini-llamat)

Every stage writes into one folder and the recipe prints what each produced and where:

  corpus/          `corpus build manifests/demo.yaml`: the bundled papers, crystals and general replay -> shards
  cpt/             continued pretraining of a fresh tiny LLaMA (train/configs/tiny.yaml) on those shards;
                   validation.json is the held-out loss per component against tokens; hf/ the exported model
  sft_data/        `qa-synth build manifests/sft_crystals.yaml`: LLaMat's crystal tasks on the bundled structures
  sft/             instruction tuning of cpt/hf on them (the checkpoint passed on as a Hugging Face folder)
  sft_no_cpt/      the same instruction tuning of the same fresh model without continued pretraining: the baseline
  cpt/mateval/     `mateval run` of sft/hf (crystal understanding and generation on the bundled MP-20 test
                   crystals, and the bundled MatSIE items); baseline/ the same for sft_no_cpt/hf
  rigidity/        `mateval rigidity`: domain-loss reduction per token, general drift, task gain over the baseline
  probe/           `mateval rigidity-probe`: tiny bases pretrained on the general replay for 25 and 250 steps, the same
                   CPT from each, three seeds, then a short SFT and mateval with and without the CPT: which base still
                   adapts, with the seeds' spread
  report.md        the stages, their times and outputs, and the rigidity table

The GPU-scale recipe is the same chain with the production configs (README, "LLaMat in miniature"): `corpus build
manifests/full.yaml`, `train/run.sh train/configs/llama2-7b-cpt.yaml`, `qa-synth build manifests/sft.yaml`,
`train/run.sh train/configs/sft.yaml`, `mateval run --model out/train/llamat-sft/hf`, `mateval rigidity`.
A tiny model on a demo corpus scores little in absolute terms: the point is the chain and its deltas.
It lives in eval/, the top layer, because it drives the layers below (corpus, train) and runs qa-synth as its command.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "train" / "configs" / "tiny.yaml"
EVAL_TASKS = "crystal_understanding,crystal_generation,matsie"
# counts, not scores: left out of the report's score table (scores.json has them)
COUNTS = {"items", "generations", "parsed", "conditional_generations", "conditional_without_prompt", "conditional_without_spacegroup"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.mini_llamat", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "out" / "mini-llamat"), help="the one folder every stage writes into")
    parser.add_argument("--cpt-steps", type=int, default=200)
    parser.add_argument("--sft-steps", type=int, default=100)
    parser.add_argument("--limit", type=int, default=10, help="mateval items per task")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--probe-steps", default="25,250", help="the rigidity probe's base pretraining budgets (steps); '' skips the probe")
    parser.add_argument("--probe-seeds", default="0,1,2")
    parser.add_argument("--probe-cpt-steps", type=int, default=100)
    args = parser.parse_args(argv)
    from corpus.cli import main as corpus
    from eval.cli import main as mateval
    from train.trainer import main as train

    def qa_synth(argv: list[str]) -> int:
        # qa_synth is a sibling layer, not one below eval (tests/test_layers.py): run as its command, as a user would
        return subprocess.run([sys.executable, "-m", "qa_synth.cli", *argv], cwd=ROOT).returncode

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    stages: list[tuple[str, float, str]] = []

    def stage(name: str, produced: str, run) -> None:
        print(f"[mini-llamat] {name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        code = run()
        if code != 0:
            raise SystemExit(f"[mini-llamat] {name} failed (exit {code}); its output is in {produced}")
        stages.append((name, time.perf_counter() - start, produced))
        print(f"[mini-llamat] {name}: {stages[-1][1]:.0f} s -> {produced}", file=sys.stderr, flush=True)

    tiny = [str(TINY), "log_every=50", "save_every=1000000"]
    stage("corpus build", str(out / "corpus"), lambda: corpus(["build", str(ROOT / "manifests" / "demo.yaml"), "-o", str(out / "corpus"), "--force"]))
    cpt_every = max(args.cpt_steps // 5, 1)
    stage("continued pretraining", str(out / "cpt"), lambda: train([*tiny, f"data={out / 'corpus' / 'train_data.yaml'}", f"out_dir={out / 'cpt'}",
                                                                    f"max_steps={args.cpt_steps}", f"eval_every={cpt_every}", "export=true"]))
    stage("qa-synth build", str(out / "sft_data"), lambda: qa_synth(["build", str(ROOT / "manifests" / "sft_crystals.yaml"), "-o", str(out / "sft_data")]))
    sft = [*tiny, f"data={out / 'sft_data' / 'train_data.yaml'}", f"max_steps={args.sft_steps}", f"eval_every={max(args.sft_steps // 2, 1)}",
           "export=true"]
    stage("SFT of the CPT model", str(out / "sft"), lambda: train([*sft, f"out_dir={out / 'sft'}", f"init_from={out / 'cpt' / 'hf'}"]))
    stage("SFT without CPT (baseline)", str(out / "sft_no_cpt"), lambda: train([*sft, f"out_dir={out / 'sft_no_cpt'}"]))
    crystals = str(ROOT / "samples" / "crystals" / "mp_20" / "test.csv")
    common = ["--tasks", EVAL_TASKS, "--data", str(ROOT / "samples"), "--crystals", crystals, "--limit", str(args.limit),
              "--max-new-tokens", str(args.max_new_tokens)]
    stage("mateval (CPT + SFT)", str(out / "cpt" / "mateval"), lambda: mateval(["run", "--model", str(out / "sft" / "hf"), *common,
                                                                               "--out", str(out / "cpt" / "mateval")]))
    stage("mateval (SFT only)", str(out / "baseline"), lambda: mateval(["run", "--model", str(out / "sft_no_cpt" / "hf"), *common,
                                                                        "--out", str(out / "baseline")]))
    stage("mateval rigidity", str(out / "rigidity"), lambda: mateval(["rigidity", f"mini={out / 'cpt'}", "--baseline",
                                                                     f"mini={out / 'baseline' / 'scores.json'}", "--out", str(out / "rigidity")]))
    if args.probe_steps:
        stage("rigidity probe", str(out / "probe"), lambda: mateval(["rigidity-probe", "--data", str(out / "corpus" / "train_data.yaml"),
                                                                    "--out", str(out / "probe"), "--pretrain-steps", args.probe_steps,
                                                                    "--seeds", args.probe_seeds, "--cpt-steps", str(args.probe_cpt_steps),
                                                                    "--sft-data", str(out / "sft_data" / "train_data.yaml"),
                                                                    "--sft-steps", str(max(args.sft_steps // 2, 1)), "--eval-tasks", EVAL_TASKS,
                                                                    "--eval-data", str(ROOT / "samples"), "--crystals", crystals,
                                                                    "--limit", str(args.limit), "--max-new-tokens", str(args.max_new_tokens)]))
    write_report(out, stages)
    print(f"[mini-llamat] done: {out / 'report.md'}", file=sys.stderr)
    return 0


def write_report(out: Path, stages: list[tuple[str, float, str]]) -> None:
    curve = json.loads((out / "cpt" / "validation.json").read_text())
    ours = json.loads((out / "cpt" / "mateval" / "scores.json").read_text())["scores"]
    base = json.loads((out / "baseline" / "scores.json").read_text())["scores"]
    lines = ["# LLaMat in miniature", "", "| stage | seconds | output |", "|---|---:|---|"]
    lines += [f"| {name} | {seconds:.0f} | `{Path(produced).relative_to(out)}` |" for name, seconds, produced in stages]
    components = sorted(k for k in curve[0] if k not in ("step", "tokens"))
    lines += ["", "## Continued pretraining: held-out loss per component", "", "| step | tokens | " + " | ".join(components) + " |",
              "|---:|---:|" + "---:|" * len(components)]
    lines += [f"| {p['step']} | {p['tokens']:,} | " + " | ".join(f"{p[c]:.3f}" for c in components) + " |" for p in curve]
    lines += ["", "## Task scores after SFT: with CPT and without (the baseline)", "", "| task | metric | CPT + SFT | SFT only |", "|---|---|---:|---:|"]
    for task in sorted(ours):
        for metric, value in ours[task].items():
            headline = ":" not in metric and "seconds" not in metric and metric not in COUNTS and not metric.startswith(("outcome_", "coverage_"))
            if headline and isinstance(value, (int, float)):
                other = base.get(task, {}).get(metric)
                lines.append(f"| {task} | {metric} | {value:.2f} | {'' if other is None else f'{other:.2f}'} |")
    lines += ["", "## Adaptation rigidity", "", (out / "rigidity" / "rigidity.md").read_text().replace("](rigidity.svg)", "](rigidity/rigidity.svg)")]
    if (out / "probe" / "probe.md").exists():
        lines += ["", (out / "probe" / "probe.md").read_text().replace("# Adaptation-rigidity probe", "## Adaptation-rigidity probe: which base adapts")]
    from corpus.lineage import chain

    lines += ["", "## Lineage of the CPT + SFT scores", "", "Every link checked again now (`corpus lineage cpt/mateval/scores.json`):",
              "", "```", *[link.line().replace(str(out) + os.sep, "") for link in chain(str(out / "cpt" / "mateval" / "scores.json"))], "```"]
    (out / "report.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
