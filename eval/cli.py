"""mateval: score a model on LLaMat's materials tasks and put each score beside the paper's.

  mateval run --model PATH        a local transformers model (batched greedy decoding)
  mateval run --endpoint URL --endpoint-model NAME    an OpenAI-compatible server (vLLM, ...);
                                  the key, if any, from $MATEVAL_API_KEY
  mateval run --predictions FILE  predictions made anywhere: JSON Lines {id, prediction}
  mateval run --lm-eval-results DIR   the generations of an lm-evaluation-harness run (--log_samples) of the tasks
                                  `mateval export-lm-eval` wrote, scored and reported beside the paper's numbers
  common: --tasks matnlp,matsie,mascqa,crystal_understanding,crystal_generation (the default),
                  general_english (SQuAD, HellaSwag, BoolQ, ARC, PIQA; 28k items: use --limit for a quick look)
          --story-cloze FILE (StoryCloze, official CSV, with general_english)
          --limit N (first N items per task)
          --data ../shared/data (the layout of the shared data folder)  --out DIR
  mateval items --tasks ... --out FILE   the items (id, task, system, question) to predict elsewhere
  mateval export-lm-eval DIR --tasks ...  our task groups as lm-evaluation-harness tasks (eval/lm_eval_export.py):
                                  lm_eval --model hf --model_args pretrained=PATH --include_path DIR
                                          --tasks matnlp,matsie --log_samples --output_path RUN
  mateval rigidity [NAME=]RUN_DIR ... --out DIR [--general general] [--baseline NAME=scores.json]
                                  adaptation rigidity of several training lineages (eval/rigidity.py)
  mateval rigidity-probe --data CORPUS/train_data.yaml --out DIR [--base NAME=HF ...] [--pretrain-steps 25,250]
                         [--seeds 0,1,2] [--cpt-steps 100]
                                  the same short CPT from each base and seed: which base still adapts (eval/rigidity_probe.py)
  mateval crystal-metrics GENERATED --reference TEST.csv [--out FILE] [--no-coverage] [--coverage-of valid|constructed]
                          [--workers N] [--cache FILE | --no-cache] [--time-limit S] [--site-time-limit S]
                                  CDVAE's validity, coverage and property metrics of generated crystals
                                  (CIF, crystal strings in JSON Lines, or LLaMat's parsed CSV); eval/crystal_metrics.py.
                                  Coverage fingerprints run on all cores and are cached (eval/fingerprints.py).
                                  A file that carries each prompt's formula and space group (LLaMat's CSV columns
                                  pretty_formula, spacegroup_number) also gets LLaMat's conditional-generation
                                  metrics: parse success, formula match, valid match rate, space-group match, by
                                  crystal system and element count (eval/conditional_generation.py)

A run writes OUT/predictions.jsonl (id, task, prediction, reference), OUT/scores.json and
OUT/scores.csv (one row per task and metric) and OUT/report.md, where each score stands beside the
paper's published value for LLaMat and its baselines (../shared/data/reference/*.csv). Item sources,
splits and scoring rules: eval/items.py and eval/scoring.py.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections import defaultdict

DEFAULT_DATA = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))


def _items(args):
    from eval.items import GROUPS, load

    groups = [g.strip() for g in args.tasks.split(",") if g.strip()]
    for g in groups:
        if g not in GROUPS:
            raise ValueError(f"--tasks: unknown task group {g!r}; known: {', '.join(GROUPS)}")
    if args.story_cloze:  # the user's own file is checked whole before any other work
        from eval.general_english import story_cloze

        if not os.path.isfile(args.story_cloze):
            raise ValueError(f"--story-cloze: {args.story_cloze} is not a file")
        if "general_english" not in groups:
            raise ValueError("--story-cloze: StoryCloze is a general_english task; add general_english to --tasks")
        story_cloze(args.story_cloze)
    if not os.path.isdir(args.data):
        raise ValueError(f"--data: {args.data} is not a folder")
    for path in args.crystals or []:
        if not os.path.isfile(path):
            raise ValueError(f"--crystals: {path} is not a file")
    items = load(groups, args.data, crystal_paths=args.crystals, story_cloze=args.story_cloze)
    if args.limit:
        seen = defaultdict(int)
        kept = []
        for i in items:
            seen[i.task] += 1
            if seen[i.task] <= args.limit:
                kept.append(i)
        items = kept
    return items


def _backend(args):
    from eval.backends import Endpoint, LmEvalSamples, PredictionsFile, TransformersModel

    chosen = [x for x in (args.model, args.endpoint, args.predictions, args.lm_eval_results) if x]
    if len(chosen) != 1:
        raise ValueError("give exactly one of --model, --endpoint, --predictions, --lm-eval-results")
    if args.predictions:
        return PredictionsFile(args.predictions)
    if args.lm_eval_results:
        if not os.path.exists(args.lm_eval_results):
            raise ValueError(f"--lm-eval-results: {args.lm_eval_results} does not exist")
        return LmEvalSamples(args.lm_eval_results)
    if args.endpoint:
        if not args.endpoint_model:
            raise ValueError("--endpoint needs --endpoint-model (the model name the server serves)")
        return Endpoint(args.endpoint, args.endpoint_model, os.environ.get("MATEVAL_API_KEY"), args.concurrency, args.max_new_tokens)
    return TransformersModel(args.model, args.batch_size, args.max_new_tokens, args.template)


def write_report(out: str, scores: dict, backend: str, reference: str, timings: dict) -> None:
    from eval.paper import MODELS, paper_values

    rows = []
    for task, metrics in scores.items():
        for metric, value in metrics.items():
            if metric == "items":
                continue
            paper = paper_values(reference, task, metric)
            rows.append({"task": task, "metric": metric, "items": metrics["items"], "score": round(value, 4),
                         **{m: paper.get(m, "") for m in MODELS}})
    with open(os.path.join(out, "scores.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["task", "metric", "items", "score", *MODELS])
        w.writeheader()
        w.writerows(rows)
    lines = [f"# mateval: {backend}", "", "Paper values: LLaMat (Mishra et al.), `reference/*.csv`; blank where the paper reports "
             "none for that task and metric. Our MatNLP test side is our own hashed split of the public files (eval/items.py). "
             "SQuAD: the paper's micro-F1 stands beside SQuAD's official token F1 (comparable in kind: the paper does not "
             "define F1 on spans).", "",
             "| task | metric | items | this model | " + " | ".join(MODELS) + " | seconds |",
             "|---|---|---:|---:|" + "---:|" * len(MODELS) + "---:|"]
    for r in rows:
        paper = " | ".join(f"{r[m]:.2f}" if r[m] != "" else "" for m in MODELS)
        metric = r["metric"].replace("|", "\\|")  # the MOF links' head|||field names inside a Markdown table
        lines.append(f"| {r['task']} | {metric} | {r['items']} | {r['score']:.2f} | {paper} | {timings.get(r['task'], 0):.1f} |")
    from eval.plots import write_scores_plot

    if write_scores_plot(out, rows, MODELS, f"mateval: {backend} beside the paper's models"):
        lines += ["", "![this model's scores beside the paper's](scores.svg)"]
    with open(os.path.join(out, "report.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def run(args) -> int:
    from eval.scoring import score

    if len([x for x in (args.model, args.endpoint, args.predictions, args.lm_eval_results) if x]) != 1:
        raise ValueError("give exactly one of --model, --endpoint, --predictions, --lm-eval-results")
    items = _items(args)
    backend = _backend(args)
    os.makedirs(args.out, exist_ok=True)
    by_task = defaultdict(list)
    for i in items:
        by_task[i.task].append(i)
    predictions, timings = {}, {}
    for task, group in by_task.items():
        start = time.perf_counter()
        predictions.update(backend.predict(group))
        timings[task] = time.perf_counter() - start
        print(f"[mateval] {task}: {len(group)} items in {timings[task]:.1f} s", file=sys.stderr, flush=True)
    missing = sum(1 for i in items if i.id not in predictions)
    with open(os.path.join(args.out, "predictions.jsonl"), "w", encoding="utf-8") as f:  # before scoring: they cost the most
        for i in items:
            f.write(json.dumps({"id": i.id, "task": i.task, "prediction": predictions.get(i.id), "reference": i.reference},
                               ensure_ascii=False) + "\n")
    scores = score(items, predictions)
    record = {"backend": getattr(backend, "name", "?"), "items": len(items), "without_prediction": missing, "scores": scores,
              "seconds": {k: round(v, 2) for k, v in timings.items()}}
    if args.model:  # which checkpoint, and the data it was trained on (`corpus lineage scores.json` checks the chain)
        from corpus.lineage import model_record

        record["lineage"] = model_record(args.model)
    with open(os.path.join(args.out, "scores.json"), "w") as f:
        json.dump(record, f, indent=2)
    write_report(args.out, scores, getattr(backend, "name", "?"), os.path.join(args.data, "reference"), timings)
    print(f"[mateval] {len(items)} items, {missing} without a prediction -> {args.out}/report.md", file=sys.stderr)
    return 0


def items_command(args) -> int:
    items = _items(args)
    with open(args.out, "w", encoding="utf-8") as f:
        for i in items:
            f.write(json.dumps({"id": i.id, "task": i.task, "system": i.system, "question": i.question}, ensure_ascii=False) + "\n")
    print(f"{len(items)} items -> {args.out}", file=sys.stderr)
    return 0


def export_command(args) -> int:
    from eval.lm_eval_export import export

    if args.max_new_tokens < 1:
        raise ValueError("--max-new-tokens: at least 1")
    items = _items(args)
    groups = export(items, args.out, args.max_new_tokens)
    print(f"{len(items)} items in {sum(map(len, groups.values()))} lm-eval tasks -> {args.out}\n"
          f"  lm_eval --model hf --model_args pretrained=MODEL --include_path {args.out} --tasks {','.join(groups)} "
          f"--log_samples --output_path RUN\n  mateval run --lm-eval-results RUN --tasks {args.tasks} --data {args.data}"
          f"{f' --limit {args.limit}' if args.limit else ''} --out REPORT", file=sys.stderr)
    return 0


def crystal_metrics_command(args) -> int:
    from eval.conditional_generation import conditional_metrics
    from eval.crystal_metrics import cutoffs_for, metrics, read_generations_and_prompts, reference_structures
    from eval.fingerprints import default_cache

    for path, flag in ((args.generated, "GENERATED"), (args.reference, "--reference")):
        if not os.path.exists(path):
            raise ValueError(f"{flag}: {path} does not exist")
    if args.workers is not None and args.workers < 1:
        raise ValueError("--workers: at least 1")
    if args.time_limit <= 0:
        raise ValueError("--time-limit: seconds, more than 0")
    if args.site_time_limit < 0:
        raise ValueError("--site-time-limit: seconds, 0 or more (0: no per-site limit)")
    start = time.perf_counter()
    read, prompts = read_generations_and_prompts(args.generated)
    reference = reference_structures(args.reference)
    cache = None if args.no_cache else (args.cache or default_cache())
    result = metrics([g.structure for g in read], reference, None if args.no_coverage else cutoffs_for(args.reference),
                     outcomes=[g.outcome for g in read], workers=args.workers, cache=cache, time_limit=args.time_limit,
                     site_time_limit=args.site_time_limit, species=[g.species for g in read], coverage_of=args.coverage_of)
    if prompts is not None:  # generations asked for a formula and space group: LLaMat's conditional metrics too
        result.update(conditional_metrics([g.structure for g in read], [f for f, _ in prompts], [g for _, g in prompts]))
    result["seconds"] = round(time.perf_counter() - start, 2)
    text = json.dumps(result, indent=2)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)
    print(crystal_summary(result), file=sys.stderr)
    return 0


def crystal_summary(result: dict) -> str:
    """The metrics as the paper's tables write them (fractions) beside ours (percentages), and the outcomes."""
    from eval.crystal_metrics import OUTCOMES

    lines = ["| metric | % | fraction (the paper's form) |", "|---|---:|---:|"]
    for key, value in result.items():
        if key.startswith(("structural_validity", "compositional_validity", "validity", "cov_", "parse_success", "formula_match",
                           "valid_match_rate", "spacegroup_match")):
            lines.append(f"| {key} | {value:.2f} | {value / 100:.4f} |")
    outcomes = ", ".join(f"{k} {result.get(f'outcome_{k}', 0)}" for k in OUTCOMES)
    lines.append(f"\n{result['generations']} generations: {outcomes}")
    if "coverage_seconds" in result:
        lines.append(f"coverage fingerprints: ok {result['coverage_ok']}, timeout {result['coverage_timeout']}, site timeout "
                     f"{result.get('coverage_site_timeout', 0)}, failed "
                     f"{result['coverage_failed']}, small cell {result['coverage_small_cell']}; {result['coverage_seconds']:.1f} s")
    return "\n".join(lines)


