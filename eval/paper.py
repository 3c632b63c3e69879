"""The paper's published scores (../shared/data/reference/*.csv), keyed by our task and metric names."""

from __future__ import annotations

import csv
import os

# our MatNLP task -> the paper's row in micro_/macro_f1_downstream_full.csv
MATNLP_ROWS = {"ner_matscholar": "(ner, matscholar)", "ner_sofc": "(ner, sofc_token)", "pc_glass": "(pc, glass_non_glass)",
               "sf_sofc": "(sf, sofc_token)", "ee_sc_comics": "(ee, sc_comics)", "rc_structured_re": "(re, structured_re)",
               "rc_sc_comics": "(re, sc_comics)", "sar": "(sar, synthesis_actions)", "sc_sofc": "(sc, sofc_sent)"}
# the general-English tasks the paper reports (same files, MatNLP-style micro/macro F1); SQuAD's row is put beside
# our official token F1 (micro) -- the paper does not say how it computed F1 on spans, so for SQuAD the two are
# comparable in kind only (README, "General English")
GENERAL_ROWS = {"squad": "(qna, squad)", "hellaswag": "(mcq, hellaswag)", "boolq": "(mcq, boolqa)", "story_cloze": "(mcq, story_cloze)"}
F1_ROWS = {**MATNLP_ROWS, **GENERAL_ROWS}  # every task the paper's micro/macro F1 files have a row for
# our MatSIE doping metric -> the paper's column in doping_all.csv, and its scale to ours
DOPING = {"link_f1": ("triplets", 1), "similarity": ("similarity", 1), "exact_match": ("exact_match", 100), "parsable": ("parsable", 100)}
MODELS = ("LLaMat3-chat", "LLaMat2-chat", "LLaMA3-chat-FT", "GPT-4o")
# the MOF tables: per-field entity F1 in mof*_ner.csv, per-link F1 in mof*_all.csv (columns "head|||field");
# our metric -> (file, column, scale to ours)
MOF_SCALAR = {"parsable": ("ner", "parsable", 100), "exact_match": ("ner", "exact_match", 100), "similarity": ("ner", "JWsim", 1)}
SIE_MODELS = {"llamat3-chat": "LLaMat3-chat", "llamat2-chat": "LLaMat2-chat"}  # the chat models the report shows


def _rows(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in csv.DictReader(f)]


def _number(text: str) -> float | None:
    try:
        if "/" in text:
            a, b = text.split("/")
            return float(a) / float(b)
        return float(text)
    except (ValueError, ZeroDivisionError):
        return None


def paper_values(reference: str, task: str, metric: str) -> dict[str, float]:
    """{model: value} the paper reports for this task and metric, on our scale; {} when it reports none."""
    if task == "squad" and metric == "f1":
        metric = "micro_f1"
    if task in F1_ROWS and metric in ("micro_f1", "macro_f1"):
        path = os.path.join(reference, f"{metric.split('_')[0]}_f1_downstream_full.csv")
        if os.path.exists(path):
            for row in _rows(path):
                if row.get("Task") == F1_ROWS[task]:
                    return {m: v for m in MODELS if (v := _number(row.get(m, ""))) is not None}
    if task in ("sie_mof1", "sie_mof2"):
        name = task.split("_")[1]
        if metric.startswith("entity_f1:"):
            where = ("ner", metric.split(":", 1)[1], 1)
        elif metric.startswith("link_f1:"):
            where = ("all", metric.split(":", 1)[1], 1)
        else:
            where = MOF_SCALAR.get(metric)
        if where:
            return _sie_table(os.path.join(reference, f"{name}_{where[0]}.csv"), where[1], where[2])
    if task == "sie_doping" and metric in DOPING:
        column, scale = DOPING[metric]
        return _sie_table(os.path.join(reference, "doping_all.csv"), column, scale)
    if task == "sie_discomat" and metric == "exact_match":
        return _sie_table(os.path.join(reference, "discomat_all.csv"), "exact_match", 100)
    return {}


def _sie_table(path: str, column: str, scale: float) -> dict[str, float]:
    """{model: value * scale} of one column of a MatSIE table (one row per model; '41/45' read as a fraction)."""
    out = {}
    if os.path.exists(path):
        for row in _rows(path):
            name = SIE_MODELS.get(row.get("model", ""))
            if name and (v := _number(row.get(column, ""))) is not None:
                out[name] = v * scale
    return out
