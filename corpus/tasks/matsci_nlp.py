"""MatSci-NLP's source files -> instruction pairs in LLaMat's MatNLP format, one task per (kind, dataset).

Tasks and their files (under a MatSci-NLP folder such as ../shared/data/eval/matsci_nlp/):

  ner_matscholar   matscholar_ner/{train,test}.txt   named entities, CoNLL (its own splits; dev unused)
  ner_sofc         sofc_token.json token_labels       named entities of SOFC-Exp, per sentence
  sf_sofc          sofc_token.json slot_labels        slot filling of SOFC-Exp, per sentence
  sar              synthesis_actions.json             synthesis action retrieval, per token
  pc_glass         glass_non_glass.json               paragraph classification: about glass?
  sc_sofc          sofc_sent.json                     sentence classification: an experimental fact?
  rc_structured_re structured_re.json                 relation between two spans (battery records)
  rc_sc_comics     sc_comics.json                     relation between two spans (superconductors)
  rc_synthesis     synthesis_procedures.json          relation between two spans (procedures)
  ee_sc_comics     sc_comics.json                     event arguments and their roles (doping)
  ee_synthesis     synthesis_procedures.json          event arguments and their roles (operations)

Answers follow LLaMat: token-level tasks answer one `word : label` line per word (`null` for no
label), with the label set named in the system prompt, so the evaluation can map each output to the
nearest allowed label; classification and relation tasks answer one label.

Splits. Only matscholar ships with train/test files. Every other item goes to a side by
`corpus.tasks.pairs.split_of(document text)`: a salted hash, 20% test, the same function the evaluation
uses, so a test item can never become a training question. `pairs(root, split)` yields either side.
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Iterator

from corpus.tasks.pairs import QAPair, split_of

SYSTEM_TOKENS = ("You are a materials science expert. Label every word of the text with one of: {labels}. "
                 "Answer one line per word, written as `word : label`.")
SYSTEM_LABEL = "You are a materials science expert. Answer with exactly one of: {labels}."

MATSCHOLAR = {"MAT": "material", "SPL": "symmetry or phase label", "DSC": "sample descriptor", "PRO": "material property",
              "APL": "application", "SMT": "synthesis method", "CMT": "characterization method"}

TASKS = ("ner_matscholar", "ner_sofc", "sf_sofc", "sar", "pc_glass", "sc_sofc", "rc_structured_re", "rc_sc_comics",
         "rc_synthesis", "ee_sc_comics", "ee_synthesis")


def _label(tag: str) -> str:
    """'B-anode_material' -> 'anode_material'; 'O' or '' -> 'null'."""
    tag = tag.strip()
    if tag in ("", "O"):
        return "null"
    return tag[2:] if tag[:2] in ("B-", "I-") else tag


def _token_pair(key: str, task: str, instruction: str, words: list[str], labels: list[str], label_set: list[str]) -> QAPair:
    text = " ".join(words)
    return QAPair(key, "matsci_nlp", task, SYSTEM_TOKENS.format(labels=", ".join(label_set)), f"{instruction}\n\n{text}",
                  "\n".join(f"{w} : {lab}" for w, lab in zip(words, labels)), context=text)


def _label_pair(key: str, task: str, question: str, answer: str, label_set: list[str], context: str) -> QAPair:
    return QAPair(key, "matsci_nlp", task, SYSTEM_LABEL.format(labels=", ".join(label_set)), question, answer, context=context)


def _json_frame(path: str) -> list:
    """pandas' 'split' orientation ({columns, index, data}) -> rows."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)["data"]


def _conll(path: str) -> Iterator[tuple[list[str], list[str]]]:
    words, tags = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if not parts:
                if words:
                    yield words, tags
                words, tags = [], []
            elif len(parts) >= 2:
                words.append(parts[0])
                tags.append(parts[-1])
    if words:
        yield words, tags


