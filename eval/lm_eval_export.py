"""lm-evaluation-harness interop: our task groups as lm-eval tasks, and lm-eval's generations back into our report.

`mateval export-lm-eval DIR` writes a folder that `lm_eval --include_path DIR --tasks matnlp,matsie,...` runs with
any lm-eval backend (hf, vllm, local-completions, ...):

  DIR/data/<task>.jsonl   the items, each with its prompt already rendered in LLaMat's ChatML template (the
                          template `mateval run` uses; run lm-eval without --apply_chat_template)
  DIR/<task>.yaml         one lm-eval task per mateval task, named mateval_<task> (lm-eval has its own hellaswag,
                          boolq, ...): greedy generate_until with our stop strings, our metrics
  DIR/_<group>.yaml       the group under our name (matnlp, matsie, mascqa, crystal_understanding,
                          crystal_generation, general_english)
  DIR/utils.py            the glue lm-eval loads with !function: reads DIR/data, hands each generation to
                          eval.scoring (so mateval must be installed where lm-eval runs) and aggregates per task
                          with our corpus-level metrics (micro/macro F1, CDVAE's validity and coverage, ...)

The scores lm-eval prints are computed by the same function as `mateval run`'s, on the same items; and
`mateval run --lm-eval-results OUT` reads lm-eval's `--log_samples` files, so a run made with lm-eval gets our report,
beside the paper's numbers. tests/test_lm_eval.py runs lm-eval offline on a tiny local model and checks both ways.
"""

from __future__ import annotations

import glob
import json
import os
from collections import defaultdict

from corpus.chat import chatml
from corpus.readers.bounded import loads_bounded

STOP = ("<|im_end|>", "<|im_start|>", "</s>")  # eval.backends.STOP: the template's end-of-turn strings
PREFIX = "mateval_"

UTILS = '''"""Glue for lm-evaluation-harness, written by `mateval export-lm-eval` (eval/lm_eval_export.py): do not edit."""

import json
import math
import os

from eval.backends import _cut
from eval.items import Item
from eval.scoring import score

HERE = os.path.dirname(os.path.abspath(__file__))
_ITEMS = {}
_SCORED = {}


def load(task, **_):
    """The task's items (lm-eval's custom_dataset): the rows of data/<task>.jsonl as the test split."""
    import datasets

    with open(os.path.join(HERE, "data", task + ".jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return {"test": datasets.Dataset.from_list(rows)}


def _item(doc):
    if doc["id"] not in _ITEMS:
        _ITEMS[doc["id"]] = Item(doc["id"], doc["task"], doc["group"], doc["system"], doc["question"], doc["reference"],
                                 json.loads(doc["meta"]))
    return _ITEMS[doc["id"]]


def process_results(doc, results):
    """Each generation, cut at the end of its turn as mateval cuts it, kept for the task's aggregation."""
    _item(doc)
    prediction = _cut(results[0] or "")
    return {metric: (doc["id"], prediction) for metric in METRICS[doc["task"]]}


def _aggregator(task, metric):
    def aggregate(pairs):
        # one scoring per task and set of generations, whatever the number of metrics asking for it
        key = (task, tuple(sorted(pairs)))
        if key not in _SCORED:
            items = [_ITEMS[i] for i, _ in pairs]
            _SCORED[key] = score(items, dict(pairs)).get(task, {})
        value = _SCORED[key].get(metric)
        return float("nan") if value is None else float(value)
    aggregate.__name__ = "mateval_" + task + "__" + metric
    return aggregate


'''


def _task_yaml(task: str, group: str, metrics: list[tuple[str, str]], max_new_tokens: int) -> str:
    lines = [
        f"task: {PREFIX}{task}",
        f"tag: [mateval, {PREFIX}{group}]",
        "custom_dataset: !function utils.load",
        "dataset_kwargs:",
        f"  task: {json.dumps(task)}",
        "test_split: test",
        "output_type: generate_until",
        'doc_to_text: "{{prompt}}"',
        "doc_to_target: reference",
        'target_delimiter: ""',
        "generation_kwargs:",
        f"  until: {json.dumps(list(STOP))}",
        f"  max_gen_toks: {max_new_tokens}",
        "  do_sample: false",
        "process_results: !function utils.process_results",
        "metric_list:",
    ]
    for metric, function in metrics:
        lines += [f"  - metric: {json.dumps(metric)}", f"    aggregation: !function utils.{function}", "    higher_is_better: true"]
    lines += ["metadata:", "  version: 1.0"]
    return "\n".join(lines) + "\n"


def metric_names(items: list) -> dict[str, list[str]]:
    """task -> the metrics our scoring gives it, on these items (breakdowns by crystal system or element count
    depend on the items, not on the answers): the union over gold answers and no answers."""
    from eval.scoring import score

    by_task = defaultdict(list)
    for item in items:
        by_task[item.task].append(item)
    names = {}
    for task, group in sorted(by_task.items()):
        if group[0].group == "crystal_generation":
            sample = group  # one scoring of the set: validity and coverage over all of it
            keys = set(score(sample, {i.id: i.reference for i in sample})[task])
        else:
            keys = set(score(group, {i.id: i.reference for i in group})[task]) | set(score(group, {})[task])
        # timings (coverage_seconds, ...) say how long this run took, not how good the answers are: not lm-eval metrics
        names[task] = sorted(k for k in keys - {"items"} if "seconds" not in k)
    return names


