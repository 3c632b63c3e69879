"""Evaluation items from public data: what the model is asked and the reference it is scored against.

Task groups and where their items come from (defaults under ../shared/data):

  matnlp                 MatSci-NLP test side, `corpus.tasks.matsci_nlp.pairs(root, "test")`: the same
                         converters and prompts as training, and the test side of the same hashed
                         document split (`corpus.tasks.pairs.split_of`: 20% of documents by a salted
                         SHA-256 of their text; MatScholar NER: its own test.txt). The split is ours:
                         the public source files carry none, so scores are comparable with the paper's
                         in kind, not item for item.
  matsie                 LLaMat's MatSIE test files (doping, mof1 = general materials, mof2 = MOF,
                         DiSCoMaT tables) as they are.
  mascqa                 MaScQA's 650 questions (MCQS, MATCH, MCQS-NUM, NUM; NUM answers are ranges).
  crystal_understanding  LLaMat's eight understanding tasks (corpus.tasks.crystal) on benchmark test
                         crystals, answers from pymatgen.
  crystal_generation     "generate a crystal of this formula in this space group" for every benchmark
                         test crystal; the generations are scored together (eval/crystal_metrics.py:
                         validity, coverage, property distances) against the test set, and each against
                         its prompt (eval/conditional_generation.py: formula and space-group match).
  general_english        the retention axis: SQuAD, HellaSwag, BoolQ, ARC, PIQA from eval/general_english/,
                         StoryCloze from a path the user gives (eval/general_english.py).
"""

from __future__ import annotations

import glob
import json
import os
import random
from dataclasses import dataclass, field

GROUPS = ("matnlp", "matsie", "mascqa", "crystal_understanding", "crystal_generation", "general_english")


@dataclass
class Item:
    id: str
    task: str
    group: str
    system: str
    question: str
    reference: str
    meta: dict = field(default_factory=dict)


def matnlp(root: str) -> list[Item]:
    from corpus.tasks.matsci_nlp import pairs

    return [Item(p.id, p.task, "matnlp", p.system, p.question, p.answer) for p in pairs(root, "test")]


def matsie(folder: str) -> list[Item]:
    out = []
    for path in sorted(glob.glob(os.path.join(folder, "*_test*.jsonl"))):
        task = "sie_" + os.path.basename(path).split("_test")[0]
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(x for x in f if x.strip()):
                row = json.loads(line)
                answer = row["answer"] if isinstance(row["answer"], str) else json.dumps(row["answer"], ensure_ascii=False)
                out.append(Item(f"{task}:{n}", task, "matsie", row["system"].strip(), row["question"].strip(), answer.strip()))
    return out


MASCQA_SYSTEM = ("You are a materials science expert. Solve the question. For a multiple-choice or matching question end with "
                 "'Answer: <letter>'; for a numerical question end with 'Answer: <number>'.")


def mascqa(path: str) -> list[Item]:
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                out.append(Item(f"mascqa:{row['qid']}", f"mascqa_{row['qtype'].lower()}", "mascqa", MASCQA_SYSTEM, row["question"].strip(),
                                str(row["answer"]).strip(), {"qtype": row["qtype"], "topic": row.get("topic")}))
    return out


def _test_crystals(paths: list[str]):
    """(benchmark name, record id, Structure, path) of every usable crystal of the test files."""
    from corpus.crystals.structures import CrystalSettings
    from corpus.tasks.crystal import read_structures

    for path in paths:
        name = os.path.basename(os.path.dirname(path)) or "crystals"
        for record, s, _ in read_structures([path], CrystalSettings()):
            if not isinstance(s, str):
                yield name, record, s, path


def crystal_understanding(paths: list[str], seed: int = 0, per_structure: int = 8) -> list[Item]:
    from corpus.tasks.crystal import UNDERSTANDING, crystal_tasks

    rng = random.Random(seed)
    return [Item(p.id, f"crystal_{p.task}", "crystal_understanding", p.system, p.question, p.answer)
            for name, record, s, _ in _test_crystals(paths)
            for p in crystal_tasks(s, f"{name}:{record}", name, rng, per_structure) if p.task in UNDERSTANDING]


def crystal_generation(paths: list[str], seed: int = 0) -> list[Item]:
    from corpus.crystals.structures import symmetry
    from corpus.crystals.text import crystal_string
    from corpus.tasks.crystal import PROMPTS, SYSTEM_GENERATION

    rng = random.Random(seed)
    out = []
    for name, record, s, path in _test_crystals(paths):
        symbol, number, _ = symmetry(s, 0.1)
        formula = s.composition.reduced_formula
        question = rng.choice(PROMPTS["generate"]).format(formula=formula, sg=f"{symbol} (No. {number})")
        out.append(Item(f"{name}:{record}#generate", "crystal_generation", "crystal_generation", SYSTEM_GENERATION, question,
                        crystal_string(s), {"reference_set": path, "formula": formula, "spacegroup": number}))
    return out


def load(groups: list[str], data: str, crystal_paths: list[str] | None = None, story_cloze: str | None = None) -> list[Item]:
    """Items of the chosen groups from a data root laid out like ../shared/data (StoryCloze from its own path)."""
    items = []
    for g in groups:
        if g == "general_english":
            from eval.general_english import general_english

            items += general_english(os.path.join(data, "eval", "general_english"), story_cloze)
            continue
        if g == "matnlp":
            items += matnlp(os.path.join(data, "eval", "matsci_nlp"))
        elif g == "matsie":
            items += matsie(os.path.join(data, "eval", "llamat_sie"))
        elif g == "mascqa":
            items += mascqa(os.path.join(data, "eval", "mascqa", "mascqa_650.jsonl"))
        elif g == "crystal_understanding":
            items += crystal_understanding(crystal_paths or [os.path.join(data, "crystals", "mp_20_subset", "test.csv")])
        elif g == "crystal_generation":
            items += crystal_generation(crystal_paths or [os.path.join(data, "crystals", "mp_20_subset", "test.csv")])
        else:
            raise ValueError(f"unknown task group {g!r}; known: {', '.join(GROUPS)}")
    return items