def _sentences(words: list[str]) -> Iterator[tuple[int, int]]:
    """(start, end) of each sentence of a tokenised document, cut after '.' tokens."""
    start = 0
    for i, w in enumerate(words):
        if w == "." or i == len(words) - 1:
            yield start, i + 1
            start = i + 1


def ner_matscholar(root: str, split: str) -> Iterator[QAPair]:
    path = os.path.join(root, "matscholar_ner", f"{split}.txt")
    labels = ["null", *MATSCHOLAR.values()]
    for n, (words, tags) in enumerate(_conll(path)):
        yield _token_pair(f"matscholar:{split}:{n}", "ner_matscholar", "Label the named entities in this text.", words,
                          [MATSCHOLAR.get(_label(t).upper(), "null") for t in tags], labels)


def _sofc(root: str, split: str, column: int, task: str, instruction: str) -> Iterator[QAPair]:
    rows = _json_frame(os.path.join(root, "sofc_token.json"))
    label_set = sorted({_label(t).lower() for r in rows for t in r[column]} - {"null"})
    for d, row in enumerate(rows):
        words, tags = row[0], row[column]
        if split_of(" ".join(words)) != split:
            continue
        for s, (a, b) in enumerate(_sentences(words)):
            labels = [_label(t).lower() for t in tags[a:b]]
            if any(lab != "null" for lab in labels):  # MatSci-NLP keeps the sentences that describe an experiment
                yield _token_pair(f"{task}:{d}:{s}", task, instruction, words[a:b], labels, ["null", *label_set])


def ner_sofc(root: str, split: str) -> Iterator[QAPair]:
    yield from _sofc(root, split, 1, "ner_sofc", "Label the entities (materials, devices, values, experiment words) in this sentence.")


def sf_sofc(root: str, split: str) -> Iterator[QAPair]:
    yield from _sofc(root, split, 2, "sf_sofc", "Fill the experiment slots: label each word of this sentence with its slot.")


def sar(root: str, split: str) -> Iterator[QAPair]:
    with open(os.path.join(root, "synthesis_actions.json"), encoding="utf-8") as f:
        rows = json.load(f)
    label_set = ["null", *sorted({_label(a["tag"]).lower() for r in rows for a in r["annotations"]} - {"null"})]
    for n, row in enumerate(rows):
        if split_of(row["sentence"]) != split:
            continue
        words = [a["token"] for a in row["annotations"]]
        yield _token_pair(f"sar:{n}", "sar", "Label the synthesis actions in this sentence.", words,
                          [_label(a["tag"]).lower() for a in row["annotations"]], label_set)


def pc_glass(root: str, split: str) -> Iterator[QAPair]:
    for n, (text, label) in enumerate(_json_frame(os.path.join(root, "glass_non_glass.json"))):
        if split_of(text) == split:
            yield _label_pair(f"glass:{n}", "pc_glass", f"Is this paragraph about glass science? Answer yes or no.\n\n{text}",
                              "yes" if int(label) == 1 else "no", ["yes", "no"], text)


def sc_sofc(root: str, split: str) -> Iterator[QAPair]:
    for n, (text, label) in enumerate(_json_frame(os.path.join(root, "sofc_sent.json"))):
        if split_of(text) == split:
            yield _label_pair(f"sofc_sent:{n}", "sc_sofc",
                              f"Does this sentence describe an experimental fact about a fuel cell? Answer yes or no.\n\n{text}",
                              "yes" if int(label) == 1 else "no", ["yes", "no"], text)