def export(items: list, out: str, max_new_tokens: int = 512) -> dict[str, list[str]]:
    """Write the lm-eval task folder for these items; returns group -> lm-eval task names."""
    os.makedirs(os.path.join(out, "data"), exist_ok=True)
    by_task: dict[str, list] = defaultdict(list)
    for item in items:
        by_task[item.task].append(item)
    names = metric_names(items)
    groups: dict[str, list[str]] = defaultdict(list)
    aggregators, metric_table, n = [], {}, 0
    for task, group in sorted(by_task.items()):
        with open(os.path.join(out, "data", f"{task}.jsonl"), "w", encoding="utf-8") as f:
            for i in group:
                f.write(json.dumps({"id": i.id, "task": i.task, "group": i.group, "system": i.system, "question": i.question,
                                    "reference": i.reference, "meta": json.dumps(i.meta, ensure_ascii=False, sort_keys=True),
                                    "prompt": chatml(i.system, i.question, "")[0]}, ensure_ascii=False) + "\n")
        functions = []
        for metric in names[task]:
            functions.append((metric, f"agg_{n}"))
            aggregators.append(f"agg_{n} = _aggregator({task!r}, {metric!r})")
            n += 1
        metric_table[task] = names[task]
        with open(os.path.join(out, f"{task}.yaml"), "w", encoding="utf-8") as f:
            f.write(_task_yaml(task, group[0].group, functions, max_new_tokens))
        groups[group[0].group].append(PREFIX + task)
    for group, tasks in groups.items():
        with open(os.path.join(out, f"_{group}.yaml"), "w", encoding="utf-8") as f:
            f.write(f"group: {group}\ntask:\n" + "".join(f"  - {t}\n" for t in tasks) + "metadata:\n  version: 1.0\n")
    with open(os.path.join(out, "utils.py"), "w", encoding="utf-8") as f:
        f.write(UTILS + f"METRICS = {json.dumps(metric_table, indent=1, sort_keys=True)}\n\n" + "\n".join(aggregators) + "\n")
    return dict(groups)


def read_samples(path: str) -> dict[str, str]:
    """Predictions from lm-eval's `--log_samples` output (a results folder, searched for samples_*.jsonl, or such
    files): item id -> the generation, cut as mateval cuts it. Files are read in name order (lm-eval names them by
    task and time), so a later run's answer for an item replaces an earlier one."""
    from eval.backends import _cut

    files = sorted(glob.glob(os.path.join(path, "**", "samples_*.jsonl"), recursive=True)) if os.path.isdir(path) else [path]
    if not files:
        raise ValueError(f"--lm-eval-results: no samples_*.jsonl under {path} (run lm_eval with --log_samples)")
    out = {}
    for name in files:
        with open(name, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = loads_bounded(line, what="an lm-eval sample")
                    if not isinstance(row, dict) or not isinstance(row.get("doc"), dict):
                        raise TypeError("a sample is an object with a doc object")
                    doc, responses = row["doc"], row.get("filtered_resps") or row["resps"]
                    if not isinstance(responses, list) or not responses:
                        raise TypeError(f"resps / filtered_resps is a list of responses, not {type(responses).__name__}")
                    answer = responses[0]
                    while isinstance(answer, list):  # resps are [[text]], filtered_resps [text]
                        answer = answer[0] if answer else ""
                    if not isinstance(answer, str) or isinstance(doc.get("id"), (dict, list)) or doc.get("id") is None:
                        raise TypeError(f"a response is text and doc.id a scalar (got {type(answer).__name__}, {type(doc.get('id')).__name__})")
                    out[str(doc["id"])] = _cut(answer)
                except (ValueError, KeyError, TypeError, IndexError) as e:
                    raise ValueError(f"{name}:{n}: not an lm-eval sample of a mateval task ({e!r})") from None
    return out


def read_results(path: str) -> dict[str, dict[str, float]]:
    """lm-eval's own aggregated scores (results_*.json) for our tasks: task -> metric -> value."""
    files = sorted(glob.glob(os.path.join(path, "**", "results_*.json"), recursive=True)) if os.path.isdir(path) else []
    out: dict[str, dict[str, float]] = {}
    for name in files:
        with open(name, encoding="utf-8") as f:
            results = json.load(f).get("results", {})
        for task, metrics in results.items():
            if task.startswith(PREFIX):
                for key, value in metrics.items():
                    metric, _, filt = key.partition(",")
                    if filt == "none" and isinstance(value, (int, float)):
                        out.setdefault(task[len(PREFIX):], {})[metric] = value
    return out