def rigidity_probe_command(args) -> int:
    from eval.rigidity_probe import TINY, probe

    if not os.path.isfile(args.data):
        raise ValueError(f"--data: {args.data} is not a file (a train_data.yaml)")
    bases = {}
    for spec in args.base or []:
        name, sep, path = spec.partition("=")
        if not sep or not os.path.isfile(os.path.join(path, "config.json")):
            raise ValueError(f"--base: expected NAME=a Hugging Face model folder, got {spec!r}")
        bases[name] = path
    try:
        steps = [int(x) for x in args.pretrain_steps.split(",") if x.strip()]
        seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
    except ValueError:
        raise ValueError("--pretrain-steps and --seeds: comma-separated integers") from None
    if args.cpt_steps < 1 or not seeds or (not bases and (not steps or min(steps) < 1)):
        raise ValueError("--cpt-steps, --seeds and --pretrain-steps (or --base) must be given and positive")
    tasks = None
    if args.sft_data:
        if not os.path.isfile(args.sft_data):
            raise ValueError(f"--sft-data: {args.sft_data} is not a file (a train_data.yaml)")
        tasks = {"sft_data": args.sft_data, "sft_steps": args.sft_steps,
                 "mateval": ["--tasks", args.eval_tasks, "--data", args.eval_data, "--limit", str(args.limit), "--max-new-tokens",
                             str(args.max_new_tokens), *(x for c in args.crystals or [] for x in ("--crystals", c))]}
    probe(args.data, args.out, bases, steps, seeds, args.cpt_steps, args.general, args.config or str(TINY), tasks)
    print(open(os.path.join(args.out, "probe.md")).read())
    return 0