def rc_structured_re(root: str, split: str) -> Iterator[QAPair]:
    with open(os.path.join(root, "structured_re.json"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    label_set = sorted({m["relText"].lower() for r in rows for m in r["relationMentions"]})
    for row in rows:
        text = row["sentText"]
        if split_of(text) != split:
            continue
        for k, m in enumerate(row["relationMentions"]):
            question = f"{text}\n\nWhich relation links \"{m['arg1Text']}\" and \"{m['arg2Text']}\" in this sentence?"
            yield _label_pair(f"structured_re:{row['id']}:{k}", "rc_structured_re", question, m["relText"].lower(), label_set, text)


def _brat(root: str, name: str):
    """sc_comics / synthesis_procedures: text with brat-style entity, relation and event dictionaries (stored as Python literals)."""
    with open(os.path.join(root, f"{name}.json"), encoding="utf-8") as f:
        data = json.load(f)

    def field(item, key):
        value = item.get(key) or {}
        return ast.literal_eval(value) if isinstance(value, str) else value  # literal_eval: data, never code

    for n, item in enumerate(data["data"]):
        spans = field(item, "t_span_dict")
        triggers = field(item, "e_trig_dict")
        text = item["text"]

        def span(ref: str) -> str | None:
            ref = triggers.get(ref, ref)  # an event argument stands for its trigger word
            a, b = spans.get(ref, (None, None))
            return text[a:b] if a is not None else None

        yield n, text, span, field(item, "r_type_dict"), field(item, "r_args_dict"), field(item, "e_type_dict"), field(item, "e_args_dict")


def _rc(root: str, name: str, task: str, split: str) -> Iterator[QAPair]:
    items = list(_brat(root, name))
    label_set = sorted({t.lower() for *_, rtypes, _, _, _ in items for t in rtypes.values()})
    for n, text, span, rtypes, rargs, _, _ in items:
        if split_of(text) != split:
            continue
        for rid, rtype in sorted(rtypes.items()):
            a, b = (span(x) for x in rargs.get(rid, (None, None)))
            if a and b:
                question = f"{text}\n\nWhich relation holds between \"{a}\" and \"{b}\" in this text?"
                yield _label_pair(f"{name}:{n}:{rid}", task, question, rtype.lower(), label_set, text)


def _ee(root: str, name: str, task: str, split: str) -> Iterator[QAPair]:
    items = list(_brat(root, name))
    roles = sorted({r.lower() for *_, eargs in items for args in eargs.values() for r, _ in args})
    system = ("You are a materials science expert. List the arguments of the given event, one line per argument, written as "
              f"`argument : role`, with roles from: {', '.join(roles)}. Answer `none` when the event has no argument.")
    for n, text, span, _, _, etypes, eargs in items:
        if split_of(text) != split:
            continue
        for eid, etype in sorted(etypes.items()):
            trigger = span(eid)
            if not trigger:
                continue
            lines = [f"{span(ref)} : {role.lower()}" for role, ref in eargs.get(eid, []) if span(ref)]
            question = f"{text}\n\nWhat are the arguments of the {etype.lower()} event triggered by \"{trigger}\"?"
            yield QAPair(f"{name}:{n}:{eid}", "matsci_nlp", task, system, question, "\n".join(lines) or "none", context=text)


CONVERTERS = {
    "ner_matscholar": ner_matscholar,
    "ner_sofc": ner_sofc,
    "sf_sofc": sf_sofc,
    "sar": sar,
    "pc_glass": pc_glass,
    "sc_sofc": sc_sofc,
    "rc_structured_re": rc_structured_re,
    "rc_sc_comics": lambda root, split: _rc(root, "sc_comics", "rc_sc_comics", split),
    "rc_synthesis": lambda root, split: _rc(root, "synthesis_procedures", "rc_synthesis", split),
    "ee_sc_comics": lambda root, split: _ee(root, "sc_comics", "ee_sc_comics", split),
    "ee_synthesis": lambda root, split: _ee(root, "synthesis_procedures", "ee_synthesis", split),
}


def pairs(root: str, split: str = "train", tasks: list[str] | None = None) -> Iterator[QAPair]:
    """Every item of the chosen tasks (default all) on one side of the split."""
    for task in tasks or TASKS:
        if task not in CONVERTERS:
            raise ValueError(f"unknown MatSci-NLP task {task!r}; known: {', '.join(TASKS)}")
        yield from CONVERTERS[task](root, split)
