"""Adaptation rigidity: how much a base model still learns the domain, and what it forgets, per lineage.

LLaMat found that a heavily pretrained base (LLaMA-3) adapts less to materials text than a lighter
one (LLaMA-2). `mateval rigidity [NAME=]RUN_DIR ...` reads each training run's `validation.json`
(the trainer's held-out loss per component against steps and tokens, starting at step 0) and, where
present, `RUN_DIR/mateval/scores.json` (mateval run on the run's exported model) and a baseline
score file per lineage (`--baseline NAME=scores.json`: the same base without continued
pretraining), and reports per lineage:

  domain_loss_start / end        mean held-out loss of the domain components (every component but
                                 the general ones, `--general`, default `general`)
  domain_reduction_per_btok      (start - end) / tokens trained, per billion tokens
  general_drift                  general-component loss end - start (> 0: forgetting)
  task_gain                      mean over shared materials-task metrics of (run score - baseline score)
  general_task_change            the same over the general-English tasks (eval/general_english.py), when both
                                 score files have them: the general axis measured on tasks, beside general_drift
                                 measured on loss (< 0: forgetting)

into OUT/rigidity.json, rigidity.csv, rigidity.md and rigidity.svg (loss against tokens).
"""

from __future__ import annotations

import csv
import json
import os

from eval.general_english import TASKS as GENERAL_TASKS


def _lineage(spec: str) -> tuple[str, str]:
    name, sep, path = spec.partition("=")
    return (name, path) if sep else (os.path.basename(os.path.normpath(spec)), spec)


def _mean_metric(scores: dict) -> dict[tuple[str, str], float]:
    return {(task, metric): float(v) for task, m in scores.get("scores", {}).items() for metric, v in m.items() if metric != "items"}


def analyse(runs: list[str], general: list[str], baselines: dict[str, str]) -> list[dict]:
    rows = []
    for spec in runs:
        name, path = _lineage(spec)
        vfile = os.path.join(path, "validation.json")
        if not os.path.exists(vfile):
            raise ValueError(f"{path}: no validation.json (train with eval_every > 0)")
        with open(vfile) as f:
            curve = json.load(f)
        if len(curve) < 2 or "tokens" not in curve[0]:
            raise ValueError(f"{vfile}: needs at least two validation points with token counts (a run of the current trainer)")
        components = [k for k in curve[0] if k not in ("step", "tokens")]
        domain = [c for c in components if c not in general]
        gen = [c for c in components if c in general]
        if not domain:
            raise ValueError(f"{vfile}: no domain component (components: {components}; general: {general})")
        first, last = curve[0], curve[-1]
        d0, d1 = (sum(p[c] for c in domain) / len(domain) for p in (first, last))
        row = {"lineage": name, "run": path, "tokens": last["tokens"] - first["tokens"], "domain_components": ",".join(domain),
               "domain_loss_start": d0, "domain_loss_end": d1,
               "domain_reduction_per_btok": (d0 - d1) / max(last["tokens"] - first["tokens"], 1) * 1e9,
               "general_drift": (sum(last[c] for c in gen) - sum(first[c] for c in gen)) / len(gen) if gen else None,
               "task_gain": None, "general_task_change": None, "curve": curve}
        scores_file = os.path.join(path, "mateval", "scores.json")
        if name in baselines and os.path.exists(scores_file):
            with open(scores_file) as f:
                mine = _mean_metric(json.load(f))
            with open(baselines[name]) as f:
                base = _mean_metric(json.load(f))
            shared = sorted(set(mine) & set(base))
            domain_keys = [k for k in shared if k[0] not in GENERAL_TASKS]
            general_keys = [k for k in shared if k[0] in GENERAL_TASKS]
            if domain_keys:
                row["task_gain"] = sum(mine[k] - base[k] for k in domain_keys) / len(domain_keys)
            if general_keys:
                row["general_task_change"] = sum(mine[k] - base[k] for k in general_keys) / len(general_keys)
        rows.append(row)
    return rows


def plot(rows: list[dict], general: list[str], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_d, ax_g) = plt.subplots(1, 2, figsize=(10, 4))
    for r in rows:
        tokens = [p["tokens"] / 1e6 for p in r["curve"]]
        domain = r["domain_components"].split(",")
        ax_d.plot(tokens, [sum(p[c] for c in domain) / len(domain) for p in r["curve"]], marker="o", label=r["lineage"])
        gen = [c for c in r["curve"][0] if c in general]
        if gen:
            ax_g.plot(tokens, [sum(p[c] for c in gen) / len(gen) for p in r["curve"]], marker="o", label=r["lineage"])
    for ax, title in ((ax_d, "domain validation loss"), (ax_g, "general validation loss")):
        ax.set_xlabel("tokens trained (millions)")
        ax.set_ylabel("loss (nats/token)")
        ax.set_title(title)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="svg")
    plt.close(fig)


COLUMNS = ["lineage", "tokens", "domain_loss_start", "domain_loss_end", "domain_reduction_per_btok", "general_drift", "task_gain",
           "general_task_change"]


def write(rows: list[dict], general: list[str], out: str) -> None:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "rigidity.json"), "w") as f:
        json.dump(rows, f, indent=2)
    with open(os.path.join(out, "rigidity.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    lines = ["# Adaptation rigidity", "", "| " + " | ".join(COLUMNS) + " |", "|---|" + "---:|" * (len(COLUMNS) - 1)]
    for r in rows:
        lines.append("| " + " | ".join(r["lineage"] if c == "lineage" else "-" if r[c] is None else f"{r[c]:,.4g}" for c in COLUMNS) + " |")
    lines += ["", "![loss against tokens](rigidity.svg)"]
    with open(os.path.join(out, "rigidity.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    plot(rows, general, os.path.join(out, "rigidity.svg"))