def rigidity_command(args) -> int:
    from eval.rigidity import analyse, write

    baselines = {}
    for spec in args.baseline or []:
        name, sep, path = spec.partition("=")
        if not sep or not os.path.exists(path):
            raise ValueError(f"--baseline: expected NAME=scores.json of an existing file, got {spec!r}")
        baselines[name] = path
    general = [g.strip() for g in args.general.split(",") if g.strip()]
    rows = analyse(args.runs, general, baselines)
    write(rows, general, args.out)
    print(open(os.path.join(args.out, "rigidity.md")).read())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mateval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    helps = {"run": "score a model", "items": "write the items to predict elsewhere",
             "export-lm-eval": "write our task groups as lm-evaluation-harness tasks (lm_eval --include_path DIR)"}
    for name, text in helps.items():
        p = sub.add_parser(name, help=text)
        p.add_argument("--tasks", default="matnlp,matsie,mascqa,crystal_understanding,crystal_generation")
        p.add_argument("--limit", type=int, default=0, help="at most N items per task (0: all)")
        p.add_argument("--data", default=DEFAULT_DATA, help="data root laid out like ../shared/data")
        p.add_argument("--crystals", action="append", help="benchmark test crystals for the crystal groups (a CDVAE CSV "
                                                           "with a cif column, CIF files); default: DATA/crystals/mp_20_subset/test.csv")
        if name == "export-lm-eval":
            p.add_argument("out", metavar="DIR", help="the folder to write (lm_eval --include_path DIR)")
            p.add_argument("--max-new-tokens", type=int, default=512, help="lm-eval's max_gen_toks (mateval run's default)")
        else:
            p.add_argument("--out", required=True)
        p.add_argument("--story-cloze", help="StoryCloze in its official CSV layout (InputStoryid, InputSentence1..4, "
                                            "RandomFifthSentenceQuiz1/2, AnswerRightEnding): a general_english task "
                                            "read from where the user keeps it (it may not be redistributed)")
        if name == "run":
            p.add_argument("--model")
            p.add_argument("--endpoint")
            p.add_argument("--endpoint-model")
            p.add_argument("--predictions")
            p.add_argument("--lm-eval-results", help="an lm_eval --output_path folder (or a samples_*.jsonl file) of a run "
                                                    "with --log_samples on the tasks `mateval export-lm-eval` wrote")
            p.add_argument("--batch-size", type=int, default=8)
            p.add_argument("--max-new-tokens", type=int, default=512)
            p.add_argument("--concurrency", type=int, default=8)
            p.add_argument("--template", choices=["chatml", "tokenizer"], default="chatml")
    c = sub.add_parser("crystal-metrics", help="validity, coverage and property distances of generated crystals")
    c.add_argument("generated")
    c.add_argument("--reference", required=True, help="the benchmark test split (CDVAE CSV with a cif column)")
    c.add_argument("--out")
    c.add_argument("--no-coverage", action="store_true", help="skip the fingerprint coverage (the slow part)")
    c.add_argument("--workers", type=int, help="fingerprint processes (default: every core)")
    c.add_argument("--cache", help="fingerprint cache file (default: $XDG_CACHE_HOME/mateval/fingerprints.sqlite); "
                                   "the reference split is fingerprinted once")
    c.add_argument("--no-cache", action="store_true", help="neither read nor write the fingerprint cache")
    c.add_argument("--time-limit", type=float, default=60.0, help="seconds per crystal's fingerprint; past it the crystal "
                                                                  "is a counted timeout, left out of coverage (default 60)")
    c.add_argument("--site-time-limit", type=float, default=5.0,
                   help="seconds per site's fingerprint; past it the crystal is a counted site_timeout, left out of coverage "
                        "(default 5, as crystal-text-llm's timeout_featurize in LLaMat's evaluation; 0: no limit)")
    c.add_argument("--coverage-of", choices=["valid", "constructed"], default="valid",
                   help="the generations fingerprinted for coverage: valid ones (LLaMat's evaluation, crystal-text-llm's "
                        "Crystal; the default) or every constructed one (CDVAE's original Crystal); precision is over all "
                        "generations either way")
    r = sub.add_parser("rigidity", help="domain-loss reduction, forgetting and task gain of training lineages")
    r.add_argument("runs", nargs="+", help="training output folders ([NAME=]DIR), one per lineage")
    r.add_argument("--out", required=True)
    r.add_argument("--general", default="general", help="comma-separated general (replay) components; the rest are domain")
    r.add_argument("--baseline", action="append", help="NAME=scores.json: the lineage's base scored without continued pretraining")
    q = sub.add_parser("rigidity-probe", help="the same short CPT from several bases, several seeds: how adaptable is each base?")
    q.add_argument("--data", required=True, help="the domain corpus' train_data.yaml (written by corpus build)")
    q.add_argument("--out", required=True)
    q.add_argument("--base", action="append", help="NAME=HF_FOLDER: a base to probe (repeatable); none: tiny bases pretrained "
                                                    "here on the corpus' general component for each of --pretrain-steps")
    q.add_argument("--pretrain-steps", default="25,250", help="the tiny bases' pretraining budgets, in steps (default 25,250)")
    q.add_argument("--seeds", default="0,1,2")
    q.add_argument("--cpt-steps", type=int, default=100)
    q.add_argument("--general", default="general", help="the general (replay) component")
    q.add_argument("--config", help="a trainer config for every run (default train/configs/tiny.yaml)")
    q.add_argument("--sft-data", help="an instruction set's train_data.yaml (qa-synth build): after each CPT, a short SFT and "
                                      "mateval of the CPT model and of its base without CPT, for a task gain per run")
    q.add_argument("--sft-steps", type=int, default=50)
    q.add_argument("--eval-tasks", default="crystal_understanding,crystal_generation,matsie", help="with --sft-data: mateval's --tasks")
    q.add_argument("--eval-data", default=DEFAULT_DATA, help="with --sft-data: mateval's --data")
    q.add_argument("--crystals", action="append", help="with --sft-data: mateval's --crystals")
    q.add_argument("--limit", type=int, default=10, help="with --sft-data: mateval's --limit")
    q.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args(argv)
    try:
        if args.command == "rigidity-probe":
            return rigidity_probe_command(args)
        if args.command == "rigidity":
            return rigidity_command(args)
        if args.command == "crystal-metrics":
            return crystal_metrics_command(args)
        if args.command == "export-lm-eval":
            return export_command(args)
        return run(args) if args.command == "run" else items_command(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
